// checkAll: every checker over one shared analysis of the history.
import { analysisOf, type Analysis } from "./analysis.js";
import { ANOMALY_TYPES, type Anomaly, type CheckOptions } from "./anomaly.js";
import { CHECKERS } from "./checkers/index.js";
import type { History } from "./history.js";

/** All anomalies found, in ANOMALY_TYPES order; [] for a clean history. */
export function checkAll(history: History | Analysis, opts: CheckOptions = {}): Anomaly[] {
  const a = analysisOf(history);
  const only = opts.only === undefined ? undefined : new Set(opts.only);
  const anomalies: Anomaly[] = [];
  for (const type of ANOMALY_TYPES) {
    if (only !== undefined && !only.has(type)) continue;
    const anomaly = CHECKERS[type](a, opts);
    if (anomaly !== null) anomalies.push(anomaly);
  }
  return anomalies;
}

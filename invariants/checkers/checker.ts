// The common shape of a checker: a pure function from a history (or its
// shared analysis, so that `checkAll` builds the indices only once) to one
// named anomaly, or null when the history shows none of it.
import type { Analysis } from "../analysis.js";
import type { Anomaly, CheckOptions } from "../anomaly.js";
import type { History } from "../history.js";

export type Checker = (input: History | Analysis, opts?: CheckOptions) => Anomaly | null;

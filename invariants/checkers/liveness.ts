// liveness: after faults were healed the system did not converge: the
// runner's final drain gave up (a `drain-timeout` phase marker). The
// examples name, per key, how many must-have-committed values were still
// unread and the first few of them, which points at the stuck queue.
// (The same values also appear as `unseen`; the anomaly here is the failure
// to converge, which a run can show even when every value was read, e.g.
// when a retry queue never emptied.)
//
// Example: send k v1 ok@0; phase drain-timeout → count 1, example
// { timeUs, unseen: [{ key k, unseenCount 1, values [v1] }] }.
// Example: every value read, phase drain-timeout → count 1, `unseen` empty.
//
// count = number of drain-timeout markers (normally 1).
import { analysisOf } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import type { Checker } from "./checker.js";
import { unreadSends } from "./unread.js";

export const checkLiveness: Checker = (input, opts) => {
  const a = analysisOf(input);
  if (a.drainTimeouts.length === 0) return null;
  const { maxExamples } = resolveOptions(opts);
  const perKey = new Map<string, string[]>();
  for (const send of unreadSends(a).unread) {
    const list = perKey.get(send.key);
    if (list === undefined) perKey.set(send.key, [send.value]);
    else list.push(send.value);
  }
  const findings = new Findings("liveness", maxExamples);
  for (const marker of a.drainTimeouts) {
    findings.add(() => ({
      timeUs: marker.timeUs,
      unseen: [...perKey].slice(0, maxExamples).map(([key, values]) => ({
        key,
        unseenCount: values.length,
        values: values.slice(0, maxExamples),
      })),
    }));
  }
  const total = [...perKey.values()].reduce((n, values) => n + values.length, 0);
  return findings.result(() => `the final drain timed out; ${total} acknowledged value(s) in ${perKey.size} key(s) still unread`);
};

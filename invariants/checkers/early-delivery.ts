// early-delivery: a delayed message was delivered before it was due. A send
// with `delayMs` is due at its invoke time + delayMs; the broker stores it
// no earlier than the invoke, so any `ok` poll completing before that time
// certainly received it early. `earlyDeliveryToleranceMs` (default 0) widens
// the window for RocketMQ 5's timer wheel, which rounds delivery down to
// timerPrecisionMs.
//
// Example: send k v1 delayMs 10 invoked at t=0 µs; poll completing at
// t=5000 µs reads v1 → count 1 (due at 10000 µs).
// Example: the same send with a poll completing at t=9999 µs → count 1.
//
// count = number of distinct values delivered early (the first early read of
// each is the example; later reads are consequences of the same release).
import { analysisOf, type SendRecord } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import type { Checker } from "./checker.js";

export const checkEarlyDelivery: Checker = (input, opts) => {
  const a = analysisOf(input);
  const { maxExamples, earlyDeliveryToleranceMs } = resolveOptions(opts);
  // value → the earliest completion time at which a delivery is on time.
  const dueUsByValue = new Map<string, { send: SendRecord; dueUs: number; allowedUs: number }>();
  for (const send of a.sends) {
    if (send.delayMs === undefined || send.delayMs <= 0) continue;
    const dueUs = send.invokeTimeUs + send.delayMs * 1000;
    dueUsByValue.set(send.value, { send, dueUs, allowedUs: dueUs - earlyDeliveryToleranceMs * 1000 });
  }
  if (dueUsByValue.size === 0) return null;
  const findings = new Findings("early-delivery", maxExamples);
  for (const poll of a.polls) {
    if (poll.type !== "ok") continue;
    for (const read of poll.reads) {
      const due = dueUsByValue.get(read.value);
      if (due === undefined || poll.completeTimeUs >= due.allowedUs) continue;
      dueUsByValue.delete(read.value);
      findings.add(() => ({
        value: read.value,
        key: read.key,
        offset: read.offset,
        delayMs: due.send.delayMs,
        dueUs: due.dueUs,
        deliveredUs: poll.completeTimeUs,
        earlyByUs: due.dueUs - poll.completeTimeUs,
        process: poll.process,
      }));
    }
  }
  return findings.result((n) => `${n} delayed message(s) delivered before due`);
};

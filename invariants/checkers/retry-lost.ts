// retry-lost: a message whose consumption failed was neither redelivered nor
// dead-lettered. For each (group g, value) with `consume-fail` ops, take its
// last failure (history order). If that failed delivery had
// reconsumeTimes ≥ maxReconsumeTimes (default 16, so the 17th failure), the
// broker must have moved it to g's DLQ: some later `ok` poll must read it
// from the DLQ. Otherwise g must receive it again after the failure: a later
// `ok` poll of group g reads the value (from the retry topic, or the
// original queue after a local re-consume), or a DLQ read of it follows
// (a client may lower the maximum). "Later" means the poll completed after
// the failure in history order. A DLQ read names g's DLQ ("%DLQ%g") or
// names no topic at all. Checked only after a converged final drain:
// before that, a retry may simply be waiting for its delay level.
//
// Example: g fails v1 (reconsumeTimes 0); no later read of v1 by g; drained
// → count 1.
// Example: g fails v1 at reconsumeTimes 16; later g reads v1 from the retry
// topic but nobody reads it from the DLQ; drained → count 1.
//
// count = number of (group, value) pairs left without their next delivery.
import { analysisOf, readKind } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import { DLQ_TOPIC_PREFIX, dlqTopic, type PollRead } from "../history.js";
import type { Checker } from "./checker.js";
import type { ConsumeFailRecord } from "../analysis.js";

interface Delivery {
  group: string;
  completeIndex: number;
  read: PollRead;
}

export const checkRetryLost: Checker = (input, opts) => {
  const a = analysisOf(input);
  if (!a.drained || a.consumeFails.length === 0) return null;
  const { maxExamples, maxReconsumeTimes } = resolveOptions(opts);
  const lastFailure = new Map<string, ConsumeFailRecord>();
  const failedValues = new Set<string>();
  for (const failure of a.consumeFails) {
    lastFailure.set(`${failure.group}\u0000${failure.value}`, failure);
    failedValues.add(failure.value);
  }
  // Collect deliveries of failed values only; most values never fail.
  const deliveries = new Map<string, Delivery[]>();
  for (const poll of a.polls) {
    if (poll.type !== "ok") continue;
    for (const read of poll.reads) {
      if (!failedValues.has(read.value)) continue;
      const list = deliveries.get(read.value);
      const delivery = { group: poll.group, completeIndex: poll.completeIndex, read };
      if (list === undefined) deliveries.set(read.value, [delivery]);
      else list.push(delivery);
    }
  }
  const findings = new Findings("retry-lost", maxExamples);
  for (const failure of lastFailure.values()) {
    const needsDlq = failure.reconsumeTimes >= maxReconsumeTimes;
    const dlq = dlqTopic(failure.group);
    const later = (deliveries.get(failure.value) ?? []).filter((d) => d.completeIndex > failure.completeIndex);
    const dead = later.some((d) => {
      if (readKind(d.read) !== "dlq") return false;
      const topic = d.read.topic ?? (d.read.key.startsWith(DLQ_TOPIC_PREFIX) ? d.read.key : undefined);
      return topic === undefined || topic === dlq || topic.startsWith(`${dlq}@`);
    });
    const redelivered = later.some((d) => d.group === failure.group && readKind(d.read) !== "dlq");
    if (dead || (!needsDlq && redelivered)) continue;
    findings.add(() => ({
      group: failure.group,
      value: failure.value,
      key: failure.key,
      offset: failure.offset,
      reconsumeTimes: failure.reconsumeTimes,
      failureIndex: failure.completeIndex,
      needed: needsDlq ? "dlq" : "redelivery",
    }));
  }
  return findings.result((n) => `${n} failed message(s) neither redelivered nor dead-lettered`);
};

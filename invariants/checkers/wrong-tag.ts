// wrong-tag: a consumer received a message its tag filter excludes. For an
// `ok` poll whose subscription lists tags (not "*"), every read from the
// subscribed queues must carry one of those tags. The read's tag is the
// `tag` on the read, or else the tag its send carried; a message without a
// tag never matches a tag list (RocketMQ filters it out). Retry and DLQ
// reads are exempt: RocketMQ subscribes the retry topic with "*", and such
// a message already passed the filter when it was first delivered.
//
// Example: send k v1 tag "b"; poll subscribed {topic t, tags ["a"]} reads
// k@0=v1 → count 1.
// Example: a read with no tag under tags ["a"] → count 1.
//
// count = number of offending reads.
import { analysisOf, readKind, sendOf } from "../analysis.js";
import { Findings, resolveOptions } from "../anomaly.js";
import type { Checker } from "./checker.js";

export const checkWrongTag: Checker = (input, opts) => {
  const a = analysisOf(input);
  const findings = new Findings("wrong-tag", resolveOptions(opts).maxExamples);
  for (const poll of a.polls) {
    const tags = poll.subscription?.tags;
    if (poll.type !== "ok" || tags === undefined || tags === "*") continue;
    for (const read of poll.reads) {
      if (readKind(read) !== "normal") continue;
      const tag = read.tag ?? sendOf(a, read.value)?.tag;
      if (tag !== undefined && tags.includes(tag)) continue;
      findings.add(() => ({
        value: read.value,
        key: read.key,
        offset: read.offset,
        tag,
        subscribed: tags.slice(),
        process: poll.process,
        pollIndex: poll.completeIndex,
      }));
    }
  }
  return findings.result((n) => `${n} read(s) excluded by the subscription's tag filter`);
};

// The registry: anomaly type → checker. Every type in ANOMALY_TYPES has one.
import type { AnomalyType } from "../anomaly.js";
import { checkAbortedRead } from "./aborted-read.js";
import type { Checker } from "./checker.js";
import { checkCommittedTruncation } from "./committed-truncation.js";
import { checkDirtyRead } from "./dirty-read.js";
import { checkDuplicate } from "./duplicate.js";
import { checkEarlyDelivery } from "./early-delivery.js";
import { checkInconsistentOffsets } from "./inconsistent-offsets.js";
import { checkIndexMiss } from "./index-miss.js";
import { checkLeaderConflict } from "./leader-conflict.js";
import { checkLiveness } from "./liveness.js";
import { checkLogDivergence } from "./log-divergence.js";
import { checkLostWrite } from "./lost-write.js";
import { checkNonmonotonicPoll } from "./nonmonotonic-poll.js";
import { checkNonmonotonicSend } from "./nonmonotonic-send.js";
import { checkPollSkip } from "./poll-skip.js";
import { checkRetryLost } from "./retry-lost.js";
import { checkUnseen } from "./unseen.js";
import { checkWrongTag } from "./wrong-tag.js";

export const CHECKERS: Readonly<Record<AnomalyType, Checker>> = {
  "lost-write": checkLostWrite,
  unseen: checkUnseen,
  duplicate: checkDuplicate,
  "inconsistent-offsets": checkInconsistentOffsets,
  "nonmonotonic-send": checkNonmonotonicSend,
  "poll-skip": checkPollSkip,
  "nonmonotonic-poll": checkNonmonotonicPoll,
  "aborted-read": checkAbortedRead,
  "dirty-read": checkDirtyRead,
  "early-delivery": checkEarlyDelivery,
  "wrong-tag": checkWrongTag,
  "retry-lost": checkRetryLost,
  "index-miss": checkIndexMiss,
  "log-divergence": checkLogDivergence,
  "leader-conflict": checkLeaderConflict,
  "committed-truncation": checkCommittedTruncation,
  liveness: checkLiveness,
};

export {
  checkAbortedRead,
  checkCommittedTruncation,
  checkDirtyRead,
  checkDuplicate,
  checkEarlyDelivery,
  checkInconsistentOffsets,
  checkIndexMiss,
  checkLeaderConflict,
  checkLiveness,
  checkLogDivergence,
  checkLostWrite,
  checkNonmonotonicPoll,
  checkNonmonotonicSend,
  checkPollSkip,
  checkRetryLost,
  checkUnseen,
  checkWrongTag,
  type Checker,
};

import type { FaultPlan } from "../../sim/faults.js";

/**
 * The regression corpus: scripted fault plans that reproduce documented
 * behaviour. `npm run corpus` writes one trace per case into this folder;
 * the test suite replays every trace and requires the recorded events,
 * verdict and hash to come back exactly. A model change that alters any of
 * them shows up as a diverged replay, to be understood before the corpus is
 * regenerated.
 */
export interface CorpusCase {
  /** File name without extension. */
  name: string;
  /** Built-in scenario name. */
  scenario: string;
  seed: number;
  durationSeconds: number;
  /** Changes to the scenario, as `--set` would make them. */
  set?: Record<string, string | number | boolean>;
  /** Messages per second per producer (default 5, which keeps the files small). */
  rate?: number;
  /** Producers, when not the scenario's. */
  producers?: number;
  /** Scenario changes outside `config`, e.g. a stricter expect list. */
  expect?: string[];
  plan: FaultPlan;
  /** What the run must show; checked when the corpus is written and when it is replayed. */
  verdict: "pass" | "fail";
  anomalies: string[];
  why: string;
  /** Also keep golden Jepsen and OpenMessaging Chaos exports of this trace. */
  exports?: boolean;
}

/** Found by a seeded sweep (see README, historical protocol variants). */
const VOTE_IN_MEMORY_PLAN: FaultPlan = [
  { atMs: 86_397, kind: "process-crash", durationMs: 10_390, targets: ["@random"] },
  { atMs: 97_990, kind: "power-loss", durationMs: 21_849, targets: ["@random"] },
  { atMs: 116_231, kind: "process-crash", durationMs: 3_320, targets: ["@leader"] },
];

/** Found by a seeded sweep (see README, historical protocol variants). */
const VOTE_PAGE_CACHE_PLAN: FaultPlan = [
  { atMs: 16_343, kind: "process-crash", durationMs: 117, targets: ["@random"] },
  { atMs: 90_769, kind: "process-crash", durationMs: 110, targets: ["@random"] },
  { atMs: 93_910, kind: "process-crash", durationMs: 17_942, targets: ["@random"] },
  { atMs: 61_486, kind: "power-loss", durationMs: 10_700, targets: ["@random"] },
  { atMs: 111_852, kind: "power-loss", durationMs: 7_195, targets: ["@random"] },
];

/** Found by a seeded sweep (see README, historical protocol variants). */
const ACK_BEFORE_FSYNC_PLAN: FaultPlan = [
  { atMs: 17_233, kind: "power-loss", durationMs: 10_676, targets: ["@random"] },
  { atMs: 17_610, kind: "power-loss", durationMs: 13_196, targets: ["@follower"] },
  { atMs: 27_909, kind: "power-loss", durationMs: 16_918, targets: ["@leader"] },
  { atMs: 41_618, kind: "pause", durationMs: 8_739, targets: ["@follower"] },
  { atMs: 48_026, kind: "process-crash", durationMs: 9_388, targets: ["@random"] },
];

/** Found by a seeded sweep (see README, historical protocol variants). */
const FIGURE8_PLAN: FaultPlan = [
      { atMs: 23_488, kind: "pause", durationMs: 5_525, targets: ["@random"] },
      { atMs: 27_925, kind: "process-crash", durationMs: 18_180, targets: ["@follower"] },
      { atMs: 29_302, kind: "pause", durationMs: 13_256, targets: ["@leader"] },
      { atMs: 42_558, kind: "process-crash", durationMs: 21_610, targets: ["@random"] },
      { atMs: 47_813, kind: "process-crash", durationMs: 13_378, targets: ["@follower"] },
      { atMs: 94_091, kind: "power-loss", durationMs: 8_591, targets: ["@random"] },
      { atMs: 105_760, kind: "pause", durationMs: 5_382, targets: ["@random"] },
      { atMs: 109_563, kind: "pause", durationMs: 18_644, targets: ["@random"] },
      { atMs: 119_802, kind: "power-loss", durationMs: 29_519, targets: ["@follower"] },
      { atMs: 128_207, kind: "pause", durationMs: 13_484, targets: ["@follower"] },
      { atMs: 141_691, kind: "power-loss", durationMs: 19_314, targets: ["@follower"] },
      { atMs: 160_745, kind: "pause", durationMs: 7_148, targets: ["@follower"] },
      { atMs: 164_768, kind: "process-crash", durationMs: 19_965, targets: ["@random"] },
    ];

export const CORPUS: CorpusCase[] = [
  {
    name: "rocketmq-async-flush-power-loss",
    scenario: "rocketmq-single-async-flush",
    seed: 2,
    durationSeconds: 15,
    expect: ["lost-write"],
    plan: [{ atMs: 6_000, kind: "power-loss", durationMs: 200, targets: ["broker-a"] }],
    verdict: "fail",
    anomalies: ["lost-write", "inconsistent-offsets"],
    why: "ASYNC_FLUSH acknowledges from the page cache; a power loss takes the unflushed tail, and the recovered queues reuse its offsets.",
    exports: true,
  },
  {
    name: "rocketmq-sync-flush-power-loss",
    scenario: "rocketmq-single-sync-flush",
    seed: 2,
    durationSeconds: 15,
    plan: [{ atMs: 6_000, kind: "power-loss", durationMs: 200, targets: ["broker-a"] }],
    verdict: "pass",
    anomalies: [],
    why: "SYNC_FLUSH answers SEND_OK only after the group commit's fsync, so the same power loss loses nothing acknowledged.",
  },
  {
    name: "rocketmq-multi-master-crash-failover",
    scenario: "rocketmq-multi-master",
    seed: 1,
    durationSeconds: 20,
    plan: [{ atMs: 6_000, kind: "process-crash", durationMs: 6_000, targets: ["broker-a"] }],
    verdict: "pass",
    anomalies: [],
    why: "A crashed master refuses connections; producers retry on the other broker group and nothing is lost.",
  },
  // DLedger's variants, each on a plan a plain seeded sweep found (--faults mixed --max-concurrent-faults 2), shrunk
  // by `mqsim shrink`, and the same plan with the fix in place.
  {
    name: "dledger-vote-in-memory",
    scenario: "rocketmq-dledger",
    seed: 34,
    durationSeconds: 120,
    rate: 1.25,
    producers: 1,
    set: { "dledger.persistVote": "none", "dledger.fsyncBeforeAck": true },
    plan: VOTE_IN_MEMORY_PLAN,
    verdict: "fail",
    anomalies: ["leader-conflict", "nonmonotonic-poll"],
    why: "persistVote=none: a peer that restarts forgets its vote and grants a second candidate the same term, so two leaders hold one term.",
  },
  {
    name: "dledger-vote-in-memory-fixed",
    scenario: "rocketmq-dledger",
    seed: 34,
    durationSeconds: 120,
    rate: 1.25,
    producers: 1,
    set: { "dledger.persistVote": "fsync", "dledger.fsyncBeforeAck": true },
    plan: VOTE_IN_MEMORY_PLAN,
    verdict: "pass",
    anomalies: ["duplicate", "nonmonotonic-poll"],
    why: "The same plan with the term and vote forced to disk before any reply: one leader per term. (Consumers re-read after the failover, and a producer retry duplicates: findings, not promises.)",
  },
  {
    name: "dledger-vote-page-cache",
    scenario: "rocketmq-dledger",
    seed: 62,
    durationSeconds: 120,
    producers: 1,
    set: { "dledger.persistVote": "page-cache", "dledger.fsyncBeforeAck": true },
    plan: VOTE_PAGE_CACHE_PLAN,
    verdict: "fail",
    anomalies: ["leader-conflict", "nonmonotonic-poll"],
    why: "DLedger's own term file (written and renamed, no fsync): a power loss takes the vote back, and the peer votes again in the same term.",
  },
  {
    name: "dledger-vote-page-cache-fixed",
    scenario: "rocketmq-dledger",
    seed: 62,
    durationSeconds: 120,
    producers: 1,
    set: { "dledger.persistVote": "fsync", "dledger.fsyncBeforeAck": true },
    plan: VOTE_PAGE_CACHE_PLAN,
    verdict: "pass",
    anomalies: ["nonmonotonic-poll"],
    why: "The same plan with the vote fsynced: the power loss keeps it, no second leader.",
  },
  {
    name: "dledger-ack-before-fsync",
    scenario: "rocketmq-dledger",
    seed: 732,
    durationSeconds: 60,
    set: { "dledger.persistVote": "fsync", "dledger.fsyncBeforeAck": false },
    plan: ACK_BEFORE_FSYNC_PLAN,
    verdict: "fail",
    anomalies: ["committed-truncation", "inconsistent-offsets", "log-divergence", "lost-write"],
    why: "fsyncBeforeAck=false (DLedger's default): an entry counts toward the quorum from the page cache, so power losses of two peers take back an acknowledged, committed entry.",
  },
  {
    name: "dledger-ack-before-fsync-fixed",
    scenario: "rocketmq-dledger",
    seed: 732,
    durationSeconds: 60,
    set: { "dledger.persistVote": "fsync", "dledger.fsyncBeforeAck": true },
    plan: ACK_BEFORE_FSYNC_PLAN,
    verdict: "pass",
    anomalies: [],
    why: "The same plan with every entry forced to disk before it counts: nothing acknowledged is lost.",
  },
  {
    name: "dledger-figure8-count-replicas",
    scenario: "rocketmq-dledger",
    seed: 159,
    durationSeconds: 170,
    set: { "dledger.persistVote": "fsync", "dledger.fsyncBeforeAck": true, "dledger.commitRule": "count-replicas" },
    plan: FIGURE8_PLAN,
    verdict: "fail",
    anomalies: ["committed-truncation", "duplicate", "log-divergence"],
    why: "Raft's Figure 8: a leader commits an entry of an earlier term by counting the replicas that hold it; a peer whose log ends in a later term wins the next election and overwrites it, so two peers commit different entries at one index.",
  },
  {
    name: "dledger-figure8-current-term",
    scenario: "rocketmq-dledger",
    seed: 159,
    durationSeconds: 170,
    set: { "dledger.persistVote": "fsync", "dledger.fsyncBeforeAck": true, "dledger.commitRule": "current-term" },
    plan: FIGURE8_PLAN,
    verdict: "pass",
    anomalies: ["duplicate", "nonmonotonic-poll"],
    why: "The same plan under the current-term rule: the old entry stays uncommitted until an entry of the leader's own term is replicated, so overwriting it is safe.",
  },
];

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
];

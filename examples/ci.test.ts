// The README's example of mqsim in a team's own CI: plain vitest + fast-check.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { arbitraries, run, sweep } from "mqsim";

describe("our RocketMQ configuration keeps acknowledged messages", () => {
  it("SYNC_FLUSH: no SEND_OK is lost to any plan of crashes and power losses of the broker", () => {
    fc.assert(
      fc.property(arbitraries.faultPlan({ nodes: ["broker-a"], kinds: ["power-loss", "process-crash", "pause"], endMs: 25_000, maxFaults: 3 }), (plan) => {
        const r = run("rocketmq-single-sync-flush", { plan, durationSeconds: 30 });
        expect(r.anomalies.filter((a) => a.type === "lost-write")).toEqual([]);
      }),
      { numRuns: 8, seed: 42 },
    );
  });

  it("a seed sweep under mixed faults finds nothing the scenario forbids", async () => {
    const s = await sweep("rocketmq-single-sync-flush", { seeds: [1, 6], faults: ["mixed"], durationSeconds: 30 });
    expect(s.failed).toBe(0);
    expect(s.errors).toBe(0);
  });

  it("the same check fails for ASYNC_FLUSH, with a counterexample plan fast-check shrinks", () => {
    const failure = fc.check(
      fc.property(arbitraries.faultPlan({ nodes: ["broker-a"], kinds: ["power-loss"], endMs: 25_000, maxFaults: 3 }), (plan) => {
        const r = run("rocketmq-single-async-flush", { plan, durationSeconds: 30 });
        return r.anomalies.every((a) => a.type !== "lost-write");
      }),
      { numRuns: 20, seed: 7 },
    );
    expect(failure.failed).toBe(true);
    // Shrunk to the smallest plan that still loses a message: one power loss.
    expect(failure.counterexample?.[0]).toHaveLength(1);
    expect(failure.counterexample?.[0]?.[0]?.kind).toBe("power-loss");
  });
});

import type { Timer } from "../../sim/kernel.js";
import type { NodeContext } from "../../sim/node.js";
import { US_PER_MS } from "../../sim/time.js";
import type { KafkaConfig } from "./config.js";
import type { Partition } from "./partition.js";
import { brokerNode, type FetchRequest, type FetchResponse, type OffsetsForLeaderEpochResponse } from "./protocol.js";
import type { Rpc } from "./rpc.js";

/** What a replica fetcher needs from its broker. */
export interface FetcherHost {
  readonly ctx: NodeContext;
  readonly rpc: Rpc;
  readonly config: KafkaConfig;
  readonly brokerId: number;
  brokerEpoch(): number;
  partition(tp: string): Partition | undefined;
  /** Stops the broker for good (Exit.exit after a fatal replication error). */
  halt(details: Record<string, unknown>): void;
  halted(): boolean;
}

/**
 * A ReplicaFetcherThread: one per leader broker, fetching every partition
 * this broker follows on that leader in one request, from each partition's
 * LEO. A fetch parks at the leader until data arrives or
 * replica.fetch.wait.max.ms passes, so the next one goes out as soon as the
 * answer is in. Partitions with errors back off for replica.fetch.backoff.ms;
 * a failed connection backs the whole fetcher off.
 */
export class Fetcher {
  private readonly tps = new Set<string>();
  /** Per partition: not before this time (backoff), or +Infinity until new metadata arrives. */
  private readonly retryAtUs = new Map<string, number>();
  private inFlight = false;
  private wake: Timer | null = null;
  private readonly backoffUs: number;

  constructor(
    private readonly host: FetcherHost,
    readonly leaderId: number,
  ) {
    this.backoffUs = host.config.broker["replica.fetch.backoff.ms"] * US_PER_MS;
  }

  /** Follows `tp` on this leader (again): any backoff is forgotten, as a new LeaderAndIsr resets it. */
  add(tp: string): void {
    this.tps.add(tp);
    this.retryAtUs.delete(tp);
    this.run();
  }

  remove(tp: string): void {
    this.tps.delete(tp);
    this.retryAtUs.delete(tp);
  }

  private following(p: Partition | undefined): p is Partition {
    return p !== undefined && p.role === "follower" && p.leader === this.leaderId;
  }

  private ready(tp: string, now: number): boolean {
    return (this.retryAtUs.get(tp) ?? 0) <= now;
  }

  run(): void {
    const host = this.host;
    if (this.inFlight || host.halted()) return;
    const now = host.ctx.now;
    const epochReqs: Array<{ tp: string; leaderEpoch: number; currentLeaderEpoch: number }> = [];
    const fetches: FetchRequest["partitions"] = [];
    /** The leader epoch each fetched partition had when asked, index for index with `fetches`. */
    const sentEpochs: number[] = [];
    let nextRetry = Number.POSITIVE_INFINITY;
    for (const tp of this.tps) {
      const p = host.partition(tp);
      if (!this.following(p)) continue;
      if (!this.ready(tp, now)) {
        nextRetry = Math.min(nextRetry, this.retryAtUs.get(tp)!);
        continue;
      }
      if (p.followerPhase === "truncate-by-epoch-request") epochReqs.push({ tp, leaderEpoch: p.latestEpoch(), currentLeaderEpoch: -1 });
      else if (p.followerPhase === "fetching") {
        fetches.push(p.fetchRequest());
        sentEpochs.push(p.leaderEpoch);
      }
    }
    const peer = brokerNode(this.leaderId);
    const timeoutUs = host.config.broker["replica.socket.timeout.ms"] * US_PER_MS;
    if (epochReqs.length > 0) {
      // 1.1: a new follower first asks where its latest epoch ends on the leader (OffsetsForLeaderEpoch v0).
      this.inFlight = true;
      host.rpc.call(peer, "OffsetsForLeaderEpoch", { replicaId: host.brokerId, partitions: epochReqs }, timeoutUs, (body, err) => {
        this.inFlight = false;
        if (host.halted()) return;
        if (err !== null) return this.backOffAll(epochReqs.map((r) => r.tp));
        for (const r of (body as OffsetsForLeaderEpochResponse).partitions) {
          const p = host.partition(r.tp);
          if (!this.following(p) || p.followerPhase !== "truncate-by-epoch-request") continue;
          if (r.error !== "NONE") this.retryAtUs.set(r.tp, host.ctx.now + this.backoffUs);
          else p.onOffsetForLeaderEpochV0(r.endOffset);
        }
        this.run();
      });
      return;
    }
    if (fetches.length === 0) {
      if (nextRetry < Number.POSITIVE_INFINITY) this.wakeAt(nextRetry);
      return;
    }
    this.inFlight = true;
    const b = host.config.broker;
    const req: FetchRequest = { replicaId: host.brokerId, brokerEpoch: host.brokerEpoch(), maxWaitMs: b["replica.fetch.wait.max.ms"], maxBytes: b["replica.fetch.max.bytes"], partitions: fetches };
    host.rpc.call(peer, "Fetch", req, timeoutUs + b["replica.fetch.wait.max.ms"] * US_PER_MS, (body, err) => {
      this.inFlight = false;
      if (host.halted()) return;
      if (err !== null) return this.backOffAll(fetches.map((f) => f.tp));
      this.process(body as FetchResponse, sentEpochs);
      // The next fetch reports our LEO to the leader, so a synchronous flush the appends started
      // (log.flush.interval.messages) must complete first, as the real append blocks on it.
      const flushing = fetches.map((f) => host.partition(f.tp)?.log).filter((l) => l !== undefined && l.flushInFlight());
      if (flushing.length === 0) return this.run();
      this.inFlight = true;
      let left = flushing.length;
      for (const l of flushing) {
        l!.whenFlushed(() => {
          if (--left > 0) return;
          this.inFlight = false;
          this.run();
        });
      }
    });
  }

  private process(resp: FetchResponse, sentEpochs: readonly number[]): void {
    const host = this.host;
    const now = host.ctx.now;
    for (let i = 0; i < resp.partitions.length; i++) {
      const r = resp.partitions[i]!;
      const p = host.partition(r.tp);
      // Data fetched for an epoch this replica has since left is dropped (AbstractFetcherThread checks the epoch).
      // The leader answers the partitions in the order they were asked.
      if (!this.following(p) || p.leaderEpoch !== sentEpochs[i] || p.followerPhase !== "fetching") continue;
      switch (r.error) {
        case "NONE":
          if (p.onFetchResponse(r) === "failed") {
            host.ctx.emit("kafka.fetch-failed", { partition: r.tp, leo: p.log.leo, leader: this.leaderId });
          }
          break;
        case "OFFSET_OUT_OF_RANGE":
          if (r.logEndOffset < p.log.leo && host.config.version === "0.10.2" && !host.config.broker["unclean.leader.election.enable"]) {
            // ReplicaFetcherThread.handleOffsetOutOfRange before 0.11: truncating below the local log
            // end is refused with unclean election disabled, and the broker exits.
            host.halt({ partition: r.tp, leaderLeo: r.logEndOffset, leo: p.log.leo });
            return;
          }
          p.onOffsetOutOfRange(r.logEndOffset);
          break;
        case "FENCED_LEADER_EPOCH":
          // KIP-320: our epoch is stale; wait for the metadata that carries the new one.
          this.retryAtUs.set(r.tp, Number.POSITIVE_INFINITY);
          break;
        default:
          this.retryAtUs.set(r.tp, now + this.backoffUs);
          break;
      }
    }
  }

  private backOffAll(tps: readonly string[]): void {
    const at = this.host.ctx.now + this.backoffUs;
    for (const tp of tps) if (this.tps.has(tp)) this.retryAtUs.set(tp, at);
    this.wakeAt(at);
  }

  private wakeAt(atUs: number): void {
    if (this.wake !== null && this.wake.fn !== null && this.wake.time <= atUs) return;
    this.host.ctx.cancel(this.wake);
    this.wake = this.host.ctx.at(Math.max(atUs, this.host.ctx.now), () => {
      this.wake = null;
      this.run();
    });
  }
}

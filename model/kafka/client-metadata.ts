import type { Timer } from "../../sim/kernel.js";
import type { NodeContext } from "../../sim/node.js";
import { US_PER_MS } from "../../sim/time.js";
import type { ClientConfig } from "./config.js";
import { brokerNode, type MetadataResponse } from "./protocol.js";
import type { Rpc } from "./rpc.js";

export interface LeaderInfo {
  /** Broker id, or -1 while the partition has no leader. */
  leader: number;
  leaderEpoch: number;
}

/**
 * A client's metadata cache (Metadata / ProducerMetadata): the leader and
 * leader epoch of every partition of its topics, refreshed on demand and
 * every metadata.max.age.ms. Like clients since 2.1 (KIP-320), it ignores
 * an answer that carries an older leader epoch than one it already knows,
 * so a lagging broker cannot send it back to a deposed leader.
 */
export class ClientMetadata {
  private readonly leaders = new Map<string, LeaderInfo>();
  /** Partition keys per topic, in partition order. */
  private readonly partitionsOf = new Map<string, string[]>();
  private known: number[];
  private next: number;
  private inFlight = false;
  private wanted = false;
  private failures = 0;
  private retryTimer: Timer | null = null;
  private readonly listeners: Array<() => void> = [];

  constructor(
    private readonly ctx: NodeContext,
    private readonly rpc: Rpc,
    private readonly cfg: ClientConfig,
    bootstrap: readonly number[],
    private readonly topics: readonly string[],
  ) {
    this.known = [...bootstrap];
    // Clients pick their first bootstrap server at random (ClientUtils / LeastLoadedNode ties).
    this.next = ctx.rng.int(0, Math.max(0, bootstrap.length - 1));
    const refresh = (): void => {
      this.requestUpdate();
      ctx.after(cfg["metadata.max.age.ms"] * US_PER_MS, refresh);
    };
    ctx.after(cfg["metadata.max.age.ms"] * US_PER_MS, refresh);
  }

  onUpdate(listener: () => void): void {
    this.listeners.push(listener);
  }

  leaderOf(tp: string): LeaderInfo | undefined {
    return this.leaders.get(tp);
  }

  partitions(topic: string): readonly string[] {
    return this.partitionsOf.get(topic) ?? [];
  }

  /** A broker to ask for cluster-wide things (metadata, coordinator, producer id), rotating. */
  anyBroker(): number {
    const id = this.known[this.next % this.known.length]!;
    this.next++;
    return id;
  }

  /** Asks for fresh metadata; calls coalesce, and failures retry with exponential backoff. */
  requestUpdate(): void {
    this.wanted = true;
    if (this.inFlight || this.retryTimer !== null) return;
    this.wanted = false;
    this.inFlight = true;
    const target = this.anyBroker();
    this.rpc.call(brokerNode(target), "Metadata", { topics: this.topics }, this.cfg["request.timeout.ms"] * US_PER_MS, (body, err) => {
      this.inFlight = false;
      const resp = body as MetadataResponse | null;
      if (err !== null || resp === null) {
        this.failures++;
        this.retryTimer = this.ctx.after(backoffUs(this.cfg, this.failures, this.ctx.rng.next()), () => {
          this.retryTimer = null;
          this.requestUpdate();
        });
        return;
      }
      this.failures = 0;
      this.apply(resp);
      // A topic the answer did not know (not created yet) keeps the update wanted (Metadata
      // retries UNKNOWN_TOPIC_OR_PARTITION after the backoff).
      for (const t of this.topics) if (this.partitions(t).length === 0) this.wanted = true;
      if (this.wanted) {
        // Someone asked again while this request was out: honour it after the usual backoff.
        this.retryTimer = this.ctx.after(this.cfg["retry.backoff.ms"] * US_PER_MS, () => {
          this.retryTimer = null;
          if (this.wanted) this.requestUpdate();
        });
      }
      for (const l of this.listeners) l();
    });
  }

  private apply(resp: MetadataResponse): void {
    if (resp.brokers.length > 0) {
      const merged = [...new Set([...this.known, ...resp.brokers])].sort((a, b) => a - b);
      this.known = merged;
    }
    const byTopic = new Map<string, Array<{ tp: string; partition: number }>>();
    for (const p of resp.partitions) {
      const old = this.leaders.get(p.tp);
      if (old === undefined || p.leaderEpoch >= old.leaderEpoch) this.leaders.set(p.tp, { leader: p.leader, leaderEpoch: p.leaderEpoch });
      let list = byTopic.get(p.topic);
      if (list === undefined) byTopic.set(p.topic, (list = []));
      list.push({ tp: p.tp, partition: p.partition });
    }
    for (const [topic, list] of byTopic) {
      if (list.length < (this.partitionsOf.get(topic)?.length ?? 0)) continue;
      this.partitionsOf.set(topic, list.sort((a, b) => a.partition - b.partition).map((x) => x.tp));
    }
  }
}

/** KIP-580 exponential backoff: retry.backoff.ms · 2^(attempt−1), capped at retry.backoff.max.ms, ±20 % jitter. */
export function backoffUs(cfg: ClientConfig, attempt: number, random: number): number {
  const base = cfg["retry.backoff.ms"] * Math.pow(2, Math.max(0, attempt - 1));
  const capped = Math.min(base, Math.max(cfg["retry.backoff.ms"], cfg["retry.backoff.max.ms"]));
  return Math.max(1, Math.round(capped * (0.8 + 0.4 * random) * US_PER_MS));
}

import { z } from "zod";

/**
 * DLedger configuration, under DLedgerConfig's own field names and defaults
 * as read at tag dledger-all-0.3.1.2 (dledger/src/main/java/io/openmessaging/
 * storage/dledger/DLedgerConfig.java), plus three knobs (`dledger.*`) that
 * select the historical or textbook variant of a rule. Durations are in
 * milliseconds, as in DLedgerConfig.
 */
export const RaftConfigSchema = z
  .object({
    /** DLedgerConfig.heartBeatTimeIntervalMs = 2000: the leader's heartbeat period. */
    heartBeatTimeIntervalMs: z.number().int().min(1).default(2000),
    /** DLedgerConfig.maxHeartBeatLeak = 3: heartbeats a follower (or a leader's quorum) may miss. */
    maxHeartBeatLeak: z.number().int().min(1).default(3),
    /** DLedgerConfig.minVoteIntervalMs = 300: the shortest wait before the next vote round. */
    minVoteIntervalMs: z.number().int().min(0).default(300),
    /** DLedgerConfig.maxVoteIntervalMs = 1000: the longest (exclusive) wait before the next vote round. */
    maxVoteIntervalMs: z.number().int().min(1).default(1000),
    /** DLedgerConfig.maxPushTimeOutMs = 1000: an unacknowledged APPEND is pushed again after this. */
    maxPushTimeOutMs: z.number().int().min(1).default(1000),
    /** DLedgerConfig.maxPendingRequestsNum = 10000: more waiting appends than this → LEADER_PENDING_FULL. */
    maxPendingRequestsNum: z.number().int().min(1).default(10_000),
    /** DLedgerConfig.maxWaitAckTimeMs = 2500: an append not committed by then → WAIT_QUORUM_ACK_TIMEOUT. */
    maxWaitAckTimeMs: z.number().int().min(1).default(2500),
    /** DLedgerConfig.flushFileInterval = 10: FlushDataService forces the data and index files this often. */
    flushFileInterval: z.number().int().min(1).default(10),
    /** DLedgerConfig.checkPointInterval = 3000: the checkpoint (committedIndex) is rewritten this often. */
    checkPointInterval: z.number().int().min(1).default(3000),
    /**
     * DLedgerConfig.preferredLeaderIds (set through the deprecated
     * setPreferredLeaderId, which is what RocketMQ's DLedgerCommitLog calls
     * with MessageStoreConfig.preferredLeaderId): the peer the leader hands
     * leadership to. Unset by default. One id here; DLedger also accepts a
     * ';'-separated list.
     */
    preferredLeaderId: z.string().min(1).optional(),
    /** DLedgerConfig.maxLeadershipTransferWaitIndex = 1000: the preferred peer must lag by less than this. */
    maxLeadershipTransferWaitIndex: z.number().int().min(0).default(1000),
    /** DLedgerConfig.minTakeLeadershipVoteIntervalMs = 30: vote spacing of a peer taking leadership. */
    minTakeLeadershipVoteIntervalMs: z.number().int().min(0).default(30),
    /** DLedgerConfig.maxTakeLeadershipVoteIntervalMs = 100. */
    maxTakeLeadershipVoteIntervalMs: z.number().int().min(1).default(100),
    /** DLedgerConfig.isEnableBatchPush = false: one entry per APPEND push unless enabled. */
    isEnableBatchPush: z.boolean().default(false),
    /** DLedgerConfig.maxBatchPushSize = 4 * 1024: a batch push is sent once its entries reach this many bytes. */
    maxBatchPushSize: z.number().int().min(1).default(4 * 1024),
    /**
     * The commit rule. `current-term` (Raft §5.4.2): the leader advances its
     * commit index only to an entry of its own term. `count-replicas`: it
     * commits whatever a quorum holds, previous-term entries included —
     * Figure 8's bug (known-bugs C1/D2), as DLedger 0.2.x did. Reading
     * DLedgerEntryPusher at dledger-all-0.3.1.2 shows the same mechanism
     * there (watermarks keyed by the leader's term, updateCommittedIndex
     * never looks at the entry's term); the default follows the safe rule.
     */
    "dledger.commitRule": z.enum(["current-term", "count-replicas"]).default("current-term"),
    /**
     * Where currTerm and voteLeader go before a node answers. `page-cache`:
     * MemberState.persistTerm → IOUtils.string2File writes a temp file and
     * renames it, never fsyncs, and swallows errors, so a power loss can
     * take the term and vote back (known-bugs C2/D3). `fsync`: durable
     * before any message leaves, as Raft's Figure 2 requires. `none`: memory
     * only, lost by any crash.
     */
    "dledger.persistVote": z.enum(["page-cache", "fsync", "none"]).default("page-cache"),
    /**
     * `false` (DLedger): FlushDataService forces data every flushFileInterval;
     * a follower answers a push once the entry is in the page cache, and the
     * leader counts its own ledger end toward the quorum (known-bugs C5/D3).
     * `true` (textbook Raft): an entry counts toward the quorum only once it
     * is durable on that replica — followers answer after fsync, the leader
     * counts its flushed index.
     */
    "dledger.fsyncBeforeAck": z.boolean().default(false),
    /**
     * Not one of DLedger's keys: a knob this model adds to isolate a 0.3.1.2
     * quirk it exposed. EntryDispatcher.changeState(COMPARE) clears
     * compareIndex only when leaving APPEND, so a dispatcher that was still
     * comparing when its leader lost the term resumes, in the next term it
     * leads, at the old index; if the follower's entry there matches, it
     * sends TRUNCATE there and the follower drops (then gets back) a
     * committed suffix. `keep` is 0.3.1.2; `reset` starts every term's
     * comparison at the leader's end, as the rewritten dispatcher of later
     * versions effectively does.
     */
    "dledger.compareIndexOnNewTerm": z.enum(["keep", "reset"]).default("keep"),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.minVoteIntervalMs >= c.maxVoteIntervalMs) {
      ctx.addIssue({ code: "custom", message: "minVoteIntervalMs must be below maxVoteIntervalMs (Random.nextInt needs a positive bound)", path: ["minVoteIntervalMs"] });
    }
    if (c.minTakeLeadershipVoteIntervalMs >= c.maxTakeLeadershipVoteIntervalMs) {
      ctx.addIssue({ code: "custom", message: "minTakeLeadershipVoteIntervalMs must be below maxTakeLeadershipVoteIntervalMs", path: ["minTakeLeadershipVoteIntervalMs"] });
    }
  });

export type RaftConfig = z.infer<typeof RaftConfigSchema>;
export type RaftConfigInput = z.input<typeof RaftConfigSchema>;

/** Parses a (partial) DLedger configuration; throws a ZodError naming the bad key. */
export function parseRaftConfig(input: unknown = {}): RaftConfig {
  return RaftConfigSchema.parse(input ?? {});
}

/**
 * The textbook-safe variant: votes durable before replying, entries durable
 * before acking, current-term commits (and no stale comparison index).
 */
export const TEXTBOOK_RAFT: Readonly<Partial<RaftConfigInput>> = {
  "dledger.commitRule": "current-term",
  "dledger.persistVote": "fsync",
  "dledger.fsyncBeforeAck": true,
  "dledger.compareIndexOnNewTerm": "reset",
};

/**
 * DLedger's RPCs (DLedgerRpcNettyService: vote, heartBeat, push,
 * leadershipTransfer) all use a 3000 ms invokeAsync timeout; a timed-out
 * call completes with NETWORK_ERROR (an UNKNOWN vote result).
 */
export const RPC_TIMEOUT_MS = 3000;

/** DLedgerLeaderElector.StateMaintainer sleeps 10 ms between rounds of maintainState(). */
export const STATE_MAINTAINER_LOOP_MS = 10;

/** EntryDispatcher.maxPendingSize = 1000: APPEND pushes in flight per follower. */
export const MAX_PENDING_PUSHES = 1000;

/** EntryHandler.handlePush: a follower's TimeoutFuture for a queued push (1000 ms), and its fast-forward check period. */
export const FOLLOWER_PUSH_TIMEOUT_MS = 1000;

/** EntryDispatcher: a COMMIT-only push is sent when nothing was pushed for this long. */
export const COMMIT_PUSH_INTERVAL_MS = 1000;

/** EntryDispatcher.doWork: after an error (a failed COMPARE or TRUNCATE) the dispatcher sleeps 500 ms. */
export const DISPATCHER_ERROR_SLEEP_MS = 500;

/** DLedgerServer.startup: checkPreferredLeader runs every 1000 ms. */
export const PREFERRED_LEADER_CHECK_MS = 1000;

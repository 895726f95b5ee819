import { z } from "zod";

/**
 * The broker store's configuration under the real key names of
 * org.apache.rocketmq.store.config.MessageStoreConfig, so a user can paste the
 * store part of a broker.conf. Every default cites the field it comes from
 * (read at rocketmq-all-4.9.8; unchanged in 5.3.3 unless said).
 *
 * Parsed once per process at boot; the hot paths read the plain object.
 */
export const MessageStoreConfigSchema = z
  .object({
    /** MessageStoreConfig.storePathRootDir. The real default is ~/store; on the simulated disk the root is relative. */
    storePathRootDir: z.string().min(1).default("store"),
    /** MessageStoreConfig.flushDiskType = ASYNC_FLUSH */
    flushDiskType: z.enum(["ASYNC_FLUSH", "SYNC_FLUSH"]).default("ASYNC_FLUSH"),
    /** MessageStoreConfig.syncFlushTimeout = 1000 * 5 (ms) */
    syncFlushTimeout: z.number().int().min(1).default(5000),
    /** MessageStoreConfig.flushIntervalCommitLog = 500 (ms) */
    flushIntervalCommitLog: z.number().int().min(1).default(500),
    /** MessageStoreConfig.flushCommitLogLeastPages = 4 */
    flushCommitLogLeastPages: z.number().int().min(0).default(4),
    /** MessageStoreConfig.flushCommitLogThoroughInterval = 1000 * 10 (ms) */
    flushCommitLogThoroughInterval: z.number().int().min(0).default(10_000),
    /** MessageStoreConfig.flushCommitLogTimed = true: FlushRealTimeService sleeps instead of waiting to be woken by puts. */
    flushCommitLogTimed: z.boolean().default(true),
    /** MessageStoreConfig.transientStorePoolEnable = false */
    transientStorePoolEnable: z.boolean().default(false),
    /** MessageStoreConfig.commitIntervalCommitLog = 200 (ms) */
    commitIntervalCommitLog: z.number().int().min(1).default(200),
    /** MessageStoreConfig.commitCommitLogLeastPages = 4 */
    commitCommitLogLeastPages: z.number().int().min(0).default(4),
    /** MessageStoreConfig.commitCommitLogThoroughInterval = 200 (ms) */
    commitCommitLogThoroughInterval: z.number().int().min(0).default(200),
    /** MessageStoreConfig.flushIntervalConsumeQueue = 1000 (ms) */
    flushIntervalConsumeQueue: z.number().int().min(1).default(1000),
    /** MessageStoreConfig.flushConsumeQueueLeastPages = 2 */
    flushConsumeQueueLeastPages: z.number().int().min(0).default(2),
    /** MessageStoreConfig.flushConsumeQueueThoroughInterval = 1000 * 60 (ms) */
    flushConsumeQueueThoroughInterval: z.number().int().min(0).default(60_000),
    /**
     * MessageStoreConfig.mappedFileSizeCommitLog = 1024 * 1024 * 1024. Files
     * are sparse on the simulated disk, so the real size costs nothing; tests
     * use small sizes to exercise rolling.
     */
    mappedFileSizeCommitLog: z.number().int().min(64).default(1024 * 1024 * 1024),
    /** MessageStoreConfig.mappedFileSizeConsumeQueue = 300000 * ConsumeQueue.CQ_STORE_UNIT_SIZE; rounded up to whole units as the getter does. */
    mappedFileSizeConsumeQueue: z.number().int().min(20).default(300_000 * 20),
    /** MessageStoreConfig.maxMessageSize = 1024 * 1024 * 4 (body bytes) */
    maxMessageSize: z.number().int().min(10).default(4 * 1024 * 1024),
    /** MessageStoreConfig.checkCRCOnRecover = true */
    checkCRCOnRecover: z.boolean().default(true),
    /** MessageStoreConfig.messageIndexEnable = true */
    messageIndexEnable: z.boolean().default(true),
    /** MessageStoreConfig.messageIndexSafe = false */
    messageIndexSafe: z.boolean().default(false),
    /** MessageStoreConfig.maxHashSlotNum = 5000000 */
    maxHashSlotNum: z.number().int().min(1).default(5_000_000),
    /** MessageStoreConfig.maxIndexNum = 5000000 * 4 */
    maxIndexNum: z.number().int().min(2).default(20_000_000),
    /** MessageStoreConfig.maxMsgsNumBatch = 64: the most offsets one index query returns. */
    maxMsgsNumBatch: z.number().int().min(1).default(64),
    /** MessageStoreConfig.maxTransferBytesOnMessageInMemory = 1024 * 256 */
    maxTransferBytesOnMessageInMemory: z.number().int().min(1).default(256 * 1024),
    /** MessageStoreConfig.maxTransferCountOnMessageInMemory = 32 */
    maxTransferCountOnMessageInMemory: z.number().int().min(1).default(32),
    /** MessageStoreConfig.maxTransferBytesOnMessageInDisk = 1024 * 64 */
    maxTransferBytesOnMessageInDisk: z.number().int().min(1).default(64 * 1024),
    /** MessageStoreConfig.maxTransferCountOnMessageInDisk = 8 */
    maxTransferCountOnMessageInDisk: z.number().int().min(1).default(8),
    /** MessageStoreConfig.accessMessageInMemoryMaxRatio = 40 (percent of physical memory) */
    accessMessageInMemoryMaxRatio: z.number().int().min(0).max(100).default(40),
    /**
     * Not a real key: StoreUtil.TOTAL_PHYSICAL_MEMORY_SIZE is read from the
     * operating system. It decides, with accessMessageInMemoryMaxRatio, whether
     * a pull counts as "in memory" (bigger batches) or "on disk". 16 GiB is a
     * typical broker host.
     */
    totalPhysicalMemorySizeBytes: z.number().int().min(1).default(16 * 1024 * 1024 * 1024),
    /** MessageStoreConfig.offsetCheckInSlave = false: a slave does not correct a bad pull offset. */
    offsetCheckInSlave: z.boolean().default(false),
    /** MessageStoreConfig.messageDelayLevel: delay of each level, used to rewrite delayed messages and compute their delivery time. */
    messageDelayLevel: z.string().default("1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"),
    /** MessageStoreConfig.flushDelayOffsetInterval = 10 s: how often ScheduleMessageService writes delayOffset.json. */
    flushDelayOffsetInterval: z.number().int().min(1).default(10_000),
    /**
     * MessageStoreConfig.brokerRole = ASYNC_MASTER. The store needs it only to
     * refuse client puts on a SLAVE and to disable the transient store pool
     * there; the HA wait itself belongs to the broker.
     */
    brokerRole: z.enum(["ASYNC_MASTER", "SYNC_MASTER", "SLAVE"]).default("ASYNC_MASTER"),
    /**
     * Which RocketMQ line to model. 4.x dispatches up to the CommitLog write
     * position; from 5.3.2 ReputMessageService stops at confirmOffset, which
     * is flushedWhere under SYNC_FLUSH and the max offset otherwise
     * (CommitLog.getConfirmOffset). 5.3.3 also persists confirmPhyOffset in
     * the checkpoint file.
     */
    version: z.enum(["4.9.8", "5.3.3"]).default("4.9.8"),
  })
  .strict();

export type MessageStoreConfig = z.infer<typeof MessageStoreConfigSchema>;

/** A page as RocketMQ counts it (MappedFile.OS_PAGE_SIZE), whatever the simulated disk's page size. */
export const OS_PAGE_SIZE = 4096;

/** MessageStoreConfig.isTransientStorePoolEnable: the pool only takes effect with ASYNC_FLUSH on a non-slave. */
export function transientStorePoolEffective(cfg: MessageStoreConfig): boolean {
  return cfg.transientStorePoolEnable && cfg.flushDiskType === "ASYNC_FLUSH" && cfg.brokerRole !== "SLAVE";
}

/** MessageStoreConfig.getMappedFileSizeConsumeQueue: the size rounded up to whole 20-byte units. */
export function consumeQueueFileSize(cfg: MessageStoreConfig): number {
  return Math.ceil(cfg.mappedFileSizeConsumeQueue / 20) * 20;
}

/**
 * ScheduleMessageService.parseDelayLevel: "1s 5s 10s ..." to delays in ms,
 * level 1 first. Units s, m, h, d as the real parser accepts.
 */
export function parseDelayLevels(spec: string): number[] {
  const unitMs: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const out: number[] = [];
  for (const part of spec.split(" ")) {
    if (part.length === 0) continue;
    const unit = unitMs[part[part.length - 1]!];
    const n = Number(part.slice(0, -1));
    if (unit === undefined || !Number.isFinite(n)) throw new Error(`messageDelayLevel: bad level ${part}`);
    out.push(n * unit);
  }
  return out;
}

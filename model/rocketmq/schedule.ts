import type { Timer } from "../../sim/kernel.js";
import type { BrokerPutStatus, BrokerRuntime } from "./broker-runtime.js";
import { readConfigFile, writeConfigFile } from "./config-file.js";
import { PERM_READ, PERM_WRITE } from "./protocol.js";
import { PROPERTY_DELAY_TIME_LEVEL, PROPERTY_REAL_QUEUE_ID, PROPERTY_REAL_TOPIC, PROPERTY_WAIT_STORE_MSG_OK, SCHEDULE_TOPIC } from "./store/codec.js";
import { parseDelayLevels } from "./store/config.js";
import type { DecodedMessage, MessageInput } from "./store/types.js";

/** What the cluster's drain check reads of a broker's ScheduleMessageService. */
export interface ScheduleServiceHandle {
  /** Delayed messages stored in SCHEDULE_TOPIC_XXXX and not yet delivered by this broker (0 when it is not a master). */
  pending(): number;
}

/** ScheduleMessageService.FIRST_DELAY_TIME = 1000 ms: each level's first run after start. */
const FIRST_DELAY_TIME_US = 1_000_000;
/**
 * ScheduleMessageService.DELAY_FOR_A_WHILE = 100 ms. In 4.9.8 every run of
 * DeliverDelayedMessageTimerTask ends by rescheduling itself this long
 * after: when the queue is empty, when the head is not due yet
 * (`countdown > 0`), when a put failed, and after a pass.
 */
const DELAY_FOR_A_WHILE_US = 100_000;
/** ScheduleMessageService.start: the offset table is persisted at a fixed rate, first after 10000 ms. */
const PERSIST_FIRST_DELAY_US = 10_000_000;
/** TopicConfigManager.SCHEDULE_TOPIC_QUEUE_NUM = 18: the topic config the broker creates at construction. */
const SCHEDULE_TOPIC_QUEUE_NUM = 18;
/** MixAll.SCHEDULE_CONSUMER_GROUP: the group name the service reads its queues under. */
const SCHEDULE_CONSUMER_GROUP = "SCHEDULE_CONSUMER";
/** TopicValidator.RMQ_SYS_TRANS_HALF_TOPIC: a delayed message may never be delivered into it. */
const RMQ_SYS_TRANS_HALF_TOPIC = "RMQ_SYS_TRANS_HALF_TOPIC";

/**
 * The offset table's file. The real path is
 * StorePathConfigHelper.getDelayOffsetStorePath = <storePathRootDir>/config/delayOffset.json;
 * here it sits beside consumerOffset.json, outside the store root, because
 * the DLedger-mode broker wipes the store root at every boot (the real
 * broker keeps this file across restarts in both modes). A slave's
 * SlaveSynchronize.syncDelayOffset writes the master's copy here.
 */
export const DELAY_OFFSET_FILE = "config/delayOffset.json";

/** DelayOffsetSerializeWrapper: level → next ConsumeQueue offset of SCHEDULE_TOPIC_XXXX queue level − 1. */
export interface DelayOffsetFile {
  offsetTable: Record<string, number>;
}

/**
 * One DeliverDelayedMessageTimerTask chain: the real service keeps exactly
 * one pending task per level, carrying the offset to look at next.
 */
interface LevelTask {
  readonly level: number;
  readonly queueId: number;
  /** delayLevelTable[level], ms. */
  readonly delayMs: number;
  /** The task's offset: the next ConsumeQueue unit to look at. Invariant: minOffset <= cursor <= maxOffset after a run. */
  cursor: number;
  /**
   * "sleeping": a run is scheduled. "putting": a put is outstanding (the
   * real task blocks on it). "idle": the queue is exhausted; the real task
   * polls every 100 ms, this one waits for a dispatch to SCHEDULE_TOPIC_XXXX.
   */
  state: "sleeping" | "putting" | "idle";
  /** When the task last ended a run: the real polls would fall at idleSinceUs + k × 100 ms. */
  idleSinceUs: number;
  timer: Timer | null;
}

/**
 * ScheduleMessageService (4.9.8, synchronous delivery: the default
 * enableScheduleAsyncDeliver = false): delivers each SCHEDULE_TOPIC_XXXX
 * message to its real topic and queue once its delivery time (the
 * ConsumeQueue tag) has come, one level at a time and in queue order. It
 * runs only while the broker is a master (BrokerController.changeToMaster /
 * changeToSlave start and stop it through
 * DefaultMessageStore.handleScheduleMessageService), and keeps per-level
 * progress in delayOffset.json, written every flushDelayOffsetInterval and
 * when it stops. A crash therefore redelivers up to one interval of
 * messages (they are already due, so never early); nothing is delivered
 * before its time.
 *
 * One deviation, for cost only: the real task polls every 100 ms while its
 * queue is empty or its head is not due. This one computes the poll that
 * would first see the change and sleeps until then: the tick at or after
 * the head's delivery time, or, when idle, the tick after a dispatch to its
 * queue (store.onDispatch) wakes it. Deliveries happen at the same ticks,
 * so an idle broker costs no events and a delivery is at most 100 ms late,
 * as in the real broker.
 */
export function installScheduleService(rt: BrokerRuntime): ScheduleServiceHandle {
  const { ctx, store } = rt;
  const delayLevelTable = parseDelayLevels(rt.cfg.store.messageDelayLevel);
  const persistIntervalUs = rt.cfg.store.flushDelayOffsetInterval * 1000;
  /** offsetTable: level → the offset after the last message delivered (what delayOffset.json holds). */
  const offsetTable = new Map<number, number>();
  const tasks: LevelTask[] = delayLevelTable.map((delayMs, i) => ({
    level: i + 1,
    queueId: i,
    delayMs,
    cursor: 0,
    state: "idle",
    idleSinceUs: 0,
    timer: null,
  }));
  let started = false;
  /** Bumped at every start and stop: a timer or put callback of an older run finds it changed and does nothing. */
  let epoch = 0;
  let persistTimer: Timer | null = null;

  // ---- offset table (ConfigManager load / persist) ----

  /** ConfigManager.load → decode: the file's entries are put over the in-memory table. */
  const load = (): void => {
    const file = readConfigFile<DelayOffsetFile>(ctx.disk, DELAY_OFFSET_FILE);
    for (const [level, offset] of Object.entries(file?.offsetTable ?? {})) offsetTable.set(Number(level), offset);
  };

  /**
   * ScheduleMessageService.correctDelayOffset: an offset outside its queue
   * (say, the file outlived ConsumeQueue entries a power loss took back) is
   * moved to the nearest end.
   */
  const correctDelayOffset = (): void => {
    for (const t of tasks) {
      const current = offsetTable.get(t.level);
      if (current === undefined) continue;
      const min = store.getMinOffsetInQueue(SCHEDULE_TOPIC, t.queueId);
      const max = store.getMaxOffsetInQueue(SCHEDULE_TOPIC, t.queueId);
      const corrected = current < min ? min : current > max ? max : current;
      if (corrected === current) continue;
      ctx.emit("schedule.correctOffset", { level: t.level, from: current, to: corrected });
      offsetTable.set(t.level, corrected);
    }
  };

  /** ConfigManager.persist: written without fsync, like every broker config file. */
  const persist = (): void => {
    const out: DelayOffsetFile = { offsetTable: {} };
    for (const [level, offset] of offsetTable) out.offsetTable[String(level)] = offset;
    writeConfigFile(ctx.disk, DELAY_OFFSET_FILE, out);
  };

  const persistLoop = (ep: number): void => {
    if (ep !== epoch) return;
    persist();
    persistTimer = ctx.after(persistIntervalUs, () => persistLoop(ep));
  };

  // ---- task scheduling ----

  const schedule = (t: LevelTask, delayUs: number): void => {
    const ep = epoch;
    t.state = "sleeping";
    t.timer = ctx.after(delayUs, () => runTask(t, ep));
  };

  /** The task ends its run now; the run that would first see `targetUs` is the first 100 ms tick at or after it. */
  const sleepUntil = (t: LevelTask, targetUs: number): void => {
    t.idleSinceUs = ctx.now;
    schedule(t, ticksUntil(ctx.now, targetUs) * DELAY_FOR_A_WHILE_US);
  };

  const goIdle = (t: LevelTask): void => {
    t.state = "idle";
    t.idleSinceUs = ctx.now;
    t.timer = null;
  };

  /** A message reached an idle level's queue: the real task's next 100 ms poll finds it. */
  const wake = (t: LevelTask): void => {
    schedule(t, t.idleSinceUs + ticksUntil(t.idleSinceUs, ctx.now) * DELAY_FOR_A_WHILE_US - ctx.now);
  };

  const runTask = (t: LevelTask, ep: number): void => {
    if (ep !== epoch) return;
    t.timer = null;
    executeOnTimeup(t, ep);
  };

  // ---- delivery (DeliverDelayedMessageTimerTask.executeOnTimeup) ----

  /**
   * Delivers every due message from the task's offset on, in order; stops
   * at the first one not due (sleeps until it is), at a failed put (retries
   * it 100 ms later), or at the end of the queue (idle).
   */
  const executeOnTimeup = (t: LevelTask, ep: number): void => {
    for (;;) {
      const min = store.getMinOffsetInQueue(SCHEDULE_TOPIC, t.queueId);
      const max = store.getMaxOffsetInQueue(SCHEDULE_TOPIC, t.queueId);
      if (t.cursor < min || t.cursor > max) {
        // "schedule CQ offset invalid": the real task resets to the nearest end and tries again in 100 ms.
        t.cursor = t.cursor < min ? min : max;
        sleepUntil(t, ctx.now);
        return;
      }
      if (t.cursor === max) return goIdle(t);
      let cqTagsCode = 0;
      const r = store.getMessage(SCHEDULE_CONSUMER_GROUP, SCHEDULE_TOPIC, t.queueId, t.cursor, 1, (tagsCode) => {
        cqTagsCode = tagsCode;
        return true;
      });
      const m = r.messages[0];
      if (r.status !== "FOUND" || m === undefined) {
        // lookMessageByOffset found nothing (the CommitLog file is gone): the real loop moves past the unit.
        if (r.nextBeginOffset <= t.cursor) throw new Error(`schedule: level ${t.level} cannot move past offset ${t.cursor} (${r.status})`);
        t.cursor = r.nextBeginOffset;
        continue;
      }
      // Units whose messages are gone were passed over on the way to this one.
      if (m.queueOffset > t.cursor) t.cursor = m.queueOffset;
      const nowMs = Math.floor(ctx.now / 1000);
      const deliverTimestamp = correctDeliverTimestamp(nowMs, cqTagsCode, t.delayMs);
      if (deliverTimestamp > nowMs) return sleepUntil(t, deliverTimestamp * 1000);
      const inner = messageTimeup(m);
      if (inner.topic === RMQ_SYS_TRANS_HALF_TOPIC) {
        ctx.emit("schedule.discard", { level: t.level, offset: t.cursor, topic: inner.topic });
        t.cursor++;
        continue;
      }
      if (!maybeDeliver(t, ep, inner)) return;
    }
  };

  /**
   * syncDeliver: puts the message and waits for the result, as the real
   * task blocks on the put's future. Returns true when the put succeeded at
   * once and the caller's loop may go on; an asynchronous answer (DLedger
   * mode) resumes the loop itself.
   */
  const maybeDeliver = (t: LevelTask, ep: number, inner: MessageInput): boolean => {
    const offset = t.cursor;
    const sync: { inCall: boolean; status: BrokerPutStatus | null } = { inCall: true, status: null };
    t.state = "putting";
    rt.putMessage(inner, (status) => {
      if (sync.inCall) {
        sync.status = status;
        return;
      }
      if (ep !== epoch) return;
      if (afterPut(t, offset, inner, status)) executeOnTimeup(t, ep);
    });
    sync.inCall = false;
    return sync.status !== null && afterPut(t, offset, inner, sync.status);
  };

  /** Only PUT_OK moves the level on (and its table entry to offset + 1); anything else retries the same message in 100 ms. */
  const afterPut = (t: LevelTask, offset: number, inner: MessageInput, status: BrokerPutStatus): boolean => {
    if (status !== "PUT_OK") {
      ctx.emit("schedule.putFailed", { level: t.level, offset, status });
      sleepUntil(t, ctx.now);
      return false;
    }
    offsetTable.set(t.level, offset + 1);
    t.cursor = offset + 1;
    ctx.emit("schedule.deliver", { level: t.level, offset, topic: inner.topic, queueId: inner.queueId });
    return true;
  };

  // ---- start / stop (DefaultMessageStore.handleScheduleMessageService) ----

  const start = (): void => {
    if (started) return;
    started = true;
    epoch++;
    // ScheduleMessageService.start: load() (the file, then correctDelayOffset), then one task per level after FIRST_DELAY_TIME.
    load();
    correctDelayOffset();
    for (const t of tasks) {
      t.cursor = offsetTable.get(t.level) ?? 0;
      t.idleSinceUs = ctx.now;
      schedule(t, FIRST_DELAY_TIME_US);
    }
    const ep = epoch;
    persistTimer = ctx.after(PERSIST_FIRST_DELAY_US, () => persistLoop(ep));
    ctx.emit("schedule.start", { offsets: Object.fromEntries(offsetTable) });
  };

  /** ScheduleMessageService.shutdown: the tasks stop, then the table is persisted. */
  const stop = (): void => {
    if (!started) return;
    started = false;
    epoch++;
    for (const t of tasks) {
      ctx.cancel(t.timer);
      goIdle(t);
    }
    ctx.cancel(persistTimer);
    persistTimer = null;
    persist();
    ctx.emit("schedule.stop", { offsets: Object.fromEntries(offsetTable) });
  };

  rt.ensureTopic(SCHEDULE_TOPIC, SCHEDULE_TOPIC_QUEUE_NUM, PERM_READ | PERM_WRITE);
  store.onDispatch((topic, queueId) => {
    if (!started || topic !== SCHEDULE_TOPIC) return;
    const t = tasks[queueId];
    if (t !== undefined && t.state === "idle") wake(t);
  });
  rt.onRoleChange((master) => (master ? start() : stop()));
  rt.onShutdown(stop);
  if (rt.isMaster()) start();

  return {
    pending: () => {
      if (!started) return 0;
      let n = 0;
      for (const t of tasks) n += Math.max(0, store.getMaxOffsetInQueue(SCHEDULE_TOPIC, t.queueId) - t.cursor);
      return n;
    },
  };
}

/** How many 100 ms ticks after `fromUs` the first one at or after `targetUs` comes (at least one: a run never repeats at once). */
function ticksUntil(fromUs: number, targetUs: number): number {
  return Math.max(1, Math.ceil((targetUs - fromUs) / DELAY_FOR_A_WHILE_US));
}

/**
 * DeliverDelayedMessageTimerTask.correctDeliverTimestamp: a delivery time
 * further ahead than the level's delay (a clock that went back, a changed
 * messageDelayLevel) is treated as now.
 */
export function correctDeliverTimestamp(nowMs: number, deliverTimestampMs: number, levelDelayMs: number): number {
  return deliverTimestampMs > nowMs + levelDelayMs ? nowMs : deliverTimestampMs;
}

/**
 * ScheduleMessageService.messageTimeup: the stored message back under its
 * real topic and queue. Body, flag, sysFlag, born timestamp and host, store
 * host and reconsumeTimes are kept; so are all properties (REAL_TOPIC and
 * REAL_QID included) but DELAY, and WAIT becomes false, so the put does not
 * wait for a flush or a slave.
 */
export function messageTimeup(m: DecodedMessage): MessageInput {
  const properties: Record<string, string> = { ...m.properties, [PROPERTY_WAIT_STORE_MSG_OK]: "false" };
  delete properties[PROPERTY_DELAY_TIME_LEVEL];
  const topic = properties[PROPERTY_REAL_TOPIC];
  const queueIdText = properties[PROPERTY_REAL_QUEUE_ID];
  // The store writes both whenever it routes a message here; their absence is a broken store, not a message to skip.
  if (topic === undefined || queueIdText === undefined) throw new Error(`schedule: message at ${m.physicalOffset} lacks ${PROPERTY_REAL_TOPIC}/${PROPERTY_REAL_QUEUE_ID}`);
  return {
    topic,
    queueId: Number.parseInt(queueIdText, 10),
    body: m.body,
    flag: m.flag,
    properties,
    bornTimestampMs: m.bornTimestamp,
    bornHost: m.bornHost,
    storeHost: m.storeHost,
    reconsumeTimes: m.reconsumeTimes,
    sysFlag: m.sysFlag,
  };
}

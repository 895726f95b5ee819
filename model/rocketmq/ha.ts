import type { Timer } from "../../sim/kernel.js";
import type { Connection } from "../../sim/network.js";
import type { CloseReason, NodeContext } from "../../sim/node.js";
import type { HaConfig, RocketMqVersion } from "./config.js";
import type { HaFrame, HaReportFrame, HaTransferFrame } from "./protocol.js";
import type { MessageStore } from "./store/message-store.js";

/**
 * Classic master/slave replication: HAService, HAConnection and HAClient
 * of rocketmq-all-4.9.8, DefaultHAService, DefaultHAConnection and
 * DefaultHAClient of rocketmq-all-5.3.3. The CommitLog is copied byte for
 * byte: the slave reports its max offset, the master streams from there.
 * Where the two lines differ the version decides (see each place).
 *
 * The real services are threads that loop on `select(1000)`; here each loop
 * is a timer of its process, so a crash stops it with the process.
 */

/**
 * Connections opened to some broker's haListenPort. The simulated network
 * knows nodes, not ports; a real server knows which listening socket
 * accepted a connection, and this set stands for that knowledge: the slave's
 * HA client adds its connection when it dials, the master's accept looks it
 * up. Entries are connection objects, unique to one run, so runs never see
 * each other's.
 */
const haPortConnections = new WeakSet<Connection>();

/** True if the connection was opened to an HA port (not to the remoting port). */
export function isHaConnection(conn: Connection): boolean {
  return haPortConnections.has(conn);
}

/** What the replica half of a SYNC_MASTER put can say (CommitLog.submitReplicaRequest / handleHA). */
export type ReplicaStatus = "PUT_OK" | "FLUSH_SLAVE_TIMEOUT" | "SLAVE_NOT_AVAILABLE";

export interface HaSettings {
  version: RocketMqVersion;
  ha: HaConfig;
  /** MessageStoreConfig.mappedFileSizeCommitLog: a first report of 0 starts from the master's last file. */
  mappedFileSizeCommitLog: number;
}

/** HAClient's loop selects with a 1 s timeout: its report and housekeeping checks run at least every second. */
const SELECT_TIMEOUT_US = 1_000_000;
/** WriteSocketService: with nothing to send it waits on the WaitNotifyObject for 100 ms (allWaitForRunning(100)). */
const WRITE_IDLE_WAIT_US = 100_000;
/** HAClient: after a failed connect (and in 5.x after any failed transfer) it waits 5 s (waitForRunning(1000 * 5)). */
const CLIENT_RETRY_WAIT_US = 5_000_000;

const EMPTY = new Uint8Array(0);

/** One slave connection on the master (HAConnection with its read and write services). */
interface HaConnectionState {
  conn: Connection;
  slave: string;
  /** HAConnection.slaveRequestOffset: the slave's first report; -1 until it arrives. */
  slaveRequestOffset: number;
  /** HAConnection.slaveAckOffset: the slave's latest report. */
  slaveAckOffset: number;
  /** WriteSocketService.nextTransferFromWhere. Invariant: >= 0 once the first frame was sent. */
  nextTransferFromWhere: number;
  /** ReadSocketService.lastReadTimestamp (µs). */
  lastReadUs: number;
  /** WriteSocketService.lastWriteTimestamp (µs). */
  lastWriteUs: number;
  pumpTimer: Timer | null;
  pumpAtUs: number;
  housekeepingTimer: Timer | null;
  open: boolean;
  /** Some data frame was sent on this connection. */
  streaming: boolean;
}

/** CommitLog.GroupCommitRequest as the GroupTransferService holds it. */
interface TransferRequest {
  nextOffset: number;
  ackNums: number;
  deadlineUs: number;
  cb: (status: "PUT_OK" | "FLUSH_SLAVE_TIMEOUT") => void;
}

/** A slave connection as tests and the cluster see it. */
export interface HaConnectionView {
  slave: string;
  slaveRequestOffset: number;
  slaveAckOffset: number;
  nextTransferFromWhere: number;
}

/**
 * The master side, which every broker runs whatever its role (the real
 * AcceptSocketService listens on slaves too): accepted slave connections,
 * each streaming the CommitLog from the slave's reported offset, and the
 * GroupTransferService that holds SYNC_MASTER puts until enough slaves
 * acknowledged them.
 */
export class HaService {
  private readonly connections: HaConnectionState[] = [];
  /**
   * HAService.push2SlaveMaxOffset: the highest offset any slave reported
   * since this process started, only ever raised (notifyTransferSome). A
   * slave's FIRST report on a connection raises it without being compared
   * with the local max offset (both lines; known-bugs E3, #1155/#2706): a
   * slave holding more than its restarted master makes SYNC_MASTER puts
   * below that offset succeed unreplicated.
   */
  private push2SlaveMaxOffset = 0;
  /** GroupTransferService's requests, in put order, so in nextOffset order. */
  private readonly requests: TransferRequest[] = [];
  private requestTimer: Timer | null = null;
  private requestTimerAtUs = -1;
  private stopped = false;

  constructor(
    private readonly ctx: NodeContext,
    private readonly store: MessageStore,
    private readonly settings: HaSettings,
  ) {}

  /** HAService.getConnectionCount: connections accepted whose read service still runs. */
  get connectionCount(): number {
    return this.connections.length;
  }

  get pushedToSlaveMaxOffset(): number {
    return this.push2SlaveMaxOffset;
  }

  view(): HaConnectionView[] {
    return this.connections.map((c) => ({
      slave: c.slave,
      slaveRequestOffset: c.slaveRequestOffset,
      slaveAckOffset: c.slaveAckOffset,
      nextTransferFromWhere: c.nextTransferFromWhere,
    }));
  }

  /** HAService.isSlaveOK (4.9.8): a slave is connected and within haSlaveFallbehindMax of masterPutWhere. */
  isSlaveOK(masterPutWhere: number): boolean {
    return this.connections.length > 0 && masterPutWhere - this.push2SlaveMaxOffset < this.settings.ha.haSlaveFallbehindMax;
  }

  /**
   * The replica half of a SYNC_MASTER put that waits for the store
   * (waitStoreMsgOK). 4.9.8 (CommitLog.submitReplicaRequest): with no slave
   * connected, or the slave too far behind, SLAVE_NOT_AVAILABLE at once;
   * otherwise wait for push2SlaveMaxOffset to reach nextOffset. 5.3.3
   * (CommitLog.handleHA): inSyncReplicas acks are needed, the master
   * counting as one, so the default of 1 answers PUT_OK without waiting.
   */
  handleHA(nextOffset: number, cb: (status: ReplicaStatus) => void): void {
    if (this.settings.version === "4.9.8") {
      if (!this.isSlaveOK(nextOffset)) {
        cb("SLAVE_NOT_AVAILABLE");
        return;
      }
      this.putRequest(nextOffset, 1, cb);
      return;
    }
    const needAckNums = this.settings.ha.inSyncReplicas;
    if (needAckNums <= 1) {
      cb("PUT_OK");
      return;
    }
    this.putRequest(nextOffset, needAckNums, cb);
  }

  /** GroupTransferService.putRequest, then WaitNotifyObject.wakeupAll so every write service looks for the new data. */
  private putRequest(nextOffset: number, ackNums: number, cb: (status: "PUT_OK" | "FLUSH_SLAVE_TIMEOUT") => void): void {
    this.requests.push({ nextOffset, ackNums, deadlineUs: this.ctx.now + this.settings.ha.slaveTimeout * 1000, cb });
    for (const c of this.connections) this.schedulePump(c, 0);
    this.checkRequests();
  }

  /**
   * GroupTransferService.doWaitTransfer: requests complete in order, PUT_OK
   * once acknowledged, FLUSH_SLAVE_TIMEOUT once past their deadline. The
   * real service re-checks a waiting request when woken by an ack and at
   * least every second (4.9.8) or millisecond (5.3.3); here the deadline is
   * its own timer, so a timeout is reported at the deadline itself.
   */
  private checkRequests(): void {
    const now = this.ctx.now;
    while (this.requests.length > 0) {
      const head = this.requests[0]!;
      if (this.transferOK(head)) {
        this.requests.shift();
        head.cb("PUT_OK");
      } else if (head.deadlineUs <= now) {
        this.requests.shift();
        this.ctx.emit("ha.slave-timeout", { nextOffset: head.nextOffset, pushed: this.push2SlaveMaxOffset });
        head.cb("FLUSH_SLAVE_TIMEOUT");
      } else {
        break;
      }
    }
    const head = this.requests[0];
    if (head === undefined) {
      this.ctx.cancel(this.requestTimer);
      this.requestTimer = null;
      return;
    }
    if (this.requestTimer !== null && this.requestTimerAtUs === head.deadlineUs) return;
    this.ctx.cancel(this.requestTimer);
    this.requestTimerAtUs = head.deadlineUs;
    this.requestTimer = this.ctx.at(head.deadlineUs, () => {
      this.requestTimer = null;
      this.checkRequests();
    });
  }

  private transferOK(req: TransferRequest): boolean {
    // 4.9.8, and 5.3.3 for one ack: the highest report of any slave.
    if (this.settings.version === "4.9.8" || req.ackNums <= 1) return this.push2SlaveMaxOffset >= req.nextOffset;
    // 5.3.3: the master plus every connection whose own ack reached the offset.
    let acks = 1;
    for (const c of this.connections) if (c.slaveAckOffset >= req.nextOffset) acks++;
    return acks >= req.ackNums;
  }

  /** HAService.notifyTransferSome: raise push2SlaveMaxOffset and wake the transfer service. */
  private notifyTransferSome(offset: number): void {
    if (offset > this.push2SlaveMaxOffset) this.push2SlaveMaxOffset = offset;
    this.checkRequests();
  }

  // ---- connections -----------------------------------------------------------------------

  /** AcceptSocketService: a slave connected; its HAConnection starts reading and writing. */
  onAccept(conn: Connection): void {
    // A shut-down HA service no longer accepts: the dialling slave hears nothing until this process
    // exits and its kernel resets the connection (the real listener would refuse at once).
    if (this.stopped) return;
    const now = this.ctx.now;
    const c: HaConnectionState = {
      conn,
      slave: conn.peerOf(this.ctx.node).name,
      slaveRequestOffset: -1,
      slaveAckOffset: -1,
      nextTransferFromWhere: -1,
      lastReadUs: now,
      lastWriteUs: now,
      pumpTimer: null,
      pumpAtUs: 0,
      housekeepingTimer: null,
      open: true,
      streaming: false,
    };
    this.connections.push(c);
    this.ctx.emit("ha.accept", { slave: c.slave });
    this.scheduleHousekeeping(c);
  }

  onMessage(conn: Connection, frame: HaFrame): void {
    const c = this.connections.find((x) => x.conn === conn);
    if (c === undefined || frame.type !== "ha.report") return;
    this.onReport(c, frame);
  }

  onClose(conn: Connection, reason: CloseReason): void {
    const c = this.connections.find((x) => x.conn === conn);
    if (c !== undefined) this.closeConnection(c, reason, false);
  }

  /**
   * ReadSocketService.processReadEvent: every report is the slave's ack;
   * the first is also where to start. 4.9.8 closes the connection when a
   * LATER report is beyond the local max offset (the #3015 fix); the first
   * one is never checked. 5.3.3 checks neither.
   */
  private onReport(c: HaConnectionState, frame: HaReportFrame): void {
    c.lastReadUs = this.ctx.now;
    c.slaveAckOffset = frame.offset;
    if (c.slaveRequestOffset < 0) {
      c.slaveRequestOffset = frame.offset;
      this.ctx.emit("ha.report", { slave: c.slave, offset: frame.offset, masterMaxOffset: this.store.getMaxPhyOffset() });
      this.schedulePump(c, 0);
    } else if (this.settings.version === "4.9.8" && frame.offset > this.store.getMaxPhyOffset()) {
      this.ctx.emit("ha.reject", { slave: c.slave, offset: frame.offset, masterMaxOffset: this.store.getMaxPhyOffset() });
      this.closeConnection(c, "ack-beyond-max", true);
      return;
    }
    this.notifyTransferSome(frame.offset);
  }

  /** ReadSocketService's housekeeping: a slave silent for more than haHousekeepingInterval is dropped. */
  private scheduleHousekeeping(c: HaConnectionState): void {
    const limitUs = this.settings.ha.haHousekeepingInterval * 1000;
    c.housekeepingTimer = this.ctx.at(c.lastReadUs + limitUs + 1, () => {
      c.housekeepingTimer = null;
      if (!c.open) return;
      if (this.ctx.now - c.lastReadUs > limitUs) this.closeConnection(c, "housekeeping", true);
      else this.scheduleHousekeeping(c);
    });
  }

  private schedulePump(c: HaConnectionState, delayUs: number): void {
    if (!c.open) return;
    const at = this.ctx.now + delayUs;
    if (c.pumpTimer !== null) {
      if (c.pumpAtUs <= at) return;
      this.ctx.cancel(c.pumpTimer);
    }
    c.pumpAtUs = at;
    c.pumpTimer = this.ctx.at(at, () => {
      c.pumpTimer = null;
      this.pump(c);
    });
  }

  /**
   * WriteSocketService's loop: after the slave's first report, send an
   * empty header when nothing was written for haSendHeartbeatInterval, then
   * the CommitLog from nextTransferFromWhere in frames of at most
   * haTransferBatchSize, read from the write position (unflushed data
   * included); with nothing to send, wait 100 ms or until a SYNC_MASTER put
   * wakes it. The real loop writes one frame per turn without sleeping while
   * data remains, so sending every available frame at once is the same.
   */
  private pump(c: HaConnectionState): void {
    if (!c.open || this.stopped || c.slaveRequestOffset < 0) return;
    const now = this.ctx.now;
    if (c.nextTransferFromWhere < 0) {
      if (c.slaveRequestOffset === 0) {
        // A new slave starts at the beginning of the master's last CommitLog file.
        const max = this.store.getMaxPhyOffset();
        c.nextTransferFromWhere = Math.max(0, max - (max % this.settings.mappedFileSizeCommitLog));
      } else {
        c.nextTransferFromWhere = c.slaveRequestOffset;
      }
    }
    if (now - c.lastWriteUs > this.settings.ha.haSendHeartbeatInterval * 1000) {
      if (!this.sendFrame(c, { type: "ha.transfer", offset: c.nextTransferFromWhere, body: EMPTY })) return;
      c.lastWriteUs = now;
    }
    const from = c.nextTransferFromWhere;
    let bytes = 0;
    let frames = 0;
    for (;;) {
      const body = this.store.readCommitLogBytes(c.nextTransferFromWhere, this.settings.ha.haTransferBatchSize);
      if (body === null || body.length === 0) break;
      if (!this.sendFrame(c, { type: "ha.transfer", offset: c.nextTransferFromWhere, body })) return;
      c.nextTransferFromWhere += body.length;
      bytes += body.length;
      frames++;
      c.lastWriteUs = now;
    }
    // Traced when a connection starts streaming and on catch-ups; steady streaming shows as messages only.
    if (bytes > 0 && (!c.streaming || frames > 1)) this.ctx.emit("ha.transfer", { slave: c.slave, from, bytes, frames });
    if (bytes > 0) c.streaming = true;
    this.schedulePump(c, WRITE_IDLE_WAIT_US);
  }

  /** False (and the connection dropped) when the socket is already closed at this end. */
  private sendFrame(c: HaConnectionState, frame: HaTransferFrame): boolean {
    if (!c.conn.isOpenFor(this.ctx.node)) {
      this.closeConnection(c, "write-failed", false);
      return false;
    }
    this.ctx.send(c.conn, frame, 12 + frame.body.length);
    return true;
  }

  private closeConnection(c: HaConnectionState, reason: string, closeSocket: boolean): void {
    if (!c.open) return;
    c.open = false;
    this.ctx.cancel(c.pumpTimer);
    this.ctx.cancel(c.housekeepingTimer);
    c.pumpTimer = null;
    c.housekeepingTimer = null;
    const i = this.connections.indexOf(c);
    if (i >= 0) this.connections.splice(i, 1);
    if (closeSocket) this.ctx.close(c.conn);
    this.ctx.emit("ha.close", { slave: c.slave, reason });
    // 5.3.3 counts acks per live connection: a closed one no longer counts.
    this.checkRequests();
  }

  /** HAService.shutdown: stop accepting, close every slave connection. Waiting puts are never answered. */
  shutdown(): void {
    this.stopped = true;
    for (const c of [...this.connections]) this.closeConnection(c, "shutdown", true);
    this.requests.length = 0;
    this.ctx.cancel(this.requestTimer);
    this.requestTimer = null;
  }
}

/**
 * The slave side (HAClient in 4.9.8, DefaultHAClient in 5.3.3): connect to
 * the master's HA port, report the CommitLog max offset every
 * haSendHeartbeatInterval and right after each append, and append a frame
 * only if it starts exactly at the local max offset; anything else closes
 * the connection. Appended bytes are dispatched into the slave's consume
 * queues by its store, and flushed by its own flush service.
 */
export class HaClient {
  private conn: Connection | null = null;
  private master: string | null = null;
  /** HAClient.currentReportedOffset: the last offset reported on this connection. */
  private currentReportedOffset = 0;
  /** lastWriteTimestamp (µs): when the slave last reported. */
  private lastWriteUs: number;
  /** lastReadTimestamp (µs), 5.3.3 only: when a frame last arrived. */
  private lastReadUs: number;
  private tickTimer: Timer | null = null;
  private connectTimer: Timer | null = null;
  private stopped = false;

  constructor(
    private readonly ctx: NodeContext,
    private readonly store: MessageStore,
    private readonly settings: HaSettings,
    /** The current master's address, read at each connect (see BrokerOptions.masterAddress). */
    private readonly masterAddress: () => string | undefined,
  ) {
    // Both timestamps start at construction (System.currentTimeMillis()).
    this.lastWriteUs = ctx.now;
    this.lastReadUs = ctx.now;
  }

  start(): void {
    this.connectMaster();
  }

  /** The connection this client opened, to route its frames here rather than to the HaService. */
  owns(conn: Connection): boolean {
    return conn === this.conn;
  }

  get connected(): boolean {
    return this.conn !== null;
  }

  get masterNode(): string | null {
    return this.master;
  }

  get reportedOffset(): number {
    return this.currentReportedOffset;
  }

  /**
   * connectMaster. 4.9.8 resets lastWriteTimestamp here, so its first report
   * on a new connection waits a full heartbeat interval; 5.3.3 resets
   * lastReadTimestamp instead and reports at once if it has not reported
   * for an interval.
   */
  private connectMaster(): void {
    this.connectTimer = null;
    if (this.stopped || this.conn !== null) return;
    const addr = this.masterAddress();
    if (addr === undefined || addr === this.ctx.name) {
      this.retryLater();
      return;
    }
    const conn = this.ctx.connect(addr);
    haPortConnections.add(conn);
    this.conn = conn;
    this.master = addr;
    this.currentReportedOffset = this.store.getMaxPhyOffset();
    if (this.settings.version === "4.9.8") this.lastWriteUs = this.ctx.now;
    else this.lastReadUs = this.ctx.now;
    this.ctx.emit("ha.connect", { master: `${addr}:${this.settings.ha.haListenPort}`, offset: this.currentReportedOffset });
    this.ctx.cancel(this.tickTimer);
    this.tickTimer = this.ctx.after(0, this.tick);
  }

  private retryLater(): void {
    if (this.stopped || this.connectTimer !== null) return;
    this.connectTimer = this.ctx.after(CLIENT_RETRY_WAIT_US, () => this.connectMaster());
  }

  /**
   * One turn of the client's loop while connected (it wakes at least every
   * second): report when a heartbeat is due, then housekeeping. 4.9.8 judges
   * silence by lastWriteTimestamp, which its own reports keep fresh, so it
   * only closes when its reports cannot be written; 5.3.3 closes after
   * haHousekeepingInterval without a frame from the master.
   */
  private readonly tick = (): void => {
    this.tickTimer = null;
    if (this.stopped || this.conn === null) return;
    const now = this.ctx.now;
    const ha = this.settings.ha;
    if (now - this.lastWriteUs > ha.haSendHeartbeatInterval * 1000 && !this.report(this.currentReportedOffset)) return;
    const since = this.settings.version === "4.9.8" ? this.lastWriteUs : this.lastReadUs;
    if (now - since > ha.haHousekeepingInterval * 1000) {
      this.ctx.emit("ha.close", { master: this.master, reason: "housekeeping" });
      this.closeMaster();
      this.connectMaster();
      return;
    }
    this.tickTimer = this.ctx.after(SELECT_TIMEOUT_US, this.tick);
  };

  /** reportSlaveMaxOffset: false (and the connection closed) when it cannot be written. */
  private report(offset: number): boolean {
    const conn = this.conn;
    if (conn === null) return false;
    if (!conn.isOpenFor(this.ctx.node)) {
      this.fail("write-failed");
      return false;
    }
    this.ctx.send(conn, { type: "ha.report", offset } satisfies HaReportFrame, 8);
    this.lastWriteUs = this.ctx.now;
    return true;
  }

  onMessage(conn: Connection, frame: HaFrame): void {
    if (conn !== this.conn || frame.type !== "ha.transfer") return;
    this.onTransfer(frame);
  }

  /**
   * dispatchReadRequest: a frame is accepted only if it starts at the local
   * max offset (an empty store takes anything); the bytes go to
   * appendToCommitLog, whose refusal the real client ignores (the next
   * frame then fails the check), then the new max is reported.
   */
  private onTransfer(frame: HaTransferFrame): void {
    const slavePhyOffset = this.store.getMaxPhyOffset();
    if (slavePhyOffset !== 0 && slavePhyOffset !== frame.offset) {
      this.ctx.emit("ha.mismatch", { master: this.master, slaveOffset: slavePhyOffset, masterOffset: frame.offset });
      this.fail("offset-mismatch");
      return;
    }
    if (frame.body.length > 0 && !this.store.appendCommitLogBytes(frame.offset, frame.body)) {
      this.ctx.emit("ha.append-refused", { offset: frame.offset, bytes: frame.body.length });
    }
    this.lastReadUs = this.ctx.now;
    this.reportSlaveMaxOffsetPlus();
  }

  /** reportSlaveMaxOffsetPlus: report at once whenever the max offset grew. */
  private reportSlaveMaxOffsetPlus(): void {
    const current = this.store.getMaxPhyOffset();
    if (current > this.currentReportedOffset) {
      this.currentReportedOffset = current;
      this.report(current);
    }
  }

  onClose(conn: Connection, reason: CloseReason): void {
    if (conn !== this.conn) return;
    this.conn = null;
    this.ctx.cancel(this.tickTimer);
    this.tickTimer = null;
    this.ctx.emit("ha.close", { master: this.master, reason });
    if (reason === "refused" || reason === "connect-timeout") {
      // RemotingUtil.connect returned null: wait 5 s before dialling again.
      this.retryLater();
    } else {
      this.afterFailure();
    }
  }

  /** A failed read or write: close, then reconnect as each line does. */
  private fail(reason: string): void {
    this.ctx.emit("ha.close", { master: this.master, reason });
    this.closeMaster();
    this.afterFailure();
  }

  /** 4.9.8 closes and dials again on the next turn; 5.3.3 closes and waits 5 s (closeMasterAndWait). */
  private afterFailure(): void {
    if (this.settings.version === "4.9.8") this.connectMaster();
    else this.retryLater();
  }

  private closeMaster(): void {
    if (this.conn === null) return;
    this.ctx.close(this.conn);
    this.conn = null;
    this.ctx.cancel(this.tickTimer);
    this.tickTimer = null;
  }

  shutdown(): void {
    this.stopped = true;
    this.closeMaster();
    this.ctx.cancel(this.connectTimer);
    this.connectTimer = null;
  }
}

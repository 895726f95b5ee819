import type { Connection } from "../../sim/network.js";
import type { ClientInstance } from "./client.js";
import type { ProducerConfig, RocketMqVersion } from "./config.js";
import { Producer, type OutgoingMessage, type SendResult } from "./producer.js";
import { RequestCode, type CheckTransactionStateBody, type EndTransactionBody, type PulledMessage } from "./protocol.js";
import { PROPERTY_DELAY_TIME_LEVEL, PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX } from "./store/codec.js";
import { PROPERTY_PRODUCER_GROUP, PROPERTY_TRANSACTION_PREPARED } from "./transaction.js";

/** LocalTransactionState */
export type LocalTransactionState = "COMMIT_MESSAGE" | "ROLLBACK_MESSAGE" | "UNKNOW";

/** TransactionListener.checkLocalTransaction: asked by a broker about a half message it has not seen ended. */
export type CheckListener = (msg: PulledMessage) => LocalTransactionState;

/**
 * How sendMessageInTransaction ended. `sent`: the half message got a
 * SendResult (any status) and END_TRANSACTION went out oneway with the
 * local state, which is ROLLBACK_MESSAGE unless the half was SEND_OK.
 * `error`: the half send threw, so neither the local transaction nor
 * END_TRANSACTION ran (the half may still be stored when `stored` is
 * "maybe"; the broker's check then decides it).
 */
export type TransactionSendOutcome =
  | { kind: "sent"; result: SendResult; localState: LocalTransactionState; transactionId: string }
  | { kind: "error"; stored: "no" | "maybe"; error: string };

/** EndTransactionRequestHeader.commitOrRollback, as MessageSysFlag names it on the wire. */
const WIRE_STATE: Record<LocalTransactionState, EndTransactionBody["commitOrRollback"]> = {
  COMMIT_MESSAGE: "COMMIT",
  ROLLBACK_MESSAGE: "ROLLBACK",
  UNKNOW: "UNKNOW",
};

const TWO_POW_32 = 4294967296;

/**
 * MessageDecoder.decodeMessageId's offset: the last 16 hex digits of an
 * offset message id (store host, then the CommitLog offset as a long).
 * Returns -1 for a message id that is not one.
 */
export function commitLogOffsetOfMessageId(msgId: string): number {
  if (!/^[0-9A-Fa-f]{32}$/.test(msgId)) return -1;
  return Number.parseInt(msgId.slice(16, 24), 16) * TWO_POW_32 + Number.parseInt(msgId.slice(24), 16);
}

/** A client's transaction producers by group (MQClientInstance.selectProducer), for CHECK_TRANSACTION_STATE. */
const producersByClient = new WeakMap<ClientInstance, Map<string, TransactionProducer>>();

/** ClientRemotingProcessor.checkTransactionState: one processor per client instance, routed by the half's PGROUP. */
function registerCheckProcessor(client: ClientInstance, producer: TransactionProducer): void {
  let byGroup = producersByClient.get(client);
  if (byGroup === undefined) {
    byGroup = new Map();
    producersByClient.set(client, byGroup);
    const groups = byGroup;
    client.remoting.registerProcessor(RequestCode.CHECK_TRANSACTION_STATE, (req, conn: Connection) => {
      const body = req.body as CheckTransactionStateBody;
      const group = body.message.properties[PROPERTY_PRODUCER_GROUP];
      const target = group === undefined ? undefined : groups.get(group);
      // The reply goes to the broker the check came from (RemotingHelper.parseChannelRemoteAddr).
      target?.checkTransactionState(conn.peerOf(client.ctx.node).name, body);
      return null;
    });
  }
  byGroup.set(producer.group, producer);
}

/**
 * TransactionMQProducer (DefaultMQProducerImpl.sendMessageInTransaction,
 * endTransaction, checkTransactionState): a half message sent with the
 * normal sync send, the local transaction run on SEND_OK, and the outcome
 * sent oneway to the master that stored the half. The broker's checks are
 * answered by the check listener.
 */
export class TransactionProducer {
  readonly producer: Producer;
  private checkListener: CheckListener | null = null;

  constructor(
    private readonly client: ClientInstance,
    cfg: ProducerConfig,
    version: RocketMqVersion,
    readonly group: string,
  ) {
    // The Producer adds the group to the client's heartbeats, so brokers know where to send checks.
    this.producer = new Producer(client, cfg, version, group);
    registerCheckProcessor(client, this);
  }

  /** TransactionMQProducer.setTransactionListener's checkLocalTransaction half. */
  setCheckListener(listener: CheckListener): void {
    this.checkListener = listener;
  }

  /**
   * sendMessageInTransaction: the message goes out as a half message
   * (TRAN_MSG=true, PGROUP, no delay level); on SEND_OK `executeLocal` runs
   * and its state is sent; on another status the state is ROLLBACK_MESSAGE.
   * `cb` gets the half's SendResult: the committed message's own offset in
   * its topic is never known to the producer.
   */
  sendMessageInTransaction(msg: OutgoingMessage, executeLocal: (msg: OutgoingMessage) => LocalTransactionState, cb: (outcome: TransactionSendOutcome) => void): void {
    const ctx = this.client.ctx;
    const properties: Record<string, string> = { ...msg.properties, [PROPERTY_TRANSACTION_PREPARED]: "true", [PROPERTY_PRODUCER_GROUP]: this.group };
    delete properties[PROPERTY_DELAY_TIME_LEVEL];
    const half: OutgoingMessage = { ...msg, properties };
    this.producer.sendSyncWithResult(half, (outcome, last) => {
      const result = outcome.ok ? outcome.result : last;
      if (result === null) {
        const error = outcome.ok ? "" : outcome.error;
        ctx.emit("txn.half", { group: this.group, error });
        cb({ kind: "error", stored: outcome.ok ? "maybe" : outcome.stored, error });
        return;
      }
      const transactionId = properties[PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX] ?? result.msgId;
      ctx.emit("txn.half", { group: this.group, status: result.status, broker: result.mq.brokerName, halfQueueOffset: result.queueOffset, transactionId });
      const localState: LocalTransactionState = result.status === "SEND_OK" ? executeLocal(half) : "ROLLBACK_MESSAGE";
      this.endTransaction(result, localState, transactionId);
      cb({ kind: "sent", result, localState, transactionId });
    });
  }

  /** endTransaction: END_TRANSACTION oneway to the master of the broker group that stored the half. */
  private endTransaction(result: SendResult, state: LocalTransactionState, transactionId: string): void {
    const addr = this.client.masterAddress(result.mq.brokerName);
    const body: EndTransactionBody = {
      producerGroup: this.group,
      tranStateTableOffset: result.queueOffset,
      commitLogOffset: commitLogOffsetOfMessageId(result.msgId),
      commitOrRollback: WIRE_STATE[state],
      fromTransactionCheck: false,
      msgId: result.msgId,
      transactionId,
    };
    this.client.ctx.emit("txn.endTransaction", { group: this.group, state, fromTransactionCheck: false, broker: addr ?? null, transactionId });
    if (addr !== undefined) this.client.remoting.invokeOneway(addr, RequestCode.END_TRANSACTION, body);
  }

  /** checkTransactionState: the listener's answer goes oneway to the broker that asked. */
  checkTransactionState(brokerAddr: string, check: CheckTransactionStateBody): void {
    const ctx = this.client.ctx;
    if (this.checkListener === null) {
      ctx.emit("txn.checkIgnored", { group: this.group, reason: "no check listener" });
      return;
    }
    const state = this.checkListener(check.message);
    const uniqueKey = check.message.properties[PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX] ?? check.message.msgId;
    const body: EndTransactionBody = {
      producerGroup: this.group,
      tranStateTableOffset: check.tranStateTableOffset,
      commitLogOffset: check.commitLogOffset,
      commitOrRollback: WIRE_STATE[state],
      fromTransactionCheck: true,
      msgId: uniqueKey,
      transactionId: check.transactionId,
    };
    ctx.emit("txn.endTransaction", { group: this.group, state, fromTransactionCheck: true, broker: brokerAddr, transactionId: check.transactionId });
    this.client.remoting.invokeOneway(brokerAddr, RequestCode.END_TRANSACTION, body);
  }
}

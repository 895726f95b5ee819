import type { Connection } from "../../sim/network.js";
import type { BrokerPutStatus, BrokerRuntime } from "./broker-runtime.js";
import { PERM_READ, PERM_WRITE, RequestCode, ResponseCode, type ConsumerSendMsgBackBody, type RemotingRequest, type RemotingResponse } from "./protocol.js";
import { response } from "./remoting.js";
import { PROPERTY_DELAY_TIME_LEVEL, PROPERTY_WAIT_STORE_MSG_OK } from "./store/codec.js";
import type { DecodedMessage, MessageInput } from "./store/types.js";

/** MessageConst.PROPERTY_RETRY_TOPIC: the topic a retried message was first consumed from; the consumer restores it. */
export const PROPERTY_RETRY_TOPIC = "RETRY_TOPIC";
/** MessageConst.PROPERTY_ORIGIN_MESSAGE_ID: the first copy's message id, kept through every retry. */
export const PROPERTY_ORIGIN_MESSAGE_ID = "ORIGIN_MESSAGE_ID";
/** MixAll.RETRY_GROUP_TOPIC_PREFIX */
export const RETRY_GROUP_TOPIC_PREFIX = "%RETRY%";
/** MixAll.DLQ_GROUP_TOPIC_PREFIX */
export const DLQ_GROUP_TOPIC_PREFIX = "%DLQ%";

/** SubscriptionGroupConfig.retryQueueNums = 1 */
const RETRY_QUEUE_NUMS = 1;
/** SendMessageProcessor.DLQ_NUMS_PER_GROUP = 1 */
const DLQ_NUMS_PER_GROUP = 1;
/** SubscriptionGroupConfig.retryMaxTimes = 16: used when the request names no maximum. */
export const RETRY_MAX_TIMES = 16;
/** asyncConsumerSendMsgBack: a level of 0 becomes 3 + reconsumeTimes (level 3 = 10 s with the default table). */
const FIRST_RETRY_DELAY_LEVEL = 3;

/** MixAll.getRetryTopic */
export function retryTopicOf(group: string): string {
  return RETRY_GROUP_TOPIC_PREFIX + group;
}

/** MixAll.getDLQTopic */
export function dlqTopicOf(group: string): string {
  return DLQ_GROUP_TOPIC_PREFIX + group;
}

/** Where a sent-back message goes: the retry topic after `level`'s delay, or the dead-letter queue. */
export type SendBackRoute = { to: "retry"; level: number } | { to: "dlq"; level: 0 };

/**
 * The routing rule of asyncConsumerSendMsgBack: a message that has been
 * reconsumed `maxReconsumeTimes` times already, or one the client sends
 * with a negative level, goes to the DLQ; otherwise level 0 means
 * 3 + reconsumeTimes (so retries 1..16 wait 10 s, 30 s, 1 m, ..., 2 h). A
 * level above the table's last is capped by the store when it routes the
 * message through SCHEDULE_TOPIC_XXXX.
 */
export function sendBackRoute(reconsumeTimes: number, delayLevel: number, maxReconsumeTimes: number): SendBackRoute {
  if (reconsumeTimes >= maxReconsumeTimes || delayLevel < 0) return { to: "dlq", level: 0 };
  return { to: "retry", level: delayLevel === 0 ? FIRST_RETRY_DELAY_LEVEL + reconsumeTimes : delayLevel };
}

/**
 * The message asyncConsumerSendMsgBack puts: the original's body, flag,
 * sysFlag, born timestamp and host, and store host, under `topic` queue 0,
 * with reconsumeTimes + 1 and the original's properties plus RETRY_TOPIC
 * (if absent), WAIT=false, DELAY=level and ORIGIN_MESSAGE_ID (kept if
 * present, else the looked-up message's own offset message id, as
 * MessageExt.getMsgId reads on the broker).
 */
export function sendBackMessage(original: DecodedMessage, topic: string, route: SendBackRoute): MessageInput {
  const properties: Record<string, string> = { ...original.properties };
  if (properties[PROPERTY_RETRY_TOPIC] === undefined) properties[PROPERTY_RETRY_TOPIC] = original.topic;
  properties[PROPERTY_WAIT_STORE_MSG_OK] = "false";
  properties[PROPERTY_DELAY_TIME_LEVEL] = String(route.level);
  const originMsgId = properties[PROPERTY_ORIGIN_MESSAGE_ID];
  properties[PROPERTY_ORIGIN_MESSAGE_ID] = originMsgId === undefined || originMsgId.trim() === "" ? original.msgId : originMsgId;
  return {
    topic,
    // ThreadLocalRandom % retryQueueNums (or DLQ_NUMS_PER_GROUP): both are 1, so always queue 0.
    queueId: 0,
    body: original.body,
    flag: original.flag,
    properties,
    bornTimestampMs: original.bornTimestamp,
    bornHost: original.bornHost,
    storeHost: original.storeHost,
    reconsumeTimes: original.reconsumeTimes + 1,
    sysFlag: original.sysFlag,
  };
}

/**
 * SendMessageProcessor.asyncConsumerSendMsgBack (4.9.8): CONSUMER_SEND_MSG_BACK
 * rewrites the message at the request's CommitLog offset to %RETRY%group
 * (delayed through SCHEDULE_TOPIC_XXXX by the store) or to %DLQ%group, and
 * answers SUCCESS only when the put returned PUT_OK. Subscription groups
 * are not modelled: every group has the defaults (auto-created, one retry
 * queue, retryMaxTimes 16).
 */
export function installSendBackProcessor(rt: BrokerRuntime): void {
  rt.remoting.registerProcessor(RequestCode.CONSUMER_SEND_MSG_BACK, (req, conn) => consumerSendMsgBack(rt, req, conn));
}

function consumerSendMsgBack(rt: BrokerRuntime, req: RemotingRequest, conn: Connection): RemotingResponse | null {
  const body = req.body as ConsumerSendMsgBackBody;
  if ((rt.cfg.broker.brokerPermission & PERM_WRITE) === 0) {
    return response(ResponseCode.NO_PERMISSION, null, req, `the broker[${rt.ctx.name}] sending message is forbidden`);
  }
  // A slave's (or a not yet caught-up DLedger leader's) store refuses the put (checkStoreStatus:
  // SERVICE_NOT_AVAILABLE), which this processor answers as SYSTEM_ERROR. Answering before the
  // retry topic is created spares a slave a topic config its SlaveSynchronize would overwrite.
  if (!rt.isMaster()) return response(ResponseCode.SYSTEM_ERROR, null, req, "SERVICE_NOT_AVAILABLE");
  const retryTopic = retryTopicOf(body.group);
  const retryConfig = rt.ensureTopic(retryTopic, RETRY_QUEUE_NUMS, PERM_WRITE | PERM_READ);
  if ((retryConfig.perm & PERM_WRITE) === 0) return response(ResponseCode.NO_PERMISSION, null, req, `the topic[${retryTopic}] sending message is forbidden`);
  const original = rt.store.lookupMessageByOffset(body.offset);
  if (original === null) return response(ResponseCode.SYSTEM_ERROR, null, req, `look message by offset failed, ${body.offset}`);

  const route = sendBackRoute(original.reconsumeTimes, body.delayLevel, body.maxReconsumeTimes);
  let topic = retryTopic;
  if (route.to === "dlq") {
    topic = dlqTopicOf(body.group);
    // createTopicInSendMessageBackMethod(DLQ, 1, PERM_WRITE | PERM_READ): readable, so a drain or an operator can read it.
    rt.ensureTopic(topic, DLQ_NUMS_PER_GROUP, PERM_WRITE | PERM_READ);
  }
  const msg = sendBackMessage(original, topic, route);
  rt.putMessage(msg, (status: BrokerPutStatus) => {
    rt.ctx.emit("broker.sendBack", {
      group: body.group,
      originMsgId: msg.properties[PROPERTY_ORIGIN_MESSAGE_ID],
      reconsumeTimes: original.reconsumeTimes,
      to: route.to,
      level: route.level,
      status,
    });
    if (status === "PUT_OK") rt.remoting.reply(conn, req, ResponseCode.SUCCESS, null);
    else rt.remoting.reply(conn, req, ResponseCode.SYSTEM_ERROR, null, status);
  });
  return null;
}

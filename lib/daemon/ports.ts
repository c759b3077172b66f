/**
 * The seams of the daemon. The OS-facing ones (clock, VRRP transport, kernel
 * addresses, announcer, virtual MACs, primary addresses) are defined beside their
 * production implementations in `lib/sys/ports.ts`, so that `lib/sys` never imports the
 * daemon, and re-exported here so the daemon's modules keep one place to import them
 * from. Defined here: where state changes go (notify hooks, the notify FIFO).
 *
 * The conventions of `lib/sys/ports.ts` hold for these too: callbacks are called from
 * the JS thread, never re-entrantly, must not throw; what subscribes returns a way to
 * stop.
 *
 * @module
 */

import type { NotifyConfig } from "../config/schema.ts";
import type { HookRun } from "../control/api.ts";
import type { TransitionReason } from "../vrrp/types.ts";
import type { LvsNotice } from "../lvs/runtime.ts";

export type {
  AddressPort,
  AddressSpec,
  Announcer,
  Clock,
  KernelAddress,
  KernelEvent,
  PrimaryAddresses,
  ReceivedPacket,
  RoutineAdvert,
  TransportFactory,
  TransportRequest,
  VipClaim,
  VipGuardPort,
  VmacOutcome,
  VmacPort,
  VmacSpec,
  VrrpTransport,
} from "../sys/ports.ts";
export { systemClock } from "../sys/ports.ts";

/**
 * A state change to tell the outside world about (notify hooks, the notify FIFO), as
 * keepalived names things: one per instance transition, and one per change of a sync
 * group as a whole. `hooks` are the commands configured for that instance or group.
 *
 * - INSTANCE: every transition; Init → Backup at startup is told as BACKUP (as
 *   keepalived does), a stop (shutdown, or removal by reload) as STOP.
 * - GROUP: all members Master → MASTER, any member in Fault → FAULT, every member
 *   stopped → STOP, otherwise BACKUP; only when that changes.
 *
 * @example
 * ```ts
 * const e: NotifyEvent = {
 *   target: "INSTANCE", name: "VI_1", state: "MASTER", previous: "BACKUP", priority: 150,
 *   reason: "master-down-timer", detail: "no master heard", masterIp: "192.0.2.11",
 *   at: new Date(), hooks: instance.notify,
 * };
 * ```
 */
export interface NotifyEvent {
  readonly target: "INSTANCE" | "GROUP";
  /** Instance or sync group name. */
  readonly name: string;
  readonly state: "MASTER" | "BACKUP" | "FAULT" | "STOP";
  readonly previous: "MASTER" | "BACKUP" | "FAULT" | "INIT";
  /** Effective priority after the change (for a group, that of the member that moved it). */
  readonly priority: number;
  readonly reason: TransitionReason;
  readonly detail: string;
  /** Our own address when MASTER, the master heard when BACKUP, otherwise null. */
  readonly masterIp: string | null;
  /** Wall time of the change. */
  readonly at: Date;
  readonly hooks: NotifyConfig;
  /**
   * Not a transition: a master heard a lower-priority advert (`state` stays MASTER).
   * Runs `notify_master_rx_lower_pri` only: no FIFO line, no mail, no other hook.
   */
  readonly lowerPriority?: boolean;
}

/**
 * Where the daemon sends {@link NotifyEvent}s. `notify` is called from inside the
 * daemon's loop: it must return at once (queue the work, never await a script) and
 * should not throw (the daemon catches, counts and logs it if it does).
 *
 * @example
 * ```ts
 * const sink: NotifySink = {
 *   notify: (e) => queue.push(e),
 *   recent: () => [],
 *   close: () => Promise.resolve(),
 * };
 * ```
 */
export interface NotifySink {
  /** Queues the hooks (and FIFO line) of one event; never blocks. */
  notify(event: NotifyEvent): void;
  /**
   * Queues a virtual server's or real server's command (with exactly its written
   * arguments) and writes its FIFO line; never blocks. Optional: a sink without it
   * ignores the LVS events.
   */
  notifyLvs?(notice: LvsNotice): void;
  /** The most recent finished hook runs for an instance or group name, oldest first. */
  recent(name: string): readonly HookRun[];
  /** Waits for (or kills, past their timeout) running hooks; no hook starts afterwards. */
  close(): Promise<void>;
}

/**
 * The contract between the running daemon and everything that observes or steers it:
 * the control socket (`hacore status`, the operator verbs, `hacore reload`), the
 * metrics listener and notify hooks. The daemon implements {@link DaemonControl};
 * the others only ever see this interface, so each is tested against a fake.
 *
 * @module
 */

import type { PriorityOverride } from "../track/priority.ts";
import type { Config } from "../config/schema.ts";
import type { DaemonStatus, InstanceStatus } from "./status.ts";
import type { RouterStateName, TransitionReason } from "../vrrp/types.ts";

/** Version of the control protocol; a request with another `v` is refused. */
export const CONTROL_PROTOCOL_VERSION = 1;

/**
 * One recorded transition, with wall time for people and monotonic time for sorting.
 *
 * @example
 * ```ts
 * const t: TransitionRecord = {
 *   from: "backup", to: "master", reason: "master-down-timer", detail: "no master heard",
 *   atMs: 3414.06, wallTime: "2026-11-21T22:59:03.414Z",
 * };
 * ```
 */
export interface TransitionRecord {
  readonly from: RouterStateName;
  readonly to: RouterStateName;
  readonly reason: TransitionReason;
  readonly detail: string;
  readonly atMs: number;
  readonly wallTime: string;
}

/**
 * One finished (or killed) run of a notify hook.
 *
 * @example
 * ```ts
 * const h: HookRun = {
 *   hook: "notify_master", target: "INSTANCE", name: "VI_1", state: "MASTER",
 *   command: "/etc/hacore/notify.sh master", startedAt: "2026-11-21T22:59:03.420Z",
 *   durationMs: 12.5, exitCode: 0, signal: null, timedOut: false, error: null,
 * };
 * ```
 */
export interface HookRun {
  /** Config key of the hook: notify_master, notify_backup, notify_fault, notify_stop, notify. */
  readonly hook: string;
  readonly target: "INSTANCE" | "GROUP";
  /** Instance or sync group name. */
  readonly name: string;
  /** The state the hook was told about (keepalived's spelling). */
  readonly state: "MASTER" | "BACKUP" | "FAULT" | "STOP";
  readonly command: string;
  readonly startedAt: string;
  readonly durationMs: number;
  /** Null when it did not exit by itself (killed, or could not start). */
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  /** Why it could not run (refused by script security, not found); null when it ran. */
  readonly error: string | null;
}

/**
 * Outcome label of a notify hook run in `hacore_notify_runs_total`.
 *
 * @example
 * ```ts
 * const r: HookResult = "timeout";
 * ```
 */
export type HookResult = "ok" | "failed" | "timeout";

/** Every hook outcome, in label order. */
export const HOOK_RESULTS: readonly HookResult[] = ["ok", "failed", "timeout"];
/** Prefix of hook-run counter keys. */
export const HOOK_PREFIX = "hook.";

/**
 * The counter key under which the daemon counts an instance's hook runs, in that
 * instance's counters (`detail(name).counters`). The metrics read these; the daemon
 * (or its notify runner) bumps them. Hook names contain no dots.
 *
 * @example
 * ```ts
 * hookCounterKey("notify_master", "ok"); // "hook.notify_master.ok"
 * ```
 */
export function hookCounterKey(hook: string, result: HookResult): string {
  return `${HOOK_PREFIX}${hook}.${result}`;
}

/**
 * The counter key for a sync group's hook runs, kept in the node-wide counters
 * (`status().counters`), since a group belongs to no one instance.
 *
 * @example
 * ```ts
 * groupHookCounterKey("G_web", "notify_backup", "failed"); // "hook.G_web.notify_backup.failed"
 * ```
 */
export function groupHookCounterKey(group: string, hook: string, result: HookResult): string {
  return `${HOOK_PREFIX}${group}.${hook}.${result}`;
}

/**
 * The outcome label of a finished hook run.
 *
 * @example
 * ```ts
 * hookResultOf({ timedOut: false, exitCode: 0 }); // "ok"
 * ```
 */
export function hookResultOf(run: Pick<HookRun, "timedOut" | "exitCode">): HookResult {
  if (run.timedOut) return "timeout";
  return run.exitCode === 0 ? "ok" : "failed";
}

export type { PriorityOverride };

/**
 * One instance in full, for `hacore status NAME`: the summary plus its history, every
 * counter (zeros included, RFC 6527 names), the override and recent hook runs.
 *
 * @example
 * ```ts
 * const d = control.detail("VI_1");
 * d?.history.at(-1)?.reason; // "master-down-timer"
 * ```
 */
export interface InstanceDetail {
  readonly summary: InstanceStatus;
  /** The last 50 transitions, oldest first. */
  readonly history: readonly TransitionRecord[];
  /** Every counter, zeros included. */
  readonly counters: Readonly<Record<string, number>>;
  readonly override: PriorityOverride | null;
  /** The most recent hook runs for this instance (and its group), oldest first. */
  readonly hooks: readonly HookRun[];
}

/**
 * What an operator verb answers: done (with a sentence for the person), or refused.
 *
 * @example
 * ```ts
 * const r: OperatorResult = { ok: false, error: 'no instance "VI_9"; instances: VI_1, VI_2' };
 * ```
 */
export type OperatorResult = { readonly ok: true; readonly message: string } | {
  readonly ok: false;
  readonly error: string;
};

/**
 * The outcome of a reload: refused with the config errors (nothing changed), or
 * applied, with one line per change (instance added, removed, VIP added, ...).
 *
 * @example
 * ```ts
 * const r: ReloadOutcome = { ok: true, errors: [], changes: ["VI_2: added 192.0.2.101/24"] };
 * ```
 */
export interface ReloadOutcome {
  readonly ok: boolean;
  readonly errors: readonly string[];
  readonly changes: readonly string[];
}

/**
 * Everything the control plane may ask of a running daemon.
 *
 * @example
 * ```ts
 * const r = control.demote("VI_1"); // the peer takes over
 * control.resume("VI_1");
 * ```
 */
export interface DaemonControl {
  /** Summary of every instance. */
  status(): DaemonStatus;
  /** One instance in full, or null when there is no such instance. */
  detail(name: string): InstanceDetail | null;
  /** Sets a temporary lower priority (default 1) so a peer takes over. */
  demote(name: string, priority?: number): OperatorResult;
  /** Sets a temporary higher priority (default 254) so this node takes over. */
  promote(name: string, priority?: number): OperatorResult;
  /** Clears an override. */
  resume(name: string): OperatorResult;
  /** On: every instance releases mastership (priority 0) and stays Backup. Off: normal. */
  maintenance(on: boolean): OperatorResult;
  /**
   * Drains a real server of a virtual server: weight 0 now, removed once its connections
   * end or after `deadlineMs` (default `[lvs] drain_deadline`), kept out until undrained.
   * Absent on a daemon without virtual servers.
   */
  drain?(virtualServer: string, realServer: string, deadlineMs?: number): OperatorResult;
  /** Ends a drain: the real server is back as its checks say. */
  undrain?(virtualServer: string, realServer: string): OperatorResult;
  /** Re-reads the config file; see {@link ReloadOutcome}. Same as SIGHUP. */
  reload(): Promise<ReloadOutcome>;
  /**
   * The validated config the daemon runs now (the last one a reload applied), which
   * may differ from the file on disk once someone edits it: `hacore check --diff FILE`
   * compares against this. Plain JSON data (strings, numbers, booleans, null, arrays,
   * objects), so it crosses the control socket unchanged; it includes `auth_pass`,
   * which the diff needs and the root-only socket may carry.
   */
  config(): Config;
  /** True while the daemon's loop is turning (for `/healthz`). */
  isLive(): boolean;
}

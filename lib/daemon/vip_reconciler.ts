/**
 * Carries out the VIP reconcile: reads the kernel's addresses, asks the pure planner
 * (`reconcile.ts`) what to add and remove, does it, and keeps what the daemon needs to
 * know about the outcome: which wanted VIPs the kernel holds (announcements and
 * status read it), which removals were hacore's own (so their kernel echo is not taken
 * for an operator's), which conflicts are current, and when to retry after a failure.
 *
 * It also owns the "a reconcile is wanted, and why" flag the loop polls, and reacts to
 * a kernel event removing a VIP: that is the one kernel input whose meaning depends on
 * this bookkeeping. Separate from the daemon so that everything about addresses in the
 * kernel is in one place, and the loop only says when.
 *
 * @example
 * ```ts
 * const vips = new VipReconciler({ addresses, log, rateLog, counters, clock, retryMs: 1000 });
 * vips.request("startup");
 * const reason = vips.begin();
 * await vips.apply(reason, lookups);
 * vips.held.has(vipKey("eth0", "192.0.2.100")); // true once added
 * ```
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { canonicalIp } from "../net/addr.ts";
import { bump, errorText, hasErrorCode, type RateLog } from "./common.ts";
import type { Instance } from "./instance.ts";
import type { AddressPort, Clock, KernelAddress } from "./ports.ts";
import {
  type AddressOp,
  type Conflict,
  describeConflict,
  type InstanceVips,
  reconcile,
  vipKey,
} from "./reconcile.ts";

/**
 * Why a reconcile runs; it words the log lines (`restored`, `left over from an
 * earlier run`).
 *
 * @example
 * ```ts
 * vips.request("engine");
 * ```
 */
export type ReconcileReason = "startup" | "engine" | "kernel" | "retry" | "reload";

/**
 * What a reconcile reads from the daemon's instances when it runs.
 *
 * @example
 * ```ts
 * const lookups: ReconcileLookups = {
 *   wants: () => wants, retiredLabels: () => new Set(), extraOf: () => undefined, isVip: () => true,
 * };
 * ```
 */
export interface ReconcileLookups {
  /** Every instance's VIPs and whether it holds them now (retiring ones labelled). */
  wants(): InstanceVips[];
  /** Labels (`retiredLabel`) of the instances a reload removed, still releasing. */
  retiredLabels(): ReadonlySet<string>;
  /** The daemon's counters of the live instance `name`, if there is one. */
  extraOf(name: string): Record<string, number> | undefined;
  /** Whether an address (any spelling) is a configured VIP. */
  isVip(address: string): boolean;
  /**
   * Whether the live instance `name` is giving its VIPs up (a release hold: it still
   * holds what the kernel has, but a VIP that vanished meanwhile is not added back).
   * Absent: no instance ever is.
   */
  releasing?(name: string): boolean;
}

/**
 * What {@link VipReconciler} needs.
 *
 * @example
 * ```ts
 * const deps: VipReconcilerDeps = { addresses, log, rateLog, counters, clock, retryMs: 1000 };
 * ```
 */
export interface VipReconcilerDeps {
  readonly addresses: AddressPort;
  readonly log: Logger;
  readonly rateLog: RateLog;
  /** Node-wide counters (`reconcileErrors`, `conflicts`). */
  readonly counters: Record<string, number>;
  readonly clock: Clock;
  /** Retry a failed kernel operation after this long. */
  readonly retryMs: number;
}

/**
 * The reconcile's executor and bookkeeping.
 *
 * @example
 * ```ts
 * const vips = new VipReconciler(deps);
 * vips.wanted; // false
 * ```
 */
export class VipReconciler {
  readonly #deps: VipReconcilerDeps;
  #wanted = false;
  #reason: ReconcileReason = "startup";
  #retryAtMs: number | null = null;
  /** `vipKey` of wanted VIPs present in the kernel, per the last reconcile. */
  #held = new Set<string>();
  /** `vipKey` of addresses hacore itself removed, whose kernel event is still to come. */
  #selfRemoved = new Set<string>();
  /** Canonical VIP → instance that a reload took it from, to name it in the removal log. */
  #reloadRemoved = new Map<string, string>();
  #conflicts = new Map<string, string>();
  /**
   * The kernel's addresses as the last reconcile left them (its read, then its own
   * operations), with the count of kernel events when that pass began: they are known
   * only while no event came since (see {@link VipReconciler.apply}).
   */
  #kernel: { readonly addresses: KernelAddress[]; readonly events: number } | null = null;
  /** Kernel events so far. */
  #kernelEvents = 0;
  /** When to read the kernel again after events left its addresses unknown, or null. */
  #primeAtMs: number | null = null;

  /**
   * Nothing held, nothing wanted yet.
   *
   * @example
   * ```ts
   * new VipReconciler({ addresses, log, rateLog, counters, clock, retryMs: 1000 });
   * ```
   */
  constructor(deps: VipReconcilerDeps) {
    this.#deps = deps;
  }

  /**
   * A reconcile is wanted (the loop runs it before it parks).
   *
   * @example
   * ```ts
   * if (vips.wanted) await reconcileNow();
   * ```
   */
  get wanted(): boolean {
    return this.#wanted;
  }

  /**
   * When a failed operation is retried; null when nothing failed.
   *
   * @example
   * ```ts
   * vips.retryAtMs; // null
   * ```
   */
  get retryAtMs(): number | null {
    return this.#retryAtMs;
  }

  /**
   * `vipKey` of the wanted VIPs the kernel held at the last reconcile.
   *
   * @example
   * ```ts
   * vips.held.has(vipKey("eth0", "192.0.2.100"));
   * ```
   */
  get held(): ReadonlySet<string> {
    return this.#held;
  }

  /**
   * The current conflicts, described.
   *
   * @example
   * ```ts
   * vips.conflicts(); // ["192.0.2.100/24 on eth0 is not hacore's ..."]
   * ```
   */
  conflicts(): string[] {
    return [...this.#conflicts.values()];
  }

  /**
   * Wants a reconcile for `reason`.
   *
   * @example
   * ```ts
   * vips.request("reload");
   * ```
   */
  request(reason: ReconcileReason): void {
    this.#wanted = true;
    this.#reason = reason;
  }

  /**
   * Wants a reconcile for a kernel event, keeping the reason of one already wanted.
   *
   * @example
   * ```ts
   * vips.requestForKernel();
   * ```
   */
  requestForKernel(): void {
    if (!this.#wanted) this.#reason = "kernel";
    this.#wanted = true;
  }

  /**
   * Any kernel event arrived (an address or a link came or went, events were lost): the
   * addresses the last reconcile left are no longer known to be the kernel's.
   *
   * @example
   * ```ts
   * vips.kernelChanged();
   * ```
   */
  kernelChanged(): void {
    this.#kernelEvents++;
    // Read again once the events have been quiet a while (most are no VIP's, and ask
    // for no reconcile), so that a takeover then finds the kernel known.
    this.#primeAtMs = this.#deps.clock.nowMs() + KERNEL_PRIME_DELAY_MS;
  }

  /**
   * Wants a reconcile, keeping the last reason.
   *
   * @example
   * ```ts
   * vips.requestAgain();
   * ```
   */
  requestAgain(): void {
    this.#wanted = true;
  }

  /**
   * Retries after the retry delay (a kernel operation, or a virtual MAC, failed).
   *
   * @example
   * ```ts
   * vips.retryLater();
   * ```
   */
  retryLater(): void {
    this.#retryAtMs = this.#deps.clock.nowMs() + this.#deps.retryMs;
  }

  /**
   * Wants a retry reconcile once the retry time has come.
   *
   * @example
   * ```ts
   * vips.retryIfDue(clock.nowMs());
   * ```
   */
  retryIfDue(now: number): void {
    if (this.#retryAtMs !== null && this.#retryAtMs <= now) this.request("retry");
    if (this.#primeAtMs !== null && this.#primeAtMs <= now) {
      this.#primeAtMs = null;
      if (this.#knownKernel() === null) this.requestForKernel();
    }
  }

  /**
   * When {@link VipReconciler.retryIfDue} next has something to do (a retry, or a read
   * of the kernel after events), or null.
   *
   * @example
   * ```ts
   * const wake = vips.dueAtMs;
   * ```
   */
  get dueAtMs(): number | null {
    const r = this.#retryAtMs;
    const p = this.#primeAtMs;
    return r === null ? p : p === null ? r : Math.min(r, p);
  }

  /**
   * Remembers that a reload took `address` from `instance`, so its removal is worded
   * "no longer in the config" under that instance's name.
   *
   * @example
   * ```ts
   * vips.noteReloadRemoved("192.0.2.100", "VI_1");
   * ```
   */
  noteReloadRemoved(address: string, instance: string): void {
    this.#reloadRemoved.set(canonicalIp(address) ?? address, instance);
  }

  /**
   * A kernel event (`addr-removed`) removed an address that is a VIP of `owners`. Our own removal (a
   * prefix replacement, say) echoing back is not an operator's; otherwise a holder that
   * had it is told (logged, counted) and the next reconcile restores it, unless the
   * holder is `releasing` (it is not restored then, and nothing is said). A removal the
   * kernel made along with a primary address we removed is said once per window, not
   * warned per address. A reconcile is wanted either way.
   *
   * @example
   * ```ts
   * vips.addressRemoved(event, owners, (i) => routerOf(i).holdingVips);
   * ```
   */
  addressRemoved(
    e: { readonly interface: string; readonly address: string },
    owners: readonly Instance[],
    holding: (inst: Instance) => boolean,
    releasing?: (name: string) => boolean,
  ): void {
    const key = vipKey(e.interface, e.address);
    // The reconcile still runs, so a stale entry can cost a log line, never a VIP.
    const ours = this.#selfRemoved.delete(key);
    const holder = ours ? undefined : owners.find((i) => holding(i) && this.#held.has(key));
    if (holder) {
      this.#held.delete(key);
      if (releasing?.(holder.cfg.name)) {
        // Going anyway: nothing to restore, nothing to warn about.
        this.#deps.log.debug(
          `${holder.cfg.name}: ${e.address} left ${e.interface} while releasing`,
        );
      } else if (this.#removingOn(e.interface)) {
        // Our own removal of the subnet's primary took it along (promote_secondaries
        // could not be set): the kernel's doing, one line per window, not a warning each.
        bump(holder.extra, "vipsRestored");
        this.#deps.rateLog(
          `${e.interface}/cascade`,
          "info",
          `${holder.cfg.name}: ${e.address} went with a primary address hacore removed from ${e.interface}; restoring it`,
        );
      } else {
        this.#deps.log.warn(
          `${holder.cfg.name}: ${e.address} was removed from ${e.interface} outside hacore; restoring it`,
        );
        bump(holder.extra, "vipsRestored");
      }
    }
    this.requestForKernel();
  }

  /** Whether one of our own removals on `dev` still awaits its kernel event. */
  #removingOn(dev: string): boolean {
    for (const key of this.#selfRemoved) if (key.startsWith(`${dev}|`)) return true;
    return false;
  }

  /**
   * Starts a reconcile: clears the wanted flag and the retry, and returns the reason.
   *
   * @example
   * ```ts
   * const reason = vips.begin();
   * ```
   */
  begin(): ReconcileReason {
    const reason = this.#reason;
    this.#wanted = false;
    this.#retryAtMs = null;
    return reason;
  }

  /**
   * Reads the kernel's addresses and applies the plan, op by op: a failure is logged,
   * counted (on the instance when it has one) and retried later. False when the
   * kernel's addresses could not be read (nothing was done).
   *
   * A state change (`engine`) with no kernel event since the last reconcile plans
   * against what that reconcile left instead of reading again: a takeover's VIPs then go
   * in without a dump before them (a third of the time from its timer to its GARPs).
   * Should the kernel have changed unseen (an add finds the address there), the pass
   * reads the kernel and plans again at once, with nothing logged as an error.
   *
   * @example
   * ```ts
   * if (await vips.apply(vips.begin(), lookups)) await dropUnusedVmacs();
   * ```
   */
  async apply(reason: ReconcileReason, lookups: ReconcileLookups): Promise<boolean> {
    const { addresses, log, counters, rateLog, clock } = this.#deps;
    const cached = reason === "engine" ? this.#knownKernel() : null;
    this.#kernel = null;
    const events = this.#kernelEvents;
    let kernel;
    try {
      kernel = cached ?? await addresses.list();
    } catch (e) {
      bump(counters, "reconcileErrors");
      rateLog("reconcile/list", "error", `cannot read the kernel's addresses: ${errorText(e)}`);
      this.retryLater();
      return false;
    }
    // What the kernel holds once this pass is done, for the next state change's plan.
    const after = [...kernel];
    let stale = false;
    const plan = reconcile(lookups.wants(), kernel);
    this.#reportConflicts(plan.conflicts, lookups.retiredLabels());
    const held = new Set(plan.held);
    const fromReload = this.#reloadRemoved;
    this.#reloadRemoved = new Map();
    let failed = false;
    let alreadyGone = 0;
    for (const op of orderOps(plan.ops, kernel)) {
      if (op.op === "add" && lookups.releasing?.(op.instance)) {
        // A VIP being given up is never put back, whatever took it away meanwhile.
        held.delete(vipKey(op.spec.dev, op.spec.address));
        continue;
      }
      const extra = op.instance === null ? undefined : lookups.extraOf(op.instance);
      const dropped = op.op === "remove" && op.instance === null
        ? fromReload.get(canonicalIp(op.address.address) ?? op.address.address)
        : undefined;
      const who = op.instance ?? dropped ?? "hacore";
      if (op.op === "add") {
        const s = op.spec;
        const what = `${s.address}/${s.prefix} dev ${s.dev}`;
        try {
          await addresses.add(s);
          after.push({
            dev: s.dev,
            address: s.address,
            prefix: s.prefix,
            family: s.family,
            label: s.label,
            hacore: true,
          });
          log.info(`${who}: ${reason === "kernel" ? "restored" : "added"} ${what}`);
        } catch (e) {
          held.delete(vipKey(s.dev, s.address));
          if (cached !== null && hasErrorCode(e, "EEXIST")) {
            stale = true;
            continue;
          }
          failed = true;
          if (extra) bump(extra, "vipAddErrors");
          else bump(counters, "reconcileErrors");
          rateLog(`${who}/add`, "error", `${who}: cannot add ${what}: ${errorText(e)}`);
        }
      } else {
        const a = op.address;
        const what = `${a.address}/${a.prefix} dev ${a.dev}`;
        const why = dropped !== undefined
          ? " (no longer in the config)"
          : op.why === "leftover"
          ? reason === "startup"
            ? " (left over from an earlier run)"
            : " (no instance wants it here)"
          : op.why === "replace"
          ? " (wrong prefix, replacing)"
          : "";
        try {
          if (lookups.isVip(a.address)) this.#selfRemoved.add(vipKey(a.dev, a.address));
          await addresses.remove(a);
          const at = after.indexOf(a);
          if (at >= 0) after.splice(at, 1);
          log.info(`${who}: removed ${what}${why}`);
        } catch (e) {
          this.#selfRemoved.delete(vipKey(a.dev, a.address));
          if (hasErrorCode(e, "EADDRNOTAVAIL")) {
            // What we wanted is done: the kernel took it (with its subnet's primary).
            alreadyGone++;
            continue;
          }
          failed = true;
          if (extra) bump(extra, "vipRemoveErrors");
          else bump(counters, "reconcileErrors");
          rateLog(`${who}/remove`, "error", `${who}: cannot remove ${what}: ${errorText(e)}`);
        }
      }
    }
    this.#held = held;
    if (alreadyGone > 0) {
      log.info(`${alreadyGone} address(es) to remove were already gone (the kernel removed them)`);
    }
    if (failed) this.#retryAtMs = clock.nowMs() + this.#deps.retryMs;
    // Known only when every operation did what the plan said (and, see #knownKernel,
    // until a kernel event: one during this pass already counts).
    if (stale) this.requestAgain();
    else if (!failed && alreadyGone === 0) this.#kernel = { addresses: after, events };
    return true;
  }

  /** The addresses the last reconcile left, while no kernel event came since; else null. */
  #knownKernel(): KernelAddress[] | null {
    const k = this.#kernel;
    return k !== null && k.events === this.#kernelEvents ? k.addresses : null;
  }

  #reportConflicts(conflicts: readonly Conflict[], retiring: ReadonlySet<string>) {
    const now = new Map<string, string>();
    for (const c of conflicts) {
      // A removed instance handing its VIPs to its successor is no misconfiguration.
      if (c.kind === "shared" && c.instances.some((n) => retiring.has(n))) continue;
      const key = c.kind === "shared"
        ? `shared|${c.address}`
        : `foreign|${vipKey(c.address.dev, c.address.address)}|${c.address.prefix}`;
      now.set(key, describeConflict(c));
    }
    for (const [key, text] of now) {
      if (!this.#conflicts.has(key)) {
        bump(this.#deps.counters, "conflicts");
        this.#deps.log.warn(`conflict: ${text}`);
      }
    }
    for (const [key, text] of this.#conflicts) {
      if (!now.has(key)) this.#deps.log.info(`conflict resolved: ${text}`);
    }
    this.#conflicts = now;
  }
}

/**
 * The plan's operations in a kernel-safe order: removals first, IPv4 ones from the end
 * of the kernel's list back (the kernel lists a subnet's primary before its
 * secondaries, so the secondaries go first and removing a primary never takes another
 * VIP with it), then the additions in plan order (a replaced prefix is removed before
 * it is added again).
 *
 * @example
 * ```ts
 * for (const op of orderOps(plan.ops, kernel)) await run(op);
 * ```
 */
export function orderOps(ops: readonly AddressOp[], kernel: readonly KernelAddress[]): AddressOp[] {
  const position = new Map<string, number>();
  kernel.forEach((k, i) => position.set(`${vipKey(k.dev, k.address)}/${k.prefix}`, i));
  const at = (a: KernelAddress) => position.get(`${vipKey(a.dev, a.address)}/${a.prefix}`) ?? -1;
  const removes = ops.filter((o) => o.op === "remove");
  removes.sort((x, y) => at(y.address) - at(x.address));
  return [...removes, ...ops.filter((o) => o.op === "add")];
}

/**
 * How long kernel events must be quiet before the kernel's addresses are read again
 * for the next state change's plan: a burst (an interface coming up with its
 * addresses) costs one read, not one per event.
 */
const KERNEL_PRIME_DELAY_MS = 1000;

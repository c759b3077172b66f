/**
 * Virtual MAC (`use_vmac`), the daemon's side: keeps the macvlans the instances want
 * in place (made before the first reconcile, ensured again before every one, so one
 * deleted by hand comes back), removes the ones no instance wants any more, removes
 * all it made at stop, and turns a macvlan that cannot be made into a Fault of its
 * instances (tracker `vmac NAME`) until it can.
 *
 * `vmac.ts` is the pure half (which macvlan, which MAC) and `lib/sys/vmac.ts` the
 * kernel's; this module is the bookkeeping between them: which ones it made, which
 * ones failed. Separate from the daemon so that the macvlans' lifetime is read in one
 * place.
 *
 * @example
 * ```ts
 * const vmacs = new VmacKeeper({ port, log, rateLog, counters, retryLater, fault });
 * await vmacs.ensure(wantedVmacs(cfgs).vmacs);
 * await vmacs.drop(wantedVmacs(cfgs).vmacs); // removes the ones no longer wanted
 * await vmacs.removeAll(); // at stop
 * ```
 *
 * @module
 */

import type { InstanceConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { bump, errorText, type RateLog } from "./common.ts";
import type { VmacPort } from "./ports.ts";
import { wantedVmacs } from "./vmac.ts";

/**
 * The macvlans wanted, by name, with the instances that use each.
 *
 * @example
 * ```ts
 * const wanted: WantedVmacs = wantedVmacs(config.instances).vmacs;
 * ```
 */
export type WantedVmacs = ReturnType<typeof wantedVmacs>["vmacs"];

/**
 * Why these instances' virtual MACs cannot work: names clashing, or no port to make
 * them with (`hasPort` false).
 *
 * @example
 * ```ts
 * vmacProblems(config.instances, false);
 * // ["VI_1: use_vmac is set, but this daemon manages no links"]
 * ```
 */
export function vmacProblems(cfgs: readonly InstanceConfig[], hasPort: boolean): string[] {
  const { vmacs, conflicts } = wantedVmacs(cfgs);
  if (vmacs.size > 0 && !hasPort) {
    const users = [...vmacs.values()].flatMap((v) => v.users);
    conflicts.push(`${users.join(", ")}: use_vmac is set, but this daemon manages no links`);
  }
  return conflicts;
}

/**
 * What {@link VmacKeeper} needs.
 *
 * @example
 * ```ts
 * const deps: VmacKeeperDeps = { port, log, rateLog, counters, retryLater: () => {}, fault: () => {} };
 * ```
 */
export interface VmacKeeperDeps {
  /** Null when the daemon manages no links (then no instance may use a virtual MAC). */
  readonly port: VmacPort | null;
  readonly log: Logger;
  readonly rateLog: RateLog;
  /** Node-wide counters (`vmacErrors`). */
  readonly counters: Record<string, number>;
  /** Asks for another try after the retry delay (an ensure failed). */
  readonly retryLater: () => void;
  /** Raises (or clears) fault `tracker` on the instances `users`, in the loop. */
  readonly fault: (users: readonly string[], tracker: string, failing: boolean) => void;
}

/**
 * The macvlans made, and the ones failing.
 *
 * @example
 * ```ts
 * const vmacs = new VmacKeeper(deps);
 * vmacs.isUp("vrrp.51"); // false before the first ensure
 * ```
 */
export class VmacKeeper {
  readonly #deps: VmacKeeperDeps;
  /** Virtual-MAC macvlans ensured since start, to remove when no instance wants them. */
  #up = new Set<string>();
  /** Virtual-MAC macvlans whose last ensure failed: their instances are in Fault. */
  /** With their users, whose fault is cleared if the macvlan stops being wanted. */
  #faults = new Map<string, readonly string[]>();

  /**
   * Nothing made yet.
   *
   * @example
   * ```ts
   * new VmacKeeper({ port, log, rateLog, counters, retryLater, fault });
   * ```
   */
  constructor(deps: VmacKeeperDeps) {
    this.#deps = deps;
  }

  /**
   * Whether the daemon made (or adopted) macvlan `name` and still keeps it.
   *
   * @example
   * ```ts
   * if (vmacs.isUp(event.interface)) requestReconcile();
   * ```
   */
  isUp(name: string): boolean {
    return this.#up.has(name);
  }

  /**
   * Makes (or keeps) the macvlans `wanted`. One that cannot be made puts its
   * instances in Fault (tracker `vmac NAME`) and is tried again with the reconcile's
   * retry.
   *
   * @example
   * ```ts
   * await vmacs.ensure(wantedVmacs(cfgs).vmacs);
   * ```
   */
  async ensure(wanted: WantedVmacs): Promise<void> {
    const port = this.#deps.port;
    if (port === null) return;
    for (const [name, { spec, users }] of wanted) {
      const who = users.join(", ");
      try {
        const outcome = await port.ensure(spec);
        this.#up.add(name);
        if (outcome !== "present") {
          this.#deps.log.info(
            `${who}: ${outcome} virtual MAC ${name} (${spec.mac} on ${spec.parent})`,
          );
        }
        this.#setFault(name, users, false);
      } catch (e) {
        bump(this.#deps.counters, "vmacErrors");
        this.#deps.retryLater();
        this.#deps.rateLog(
          `vmac/${name}`,
          "error",
          `${who}: cannot set up virtual MAC ${name}: ${errorText(e)}`,
        );
        this.#setFault(name, users, true);
      }
    }
  }

  /**
   * Removes the macvlans made here that are no longer `wanted`, and clears the Fault of
   * the users of one that failed.
   *
   * @example
   * ```ts
   * await vmacs.drop(wantedVmacs(cfgs).vmacs);
   * ```
   */
  async drop(wanted: WantedVmacs): Promise<void> {
    const port = this.#deps.port;
    if (port === null) return;
    // Not wanted any more (a reload, or dynamic_interfaces waiting for the parent): its
    // users must not stay in Fault for it.
    for (const [name, users] of [...this.#faults]) {
      if (!wanted.has(name)) this.#setFault(name, users, false);
    }
    for (const name of [...this.#up]) {
      if (wanted.has(name)) continue;
      this.#up.delete(name);
      await this.#remove(port, name);
    }
  }

  /**
   * Removes every macvlan made here (at stop).
   *
   * @example
   * ```ts
   * await vmacs.removeAll();
   * ```
   */
  async removeAll(): Promise<void> {
    const port = this.#deps.port;
    if (port === null) return;
    for (const name of [...this.#up]) {
      this.#up.delete(name);
      await this.#remove(port, name);
    }
  }

  #setFault(name: string, users: readonly string[], failing: boolean) {
    if (this.#faults.has(name) === failing) return;
    if (failing) this.#faults.set(name, users);
    else this.#faults.delete(name);
    this.#deps.fault(users, `vmac ${name}`, failing);
  }

  async #remove(port: VmacPort, name: string): Promise<void> {
    try {
      await port.remove(name);
      this.#deps.log.info(`removed virtual MAC ${name}`);
    } catch (e) {
      bump(this.#deps.counters, "vmacErrors");
      this.#deps.log.warn(`cannot remove virtual MAC ${name}: ${errorText(e)}`);
    }
  }
}

/**
 * Connection-state sync between directors (keepalived's `lvs_sync_daemon`): the
 * kernel's IPVS sync daemon runs as master on the director whose VRRP instance is
 * master, sending its connection table, and as backup everywhere else, receiving it,
 * so the backup that takes over already holds every established connection and
 * forwards its next packet to the same real server instead of resetting it.
 *
 * A daemon subsystem of its own beside the LVS runtime. It imports nothing of the
 * daemon: the instance's state comes in as a function the daemon gives it, read on
 * every loop turn (a transition is seen in the turn that made it, as the subsystem
 * runs after the VRRP one), and the kernel is reached through the IPVS port.
 *
 * @module
 */

import type { Config } from "../config/schema.ts";
import type { LvsSyncDaemonConfig } from "../config/lvs_roles.ts";
import type { ReloadOutcome } from "../control/api.ts";
import type { LvsSyncStatus } from "../control/status.ts";
import type { Logger } from "../log.ts";
import type { IpvsSyncDaemon } from "../sys/netlink/ipvs_types.ts";
import type { IpvsPort, KernelEvent } from "../sys/ports.ts";

/** The role the kernel's sync daemon should have. */
export type SyncRole = "master" | "backup" | "none";

/**
 * keepalived's rule: master while the instance is master, backup in every other state
 * (backup, fault, and before the instance has started), none when not configured.
 *
 * @example
 * ```ts
 * syncRoleFor("master"); // "master"
 * syncRoleFor("fault"); // "backup"
 * ```
 */
export function syncRoleFor(instanceState: string | null): "master" | "backup" {
  return instanceState === "master" ? "master" : "backup";
}

/**
 * What must go and what must start for the kernel's daemons (`kernel`) to be the one
 * `want` describes: a daemon of another state, interface or id is stopped; the wanted
 * one is started unless it runs already. Pure.
 *
 * @example
 * ```ts
 * syncPlan([{ state: "backup", ifname: "eth0", syncId: 5 }], { state: "master", ifname: "eth0", syncId: 5 });
 * // { stop: ["backup"], start: { state: "master", ifname: "eth0", syncId: 5 } }
 * ```
 */
export function syncPlan(
  kernel: readonly IpvsSyncDaemon[],
  want: IpvsSyncDaemon | null,
): { stop: IpvsSyncDaemon["state"][]; start: IpvsSyncDaemon | null } {
  const same = (d: IpvsSyncDaemon) =>
    want !== null && d.state === want.state && d.ifname === want.ifname &&
    d.syncId === want.syncId;
  const stop = kernel.filter((d) => !same(d)).map((d) => d.state);
  const start = want !== null && !kernel.some(same) ? want : null;
  return { stop, start };
}

/** The daemon `cfg` wants in `role`, with the options it sets. */
export function wantedDaemon(cfg: LvsSyncDaemonConfig, role: "master" | "backup"): IpvsSyncDaemon {
  return {
    state: role,
    ifname: cfg.interface,
    syncId: cfg.syncId,
    ...(cfg.maxLen === null ? {} : { maxLen: cfg.maxLen }),
    ...(cfg.group === null ? {} : { group: cfg.group }),
    ...(cfg.port === null ? {} : { port: cfg.port }),
    ...(cfg.ttl === null ? {} : { ttl: cfg.ttl }),
  };
}

/** After a failed kernel call, the next attempt comes this late. */
export const LVS_SYNC_RETRY_MS = 1_000;

/**
 * What {@link LvsSyncRuntime} needs from the daemon.
 *
 * @example
 * ```ts
 * const deps: LvsSyncDeps = {
 *   config: config.lvsSyncDaemon!, ipvs, clock, log,
 *   instanceState: (name) => stateOf(name),
 * };
 * ```
 */
export interface LvsSyncDeps {
  readonly config: LvsSyncDaemonConfig;
  /** Its own IPVS port (closed at {@link LvsSyncRuntime.close}). */
  readonly ipvs: Pick<IpvsPort, "syncDaemons" | "startSyncDaemon" | "stopSyncDaemon" | "close">;
  /** The VRRP instance's state now ("master", "backup", "fault", ...), null when unknown. */
  readonly instanceState: (instance: string) => string | null;
  readonly clock: { nowMs(): number };
  readonly log: Logger;
  /** Overrides {@link LVS_SYNC_RETRY_MS}. */
  readonly retryMs?: number;
}

/**
 * The sync subsystem; see the module notes. Fits the daemon's `Subsystem`.
 *
 * @example
 * ```ts
 * const sync = new LvsSyncRuntime(deps);
 * await sync.start(guard); // backup until the instance is master
 * ```
 */
export class LvsSyncRuntime {
  readonly name = "lvs_sync";
  readonly #d: LvsSyncDeps;
  #config: LvsSyncDaemonConfig | null;
  /** The role last applied to the kernel (or being applied). */
  #applied: SyncRole = "none";
  #kernel: readonly IpvsSyncDaemon[] = [];
  #retryAtMs: number | null = null;
  #lastError: string | null = null;
  #changes = 0;
  #closed = false;

  /** A runtime for `deps.config`; nothing is touched until {@link start}. */
  constructor(deps: LvsSyncDeps) {
    this.#d = deps;
    this.#config = deps.config;
  }

  /** The role wanted now from the instance's state. */
  #want(): SyncRole {
    const c = this.#config;
    if (c === null || this.#closed) return "none";
    return syncRoleFor(this.#d.instanceState(c.instance));
  }

  /** Reads the kernel's daemons and starts the wanted one (backup unless the instance is master). */
  async start(guard: (work: () => Promise<void>) => Promise<void>): Promise<void> {
    await guard(() => this.#apply(this.#want()));
  }

  nextDeadlineMs(): number | null {
    return this.#retryAtMs;
  }

  onKernel(_event: KernelEvent): void {}

  async advance(): Promise<void> {
    if (this.#closed) return;
    const want = this.#want();
    const retry = this.#retryAtMs !== null && this.#d.clock.nowMs() >= this.#retryAtMs;
    if (want !== this.#applied || retry) await this.#apply(want);
  }

  /** A changed `[global.lvs_sync_daemon]` restarts the daemon; a removed one stops it. */
  reload(next: Config, _facts: unknown): ReloadOutcome {
    const before = this.#config;
    const after = next.lvsSyncDaemon;
    if (JSON.stringify(before) === JSON.stringify(after)) {
      return { ok: true, errors: [], changes: [] };
    }
    this.#config = after;
    // Forces the next turn to re-plan against the kernel with the new settings.
    this.#applied = "none";
    this.#retryAtMs = this.#d.clock.nowMs();
    const change = after === null
      ? "lvs_sync_daemon: removed (the kernel's sync daemon stops)"
      : `lvs_sync_daemon: ${after.interface} id ${after.syncId} following ${after.instance}`;
    return { ok: true, errors: [], changes: [change] };
  }

  status(_nowMs: number): LvsSyncStatus {
    const c = this.#config;
    return {
      instance: c?.instance ?? "",
      instanceState: c === null ? null : this.#d.instanceState(c.instance),
      interface: c?.interface ?? "",
      syncId: c?.syncId ?? 0,
      role: this.#applied,
      kernel: this.#kernel.map((d) => d.state),
      lastError: this.#lastError,
      changes: this.#changes,
    };
  }

  stopBudgetMs(): number {
    return 0;
  }

  shutdown(): void {}

  settled(): boolean {
    return true;
  }

  /** Stops the kernel's sync daemons (keepalived does the same at stop) and closes the port. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.#config !== null) await this.#apply("none");
    } finally {
      await this.#d.ipvs.close();
    }
  }

  async #apply(role: SyncRole): Promise<void> {
    const c = this.#config;
    const { ipvs, log } = this.#d;
    this.#applied = role;
    try {
      const kernel = await ipvs.syncDaemons();
      const want = c === null || role === "none" ? null : wantedDaemon(c, role);
      const plan = syncPlan(kernel, want);
      for (const state of plan.stop) await ipvs.stopSyncDaemon(state);
      if (plan.start !== null) await ipvs.startSyncDaemon(plan.start);
      if (plan.stop.length > 0 || plan.start !== null) {
        this.#changes++;
        const what = want === null
          ? "stopped"
          : `${want.state} on ${want.ifname} id ${want.syncId}`;
        log.notice(`lvs sync daemon: ${what}${c === null ? "" : ` (${c.instance})`}`);
      }
      this.#kernel = await ipvs.syncDaemons();
      this.#lastError = null;
      this.#retryAtMs = null;
    } catch (e) {
      this.#lastError = e instanceof Error ? e.message : String(e);
      log.error(`lvs sync daemon: cannot run as ${role}: ${this.#lastError}`);
      this.#retryAtMs = this.#d.clock.nowMs() + (this.#d.retryMs ?? LVS_SYNC_RETRY_MS);
    }
  }
}

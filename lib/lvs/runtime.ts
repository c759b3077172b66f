/**
 * The LVS runtime: the daemon subsystem that keeps the kernel's IPVS table as the config
 * and the health checks want it. It is the thin shell around the pure core of this
 * folder: verdicts come from the daemon's check service (one check per real server and
 * check, owner `"lvs"`), the wanted table from `desiredTable`, the operations from `plan`
 * against the last known kernel table, and they go out through the `IpvsPort` in order.
 *
 * - A verdict reaches the kernel in the loop turn that hears it: the listener only marks
 *   the runtime dirty (through the loop's queue) and `advance` applies the plan.
 * - The known kernel table is the last dump with each applied operation folded in; a
 *   periodic dump ({@link LVS_SYNC_INTERVAL_MS}) refreshes the counters shown in status
 *   and metrics, and heals drift (a destination deleted by hand is restored, counted).
 * - A failed operation is logged with the kernel's error (rate-limited per entry),
 *   counted, and retried by a full dump and plan a second later: never a tight loop.
 * - Only services the config owns are touched; at start matching entries are adopted
 *   (no "already exists"); at close the owned services are removed, after the `omega`
 *   notifiers ran at shutdown.
 * - `ha_suspend`: the checks of a virtual server run only while this node holds one of
 *   its addresses (kernel address events keep the set of local addresses).
 *
 * It imports nothing of the daemon: what it needs of it (the loop's queue, the notifier,
 * the local addresses, the rate-limited log) comes in {@link LvsRuntimeDeps}.
 *
 * @module
 */

import type { CheckDefinition, CheckSource, CheckSubscription } from "../check/service.ts";
import type { CheckStatus } from "../check/scheduler.ts";
import type { RealServerConfig, VirtualServerConfig } from "../config/lvs_schema.ts";
import { diffVirtualServers } from "../config/diff.ts";
import type { Config } from "../config/schema.ts";
import type { ReloadOutcome } from "../control/api.ts";
import type {
  LvsStatus,
  RealServerCheckStatus,
  RealServerStatus,
  VirtualServerStatus,
} from "../control/status.ts";
import type { Logger } from "../log.ts";
import type { IpvsPort, KernelEvent } from "../sys/ports.ts";
import type { IpvsDest, IpvsService, IpvsStats } from "../sys/netlink/ipvs_types.ts";
import {
  checksActive,
  desiredTable,
  type HealthMap,
  type IpvsEntry,
  type IpvsTable,
  liveWeight,
  omegaNotifications,
  type RealServerHealth,
  realServerUp,
  servicesOf,
} from "./desired.ts";
import { realServerTransitions, updateQuorum } from "./events.ts";
import { destKey, type Op, ownedKeys, plan, serviceKey } from "./plan.ts";

/** Between two full dumps of the kernel's table (counters for status, drift healing). */
export const LVS_SYNC_INTERVAL_MS = 5_000;
/** After a failed operation or dump, the full dump and plan that retries it comes this late. */
export const LVS_RETRY_MS = 1_000;
/** The check service owner name of the virtual servers' checks. */
export const LVS_CHECK_OWNER = "lvs";

/**
 * A change to tell the outside world about, keepalived's way: a real server up or down
 * (its `notify_up` / `notify_down`, run with exactly the arguments written), or a
 * virtual server's quorum (its `quorum_up` / `quorum_down`); `fifoLine` is keepalived's
 * line for the notify FIFO (`RS <rs> <vs> UP`, `VS <vs> DOWN`), without the newline.
 *
 * @example
 * ```ts
 * const n: LvsNotice = {
 *   kind: "real_server", virtualServer: "web", realServer: "web/192.0.2.11:80", up: false,
 *   hook: "notify_down", command: "/bin/rs-down", fifoLine: "RS [192.0.2.11]:tcp:80 [192.0.2.100]:tcp:80 DOWN",
 * };
 * ```
 */
export interface LvsNotice {
  readonly kind: "real_server" | "quorum";
  readonly virtualServer: string;
  /** The real server's id for `real_server`; null for `quorum`. */
  readonly realServer: string | null;
  readonly up: boolean;
  readonly hook: "notify_up" | "notify_down" | "quorum_up" | "quorum_down";
  /** The command line configured for it; null when none is (the FIFO line still goes out). */
  readonly command: string | null;
  readonly fifoLine: string;
}

/** A rate-limited log line: one per `key` per window (the daemon's `RateLog`). */
export type LvsRateLog = (key: string, level: "debug" | "warn" | "error", msg: string) => void;

/**
 * What the runtime needs from the daemon.
 *
 * @example
 * ```ts
 * const deps: LvsRuntimeDeps = {
 *   config, ipvs, checks, clock, log, rateLog, notify: (n) => notifier.notifyLvs(n),
 *   enqueue: (run) => inbox.push({ kind: "control", run, cancel: () => {} }),
 *   localAddresses: async () => (await addresses.list()).map((a) => a.address),
 * };
 * ```
 */
export interface LvsRuntimeDeps {
  readonly config: Config;
  readonly ipvs: IpvsPort;
  readonly checks: CheckSource;
  readonly clock: { nowMs(): number };
  readonly log: Logger;
  readonly rateLog: LvsRateLog;
  /** Runs or queues the hooks and FIFO line of a notice; must return at once. */
  readonly notify: (notice: LvsNotice) => void;
  /** Queues work for the loop (a verdict heard outside it). */
  readonly enqueue: (run: () => void) => void;
  /** The addresses configured on this node now (for `ha_suspend`). */
  readonly localAddresses: () => Promise<readonly string[]>;
  /** Overrides {@link LVS_SYNC_INTERVAL_MS}. */
  readonly syncIntervalMs?: number;
  /** Overrides {@link LVS_RETRY_MS}. */
  readonly retryMs?: number;
}

/** Counter names of the runtime (status `lvs.counters`, metrics). */
export const LVS_COUNTERS = ["opsApplied", "opsFailed", "driftRepairs", "dumpsFailed"] as const;

/**
 * The check id of a real server's `index`th check among the runtime's checks.
 *
 * @example
 * ```ts
 * lvsCheckId("web/192.0.2.11:80", 0); // "web/192.0.2.11:80#0"
 * ```
 */
export function lvsCheckId(realServerId: string, index: number): string {
  return `${realServerId}#${index}`;
}

/**
 * The scheduler's pacing of one real server check, keepalived's way: every `delay_loop`
 * while healthy; a failure is retried `retry` times `delay_before_retry` apart before
 * the server counts as down (fall = retry + 1); one pass brings it back; with `alpha`
 * it starts down; the first run comes within `warmup`.
 *
 * @example
 * ```ts
 * // { intervalMs: 1000, retry: 1, delayBeforeRetryMs: 300, ... } → fall 2, retryIntervalMs 300
 * ```
 */
export function lvsCheckDefinition(
  vs: VirtualServerConfig,
  rs: RealServerConfig,
  index: number,
): CheckDefinition {
  const c = rs.checks[index];
  return {
    spec: c.check,
    timing: {
      intervalMs: c.intervalMs,
      timeoutMs: c.timeoutMs,
      rise: 1,
      fall: c.retry + 1,
      initialUp: !vs.alpha,
      retryIntervalMs: c.delayBeforeRetryMs,
      warmupMs: c.warmupMs,
    },
  };
}

/**
 * keepalived's text for a virtual server in its FIFO lines and logs (`FMT_VS`):
 * `[192.0.2.100]:tcp:80`, `FWM 5`, `[group]`.
 *
 * @example
 * ```ts
 * // formatVs({ target: { kind: "fwmark", fwmark: 5 }, ... }) === "FWM 5"
 * ```
 */
export function formatVs(vs: VirtualServerConfig): string {
  const t = vs.target;
  if (t.kind === "fwmark") return `FWM ${t.fwmark}`;
  if (t.kind === "group") return `[${t.group}]`;
  return `[${t.address}]:${vs.protocol}:${t.port}`;
}

/**
 * keepalived's text for a real server (`FMT_RS`): `[192.0.2.11]:tcp:80`.
 *
 * @example
 * ```ts
 * // formatRs(vs, rs) === "[192.0.2.11]:tcp:80"
 * ```
 */
export function formatRs(vs: VirtualServerConfig, rs: { address: string; port: number }): string {
  return `[${rs.address}]:${vs.protocol}:${rs.port}`;
}

/**
 * A virtual server's endpoint for people: `192.0.2.100:80`, `[2001:db8::1]:80`,
 * `fwmark 5`, `group NAME`.
 */
export function vsEndpoint(vs: VirtualServerConfig): string {
  const t = vs.target;
  if (t.kind === "fwmark") return `fwmark ${t.fwmark}`;
  if (t.kind === "group") return `group ${t.group}`;
  return hostPort(t.address, t.port);
}

function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * The LVS subsystem; see the module notes. Implements the daemon's `Subsystem` (its
 * shape, not its import: `lib/lvs` does not depend on `lib/daemon`).
 *
 * @example
 * ```ts
 * const lvs = new LvsRuntime(deps);
 * await lvs.start(guard); // dump, adopt, apply
 * // in the loop: lvs.nextDeadlineMs(), lvs.onKernel(e), await lvs.advance()
 * lvs.shutdown(); await lvs.close(); // omega notifiers, then the owned services go
 * ```
 */
export class LvsRuntime {
  readonly name = "lvs";
  readonly #d: LvsRuntimeDeps;
  readonly #syncMs: number;
  readonly #retryMs: number;
  #config: Config;
  #sub: CheckSubscription | null = null;
  /** Real server id → verdict, for servers whose checks have said something. */
  #health = new Map<string, RealServerHealth>();
  #quorum = new Map<string, boolean>();
  /** The kernel's table as last dumped, with every applied operation folded in. */
  #kernel: IpvsTable = [];
  /** Service keys hacore may delete: those it wanted last (and, over a reload, before). */
  #owned = new Set<string>();
  #local = new Set<string>();
  /** Virtual server names whose checks run now. */
  #active = new Set<string>();
  #dirty = false;
  #addressesStale = false;
  #nextSyncMs: number;
  #retryAtMs: number | null = null;
  #lastDumpMs: number | null = null;
  #stopping = false;
  #closed = false;
  readonly #counters: Record<string, number> = Object.fromEntries(
    LVS_COUNTERS.map((c) => [c, 0]),
  );

  /**
   * A runtime for `deps.config`; nothing is read or subscribed until {@link start}.
   *
   * @example
   * ```ts
   * new LvsRuntime(deps);
   * ```
   */
  constructor(deps: LvsRuntimeDeps) {
    this.#d = deps;
    this.#config = deps.config;
    this.#syncMs = deps.syncIntervalMs ?? LVS_SYNC_INTERVAL_MS;
    this.#retryMs = deps.retryMs ?? LVS_RETRY_MS;
    this.#nextSyncMs = deps.clock.nowMs() + this.#syncMs;
  }

  /** The config it runs now. */
  get config(): Config {
    return this.#config;
  }

  /**
   * Reads the local addresses, subscribes the checks, dumps the kernel's table, adopts
   * what matches and applies the rest.
   */
  async start(guard: (work: () => Promise<void>) => Promise<void>): Promise<void> {
    const vss = this.#config.virtualServers;
    this.#d.log.notice(
      `lvs starting: ${vss.length} virtual server${vss.length === 1 ? "" : "s"}`,
    );
    await guard(() => this.#readAddresses());
    this.#sub = this.#d.checks.subscribe(
      LVS_CHECK_OWNER,
      (id, st) => this.#d.enqueue(() => this.#verdict(id, st)),
    );
    this.#quorum = new Map(updateQuorum(vss, new Map(), this.#health).quorum);
    this.#announceInitialQuorum();
    this.#setChecks();
    this.#owned = ownedKeys(this.#wanted());
    await guard(() => this.#sync(true, false));
  }

  nextDeadlineMs(): number | null {
    // Stopping: nothing more is applied (the table goes at close), so nothing is due.
    if (this.#closed || this.#stopping) return null;
    if (this.#dirty || this.#addressesStale) return this.#d.clock.nowMs();
    const r = this.#retryAtMs;
    return r !== null && r < this.#nextSyncMs ? r : this.#nextSyncMs;
  }

  onKernel(event: KernelEvent): void {
    if (event.kind === "addr-added") this.#local.add(event.address);
    else if (event.kind === "addr-removed") this.#local.delete(event.address);
    else if (event.kind === "resync") this.#addressesStale = true;
    else return;
    this.#setChecks();
  }

  async advance(): Promise<void> {
    if (this.#closed || this.#stopping) return;
    if (this.#addressesStale) {
      this.#addressesStale = false;
      await this.#readAddresses();
      this.#setChecks();
    }
    // A verdict goes to the kernel first, against the known table: the fast path, and
    // what a dump due in the same turn then finds different is drift, not the verdict.
    if (this.#dirty) await this.#sync(false, false);
    const now = this.#d.clock.nowMs();
    const retryDue = this.#retryAtMs !== null && now >= this.#retryAtMs;
    const syncDue = now >= this.#nextSyncMs;
    if (retryDue || syncDue) await this.#sync(true, syncDue && this.#retryAtMs === null);
  }

  /** Applies a validated config: the plan edits in place, deletes the removed, adds the new. */
  reload(next: Config, _facts: unknown): ReloadOutcome {
    const before = this.#config;
    const changed = diffVirtualServers(before.virtualServers, next.virtualServers).length > 0;
    const prevOwned = ownedKeys(this.#wanted());
    this.#config = next;
    // Verdicts of real servers that are gone mean nothing; kept ones keep theirs.
    const ids = new Set(next.virtualServers.flatMap((v) => v.realServers.map((r) => r.id)));
    for (const id of [...this.#health.keys()]) if (!ids.has(id)) this.#health.delete(id);
    const kept = new Map<string, boolean>();
    for (const vs of next.virtualServers) {
      const q = this.#quorum.get(vs.name);
      if (q !== undefined) kept.set(vs.name, q);
    }
    const q = updateQuorum(next.virtualServers, kept, this.#health);
    this.#quorum = new Map(q.quorum);
    this.#announceQuorum(q.changes);
    this.#setChecks();
    for (const k of prevOwned) this.#owned.add(k);
    for (const k of ownedKeys(this.#wanted())) this.#owned.add(k);
    this.#dirty = true;
    if (changed) this.#d.log.info("lvs: reload: planning the virtual servers' changes");
    // The lines are the config diff's (`diffVirtualServers`), which the VRRP side already
    // reports with the rest of the diff: told once.
    return { ok: true, errors: [], changes: [] };
  }

  status(nowMs: number): LvsStatus {
    const wanted = this.#wanted();
    return {
      virtualServers: this.#config.virtualServers.map((vs) => this.#vsStatus(vs, wanted)),
      counters: { ...this.#counters },
      lastDumpMs: this.#lastDumpMs === null ? null : Math.min(this.#lastDumpMs, nowMs),
    };
  }

  stopBudgetMs(): number {
    return 0;
  }

  /** Runs the `omega` notifiers (real servers down, quorum down); the table goes at close. */
  shutdown(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    const vss = this.#config.virtualServers;
    for (const n of omegaNotifications(vss, this.#health)) {
      const vs = vss.find((v) => v.realServers.some((r) => r.id === n.realServer));
      const rs = vs?.realServers.find((r) => r.id === n.realServer);
      if (vs === undefined || rs === undefined) continue;
      this.#d.notify(rsNotice(vs, rs, false));
    }
    for (const vs of vss) {
      if (vs.omega && this.#quorum.get(vs.name) === true) {
        this.#d.notify(quorumNotice(vs, false));
      }
    }
  }

  settled(): boolean {
    return true;
  }

  /** Stops the checks, removes the services it owns, closes the port. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sub?.close();
    this.#sub = null;
    try {
      await this.#refreshKernel();
      await this.#applyOps(plan([], this.#kernel, this.#owned), false);
    } catch (e) {
      this.#d.log.warn(`lvs: cannot remove the virtual services at stop: ${text(e)}`);
    }
    try {
      await this.#d.ipvs.close();
    } catch (e) {
      this.#d.log.warn(`lvs: closing IPVS: ${text(e)}`);
    }
  }

  // -------------------------------------------------------------------------------

  async #readAddresses(): Promise<void> {
    if (!this.#config.virtualServers.some((v) => v.haSuspend)) return;
    this.#local = new Set(await this.#d.localAddresses());
  }

  /** The checks of every virtual server whose checks run now (ha_suspend aside, all). */
  #setChecks(): void {
    const sub = this.#sub;
    if (sub === null || this.#closed) return;
    const groups = this.#config.virtualServerGroups;
    const wanted = new Map<string, CheckDefinition>();
    const active = new Set<string>();
    for (const vs of this.#config.virtualServers) {
      if (!checksActive(vs, groups, this.#local)) continue;
      active.add(vs.name);
      for (const rs of vs.realServers) {
        rs.checks.forEach((_, i) =>
          wanted.set(lvsCheckId(rs.id, i), lvsCheckDefinition(vs, rs, i))
        );
      }
    }
    for (const name of active) {
      if (!this.#active.has(name)) this.#d.log.info(`${name}: checks running`);
    }
    for (const name of this.#active) {
      if (!active.has(name) && this.#config.virtualServers.some((v) => v.name === name)) {
        this.#d.log.info(`${name}: checks suspended (ha_suspend: the address is not here)`);
      }
    }
    this.#active = active;
    sub.set(wanted);
  }

  /** A check's verdict changed: fold it into its real server's, then into the table. */
  #verdict(id: string, _st: CheckStatus): void {
    if (this.#closed || this.#stopping) return;
    const hash = id.lastIndexOf("#");
    const rsId = hash < 0 ? id : id.slice(0, hash);
    const found = this.#findRs(rsId);
    if (found === null) return;
    const next = this.#rsHealth(found.rs);
    if (next === null) return;
    const before: HealthMap = new Map(this.#health);
    const old = this.#health.get(rsId);
    if (old !== undefined && old.up === next.up && old.weight === next.weight) return;
    this.#health.set(rsId, next);
    const vss = this.#config.virtualServers;
    for (const t of realServerTransitions(vss, before, this.#health)) {
      const vs = vss.find((v) => v.name === t.virtualServer)!;
      const rs = vs.realServers.find((r) => r.id === t.realServer)!;
      this.#d.log.notice(
        `${vs.name}: real server ${hostPort(rs.address, rs.port)} ${t.up ? "up" : "down"}` +
          (t.up ? "" : `: ${this.#failingDetail(rs) ?? "check failed"}`),
      );
      this.#d.notify(rsNotice(vs, rs, t.up));
    }
    const q = updateQuorum(vss, this.#quorum, this.#health);
    this.#quorum = new Map(q.quorum);
    this.#announceQuorum(q.changes);
    this.#dirty = true;
  }

  /** All checks up = up (keepalived); a dynamic weight from the first check that has one. */
  #rsHealth(rs: RealServerConfig): RealServerHealth | null {
    const sub = this.#sub;
    if (sub === null) return null;
    let up = true;
    let weight: number | undefined;
    let settled = false;
    for (let i = 0; i < rs.checks.length; i++) {
      const st = sub.status(lvsCheckId(rs.id, i));
      if (st === undefined) return null;
      settled ||= st.settled;
      up &&= st.up;
      if (weight === undefined && st.weight !== null) weight = st.weight;
    }
    if (!settled) return null;
    return weight === undefined ? { up } : { up, weight };
  }

  #failingDetail(rs: RealServerConfig): string | null {
    for (let i = 0; i < rs.checks.length; i++) {
      const st = this.#sub?.status(lvsCheckId(rs.id, i));
      if (st?.last !== null && st?.last !== undefined && !st.last.ok) return st.last.detail;
    }
    return null;
  }

  #findRs(id: string): { vs: VirtualServerConfig; rs: RealServerConfig } | null {
    for (const vs of this.#config.virtualServers) {
      const rs = vs.realServers.find((r) => r.id === id);
      if (rs !== undefined) return { vs, rs };
    }
    return null;
  }

  #announceInitialQuorum(): void {
    for (const vs of this.#config.virtualServers) {
      if (this.#quorum.get(vs.name) === false) this.#announceQuorum([{ virtualServer: vs.name }]);
    }
  }

  #announceQuorum(changes: readonly { readonly virtualServer: string }[]): void {
    for (const c of changes) {
      const vs = this.#config.virtualServers.find((v) => v.name === c.virtualServer);
      if (vs === undefined) continue;
      const up = this.#quorum.get(vs.name) === true;
      const w = liveWeight(vs, this.#health);
      this.#d.log.notice(
        `${vs.name}: quorum ${up ? "gained" : "lost"} (live weight ${w}, quorum ${vs.quorum}` +
          ` ± ${vs.hysteresis})${!up && vs.sorryServer !== null ? "; sorry server in use" : ""}`,
      );
      this.#d.notify(quorumNotice(vs, up));
    }
  }

  #wanted(): IpvsTable {
    return desiredTable({
      virtualServers: this.#config.virtualServers,
      groups: this.#config.virtualServerGroups,
      health: this.#health,
      quorum: this.#quorum,
    });
  }

  async #refreshKernel(): Promise<boolean> {
    try {
      this.#kernel = await this.#d.ipvs.dump();
      this.#lastDumpMs = this.#d.clock.nowMs();
      return true;
    } catch (e) {
      this.#counters.dumpsFailed++;
      this.#d.rateLog("lvs/dump", "error", `lvs: cannot dump the IPVS table: ${text(e)}`);
      return false;
    }
  }

  /**
   * Plans the wanted table against the kernel's (dumped first when `dump`) and applies
   * it; with `drift`, what a dump shows missing or changed is counted as drift repaired.
   */
  async #sync(dump: boolean, drift: boolean): Promise<void> {
    this.#dirty = false;
    const now = this.#d.clock.nowMs();
    if (dump) {
      this.#nextSyncMs = now + this.#syncMs;
      this.#retryAtMs = null;
      if (!(await this.#refreshKernel())) {
        this.#retryAtMs = now + this.#retryMs;
        return;
      }
    }
    const wanted = this.#wanted();
    const ops = plan(wanted, this.#kernel, this.#owned);
    if (ops.length === 0) {
      this.#owned = ownedKeys(wanted);
      return;
    }
    if (drift) {
      this.#counters.driftRepairs += ops.length;
      this.#d.log.warn(
        `lvs: the IPVS table drifted; repairing ${ops.length} entr${
          ops.length === 1 ? "y" : "ies"
        }`,
      );
    }
    const failed = await this.#applyOps(ops, true);
    if (failed === 0) this.#owned = ownedKeys(wanted);
    else if (this.#retryAtMs === null) this.#retryAtMs = this.#d.clock.nowMs() + this.#retryMs;
  }

  /** Applies `ops` in order, folding each success into the known table; the failures. */
  async #applyOps(ops: readonly Op[], log: boolean): Promise<number> {
    let failed = 0;
    for (const op of ops) {
      try {
        await runOp(this.#d.ipvs, op);
        this.#counters.opsApplied++;
        this.#kernel = foldOp(this.#kernel, op);
        if (log) this.#d.log.info(`lvs: ${describeOp(op)}`);
      } catch (e) {
        failed++;
        this.#counters.opsFailed++;
        this.#d.rateLog(
          `lvs/op/${opKey(op)}`,
          "error",
          `lvs: ${describeOp(op)} failed: ${text(e)}; retrying in ${this.#retryMs} ms`,
        );
      }
    }
    return failed;
  }

  #vsStatus(vs: VirtualServerConfig, wanted: IpvsTable): VirtualServerStatus {
    const services = servicesOf(vs, this.#config.virtualServerGroups);
    const keys = new Set(services.map((s) => serviceKey(s)));
    const wantedEntries = wanted.filter((e) => keys.has(serviceKey(e.service)));
    const kernelEntries = this.#kernel.filter((e) => keys.has(serviceKey(e.service)));
    const quorumUp = this.#quorum.get(vs.name) ?? true;
    const sorry = vs.sorryServer;
    return {
      name: vs.name,
      endpoint: vsEndpoint(vs),
      protocol: vs.target.kind === "fwmark" ? "fwmark" : vs.protocol,
      scheduler: vs.scheduler,
      method: vs.method,
      quorumUp,
      liveWeight: liveWeight(vs, this.#health),
      quorum: vs.quorum,
      hysteresis: vs.hysteresis,
      sorryServer: sorry === null ? null : hostPort(sorry.address, sorry.port),
      sorryActive: !quorumUp && sorry !== null,
      checksActive: this.#active.has(vs.name),
      servicesInKernel: kernelEntries.length,
      servicesWanted: wantedEntries.length,
      realServers: vs.realServers.map((rs) => this.#rsStatus(vs, rs, wantedEntries, kernelEntries)),
    };
  }

  #rsStatus(
    vs: VirtualServerConfig,
    rs: RealServerConfig,
    wanted: readonly IpvsEntry[],
    kernel: readonly IpvsEntry[],
  ): RealServerStatus {
    const dk = destKey(rs);
    const find = (es: readonly IpvsEntry[]) =>
      es.flatMap((e) => e.dests.filter((d) => destKey(d) === dk));
    const inKernel = find(kernel);
    const w = find(wanted)[0];
    const sum = (f: (d: IpvsDest) => number) => inKernel.reduce((a, d) => a + f(d), 0);
    const big = (f: (s: IpvsStats) => bigint) =>
      inKernel.reduce((a, d) => a + (d.stats === undefined ? 0n : f(d.stats)), 0n);
    return {
      id: rs.id,
      address: rs.address,
      port: rs.port,
      up: realServerUp(vs, rs, this.#health),
      checks: rs.checks.map((c, i) => this.#checkStatus(c.check.kind, rs, i, vs)),
      desiredWeight: w === undefined ? null : w.weight,
      kernelWeight: inKernel.length === 0 ? null : inKernel[0].weight,
      activeConns: sum((d) => d.activeConns ?? 0),
      inactConns: sum((d) => d.inactConns ?? 0),
      conns: big((s) => s.conns).toString(),
      inBytes: big((s) => s.inbytes).toString(),
      outBytes: big((s) => s.outbytes).toString(),
      inPackets: big((s) => s.inpkts).toString(),
      outPackets: big((s) => s.outpkts).toString(),
      cps: Number(big((s) => s.cps)),
      inBps: Number(big((s) => s.inbps)),
      outBps: Number(big((s) => s.outbps)),
    };
  }

  #checkStatus(
    kind: string,
    rs: RealServerConfig,
    i: number,
    vs: VirtualServerConfig,
  ): RealServerCheckStatus {
    const st = this.#sub?.status(lvsCheckId(rs.id, i));
    const last = st?.last ?? null;
    return {
      kind,
      up: st?.up ?? !vs.alpha,
      lastError: last !== null && !last.ok ? last.detail : null,
    };
  }
}

function rsNotice(vs: VirtualServerConfig, rs: RealServerConfig, up: boolean): LvsNotice {
  return {
    kind: "real_server",
    virtualServer: vs.name,
    realServer: rs.id,
    up,
    hook: up ? "notify_up" : "notify_down",
    command: up ? rs.notifyUp : rs.notifyDown,
    fifoLine: `RS ${formatRs(vs, rs)} ${formatVs(vs)} ${up ? "UP" : "DOWN"}`,
  };
}

function quorumNotice(vs: VirtualServerConfig, up: boolean): LvsNotice {
  return {
    kind: "quorum",
    virtualServer: vs.name,
    realServer: null,
    up,
    hook: up ? "quorum_up" : "quorum_down",
    command: up ? vs.quorumUp : vs.quorumDown,
    fifoLine: `VS ${formatVs(vs)} ${up ? "UP" : "DOWN"}`,
  };
}

function runOp(ipvs: IpvsPort, op: Op): Promise<void> {
  switch (op.op) {
    case "addService":
      return ipvs.addService(op.service);
    case "editService":
      return ipvs.editService(op.service);
    case "delService":
      return ipvs.delService(op.service);
    case "addDest":
      return ipvs.addDest(op.service, op.dest);
    case "editDest":
      return ipvs.editDest(op.service, op.dest);
    case "delDest":
      return ipvs.delDest(op.service, op.dest);
  }
}

/**
 * The table after one applied operation: what the kernel holds now, without a dump.
 *
 * Called once per applied operation, so it must not cost a key string per service: a
 * first apply of 1,000 services × 10 destinations is 11,000 calls, which took 1.8 s on
 * a fast host (and most of a minute in the UML guest) when every call built every
 * service's key.
 *
 * @example
 * ```ts
 * foldOp([], { op: "addService", service }); // [{ service, dests: [] }]
 * ```
 */
export function foldOp(table: IpvsTable, op: Op): IpvsTable {
  if (op.op === "addService") return [...table, { service: op.service, dests: [] }];
  const i = table.findIndex((e) => sameService(e.service, op.service));
  if (i < 0) return table;
  if (op.op === "delService") return table.filter((_, j) => j !== i);
  const e = table[i];
  let next: IpvsEntry;
  if (op.op === "editService") next = { service: op.service, dests: e.dests };
  else {
    const dk = destKey(op.dest);
    const rest = e.dests.filter((d) => destKey(d) !== dk);
    if (op.op === "delDest") next = { service: e.service, dests: rest };
    else {
      const old = e.dests.find((d) => destKey(d) === dk);
      // An edit keeps the counters the last dump showed until the next one.
      const dest = op.op === "editDest" && old !== undefined ? { ...old, ...op.dest } : op.dest;
      next = { service: e.service, dests: [...rest, dest] };
    }
  }
  return table.map((x, j) => (j === i ? next : x));
}

/** `serviceKey(a) === serviceKey(b)`, without building the two strings. */
function sameService(a: IpvsService, b: IpvsService): boolean {
  if (a.af !== b.af || a.fwmark !== b.fwmark) return false;
  return a.fwmark !== 0 ||
    (a.protocol === b.protocol && a.port === b.port && a.address === b.address);
}

function opKey(op: Op): string {
  const s = serviceKey(op.service);
  return "dest" in op ? `${s} ${destKey(op.dest)}` : s;
}

function describeOp(op: Op): string {
  const s = op.service.fwmark !== 0
    ? `fwmark ${op.service.fwmark}`
    : hostPort(op.service.address, op.service.port);
  if (!("dest" in op)) return `${op.op} ${s} (${op.service.scheduler})`;
  return `${op.op} ${s} -> ${hostPort(op.dest.address, op.dest.port)} weight ${op.dest.weight}`;
}

function text(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Applying a reload (SIGHUP, `hacore reload`) to the running node, in one loop turn,
 * once the daemon has read and validated the new file. The pure diff (`lib/config/diff.ts`)
 * says what changed; this module carries it out:
 *
 * 1. everything that can fail is tried first ({@link prepareReload}): a new or
 *    replaced instance must have an address to send adverts from, a changed one too,
 *    the virtual MACs must not clash, and the transports the new instances need must
 *    open. A refusal leaves the running node exactly as it was;
 * 2. removed (and replaced) instances release like a shutdown: priority 0, VIPs kept
 *    through the release hold, then removed; their override goes with them;
 * 3. changed ones are reconfigured in place: VIPs reconciled address by address, no
 *    state change, no missed advert; a Master announces the addresses it gained;
 * 4. the new config is installed, the trackers reconfigured (before the added
 *    instances start, so they start in Fault or with their tracked priority, as at
 *    startup), the transports of a changed multicast group reopened;
 * 5. added ones start (in maintenance when it is on, in Fault when their link is
 *    down), unused transports close, and a reconcile is wanted.
 *
 * Untouched instances do not notice. Separate from the daemon so that this order,
 * which matters, reads top to bottom in one function.
 *
 * @example
 * ```ts
 * const outcome = applyReload(ctx, next, new Set(["eth1"]));
 * if (!outcome.ok) console.error(outcome.errors.join("\n"));
 * ```
 *
 * @module
 */

import { summarizeInstance, toRouterConfig } from "../config/router.ts";
import type { Config, InstanceConfig } from "../config/schema.ts";
import type { ReloadOutcome } from "../control/api.ts";
import type { Logger } from "../log.ts";
import type { NodeEvent } from "../vrrp/node.ts";
import { IDLE_ANNOUNCE, instanceAnnounceConfig, startAnnounce } from "./announce.ts";
import { errorText } from "./common.ts";
import {
  type Instance,
  linkFaultTracker,
  makeInstance,
  noSourceProblem,
  peersOf,
  sourceOrWait,
  targetsOf,
} from "./instance.ts";
import type { InstanceTable } from "./instance_table.ts";
import type { Clock, PrimaryAddresses, VrrpTransport } from "./ports.ts";
import { type ConfigDiff, diffConfigs, diffLines } from "../config/diff.ts";
import type { StateNotifier } from "./state_notifier.ts";
import type { TrackerGlue } from "./tracking.ts";
import { isNoDevice, type Transports } from "./transports.ts";
import type { VipReconciler } from "./vip_reconciler.ts";
import { vmacProblems } from "./vmac_keeper.ts";

/**
 * What {@link prepareReload} checks.
 *
 * @example
 * ```ts
 * const input: ReloadInput = { diff, next, primaries, vmacProblems: () => [], isOpen, open };
 * ```
 */
export interface ReloadInput {
  /** The diff from the running config to `next`. */
  readonly diff: ConfigDiff;
  readonly next: Config;
  readonly primaries: PrimaryAddresses;
  /** Why the instances' virtual MACs cannot work (see `vmacProblems`). */
  readonly vmacProblems: (cfgs: readonly InstanceConfig[]) => string[];
  /** Whether the transport of a key is open already. */
  readonly isOpen: (key: string) => boolean;
  /** Opens the transport an instance needs (throws when it cannot). */
  readonly open: (inst: Instance) => VrrpTransport;
}

/**
 * Everything a reload needs that could fail, made; or every problem. On a refusal the
 * transports opened on the way are closed again.
 *
 * @example
 * ```ts
 * const r: ReloadPrepared = { ok: false, problems: ["VI_3: no ipv4 address on eth2 ..."] };
 * ```
 */
export type ReloadPrepared =
  | {
    readonly ok: true;
    /** The runtime records of the added and replaced instances, by name. */
    readonly fresh: ReadonlyMap<string, Instance>;
    /** The advert source of each changed instance, by name. */
    readonly sources: ReadonlyMap<string, string>;
    /** The transports opened for the fresh instances, by key. */
    readonly opened: ReadonlyMap<string, VrrpTransport>;
  }
  | { readonly ok: false; readonly problems: string[] };

/**
 * Tries everything that can fail in a reload, in order: the virtual MACs, the new and
 * replaced instances, the changed instances' sources, then (only when all that is
 * fine) the transports the new instances need, stopping at the first that fails.
 *
 * @example
 * ```ts
 * prepareReload({ diff, next, primaries, vmacProblems, isOpen, open }).ok;
 * ```
 */
export function prepareReload(input: ReloadInput): ReloadPrepared {
  const { diff, next } = input;
  const problems: string[] = input.vmacProblems(next.instances);
  const fresh = new Map<string, Instance>();
  for (const vi of [...diff.added, ...diff.replaced.map((r) => r.next)]) {
    const inst = makeInstance(vi, next, input.primaries);
    if (typeof inst === "string") problems.push(inst);
    else fresh.set(vi.name, inst);
  }
  const sources = new Map<string, string>();
  for (const c of diff.changed) {
    const src = sourceOrWait(c.next, next, input.primaries);
    if (src === null) problems.push(noSourceProblem(c.name, c.next));
    else sources.set(c.name, src);
  }
  const opened = new Map<string, VrrpTransport>();
  if (problems.length === 0) {
    for (const inst of fresh.values()) {
      if (input.isOpen(inst.key) || opened.has(inst.key)) continue;
      try {
        opened.set(inst.key, input.open(inst));
      } catch (e) {
        // dynamic_interfaces: an interface that is not there yet is waited for (FAULT).
        if (next.global.dynamicInterfaces && isNoDevice(e)) continue;
        problems.push(
          `${inst.cfg.name}: cannot open the VRRP socket on ${inst.cfg.interface}: ${errorText(e)}`,
        );
        break;
      }
    }
  }
  if (problems.length > 0) {
    for (const t of opened.values()) t.close();
    return { ok: false, problems };
  }
  return { ok: true, fresh, sources, opened };
}

/**
 * The parts of the running node a reload changes.
 *
 * @example
 * ```ts
 * const ctx: ReloadContext = { table, transports, vips, notifier, trackers, primaries,
 *   hasVmacPort: true, log, clock, feed, applyPriority, waitingFaults: () => [] };
 * ```
 */
export interface ReloadContext {
  readonly table: InstanceTable;
  readonly transports: Transports;
  readonly vips: VipReconciler;
  readonly notifier: StateNotifier;
  readonly trackers: TrackerGlue;
  readonly primaries: PrimaryAddresses;
  /** The daemon manages links: instances may use virtual MACs. */
  readonly hasVmacPort: boolean;
  readonly log: Logger;
  readonly clock: Clock;
  /** Steps the engine and carries out its actions. */
  readonly feed: (event: NodeEvent) => void;
  /** Feeds the engine the priority an instance should have now. */
  readonly applyPriority: (name: string) => void;
  /**
   * The fault trackers an added instance starts with because it waits for its
   * interface or an address there (`dynamic_interfaces`); empty otherwise.
   */
  readonly waitingFaults: (inst: Instance) => string[];
}

/**
 * Applies a validated config to the running node (see the module notes); `down` is
 * the links that were down when the reload started. Refused (nothing changed) with
 * every problem, or applied with the changes, one line each.
 *
 * @example
 * ```ts
 * applyReload(ctx, next, new Set()); // { ok: true, errors: [], changes: ["VI_2: added"] }
 * ```
 */
export function applyReload(
  ctx: ReloadContext,
  next: Config,
  down: ReadonlySet<string>,
): ReloadOutcome {
  const { table, transports, vips, log, feed } = ctx;
  const diff = diffConfigs(table.config, next);
  const lines = diffLines(diff);
  const prepared = prepareReload({
    diff,
    next,
    primaries: ctx.primaries,
    vmacProblems: (cfgs) => vmacProblems(cfgs, ctx.hasVmacPort),
    isOpen: (key) => transports.has(key),
    open: (inst) => transports.open(inst),
  });
  if (!prepared.ok) {
    for (const p of prepared.problems) log.error(`reload: ${p}`);
    log.error(`reload: ${next.file} cannot be applied here; nothing changed`);
    return { ok: false, errors: prepared.problems, changes: [] };
  }
  const { fresh, sources, opened } = prepared;

  for (const line of lines) log.notice(`reload: ${line}`);
  log.notice(
    lines.length === 0
      ? `reload: ${next.file}: no changes`
      : `reload: ${next.file}: ${lines.length} change${lines.length === 1 ? "" : "s"} applied`,
  );
  for (const [key, t] of opened) transports.adopt(key, t);
  const now = ctx.clock.nowMs();

  for (const vi of [...diff.removed, ...diff.replaced.map((r) => r.old)]) {
    const inst = table.instance(vi.name);
    if (inst) retire(ctx, inst);
  }

  for (const c of diff.changed) {
    const inst = table.instance(c.name);
    if (inst === undefined) continue;
    inst.cfg = c.next;
    inst.rc = toRouterConfig(c.next, sources.get(c.name)!);
    inst.peers = peersOf(c.next);
    inst.targets = targetsOf(c.next);
    feed({ type: "router", name: c.name, event: { type: "reconfigure", config: inst.rc } });
    if (c.priority !== null) ctx.applyPriority(c.name);
    for (const v of [...c.vips.removed, ...c.excluded.removed]) {
      vips.noteReloadRemoved(v.address, c.name);
    }
    const gained = c.vips.added.length + c.excluded.added.length + c.vips.changed.length +
      c.excluded.changed.length;
    if (gained > 0 && table.routerOf(inst).state === "master") {
      // Switches and hosts must learn the new addresses as they would on a takeover.
      inst.announce = startAnnounce(
        instanceAnnounceConfig(table.announceCfg, inst.cfg.garp),
        inst.targets,
        now,
      );
    } else if (inst.announce !== IDLE_ANNOUNCE) {
      inst.announce = { ...inst.announce, targets: inst.targets };
    }
  }

  const old = table.install(next, fresh, now);
  ctx.notifier.setGroups(next.syncGroups.map((g) => g.name));
  // Before the added instances start, so they start in Fault (or with their tracked
  // priority) as they would at startup; the kept ones get only what changed.
  ctx.trackers.reconfigure(next);

  for (const family of ["ipv4", "ipv6"] as const) {
    const field = family === "ipv4" ? "mcastGroup4" : "mcastGroup6";
    if (old.global[field] === next.global[field]) continue;
    const members = table.live.filter((i) => i.cfg.family === family);
    for (const inst of members) inst.group = next.global[field];
    for (const key of new Set(members.map((i) => i.key))) {
      if (!opened.has(key)) transports.reopen(key, table.all().find((i) => i.key === key));
    }
  }

  for (const inst of table.live) {
    if (!fresh.has(inst.cfg.name)) continue;
    const name = inst.cfg.name;
    if (table.maintenance) {
      feed({ type: "router", name, event: { type: "maintenance", on: true } });
    }
    if (down.has(inst.cfg.interface)) {
      log.warn(`${inst.cfg.interface}: link is down`);
      feed({
        type: "router",
        name,
        event: { type: "fault", tracker: linkFaultTracker(inst.cfg.interface), failing: true },
      });
    }
    for (const tracker of ctx.waitingFaults(inst)) {
      feed({ type: "router", name, event: { type: "fault", tracker, failing: true } });
    }
    log.info(summarizeInstance(inst.cfg));
    feed({ type: "router", name, event: { type: "startup" } });
  }
  transports.closeUnused(new Set(table.all().map((i) => i.key)));
  vips.request("reload");
  return { ok: true, errors: [], changes: lines };
}

/**
 * Stops an instance a reload removed: the same priority-0 release as a shutdown,
 * then its router leaves the node and finishes its release hold on the side.
 */
function retire(ctx: ReloadContext, inst: Instance) {
  const name = inst.cfg.name;
  if (ctx.table.overrides.delete(name)) ctx.log.info(`${name}: override dropped with the instance`);
  ctx.feed({ type: "router", name, event: { type: "shutdown" } });
  ctx.table.retire(inst);
}

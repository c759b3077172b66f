/**
 * Whole-document validation: the sections in dependency order (trackers before the
 * instances that reference them, instances before the sync groups that group them),
 * then the checks that span instances.
 *
 * @module
 */

import { formatPath } from "./scan.ts";
import {
  bool,
  type Ctx,
  familyName,
  ifname,
  isTable,
  type RawTable,
  TableReader,
  text,
} from "./fields.ts";
import { readScript } from "./checks.ts";
import { type InstanceDraft, readInstance } from "./instance.ts";
import { readLvs, readLvsOptions } from "./lvs.ts";
import { readLines, routeLine, ruleLine } from "./routes.ts";
import type { Config, InstanceConfig, ScriptConfig, SyncGroupConfig, Vip } from "./schema.ts";
import { readLvsSyncDaemon, readRealServerRole } from "./lvs_roles.ts";
import { readVip } from "./vip.ts";
import {
  namedTables,
  NOTIFY_KEYS,
  readGlobal,
  readNotify,
  readTrackFile,
  readTrackProcess,
  readTrackRefs,
  unknownReference,
} from "./sections.ts";

const TOP_KEYS = [
  "global",
  "vrrp_script",
  "vrrp_track_file",
  "vrrp_track_process",
  "vrrp_instance",
  "vrrp_sync_group",
  "virtual_server",
  "virtual_server_group",
  "real_server_role",
  "lvs",
  "static_ipaddress",
  "static_routes",
  "static_rules",
] as const;

/**
 * Validates a parsed TOML document. Every problem is recorded in `ctx`; the returned
 * `Config` (not yet frozen) is only meaningful when `ctx.errors` is empty.
 *
 * @example
 * ```ts
 * import { Ctx } from "./fields.ts";
 * const ctx = new Ctx("a.toml", new Map());
 * const config = validateDocument(ctx, { global: { vrrp_version: 3n } });
 * config.global.vrrpVersion; // 3
 * ```
 */
export function validateDocument(ctx: Ctx, doc: RawTable): Config {
  new TableReader(ctx, doc, [], TOP_KEYS);
  const global = readGlobal(ctx, doc.global);
  const scripts = namedTables(ctx, doc.vrrp_script, "vrrp_script").map(([n, t]) =>
    withScriptUser(readScript(ctx, n, t), global.scriptUser)
  );
  const trackFiles = namedTables(ctx, doc.vrrp_track_file, "vrrp_track_file").map(([n, t]) =>
    readTrackFile(ctx, n, t)
  );
  const trackProcesses = namedTables(ctx, doc.vrrp_track_process, "vrrp_track_process").map((
    [n, t],
  ) => readTrackProcess(ctx, n, t));

  const env = {
    global,
    scripts: new Set(scripts.map((s) => s.name)),
    trackFiles: new Set(trackFiles.map((s) => s.name)),
    trackProcesses: new Set(trackProcesses.map((s) => s.name)),
  };
  const drafts = namedTables(ctx, doc.vrrp_instance, "vrrp_instance").map(([n, t]) =>
    readInstance(ctx, n, t, env)
  );
  checkUniqueVrids(ctx, drafts);
  checkDualStackNames(ctx, drafts);

  const declared = readSyncGroups(
    ctx,
    doc.vrrp_sync_group,
    drafts.map((d) => d.config.name),
    env,
  );
  const { instances: split, groups: syncGroups } = splitDualStack(
    drafts.map((d) => d.config),
    declared,
  );
  const groupOf = new Map<string, string>();
  for (const g of syncGroups) for (const m of g.instances) groupOf.set(m, g.name);
  const instances: InstanceConfig[] = split.map((c) => ({
    ...c,
    syncGroup: groupOf.get(c.name) ?? null,
  }));

  const lvs = readLvs(ctx, doc.virtual_server, doc.virtual_server_group);
  const rawGlobal = isTable(doc.global) ? doc.global : {};
  const names = new Set(drafts.map((d) => d.config.name));
  const lvsSyncDaemon = readLvsSyncDaemon(ctx, rawGlobal.lvs_sync_daemon, names);
  const realServerRole = readRealServerRole(ctx, doc.real_server_role);
  const lvsOptions = readLvsOptions(ctx, doc.lvs);

  return {
    file: ctx.file,
    global,
    instances,
    syncGroups,
    scripts,
    trackFiles,
    trackProcesses,
    ...lvs,
    lvsSyncDaemon,
    realServerRole,
    lvs: lvsOptions,
    staticAddresses: readStaticAddresses(ctx, doc.static_ipaddress),
    staticRoutes: readLines(ctx, doc.static_routes, ["static_routes"], routeLine),
    staticRules: readLines(ctx, doc.static_rules, ["static_rules"], ruleLine),
  };
}

/**
 * `static_ipaddress`: VIP strings or tables that name their interface (no instance
 * gives them one).
 */
function readStaticAddresses(ctx: Ctx, raw: unknown): Vip[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    ctx.error(["static_ipaddress"], `expected an array of "ADDR/PREFIX dev IF" strings`);
    return [];
  }
  const out: Vip[] = [];
  raw.forEach((v, i) => {
    const path = ["static_ipaddress", i];
    const d = readVip(ctx, v, path, "");
    if (d === undefined) return;
    if (d.vip.dev === "") {
      ctx.error(path, `expected "dev INTERFACE" on a static address (no instance names one)`);
      return;
    }
    out.push(d.vip);
  });
  return out;
}

/**
 * Two instances with one VRID on one interface and family would answer each other's
 * adverts as if they were one virtual router.
 */
function checkUniqueVrids(ctx: Ctx, drafts: InstanceDraft[]): void {
  const seen = new Map<string, InstanceDraft>();
  for (const d of drafts) {
    if (!d.identityOk) continue;
    const c = d.config;
    const families = d.dual ? ["ipv4", "ipv6"] as const : [c.family];
    const taken = families.map((f) => seen.get(`${c.interface}\0${c.vrid}\0${f}`));
    const first = taken.find((t) => t !== undefined);
    if (first === undefined) {
      for (const f of families) seen.set(`${c.interface}\0${c.vrid}\0${f}`, d);
      continue;
    }
    const line = ctx.lineOf([...first.path, "virtual_router_id"]);
    ctx.error(
      [...d.path, "virtual_router_id"],
      `expected a VRID unique per interface and family: ${formatPath(first.path)}${
        line === null ? "" : ` (line ${line})`
      } already uses ${c.vrid} on ${c.interface} for ${familyName(c.family)}, got ${c.vrid}`,
    );
  }
}

/**
 * The IPv6 half of a dual-stack instance is named `NAME@v6`: an instance written under
 * that name would be a second instance of the same name (status, verbs and sync groups
 * could not tell them apart).
 */
function checkDualStackNames(ctx: Ctx, drafts: InstanceDraft[]): void {
  const byName = new Map(drafts.map((d) => [d.config.name, d]));
  for (const d of drafts) {
    if (!d.dual) continue;
    const clash = byName.get(`${d.config.name}${DUAL_STACK_V6_SUFFIX}`);
    if (clash === undefined) continue;
    ctx.error(
      clash.path,
      `expected another name: vrrp_instance.${d.config.name} has IPv4 and IPv6 VIPs, and its IPv6 half runs as "${clash.config.name}"`,
    );
  }
}

const GROUP_TRACK_KEYS = ["track_script", "track_interface", "track_file", "track_process"];

function readSyncGroups(
  ctx: Ctx,
  raw: unknown,
  instanceNames: string[],
  env: TrackerNames,
): SyncGroupConfig[] {
  const known = new Set(instanceNames);
  const memberOf = new Map<string, string>();
  const groups: SyncGroupConfig[] = [];
  for (const [name, table] of namedTables(ctx, raw, "vrrp_sync_group")) {
    const r = new TableReader(ctx, table, ["vrrp_sync_group", name], [
      "group",
      ...NOTIFY_KEYS,
      ...GROUP_TRACK_KEYS,
      "sync_group_tracking_weight",
    ]);
    const what = `an array of 1 or more vrrp_instance names, e.g. ["VI_1", "VI_2"]`;
    const seen = new Set<string>();
    const members = r.list("group", (v, path) => {
      const member = text("an instance name")(v);
      if (!member.ok) {
        ctx.error(path, member.message);
        return undefined;
      }
      const m = member.value;
      if (seen.has(m)) {
        ctx.error(path, `expected each instance once, got "${m}" again`);
        return undefined;
      }
      seen.add(m);
      if (!known.has(m)) {
        ctx.error(path, unknownReference("vrrp_instance", m, known));
        return undefined;
      }
      const other = memberOf.get(m);
      if (other !== undefined) {
        ctx.error(
          path,
          `expected an instance in at most one sync group, got "${m}", already in vrrp_sync_group.${other}`,
        );
        return undefined;
      }
      memberOf.set(m, name);
      return m;
    }, what);
    if (!r.has("group")) r.fail("group", `missing required key "group": expected ${what}`);
    else if (Array.isArray(table.group) && table.group.length === 0) {
      r.fail("group", `expected ${what}, got an empty array`);
    }
    const refs = (key: string, section: string | null, known: ReadonlySet<string> | null) => {
      const list = readTrackRefs(r, key, section, known, section === null ? ifname : undefined);
      list.forEach((ref, i) => {
        if (ref.weight !== null && ref.weight !== 0) {
          ctx.error(
            [...r.path, key, i, "weight"],
            `expected no weight (or 0) on a sync group's tracker: a failing one puts every member in FAULT, got ${ref.weight}`,
          );
        }
      });
      return list.map((ref) => ({ name: ref.name, weight: 0 }));
    };
    groups.push({
      name,
      instances: members ?? [],
      notify: readNotify(r),
      trackScripts: refs("track_script", "vrrp_script", env.scripts),
      trackInterfaces: refs("track_interface", null, null),
      trackFiles: refs("track_file", "vrrp_track_file", env.trackFiles),
      trackProcesses: refs("track_process", "vrrp_track_process", env.trackProcesses),
      trackingWeight: r.opt("sync_group_tracking_weight", bool) ?? false,
      implicit: false,
    });
  }
  return groups;
}

/** Names of the trackers instances and groups may refer to. */
interface TrackerNames {
  readonly scripts: ReadonlySet<string>;
  readonly trackFiles: ReadonlySet<string>;
  readonly trackProcesses: ReadonlySet<string>;
}

/** Suffix of the IPv6 half of a dual-stack instance. */
export const DUAL_STACK_V6_SUFFIX = "@v6";

/**
 * An instance with VIPs of both families runs as two protocol instances (VRRPv3 carries
 * one family per advert): the IPv4 half keeps the name, the IPv6 half is `NAME@v6`, and
 * both sit in one sync group (the declared one, or an implicit group named like the
 * instance) so they move together.
 */
function splitDualStack(
  configs: readonly InstanceConfig[],
  groups: readonly SyncGroupConfig[],
): { instances: InstanceConfig[]; groups: SyncGroupConfig[] } {
  const instances: InstanceConfig[] = [];
  const extraMembers = new Map<string, string[]>();
  const implicit: SyncGroupConfig[] = [];
  for (const c of configs) {
    const v6 = c.vips.filter((v) => v.address.includes(":"));
    const v4 = c.vips.filter((v) => !v.address.includes(":"));
    if (v4.length === 0 || v6.length === 0) {
      instances.push(c);
      continue;
    }
    const v6Name = `${c.name}${DUAL_STACK_V6_SUFFIX}`;
    instances.push({
      ...c,
      family: "ipv4",
      vips: v4,
      srcIp: c.srcIp !== null && c.srcIp.includes(":") ? null : c.srcIp,
      unicastPeers: c.unicastPeers.filter((p) => !p.includes(":")),
      allowedPeers: c.allowedPeers.filter((p) => !p.includes(":")),
      dualStackOf: c.name,
    });
    // One macvlan per family: the IPv6 virtual MAC differs (00:00:5e:00:02:VRID).
    const vmac6 = c.vmac === null
      ? null
      : c.vmac === `vrrp.${c.vrid}`
      ? `vrrp6.${c.vrid}`
      : `${c.vmac.slice(0, 14)}6`;
    instances.push({
      ...c,
      name: v6Name,
      family: "ipv6",
      vmac: vmac6,
      vips: v6.map((v) =>
        vmac6 !== null && v.dev === c.vmac ? { ...v, dev: vmac6, label: null } : v
      ),
      excludedVips: [],
      // Like the excluded addresses, routes and rules stay with the IPv4 half.
      virtualRoutes: [],
      virtualRules: [],
      srcIp: c.srcIp !== null && c.srcIp.includes(":") ? c.srcIp : null,
      unicastPeers: c.unicastPeers.filter((p) => p.includes(":")),
      allowedPeers: c.allowedPeers.filter((p) => p.includes(":")),
      dualStackOf: c.name,
    });
    const group = groups.find((g) => g.instances.includes(c.name));
    if (group !== undefined) {
      extraMembers.set(group.name, [...(extraMembers.get(group.name) ?? []), v6Name]);
    } else {
      implicit.push({
        name: c.name,
        instances: [c.name, v6Name],
        notify: { master: null, backup: null, fault: null, stop: null, generic: null },
        trackScripts: [],
        trackInterfaces: [],
        trackFiles: [],
        trackProcesses: [],
        // Both halves share every tracker, so a weight moves them together.
        trackingWeight: true,
        implicit: true,
      });
    }
  }
  const out = groups.map((g) => {
    const more = extraMembers.get(g.name);
    return more === undefined ? g : { ...g, instances: [...g.instances, ...more] };
  });
  return { instances, groups: [...out, ...implicit] };
}

/** keepalived's `script_user`: the user of script checks that name none of their own. */
function withScriptUser(script: ScriptConfig, user: string | null): ScriptConfig {
  const c = script.check;
  if (user === null || c.kind !== "script" || c.user !== null) return script;
  return { ...script, check: { ...c, user } };
}

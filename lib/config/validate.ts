/**
 * Whole-document validation: the sections in dependency order (trackers before the
 * instances that reference them, instances before the sync groups that group them),
 * then the checks that span instances.
 *
 * @module
 */

import { formatPath } from "./scan.ts";
import { type Ctx, familyName, type RawTable, TableReader, text } from "./fields.ts";
import { type InstanceDraft, readInstance } from "./instance.ts";
import type { Config, InstanceConfig, SyncGroupConfig } from "./schema.ts";
import {
  namedTables,
  NOTIFY_KEYS,
  readGlobal,
  readNotify,
  readScript,
  readTrackFile,
  readTrackProcess,
  unknownReference,
} from "./sections.ts";

const TOP_KEYS = [
  "global",
  "vrrp_script",
  "vrrp_track_file",
  "vrrp_track_process",
  "vrrp_instance",
  "vrrp_sync_group",
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
    readScript(ctx, n, t)
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

  const syncGroups = readSyncGroups(ctx, doc.vrrp_sync_group, drafts.map((d) => d.config.name));
  const groupOf = new Map<string, string>();
  for (const g of syncGroups) for (const m of g.instances) groupOf.set(m, g.name);
  const instances: InstanceConfig[] = drafts.map((d) => ({
    ...d.config,
    syncGroup: groupOf.get(d.config.name) ?? null,
  }));

  return { file: ctx.file, global, instances, syncGroups, scripts, trackFiles, trackProcesses };
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
    const key = `${c.interface}\0${c.vrid}\0${c.family}`;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, d);
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

function readSyncGroups(ctx: Ctx, raw: unknown, instanceNames: string[]): SyncGroupConfig[] {
  const known = new Set(instanceNames);
  const memberOf = new Map<string, string>();
  const groups: SyncGroupConfig[] = [];
  for (const [name, table] of namedTables(ctx, raw, "vrrp_sync_group")) {
    const r = new TableReader(ctx, table, ["vrrp_sync_group", name], ["group", ...NOTIFY_KEYS]);
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
    groups.push({ name, instances: members ?? [], notify: readNotify(r) });
  }
  return groups;
}

/**
 * Readers for the small tables: `[global]`, `[vrrp_script.*]`, `[vrrp_track_file.*]`,
 * `[vrrp_track_process.*]`, and the pieces instances and sync groups share (notify
 * commands, tracker references, names).
 *
 * @module
 */

import { formatIp, parseIp } from "../net/addr.ts";
import { describeValue, didYouMean, quoteList } from "./errors.ts";
import {
  bool,
  check,
  type Ctx,
  expected,
  int,
  isTable,
  multicastGroup,
  num,
  ok,
  oneOf,
  type Parser,
  type RawTable,
  TableReader,
  text,
} from "./fields.ts";
import type { KeyPath } from "./scan.ts";
import {
  GLOBAL_DEFAULTS,
  type GlobalConfig,
  type MailConfig,
  type NotifyConfig,
  type TrackFileConfig,
  type TrackProcessConfig,
  type TrackRef,
} from "./schema.ts";

/** Seconds (as written) to whole milliseconds, the engine's unit. */
export function secondsToMs(s: number): number {
  return Math.round(s * 1000);
}

/**
 * Names of instances, scripts and groups end up in logs, notify-script arguments and
 * control-socket commands, so they stay shell- and log-friendly.
 */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:@+-]{0,63}$/;

/**
 * Reports a name that would be awkward downstream; true when it is fine.
 *
 * @example
 * ```ts
 * import { Ctx } from "./fields.ts";
 * const ctx = new Ctx("a.toml", new Map());
 * checkName(ctx, ["vrrp_instance", "VI 1"], "VI 1"); // false, error recorded
 * ```
 */
export function checkName(ctx: Ctx, path: KeyPath, name: string): boolean {
  if (NAME.test(name)) return true;
  ctx.error(
    path,
    `expected a name of 1..64 letters, digits and _ . : @ + - (not starting with a symbol), got ${
      JSON.stringify(name)
    }`,
  );
  return false;
}

/**
 * The named tables of one section (`[vrrp_script.NAME]` ...), in file order, each checked
 * to be a table with a usable name.
 *
 * @example
 * ```ts
 * import { Ctx } from "./fields.ts";
 * const ctx = new Ctx("a.toml", new Map());
 * namedTables(ctx, { chk: { script: "/bin/true" } }, "vrrp_script"); // [["chk", {...}]]
 * ```
 */
export function namedTables(ctx: Ctx, raw: unknown, section: string): [string, RawTable][] {
  if (raw === undefined) return [];
  if (!isTable(raw)) {
    ctx.error([section], `expected named tables like [${section}.NAME], got ${describeValue(raw)}`);
    return [];
  }
  const out: [string, RawTable][] = [];
  for (const [name, value] of Object.entries(raw)) {
    const path = [section, name];
    if (!isTable(value)) {
      ctx.error(
        path,
        `expected a [${section}.NAME] table, got ${
          describeValue(value)
        } (keys of a ${section} go inside its named table)`,
      );
      continue;
    }
    if (checkName(ctx, path, name)) out.push([name, value]);
  }
  return out;
}

const GLOBAL_KEYS = [
  "router_id",
  "vrrp_version",
  "vrrp_mcast_group4",
  "vrrp_mcast_group6",
  "vrrp_garp_master_delay",
  "vrrp_garp_master_repeat",
  "vrrp_garp_master_refresh",
  "vrrp_garp_master_refresh_repeat",
  "vrrp_garp_lower_prio_delay",
  "vrrp_garp_lower_prio_repeat",
  "vrrp_garp_interval",
  "vrrp_gna_interval",
  "checksum",
  "vrrp_strict",
  "control_socket",
  "metrics_listen",
  "notify_fifo",
  "notify_fifo_format",
  "notify_timeout",
  "allow_insecure_scripts",
  "enable_script_security",
  "script_user",
  "pid_file",
  "notification_email",
  "notification_email_from",
  "smtp_server",
  "smtp_helo_name",
  "smtp_connect_timeout",
  "smtp_alert",
  "dynamic_interfaces",
  "allow_if_changes",
  // A table of its own, read by lvs_roles.ts.
  "lvs_sync_daemon",
] as const;

/**
 * `IP`, `IP:PORT`, `[V6]:PORT` or a bare IPv6 address; the port defaults to 25 as in
 * keepalived. Names are refused: a mail alert must not wait on DNS, and a relay is
 * configured once.
 */
export const smtpServer: Parser<{ host: string; port: number }> = (v) => {
  const what =
    `an IP address with an optional port, e.g. "192.0.2.25", "192.0.2.25:2525" or "[2001:db8::25]:25"`;
  if (typeof v !== "string") return expected(what, v);
  const bare = parseIp(v);
  if (bare) return ok({ host: formatIp(bare.bytes), port: 25 });
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(v);
  if (!m) return expected(what, v);
  const parsed = parseIp(m[1] ?? m[2]);
  const port = Number(m[3]);
  if (!parsed || (m[1] !== undefined) !== (parsed.family === "ipv6") || port < 1 || port > 65535) {
    return expected(what, v);
  }
  return ok({ host: formatIp(parsed.bytes), port });
};

/** A mail address as an SMTP envelope carries it: no spaces, no angle brackets, one @. */
const mailAddress: Parser<string> = (v) =>
  typeof v === "string" && /^[^\s<>@]+@[^\s<>@]+$/.test(v) && !/[\r\n]/.test(v)
    ? ok(v)
    : expected(`a mail address, e.g. "ops@example.com"`, v);

/** A user name as the passwd database spells it. */
const userName: Parser<string> = (v) =>
  typeof v === "string" && /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/.test(v)
    ? ok(v)
    : expected(`a user name, e.g. "keepalived_script"`, v);

/** An SMTP HELO name: a host name (letters, digits, dots, dashes). */
const heloName: Parser<string> = (v) =>
  typeof v === "string" && /^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/.test(v)
    ? ok(v)
    : expected(`a host name, e.g. "lb1.example.com"`, v);

/**
 * `HOST:PORT` with an IPv4 address or a bracketed IPv6 one, e.g. `127.0.0.1:9650` or
 * `[::1]:9650`. Names are refused: a listener must not depend on DNS at boot.
 */
const listenAddress: Parser<string> = (v) => {
  const what = 'HOST:PORT with an IP address, e.g. "127.0.0.1:9650" or "[::1]:9650"';
  if (typeof v !== "string") return expected(what, v);
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(v);
  if (!m) return expected(what, v);
  const host = m[1] ?? m[2];
  const fam = m[1] !== undefined ? "ipv6" : "ipv4";
  const parsed = parseIp(host);
  const port = Number(m[3]);
  if (!parsed || parsed.family !== fam || port < 1 || port > 65535) return expected(what, v);
  return ok(v);
};

const version: Parser<2 | 3> = (v) =>
  v === 2n || v === 3n ? ok(Number(v) as 2 | 3) : expected("2 or 3", v);

/**
 * Reads `[global]`, defaulting every key.
 *
 * @example
 * ```ts
 * import { Ctx } from "./fields.ts";
 * const ctx = new Ctx("a.toml", new Map());
 * readGlobal(ctx, undefined).vrrpVersion; // 2
 * ```
 */
export function readGlobal(ctx: Ctx, raw: unknown): GlobalConfig {
  if (raw === undefined) return GLOBAL_DEFAULTS;
  if (!isTable(raw)) {
    ctx.error(["global"], `expected a [global] table, got ${describeValue(raw)}`);
    return GLOBAL_DEFAULTS;
  }
  const r = new TableReader(ctx, raw, ["global"], GLOBAL_KEYS);
  const d = GLOBAL_DEFAULTS;
  const ms = (key: string, parser: Parser<number>, def: number) => {
    const s = r.opt(key, parser);
    return s === undefined ? def : secondsToMs(s);
  };
  return {
    routerId: r.opt("router_id", text("a router id")) ?? d.routerId,
    vrrpVersion: r.opt("vrrp_version", version) ?? d.vrrpVersion,
    mcastGroup4: r.opt("vrrp_mcast_group4", multicastGroup("ipv4")) ?? d.mcastGroup4,
    mcastGroup6: r.opt("vrrp_mcast_group6", multicastGroup("ipv6")) ?? d.mcastGroup6,
    garpMasterDelayMs: ms("vrrp_garp_master_delay", int(0, 3600), d.garpMasterDelayMs),
    garpMasterRepeat: r.opt("vrrp_garp_master_repeat", int(1, 255)) ?? d.garpMasterRepeat,
    garpMasterRefreshMs: ms("vrrp_garp_master_refresh", int(0, 86400), d.garpMasterRefreshMs),
    garpMasterRefreshRepeat: r.opt("vrrp_garp_master_refresh_repeat", int(1, 255)) ??
      d.garpMasterRefreshRepeat,
    garpLowerPrioDelayMs: nullableMs(r.opt("vrrp_garp_lower_prio_delay", int(0, 3600))),
    garpLowerPrioRepeat: r.opt("vrrp_garp_lower_prio_repeat", int(0, 255)) ?? null,
    garpIntervalMs: ms("vrrp_garp_interval", num(0, 10, "seconds"), d.garpIntervalMs),
    gnaIntervalMs: ms("vrrp_gna_interval", num(0, 10, "seconds"), d.gnaIntervalMs),
    checksum: r.opt("checksum", oneOf(["auto", "pseudo-header", "rfc9568"] as const)) ??
      d.checksum,
    strict: r.opt("vrrp_strict", bool) ?? d.strict,
    controlSocket: r.opt("control_socket", absolutePath) ?? d.controlSocket,
    metricsListen: r.opt("metrics_listen", listenAddress) ?? d.metricsListen,
    notifyFifo: r.opt("notify_fifo", absolutePath) ?? d.notifyFifo,
    notifyFifoFormat: r.opt("notify_fifo_format", oneOf(["json", "keepalived"] as const)) ??
      d.notifyFifoFormat,
    notifyTimeoutMs: ms("notify_timeout", num(0.1, 3600, "seconds"), d.notifyTimeoutMs),
    allowInsecureScripts: readScriptSecurity(r) ?? d.allowInsecureScripts,
    scriptUser: r.opt("script_user", userName) ?? d.scriptUser,
    pidFile: r.opt("pid_file", absolutePath) ?? d.pidFile,
    ...readDynamicInterfaces(r),
    mail: readMail(r),
  };
}

/**
 * `dynamic_interfaces` and `allow_if_changes`; the second qualifies the first (as in
 * keepalived's `dynamic_interfaces allow_if_changes`), so alone it is refused.
 */
function readDynamicInterfaces(
  r: TableReader,
): Pick<GlobalConfig, "dynamicInterfaces" | "allowIfChanges"> {
  const dynamic = r.opt("dynamic_interfaces", bool) ?? GLOBAL_DEFAULTS.dynamicInterfaces;
  const allow = r.opt("allow_if_changes", bool) ?? GLOBAL_DEFAULTS.allowIfChanges;
  if (allow && !dynamic && r.ok("dynamic_interfaces")) {
    r.fail(
      "allow_if_changes",
      "expected dynamic_interfaces = true with allow_if_changes = true (it only qualifies dynamic interfaces)",
    );
  }
  return { dynamicInterfaces: dynamic, allowIfChanges: allow && dynamic };
}

/**
 * `allow_insecure_scripts`, or keepalived's `enable_script_security` (its inverse:
 * keepalived without it runs unsafe scripts with a warning, which is hacore's
 * `allow_insecure_scripts = true`). Both at once must agree.
 */
function readScriptSecurity(r: TableReader): boolean | undefined {
  const allow = r.opt("allow_insecure_scripts", bool);
  const enable = r.opt("enable_script_security", bool);
  if (allow !== undefined && enable !== undefined && allow === enable) {
    r.fail(
      "enable_script_security",
      `expected the opposite of allow_insecure_scripts (= ${allow}): enable_script_security = ${enable} says the contrary; keep one`,
    );
    return allow;
  }
  return allow ?? (enable === undefined ? undefined : !enable);
}

/** The mail alert settings; a sender without a server or recipients is refused. */
function readMail(r: TableReader): MailConfig {
  const d = GLOBAL_DEFAULTS.mail;
  const to = r.list(
    "notification_email",
    (v, path) => check(r.ctx, path, v, mailAddress),
    `an array of mail addresses, e.g. ["ops@example.com"]`,
  ) ?? d.to;
  const server = r.opt("smtp_server", smtpServer) ?? null;
  const alert = r.opt("smtp_alert", bool) ?? null;
  if (alert === true && (server === null || to.length === 0) && r.ok("smtp_server")) {
    r.fail(
      "smtp_alert",
      `expected smtp_server and notification_email to be set with smtp_alert = true (there is nowhere to send the mail)`,
    );
  }
  const timeoutS = r.opt("smtp_connect_timeout", int(1, 3600));
  return {
    to,
    from: r.opt("notification_email_from", mailAddress) ?? d.from,
    server: server === null
      ? d.server
      : `${server.host.includes(":") ? `[${server.host}]` : server.host}:${server.port}`,
    heloName: r.opt("smtp_helo_name", heloName) ?? d.heloName,
    connectTimeoutMs: timeoutS === undefined ? d.connectTimeoutMs : secondsToMs(timeoutS),
    alert,
  };
}

function nullableMs(s: number | undefined): number | null {
  return s === undefined ? null : secondsToMs(s);
}

/** Tracker weights stay inside what a priority can move (1..254 ± 253 still lands in range). */
export const WEIGHT = int(-254, 254);

const absolutePath: Parser<string> = (v) =>
  typeof v === "string" && v.startsWith("/") && !v.includes("\0")
    ? ok(v)
    // The daemon's working directory is not the operator's: a relative path would drift.
    : expected("an absolute path (starting with /)", v);

/**
 * Reads one `[vrrp_track_file.NAME]`.
 *
 * @example
 * ```ts
 * import { Ctx } from "./fields.ts";
 * const ctx = new Ctx("a.toml", new Map());
 * readTrackFile(ctx, "maint", { file: "/etc/hacore/maint" }).weight; // 1
 * ```
 */
export function readTrackFile(ctx: Ctx, name: string, raw: RawTable): TrackFileConfig {
  const r = new TableReader(ctx, raw, ["vrrp_track_file", name], ["file", "weight"]);
  return {
    name,
    file: r.req("file", absolutePath, 'an absolute path, e.g. "/etc/hacore/maint"') ?? "",
    weight: r.opt("weight", WEIGHT) ?? 1,
  };
}

/**
 * Reads one `[vrrp_track_process.NAME]`.
 *
 * @example
 * ```ts
 * import { Ctx } from "./fields.ts";
 * const ctx = new Ctx("a.toml", new Map());
 * readTrackProcess(ctx, "nginx", { process: "nginx" }).quorum; // 1
 * ```
 */
export function readTrackProcess(ctx: Ctx, name: string, raw: RawTable): TrackProcessConfig {
  const r = new TableReader(ctx, raw, ["vrrp_track_process", name], [
    "process",
    "quorum",
    "weight",
    "full_command",
  ]);
  return {
    name,
    process: r.req("process", text("a process name"), 'a process name, e.g. "nginx"') ?? "",
    quorum: r.opt("quorum", int(1, 65535)) ?? 1,
    weight: r.opt("weight", WEIGHT) ?? 0,
    fullCommand: r.opt("full_command", bool) ?? false,
  };
}

/** Keys of the notify commands, shared by instances and sync groups. */
export const NOTIFY_KEYS = [
  "notify_master",
  "notify_backup",
  "notify_fault",
  "notify_stop",
  "notify",
  "smtp_alert",
] as const;

/**
 * Reads the notify commands of an instance or sync group.
 *
 * @example
 * ```ts
 * import { Ctx, TableReader } from "./fields.ts";
 * const r = new TableReader(new Ctx("a.toml", new Map()), { notify: "/bin/n" }, [], ["notify"]);
 * readNotify(r).generic; // "/bin/n"
 * ```
 */
export function readNotify(r: TableReader): NotifyConfig {
  const cmd = text("a command line");
  return {
    master: r.opt("notify_master", cmd) ?? null,
    backup: r.opt("notify_backup", cmd) ?? null,
    fault: r.opt("notify_fault", cmd) ?? null,
    stop: r.opt("notify_stop", cmd) ?? null,
    generic: r.opt("notify", cmd) ?? null,
    smtpAlert: r.opt("smtp_alert", bool) ?? null,
  };
}

/**
 * Reads a `track_*` list: each element a name, or `{ name, weight }`. With `known`, the
 * name must be one of those (the tracker's section), with a suggestion when it is not.
 *
 * @example
 * ```ts
 * import { Ctx, TableReader } from "./fields.ts";
 * const ctx = new Ctx("a.toml", new Map());
 * const r = new TableReader(ctx, { track_script: ["chk_nginx"] }, [], ["track_script"]);
 * readTrackRefs(r, "track_script", "vrrp_script", new Set(["chk_nginx"]));
 * // [{ name: "chk_nginx", weight: null }]
 * ```
 */
export function readTrackRefs(
  r: TableReader,
  key: string,
  section: string | null,
  known: ReadonlySet<string> | null,
  nameParser: Parser<string> = text("a name"),
): TrackRef[] {
  const seen = new Map<string, number>();
  const what = `an array of names or { name = "...", weight = N } tables`;
  const refs = r.list(key, (v, path) => {
    let name: string | undefined;
    let weight: number | null = null;
    let namePath = path;
    if (isTable(v)) {
      const t = new TableReader(r.ctx, v, path, ["name", "weight"]);
      name = t.req("name", nameParser, "the tracker's name");
      weight = t.opt("weight", WEIGHT) ?? null;
      namePath = t.at("name");
    } else if (typeof v === "string") {
      name = check(r.ctx, path, v, nameParser);
    } else {
      r.ctx.error(path, `expected a name or { name = "...", weight = N }, got ${describeValue(v)}`);
    }
    if (name === undefined) return undefined;
    const index = path[path.length - 1] as number;
    const previous = seen.get(name);
    if (previous !== undefined) {
      r.ctx.error(namePath, `"${name}" is already tracked at ${key}[${previous}]`);
      return undefined;
    }
    seen.set(name, index);
    if (section !== null && known !== null && !known.has(name)) {
      r.ctx.error(namePath, unknownReference(section, name, known));
      return undefined;
    }
    return { name, weight };
  }, what);
  return refs ?? [];
}

/**
 * The message for a reference to a named table that does not exist.
 *
 * @example
 * ```ts
 * unknownReference("vrrp_script", "chk_ngnix", new Set(["chk_nginx"]));
 * // 'no [vrrp_script.chk_ngnix] is defined; did you mean "chk_nginx"?'
 * ```
 */
export function unknownReference(
  section: string,
  name: string,
  known: ReadonlySet<string>,
): string {
  const head = `no [${section}.${name}] is defined`;
  const guess = didYouMean(name, known);
  if (guess !== null) return `${head}; did you mean "${guess}"?`;
  if (known.size === 0) return `${head} (there are no [${section}.*] tables)`;
  return `${head}; expected one of ${quoteList([...known])}`;
}

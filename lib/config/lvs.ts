/**
 * Reading the LVS half of a config: `[virtual_server_group.NAME]` and
 * `[virtual_server.NAME]` with `[virtual_server.NAME.sorry_server]`,
 * `[[virtual_server.NAME.real_server]]` and `[[virtual_server.NAME.real_server.check]]`.
 *
 * Keys keep keepalived's names (`lb_algo`, `lb_kind`, `delay_loop`, `nb_get_retry`, ...),
 * with the newer aliases (`lvs_sched`, `lvs_method`, `retry`) accepted too. A real
 * server's check needs no address: it defaults to the real server's address and port,
 * as keepalived's checkers do, so a pool of ten servers does not repeat ten addresses.
 *
 * @module
 */

import { type Family, formatIp, parseIp } from "../net/addr.ts";
import { ALL_CHECK_KEYS, CHECK_TYPES, type CheckType, readCheck } from "./checks.ts";
import { describeValue } from "./errors.ts";
import {
  bool,
  type Ctx,
  expected,
  familyName,
  int,
  type Ip,
  isTable,
  num,
  ok,
  oneOf,
  type Parsed,
  type Parser,
  type RawTable,
  TableReader,
  text,
  unicastIp,
} from "./fields.ts";
import {
  type GroupAddress,
  LVS_OPTIONS_DEFAULTS,
  LVS_SCHEDULERS,
  type LvsMethod,
  type LvsOptions,
  type LvsPersistence,
  type LvsProtocol,
  type LvsTunnel,
  type RealServerCheck,
  type RealServerConfig,
  type SorryServerConfig,
  type VirtualServerConfig,
  type VirtualServerGroupConfig,
  type VirtualServerTarget,
} from "./lvs_schema.ts";
import type { KeyPath } from "./scan.ts";
import { namedTables, secondsToMs, unknownReference } from "./sections.ts";

/** keepalived's defaults for a virtual server and the checks of its real servers. */
export const LVS_DEFAULTS = Object.freeze(
  {
    scheduler: "wlc",
    method: "NAT",
    protocol: "tcp",
    delayLoopMs: 60_000,
    connectTimeoutMs: 5_000,
    retry: 1,
    delayBeforeRetryMs: 1_000,
    /** null: warmup defaults to each check's delay_loop. */
    warmupMs: null,
    weight: 1,
    quorum: 1,
    hysteresis: 0,
    /** Used when persistence_granularity or persistence_engine comes without a timeout. */
    persistenceTimeoutS: 360,
  } as const,
);

/** Longest range a group address may expand to: a typo must not allocate 65536 services. */
const MAX_RANGE = 256;

const METHODS = ["NAT", "DR", "TUN"] as const satisfies readonly LvsMethod[];
const method: Parser<LvsMethod> = oneOf(METHODS, true);
const port: Parser<number> = int(1, 65535);

// Parsers made once, not per table: a big start reads 1,000 virtual servers, and each
// int(), num() or oneOf() made in place is a closure and its bounds (num's message text
// too), ~3 KB of garbage per virtual server with the closures below.
const PROTOCOL = oneOf(["tcp", "udp", "sctp"] as const, true);
const SCHEDULER = oneOf(LVS_SCHEDULERS);
const QUORUM = int(1, 0xffff_ffff);
const FAMILY = oneOf(["ipv4", "ipv6"] as const);
/** A virtual server's port; 0 ("every port") only with persistence. */
const PERSISTENT_PORT = int(0, 65535);
const RETRY = int(0, 1000);
const DELAY_LOOP = num(0.01, 86400, "seconds");
const CONNECT_TIMEOUT = num(0.01, 3600, "seconds");
const DELAY_BEFORE_RETRY = num(0, 3600, "seconds");
const WARMUP = num(0, 86400, "seconds");

const PACING_KEYS = [
  "delay_loop",
  "connect_timeout",
  "retry",
  "nb_get_retry",
  "delay_before_retry",
  "warmup",
];

const VS_KEYS = [
  "address",
  "port",
  "fwmark",
  "group",
  "family",
  "protocol",
  "lb_algo",
  "lvs_sched",
  "lb_kind",
  "lvs_method",
  "sh_fallback",
  "sh_port",
  "mh_fallback",
  "mh_port",
  "ops",
  "persistence_timeout",
  "persistence_granularity",
  "persistence_engine",
  ...PACING_KEYS,
  "alpha",
  "omega",
  "inhibit_on_failure",
  "slow_start",
  "ha_suspend",
  "quorum",
  "hysteresis",
  "quorum_up",
  "smtp_alert",
  "quorum_down",
  "virtualhost",
  "sorry_server",
  "real_server",
];

const TUNNEL_KEYS = ["tunnel_type", "tunnel_port", "tunnel_checksum"];

const RS_KEYS = [
  "address",
  "port",
  "weight",
  "lb_kind",
  "lvs_method",
  ...TUNNEL_KEYS,
  "inhibit_on_failure",
  "uthreshold",
  "lthreshold",
  "notify_up",
  "smtp_alert",
  "notify_down",
  "slow_start",
  "check",
];

const SORRY_KEYS = ["address", "port", "lb_kind", "lvs_method", ...TUNNEL_KEYS, "inhibit"];

const CHECK_KEYS = ["type", "connect_ip", "connect_port", ...PACING_KEYS, ...ALL_CHECK_KEYS];

/** Names of the other sections a virtual server refers to. */
export interface LvsEnv {
  readonly groups: ReadonlyMap<string, VirtualServerGroupConfig>;
}

/**
 * Reads every `[virtual_server_group.NAME]`.
 *
 * @example
 * ```ts
 * import { Ctx } from "./fields.ts";
 * const ctx = new Ctx("a.toml", new Map());
 * readGroups(ctx, { g: { addresses: ["192.0.2.1-2:80"] } })[0].addresses.length; // 2
 * ```
 */
export function readGroups(ctx: Ctx, raw: unknown): VirtualServerGroupConfig[] {
  return namedTables(ctx, raw, "virtual_server_group").map(([name, table]) => {
    const r = new TableReader(ctx, table, ["virtual_server_group", name], [
      "addresses",
      "fwmarks",
    ]);
    const addresses = r.list("addresses", (v, path) => {
      const p = groupAddress(v);
      if (!p.ok) ctx.error(path, p.message);
      return p.ok ? p.value : undefined;
    }, 'an array of "ADDRESS:PORT" or "A.B.C.D-E:PORT" ranges') ?? [];
    const fwmarks = r.list("fwmarks", (v, path) => {
      const p = FWMARK(v);
      if (!p.ok) ctx.error(path, p.message);
      return p.ok ? p.value : undefined;
    }, "an array of firewall marks") ?? [];
    if (r.ok("addresses") && r.ok("fwmarks") && addresses.length + fwmarks.length === 0) {
      ctx.error(r.path, "expected at least one entry in addresses or fwmarks, got none");
    }
    const families = new Set(addresses.flat().map((a) => a.family));
    if (families.size > 1) {
      r.fail("addresses", "expected addresses of one family, got IPv4 and IPv6 mixed");
    }
    return { name, addresses: addresses.flat(), fwmarks };
  });
}

const FWMARK = int(1, 0xffff_ffff);

/** `ADDR:PORT`, `[V6]:PORT`, or a range of the last byte / group: `A.B.C.D-E:PORT`. */
const groupAddress: Parser<GroupAddress[]> = (v) => {
  const what =
    'an address with a port, or a range of its last part, e.g. "192.0.2.10:80", "192.0.2.10-20:80", "[2001:db8::a-f]:80"';
  if (typeof v !== "string") return expected(what, v);
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(v);
  if (m === null) return expected(what, v);
  const p = Number(m[3]);
  if (p < 1 || p > 65535) return expected(what, v);
  const text = m[1] ?? m[2];
  const r = /^(.*[.:])([0-9a-fA-F]+)-([0-9a-fA-F]+)$/.exec(text);
  const first = r === null ? text : r[1] + r[2];
  const parsed = parseIp(first);
  if (parsed === null || (m[1] !== undefined) !== (parsed.family === "ipv6")) {
    return expected(what, v);
  }
  if (r === null) return ok([{ address: formatIp(parsed.bytes), family: parsed.family, port: p }]);
  const v6 = parsed.family === "ipv6";
  const lo = parseInt(r[2], v6 ? 16 : 10);
  const hi = parseInt(r[3], v6 ? 16 : 10);
  if (!v6 && !/^\d+$/.test(r[3])) return expected(what, v);
  if (hi < lo || hi > (v6 ? 0xffff : 255) || hi - lo + 1 > MAX_RANGE) {
    return expected(`${what} (a range of at most ${MAX_RANGE} addresses, low to high)`, v);
  }
  const out: GroupAddress[] = [];
  for (let n = lo; n <= hi; n++) {
    const bytes = parsed.bytes.slice();
    if (v6) {
      bytes[14] = n >> 8;
      bytes[15] = n & 0xff;
    } else bytes[3] = n;
    out.push({ address: formatIp(bytes), family: parsed.family, port: p });
  }
  return ok(out);
};

/**
 * Reads one `[virtual_server.NAME]` with its sorry server, real servers and checks.
 *
 * @example
 * ```ts
 * import { Ctx } from "./fields.ts";
 * const ctx = new Ctx("a.toml", new Map());
 * const vs = readVirtualServer(ctx, "web", { address: "192.0.2.1", port: 80n }, { groups: new Map() });
 * vs.scheduler; // "wlc"
 * ```
 */
export function readVirtualServer(
  ctx: Ctx,
  name: string,
  raw: RawTable,
  env: LvsEnv,
): VirtualServerConfig {
  const r = new TableReader(ctx, raw, ["virtual_server", name], VS_KEYS);
  const protocol = r.opt("protocol", PROTOCOL) ??
    LVS_DEFAULTS.protocol;
  // Port 0 ("every port") needs persistence, which is read once the family is known.
  const persistent = typeof raw.persistence_timeout === "bigint" && raw.persistence_timeout > 0n;
  const { target, family } = readTarget(r, env, persistent);
  const persistence = readPersistence(r, family);
  const vsMethod = alias(r, "lb_kind", "lvs_method", method) ?? LVS_DEFAULTS.method;
  if (target.kind === "fwmark" && r.has("protocol")) {
    r.fail(
      "protocol",
      '"protocol" does not apply to a fwmark virtual server: the mark picks the traffic',
    );
  }
  const scheduling = readScheduling(r, protocol, target);
  const pacing = readPacing(r, VS_PACING);
  const { quorum, hysteresis } = readQuorum(r);
  const cmd = COMMAND;
  const virtualhost = r.opt("virtualhost", text("a Host header value")) ?? null;
  const base = {
    name,
    family,
    method: vsMethod,
    pacing,
    virtualhost,
    target,
    ports: servicePorts(target, env),
    inhibitOnFailure: r.opt("inhibit_on_failure", bool) ?? false,
    slowStartMs: slowStart(r) ?? 0,
  };
  const haSuspend = r.opt("ha_suspend", bool) ?? false;
  if (haSuspend && usesFwmark(target, env)) {
    r.fail("ha_suspend", '"ha_suspend" needs a virtual address to watch, and a fwmark has none');
  }
  const realServers = readRealServers(r, base);
  return {
    name,
    target,
    family,
    protocol,
    ...scheduling,
    method: vsMethod,
    persistence,
    alpha: r.opt("alpha", bool) ?? false,
    omega: r.opt("omega", bool) ?? false,
    haSuspend,
    quorum,
    hysteresis,
    quorumUp: r.opt("quorum_up", cmd) ?? null,
    smtpAlert: r.opt("smtp_alert", bool) ?? null,
    quorumDown: r.opt("quorum_down", cmd) ?? null,
    virtualhost,
    sorryServer: readSorry(r, base),
    realServers,
  };
}

/** The scheduler with its flags: sh/mh flags only with their scheduler, ops only for UDP. */
function readScheduling(r: TableReader, protocol: LvsProtocol, target: VirtualServerTarget) {
  const scheduler = alias(r, "lb_algo", "lvs_sched", SCHEDULER) ?? LVS_DEFAULTS.scheduler;
  // Every flag is read (no short-circuit), so a misplaced one is always reported.
  const shFallback = schedulerFlag(r, scheduler, "sh_fallback", "sh");
  const mhFallback = schedulerFlag(r, scheduler, "mh_fallback", "mh");
  const shPort = schedulerFlag(r, scheduler, "sh_port", "sh");
  const mhPort = schedulerFlag(r, scheduler, "mh_port", "mh");
  const onePacket = r.opt("ops", bool) ?? false;
  if (onePacket && protocol !== "udp" && target.kind === "address") {
    r.fail("ops", `"ops" (one-packet scheduling) only applies to protocol = "udp"`);
  }
  return {
    scheduler,
    schedFallback: shFallback || mhFallback,
    schedPort: shPort || mhPort,
    onePacket,
  };
}

/** A scheduler flag (`sh_port`, ...): an error unless `sched` is the scheduler. */
function schedulerFlag(r: TableReader, scheduler: string, key: string, sched: string): boolean {
  const on = r.opt(key, bool) ?? false;
  if (on && scheduler !== sched) {
    r.fail(key, `"${key}" only applies to lb_algo = "${sched}", got lb_algo = "${scheduler}"`);
  }
  return on;
}

function readQuorum(r: TableReader): { quorum: number; hysteresis: number } {
  const quorum = r.opt("quorum", QUORUM) ?? LVS_DEFAULTS.quorum;
  const hysteresis = r.opt("hysteresis", U32) ?? LVS_DEFAULTS.hysteresis;
  if (r.ok("quorum") && r.ok("hysteresis") && hysteresis >= quorum) {
    r.fail("hysteresis", `expected a hysteresis below quorum (${quorum}), got ${hysteresis}`);
  }
  return { quorum, hysteresis };
}

/** A key with two spellings (keepalived's old and new name); both at once is an error. */
function alias<T>(r: TableReader, a: string, b: string, parser: Parser<T>): T | undefined {
  if (r.has(a) && r.has(b)) r.fail(b, `expected one of ${a} and ${b}, got both`);
  return r.opt(a, parser) ?? r.opt(b, parser);
}

function readTarget(
  r: TableReader,
  env: LvsEnv,
  persistent: boolean,
): { target: VirtualServerTarget; family: Family } {
  // Counted first: the list (for the message) only when it is not exactly one.
  const count = (r.has("address") ? 1 : 0) + (r.has("fwmark") ? 1 : 0) + (r.has("group") ? 1 : 0);
  if (count !== 1) {
    const given = ["address", "fwmark", "group"].filter((k) => r.has(k));
    r.ctx.error(
      r.path,
      given.length === 0
        ? 'expected one of "address" (with "port"), "fwmark" or "group", got none'
        : `expected one of "address", "fwmark" or "group", got ${given.join(" and ")}`,
    );
  }
  const familyKey = r.opt("family", FAMILY);
  // keepalived takes a fwmark service's family from its real servers: so does hacore.
  const inferred = familyKey ?? firstRealServerFamily(r.table) ?? "ipv4";
  const fallback = { target: { kind: "fwmark", fwmark: 1 } as const, family: inferred };
  if (r.has("address")) {
    if (r.has("family")) r.fail("family", '"family" only applies to fwmark virtual servers');
    const ip = r.opt("address", unicastIp);
    const p = r.req("port", persistent ? PERSISTENT_PORT : port, "a port, e.g. 80");
    if (ip === undefined) return fallback;
    return { target: { kind: "address", address: ip.address, port: p ?? 1 }, family: ip.family };
  }
  if (r.has("port")) r.fail("port", '"port" only applies with "address"');
  if (r.has("fwmark")) {
    const fwmark = r.opt("fwmark", FWMARK) ?? 1;
    return { target: { kind: "fwmark", fwmark }, family: inferred };
  }
  if (r.has("group")) {
    const name = r.opt("group", text("a group name"));
    if (name === undefined) return fallback;
    const group = env.groups.get(name);
    if (group === undefined) {
      r.fail("group", unknownReference("virtual_server_group", name, new Set(env.groups.keys())));
      return fallback;
    }
    const own = group.addresses[0]?.family;
    if (own !== undefined && familyKey !== undefined && own !== familyKey) {
      r.fail("family", `expected "${own}" like the addresses of group ${name}, got "${familyKey}"`);
    }
    return { target: { kind: "group", group: name }, family: own ?? inferred };
  }
  return fallback;
}

/** The family of the first real server's address, when it is one. */
function firstRealServerFamily(table: RawTable): Family | null {
  const list = table.real_server;
  const first = Array.isArray(list) && isTable(list[0]) ? list[0].address : undefined;
  return typeof first === "string" ? parseIp(first)?.family ?? null : null;
}

function readPersistence(r: TableReader, family: Family): LvsPersistence | null {
  const timeoutS = r.opt("persistence_timeout", U32);
  const engine = r.opt("persistence_engine", engineName);
  const full = family === "ipv4" ? 32 : 128;
  const prefix = r.opt(
    "persistence_granularity",
    family === "ipv4" ? GRANULARITY_V4 : GRANULARITY_V6,
  );
  if (timeoutS === undefined || timeoutS === 0) {
    // Two tests, not a loop over a list: this is every virtual server without persistence.
    if (r.has("persistence_granularity")) needsPersistence(r, "persistence_granularity");
    if (r.has("persistence_engine")) needsPersistence(r, "persistence_engine");
    return null;
  }
  return { timeoutS, granularityPrefix: prefix ?? full, engine: engine ?? null };
}

function needsPersistence(r: TableReader, key: string): void {
  r.fail(key, `"${key}" needs persistence: set persistence_timeout above 0`);
}

const engineName: Parser<string> = (v) =>
  typeof v === "string" && /^[a-z][a-z0-9_]{0,14}$/.test(v)
    ? ok(v)
    : expected('a persistence engine name, e.g. "sip"', v);

/** A prefix length, or an IPv4 netmask written as an address ("255.255.255.0"). */
function granularity(family: Family): Parser<number> {
  const max = family === "ipv4" ? 32 : 128;
  return (v) => {
    const what = family === "ipv4"
      ? 'a prefix length (1..32) or a netmask, e.g. 24 or "255.255.255.0"'
      : "a prefix length (1..128), e.g. 64";
    if (typeof v === "bigint") {
      return v >= 1n && v <= BigInt(max) ? ok(Number(v)) : expected(what, v);
    }
    const p = typeof v === "string" && family === "ipv4" ? parseIp(v) : null;
    if (p === null || p.family !== "ipv4") return expected(what, v);
    const n = ((p.bytes[0] << 24) | (p.bytes[1] << 16) | (p.bytes[2] << 8) | p.bytes[3]) >>> 0;
    const prefix = 32 - Math.log2((~n >>> 0) + 1);
    return Number.isInteger(prefix) && prefix >= 1
      ? ok(prefix)
      : expected(`${what} (contiguous ones)`, v);
  };
}

const GRANULARITY_V4 = granularity("ipv4");
const GRANULARITY_V6 = granularity("ipv6");

/** Pacing of checks: a table's own keys, else what its virtual server says. */
interface Pacing {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly retry: number;
  readonly delayBeforeRetryMs: number;
  /** null: the check's own interval, as keepalived spreads first checks over delay_loop. */
  readonly warmupMs: number | null;
}

const VS_PACING: Pacing = {
  intervalMs: LVS_DEFAULTS.delayLoopMs,
  timeoutMs: LVS_DEFAULTS.connectTimeoutMs,
  retry: LVS_DEFAULTS.retry,
  delayBeforeRetryMs: LVS_DEFAULTS.delayBeforeRetryMs,
  warmupMs: null,
};

function readPacing(r: TableReader, d: Pacing): Pacing {
  return {
    intervalMs: msOf(r, "delay_loop", DELAY_LOOP) ?? d.intervalMs,
    timeoutMs: msOf(r, "connect_timeout", CONNECT_TIMEOUT) ?? d.timeoutMs,
    retry: alias(r, "retry", "nb_get_retry", RETRY) ?? d.retry,
    delayBeforeRetryMs: msOf(r, "delay_before_retry", DELAY_BEFORE_RETRY) ??
      d.delayBeforeRetryMs,
    warmupMs: msOf(r, "warmup", WARMUP) ?? d.warmupMs,
  };
}

/** A key in seconds, as milliseconds. */
function msOf(r: TableReader, key: string, seconds: Parser<number>): number | undefined {
  const s = r.opt(key, seconds);
  return s === undefined ? undefined : secondsToMs(s);
}

/** `slow_start` in seconds (0..3600), as milliseconds. */
function slowStart(t: TableReader): number | undefined {
  const s = t.opt("slow_start", SLOW_START);
  return s === undefined ? undefined : secondsToMs(s);
}

const OPTION_KEYS = ["keep_on_stop", "drain_deadline", "maintenance_dir"];

/**
 * The `[lvs]` table: `keep_on_stop`, `drain_deadline` (seconds), `maintenance_dir` (an
 * absolute path, or "" for none); see {@link LvsOptions}.
 *
 * @example
 * ```ts
 * import { Ctx } from "./fields.ts";
 * readLvsOptions(new Ctx("a.toml", new Map()), { keep_on_stop: true }).keepOnStop; // true
 * ```
 */
export function readLvsOptions(ctx: Ctx, raw: unknown): LvsOptions {
  if (raw === undefined) return LVS_OPTIONS_DEFAULTS;
  if (!isTable(raw)) {
    ctx.error(["lvs"], `expected a table [lvs], got ${describeValue(raw)}`);
    return LVS_OPTIONS_DEFAULTS;
  }
  const r = new TableReader(ctx, raw, ["lvs"], OPTION_KEYS);
  const d = LVS_OPTIONS_DEFAULTS;
  const deadline = r.opt("drain_deadline", num(0, 86400, "seconds"));
  // "" turns the directory off: read as text only when it is not empty.
  const dir = raw.maintenance_dir === "" ? "" : r.opt("maintenance_dir", text("a directory"));
  if (dir !== undefined && dir !== "" && !dir.startsWith("/")) {
    r.fail("maintenance_dir", `expected an absolute path (or "" for none), got "${dir}"`);
  }
  return {
    keepOnStop: r.opt("keep_on_stop", bool) ?? d.keepOnStop,
    drainDeadlineMs: deadline === undefined ? d.drainDeadlineMs : secondsToMs(deadline),
    maintenanceDir: dir === undefined ? d.maintenanceDir : dir === "" ? null : dir,
  };
}

/** The ports a DR or TUN server must listen on: those of the service's addresses. */
function servicePorts(target: VirtualServerTarget, env: LvsEnv): number[] {
  if (target.kind === "address") return target.port === 0 ? [] : [target.port];
  if (target.kind === "fwmark") return [];
  const g = env.groups.get(target.group);
  return [...new Set(g?.addresses.map((a) => a.port) ?? [])];
}

function usesFwmark(target: VirtualServerTarget, env: LvsEnv): boolean {
  if (target.kind === "fwmark") return true;
  return target.kind === "group" && (env.groups.get(target.group)?.fwmarks.length ?? 0) > 0;
}

/**
 * DR and TUN forward the packet as the client sent it, port included: a server on
 * another port would never see it (keepalived silently resets the port; hacore says so).
 */
function checkForwardedPort(t: TableReader, vs: VsBase, m: LvsMethod, p: number): void {
  if (m === "NAT" || vs.ports.length === 0 || !t.ok("port")) return;
  if (vs.ports.length === 1 && vs.ports[0] === p) return;
  const want = vs.ports.length === 1
    ? `port ${vs.ports[0]} like its virtual server`
    : `one port for every address of the group (it has ${vs.ports.join(", ")}), so use NAT`;
  t.fail(
    t.has("port") ? "port" : "lb_kind",
    `expected ${want}: ${m} does not rewrite the destination port, got ${p}`,
  );
}

/** What a real server inherits from its virtual server. */
interface VsBase {
  /** `inhibit_on_failure` on the virtual server: the default of its real servers. */
  readonly inhibitOnFailure: boolean;
  /** `slow_start` on the virtual server: the default of its real servers. */
  readonly slowStartMs: number;
  /** Ports of the service's addresses; empty for fwmark (and all-port) services. */
  readonly ports: readonly number[];
  readonly name: string;
  readonly family: Family;
  readonly method: LvsMethod;
  readonly pacing: Pacing;
  readonly virtualhost: string | null;
  readonly target: VirtualServerTarget;
}

// Parsers built once, not once per real server: 10,000 of them made these a visible
// share of loading a big file.
const U32 = int(0, 0xffff_ffff);
const U16 = int(0, 65535);
const COMMAND = text("a command line");
const TUNNEL_TYPE = oneOf(["ipip", "gue", "gre"] as const, true);
const TUNNEL_CHECKSUM = oneOf(["none", "csum", "remcsum"] as const);
const SLOW_START = num(0, 3600, "seconds");

/**
 * The `[[key]]` tables of `r`, each with its path. Indexed loops and `concat`, not
 * spreads and destructuring: this runs once per virtual and real server at the start,
 * mostly still in the interpreter, where each spread and `for...of` allocates an
 * iterator and a result per element (5.6 MB of garbage for 10,000 real servers).
 */
function tablesAt(r: TableReader, key: string): { table: RawTable; path: KeyPath }[] {
  const raw = tableArray(r, key);
  if (raw === null) return [];
  const base = r.at(key);
  const out: { table: RawTable; path: KeyPath }[] = [];
  for (let i = 0; i < raw.length; i++) out.push({ table: raw[i], path: base.concat(i) });
  return out;
}

/** The `[[key]]` tables of `r`; null (and an error unless absent) when it has none. */
function tableArray(r: TableReader, key: string): RawTable[] | null {
  if (!r.has(key)) return null;
  const raw = r.table[key];
  if (!Array.isArray(raw) || !raw.every(isTable)) {
    const what = `[[${r.at(key).join(".")}]] tables`;
    r.fail(key, `expected ${what}, got ${describeValue(raw)}`);
    return null;
  }
  return raw;
}

/**
 * Up to this many real servers, a repeated one is looked for by comparing addresses and
 * ports; past it, by their ids in a map. A map per virtual server, keyed by ids that
 * each had to be flattened and hashed, was ~70 bytes of garbage per real server.
 */
const RS_SCAN_MAX = 16;

function readRealServers(r: TableReader, vs: VsBase): RealServerConfig[] {
  const out: RealServerConfig[] = [];
  const raw = tableArray(r, "real_server");
  if (raw === null) return out;
  const base = r.at("real_server");
  // Where each of `out` was in the file, for the message naming a repeated one.
  const indexes: number[] = [];
  let byId: Map<string, number> | null = null;
  for (let i = 0; i < raw.length; i++) {
    const path = base.concat(i);
    const rs = readRealServer(r.ctx, raw[i], path, vs);
    if (rs === undefined) continue;
    if (byId === null && out.length >= RS_SCAN_MAX) {
      byId = new Map();
      for (let k = 0; k < out.length; k++) byId.set(out[k].id, indexes[k]);
    }
    const previous = byId === null ? scanFor(out, indexes, rs) : byId.get(rs.id);
    if (previous !== undefined) {
      r.ctx.error(
        [...path, "address"],
        `expected each real server once: ${
          endpointText(rs.address, rs.port)
        } is already real_server[${previous}]`,
      );
      continue;
    }
    byId?.set(rs.id, i);
    out.push(rs);
    indexes.push(i);
  }
  return out;
}

/** The file index of the server in `out` at `rs`'s address and port (its id), if any. */
function scanFor(
  out: readonly RealServerConfig[],
  indexes: readonly number[],
  rs: RealServerConfig,
): number | undefined {
  for (let k = 0; k < out.length; k++) {
    if (out[k].port === rs.port && out[k].address === rs.address) return indexes[k];
  }
  return undefined;
}

/** `ADDR:PORT`, with brackets around an IPv6 address. */
export function endpointText(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * {@link unicastIp} remembering what it accepted: 10,000 real servers name the same few
 * addresses, and each answer was two new objects. The answers are frozen, as shared.
 */
const serverAddress: Parser<Ip> = (v) => {
  const known = typeof v === "string" ? acceptedAddresses.get(v) : undefined;
  if (known !== undefined) return known;
  const r = unicastIp(v);
  if (!r.ok || typeof v !== "string") return r;
  if (acceptedAddresses.size >= ACCEPTED_ADDRESSES_MAX) acceptedAddresses.clear();
  const frozen = Object.freeze({ ok: true as const, value: Object.freeze(r.value) });
  acceptedAddresses.set(v, frozen);
  return frozen;
};
const acceptedAddresses = new Map<string, Parsed<Ip>>();
const ACCEPTED_ADDRESSES_MAX = 65536;

function readAddress(t: TableReader, family: Family): Ip | undefined {
  const ip = t.req("address", serverAddress, 'an IP address, e.g. "192.0.2.11"');
  if (ip !== undefined && ip.family !== family) {
    t.fail(
      "address",
      `expected an ${familyName(family)} address like its virtual server, got ${ip.address}`,
    );
    return undefined;
  }
  return ip;
}

/** Port of a server: defaults to the virtual server's where it has one. */
function readServerPort(t: TableReader, vs: VsBase): number | undefined {
  if (vs.target.kind === "address") return t.opt("port", port) ?? vs.target.port;
  return t.req("port", port, "a port, e.g. 80 (a fwmark or group virtual server has none)");
}

function readRealServer(
  ctx: Ctx,
  table: RawTable,
  path: KeyPath,
  vs: VsBase,
): RealServerConfig | undefined {
  const t = new TableReader(ctx, table, path, RS_KEYS);
  const ip = readAddress(t, vs.family);
  const p = readServerPort(t, vs);
  const m = alias(t, "lb_kind", "lvs_method", method) ?? vs.method;
  const tunnel = readTunnel(t, m);
  if (p !== undefined) checkForwardedPort(t, vs, m, p);
  const uThreshold = t.opt("uthreshold", U32) ?? 0;
  const lThreshold = t.opt("lthreshold", U32) ?? 0;
  if (uThreshold > 0 && lThreshold > uThreshold) {
    t.fail(
      "lthreshold",
      `expected lthreshold at most uthreshold (${uThreshold}), got ${lThreshold}`,
    );
  }
  const weight = t.opt("weight", U16) ?? LVS_DEFAULTS.weight;
  const inhibitOnFailure = t.opt("inhibit_on_failure", bool) ?? vs.inhibitOnFailure;
  const notifyUp = t.opt("notify_up", COMMAND) ?? null;
  const smtpAlert = t.opt("smtp_alert", bool) ?? null;
  const notifyDown = t.opt("notify_down", COMMAND) ?? null;
  if (ip === undefined || p === undefined) return undefined;
  // One object, no spread of a partial one: 10,000 of these at a big start.
  return {
    id: `${vs.name}/${endpointText(ip.address, p)}`,
    address: ip.address,
    family: ip.family,
    port: p,
    weight,
    method: m,
    tunnel,
    inhibitOnFailure,
    uThreshold,
    lThreshold,
    notifyUp,
    smtpAlert,
    notifyDown,
    checks: t.has("check") ? readChecks(t, vs, ip.address, p) : NO_CHECKS,
    slowStartMs: slowStart(t) ?? vs.slowStartMs,
  };
}

/** The checks of a real server without any: one frozen list for all of them. */
const NO_CHECKS: readonly RealServerCheck[] = Object.freeze([]);

function readChecks(
  t: TableReader,
  vs: VsBase,
  address: string,
  port: number,
): RealServerCheck[] {
  const out: RealServerCheck[] = [];
  for (const { table, path } of tablesAt(t, "check")) {
    const c = readRealServerCheck(t.ctx, table, path, vs, address, port);
    if (c !== undefined) out.push(c);
  }
  return out;
}

function readTunnel(t: TableReader, m: LvsMethod): LvsTunnel | null {
  if (m !== "TUN") {
    // Indexed: for...of allocates an iterator in the interpreter, once per real server.
    for (let i = 0; i < TUNNEL_KEYS.length; i++) {
      const key = TUNNEL_KEYS[i];
      if (t.has(key)) t.fail(key, `"${key}" only applies to lb_kind = "TUN", got "${m}"`);
    }
    return null;
  }
  const type = t.opt("tunnel_type", TUNNEL_TYPE) ?? "ipip";
  const tport = t.opt("tunnel_port", port);
  if (type === "gue" && tport === undefined && t.ok("tunnel_port")) {
    t.fail("tunnel_port", 'missing required key "tunnel_port": expected the GUE port');
  }
  if (type !== "gue" && t.has("tunnel_port")) {
    t.fail("tunnel_port", `"tunnel_port" only applies to tunnel_type = "gue", got "${type}"`);
  }
  const checksum = t.opt("tunnel_checksum", TUNNEL_CHECKSUM) ??
    "none";
  if (type === "ipip" && t.has("tunnel_checksum")) {
    t.fail("tunnel_checksum", '"tunnel_checksum" only applies to tunnel_type "gue" or "gre"');
  }
  if (type === "gre" && checksum === "remcsum") {
    t.fail("tunnel_checksum", 'expected "none" or "csum" for tunnel_type = "gre", got "remcsum"');
  }
  return { type, port: type === "gue" ? tport ?? 0 : 0, checksum };
}

function readSorry(r: TableReader, vs: VsBase): SorryServerConfig | null {
  if (!r.has("sorry_server")) return null;
  const raw = r.table.sorry_server;
  if (!isTable(raw)) {
    r.fail(
      "sorry_server",
      `expected a [${r.path.join(".")}.sorry_server] table, got ${describeValue(raw)}`,
    );
    return null;
  }
  const t = new TableReader(r.ctx, raw, r.at("sorry_server"), SORRY_KEYS);
  const ip = readAddress(t, vs.family);
  const p = readServerPort(t, vs);
  const m = alias(t, "lb_kind", "lvs_method", method) ?? vs.method;
  const tunnel = readTunnel(t, m);
  if (p !== undefined) checkForwardedPort(t, vs, m, p);
  const inhibit = t.opt("inhibit", bool) ?? false;
  if (ip === undefined || p === undefined) return null;
  return { address: ip.address, port: p, method: m, tunnel, inhibit };
}

/**
 * One check of a real server: `readCheck` on the table with the target filled in from
 * the real server (`connect_ip` / `connect_port` move it), and pacing inherited.
 */
function readRealServerCheck(
  ctx: Ctx,
  raw: RawTable,
  path: KeyPath,
  vs: VsBase,
  address: string,
  rsPort: number,
): RealServerCheck | undefined {
  const probe = new TableReader(ctx, raw, path, CHECK_KEYS);
  const type = probe.req("type", oneOf(CHECK_TYPES), `one of ${CHECK_TYPES.join(", ")}`);
  const connectIp = probe.opt("connect_ip", unicastIp)?.address ?? address;
  const connectPort = probe.opt("connect_port", port) ?? rsPort;
  const pacing = readPacing(probe, vs.pacing);
  if (type === undefined) return undefined;
  const filled = withTarget(raw, type, endpointText(connectIp, connectPort), connectIp, vs);
  // A second reader over the filled-in table: unknown keys were reported by the first.
  const r = new TableReader(ctx, filled, path, Object.keys(filled));
  for (const key of ["connect_ip", "connect_port"]) {
    if (probe.has(key) && (type === "file" || type === "script")) {
      probe.fail(key, `"${key}" does not apply to type = "${type}"`);
    }
  }
  const check = readCheck(r, type);
  if (check === undefined) return undefined;
  return { check, ...pacing, warmupMs: pacing.warmupMs ?? pacing.intervalMs };
}

function withTarget(
  raw: RawTable,
  type: CheckType,
  ep: string,
  ip: string,
  vs: VsBase,
): RawTable {
  const t = { ...raw };
  for (const key of ["type", "connect_ip", "connect_port", ...PACING_KEYS]) delete t[key];
  switch (type) {
    case "tcp":
    case "smtp":
    case "udp":
      t.connect ??= ep;
      break;
    case "dns":
      t.server ??= ep;
      break;
    case "icmp":
      t.host ??= ip;
      break;
    case "http":
    case "https": {
      const url = t.url ?? "/";
      if (typeof url === "string" && url.startsWith("/")) t.url = `${type}://${ep}${url}`;
      if (vs.virtualhost !== null) t.host_header ??= vs.virtualhost;
      break;
    }
  }
  return t;
}

/**
 * The kernel services a virtual server stands for, as identity keys: two virtual servers
 * (or group entries) with one key would fight over one IPVS service.
 */
export function serviceKeys(
  vs: VirtualServerConfig,
  groups: ReadonlyMap<string, VirtualServerGroupConfig>,
): string[] {
  const t = vs.target;
  if (t.kind === "address") return [`${vs.protocol} ${endpointText(t.address, t.port)}`];
  if (t.kind === "fwmark") return [`${vs.family} fwmark ${t.fwmark}`];
  const g = groups.get(t.group);
  if (g === undefined) return [];
  return [
    ...g.addresses.map((a) => `${vs.protocol} ${endpointText(a.address, a.port)}`),
    ...g.fwmarks.map((m) => `${vs.family} fwmark ${m}`),
  ];
}

/**
 * Reads both LVS sections and checks what spans virtual servers: one kernel service
 * per virtual server, a real server of the group's family.
 *
 * @example
 * ```ts
 * import { Ctx } from "./fields.ts";
 * const ctx = new Ctx("a.toml", new Map());
 * readLvs(ctx, undefined, undefined); // { virtualServers: [], virtualServerGroups: [] }
 * ```
 */
export function readLvs(
  ctx: Ctx,
  rawServers: unknown,
  rawGroups: unknown,
): {
  virtualServers: VirtualServerConfig[];
  virtualServerGroups: VirtualServerGroupConfig[];
} {
  const virtualServerGroups = readGroups(ctx, rawGroups);
  const groups = new Map(virtualServerGroups.map((g) => [g.name, g]));
  const virtualServers = namedTables(ctx, rawServers, "virtual_server").map(([n, t]) =>
    readVirtualServer(ctx, n, t, { groups })
  );
  checkUniqueServices(ctx, virtualServers, groups);
  return { virtualServers, virtualServerGroups };
}

/**
 * Two virtual servers (or group entries) that stand for one kernel service would fight
 * over it: each service once, across every virtual server.
 */
function checkUniqueServices(
  ctx: Ctx,
  virtualServers: readonly VirtualServerConfig[],
  groups: ReadonlyMap<string, VirtualServerGroupConfig>,
): void {
  const owner = new Map<string, string>();
  for (const vs of virtualServers) {
    for (const key of serviceKeys(vs, groups)) {
      const first = owner.get(key);
      if (first === undefined) {
        owner.set(key, vs.name);
        continue;
      }
      const line = ctx.lineOf(["virtual_server", first]);
      ctx.error(
        ["virtual_server", vs.name],
        `expected each virtual service once: virtual_server.${first}${
          line === null ? "" : ` (line ${line})`
        } already serves ${key}`,
      );
      break;
    }
  }
}

/**
 * One line about a virtual server for `hacore check`: what it listens on, how it
 * schedules and forwards, and its real servers.
 *
 * @example
 * ```ts
 * import { parseConfig } from "./mod.ts";
 * const r = parseConfig('[virtual_server.web]\naddress = "192.0.2.1"\nport = 80\n', "a.toml");
 * if (r.ok) summarizeVirtualServer(r.config.virtualServers[0]);
 * // "web: tcp 192.0.2.1:80 wlc NAT, 0 real servers"
 * ```
 */
export function summarizeVirtualServer(vs: VirtualServerConfig): string {
  const t = vs.target;
  const on = t.kind === "address"
    ? `${vs.protocol} ${endpointText(t.address, t.port)}`
    : t.kind === "fwmark"
    ? `fwmark ${t.fwmark} ${vs.family}`
    : `group ${t.group} ${vs.protocol}`;
  const flags = [
    vs.schedFallback ? `${vs.scheduler}-fallback` : null,
    vs.schedPort ? `${vs.scheduler}-port` : null,
    vs.onePacket ? "one-packet" : null,
  ].filter((f) => f !== null);
  const parts = [
    `${vs.name}: ${on} ${vs.scheduler}${flags.map((f) => ` ${f}`).join("")} ${vs.method}`,
  ];
  const p = vs.persistence;
  if (p !== null) {
    const full = vs.family === "ipv4" ? 32 : 128;
    parts.push(
      `persistent ${p.timeoutS}s${
        p.granularityPrefix === full ? "" : ` per /${p.granularityPrefix}`
      }${p.engine === null ? "" : ` engine ${p.engine}`}`,
    );
  }
  const n = vs.realServers.length;
  const checks = vs.realServers.reduce((sum, rs) => sum + rs.checks.length, 0);
  parts.push(
    `${n} real server${n === 1 ? "" : "s"}${
      checks > 0 ? ` (${checks} check${checks === 1 ? "" : "s"})` : ""
    }`,
  );
  if (vs.quorum > 1 || vs.hysteresis > 0) parts.push(`quorum ${vs.quorum}±${vs.hysteresis}`);
  if (vs.sorryServer !== null) {
    parts.push(`sorry ${endpointText(vs.sorryServer.address, vs.sorryServer.port)}`);
  }
  const modes = [
    vs.alpha ? "alpha" : null,
    vs.omega ? "omega" : null,
    vs.haSuspend ? "ha_suspend" : null,
  ]
    .filter((m) => m !== null);
  if (modes.length > 0) parts.push(modes.join(" "));
  return parts.join(", ");
}

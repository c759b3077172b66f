/**
 * Routes and policy routing rules hacore installs: an instance's `virtual_routes` and
 * `virtual_rules` (held while it is Master) and the top-level `static_routes` and
 * `static_rules` (held for the daemon's lifetime). Each is one string in keepalived's
 * line syntax, in both formats (`"10.1.0.0/16 via 192.0.2.1 dev eth0 table 100"`,
 * `"from 10.0.0.0/24 table 100 priority 100"`), read by the pure {@link parseRouteLine}
 * and {@link parseRuleLine}, which name every word they do not take.
 *
 * Only what the kernel needs is kept; words of keepalived's that change nothing the
 * kernel stores for hacore (`no_track`) are accepted, others (multipath `or`, `mtu`,
 * `realms`, ...) refused by name, so a line never means less than it says.
 *
 * @module
 */

import { type Family, formatIp, parseIp } from "../net/addr.ts";
import { didYouMean } from "./errors.ts";
import {
  check,
  type Ctx,
  expected,
  familyName,
  ifname,
  ok,
  type Parsed,
  type Parser,
} from "./fields.ts";
import type { KeyPath } from "./scan.ts";

/** What a route does with the packets it matches (`ip route`'s route types). */
export type RouteType = "unicast" | "blackhole" | "unreachable" | "prohibit" | "throw";

/** `ip route ... scope`. */
export type RouteScope = "global" | "site" | "link" | "host";

/**
 * One route, as the kernel will hold it.
 *
 * @example
 * ```ts
 * const r: RouteConfig = (parseRouteLine("10.1.0.0/16 via 192.0.2.1 dev eth0") as { ok: true; value: RouteConfig }).value;
 * ```
 */
export interface RouteConfig {
  readonly family: Family;
  /** Destination network, canonical; `0.0.0.0`/`::` with prefix 0 for a default route. */
  readonly dst: string;
  readonly dstLen: number;
  readonly type: RouteType;
  /** `src`: the preferred source address (RTA_PREFSRC). */
  readonly src: string | null;
  /** `via` / `gw`: the next hop. */
  readonly via: string | null;
  readonly dev: string | null;
  /** Table id; 254 (main) unless set. */
  readonly table: number;
  /** `metric` / `priority` / `preference`; null = the kernel's default. */
  readonly metric: number | null;
  /** null: `link` without a next hop, `global` with one, as `ip route` decides. */
  readonly scope: RouteScope | null;
  /** keepalived's `no_track`: accepted; hacore's routes do not fault the instance anyway. */
  readonly noTrack: boolean;
  /** The line as written, for logs and status. */
  readonly text: string;
}

/** What a rule does with the packets it matches (`ip rule`'s actions). */
export type RuleAction = "lookup" | "goto" | "nop" | "blackhole" | "unreachable" | "prohibit";

/**
 * One policy routing rule, as the kernel will hold it.
 *
 * @example
 * ```ts
 * const r: RuleConfig = (parseRuleLine("from 10.0.0.0/24 table 100 priority 100") as { ok: true; value: RuleConfig }).value;
 * ```
 */
export interface RuleConfig {
  readonly family: Family;
  /** `from NET/LEN`, canonical; null = any. */
  readonly from: { readonly address: string; readonly prefix: number } | null;
  /** `to NET/LEN`, canonical; null = any. */
  readonly to: { readonly address: string; readonly prefix: number } | null;
  readonly iif: string | null;
  readonly oif: string | null;
  readonly fwmark: number | null;
  /** The mask of `fwmark MARK/MASK`; null = all bits. */
  readonly fwmask: number | null;
  readonly tos: number | null;
  /** `priority` / `preference` / `order`; null = the kernel picks one below the last. */
  readonly priority: number | null;
  readonly action: RuleAction;
  /** The table of a `lookup` rule (`table` / `lookup`); 254 (main) unless set. */
  readonly table: number;
  /** The priority a `goto` rule jumps to. */
  readonly goto: number | null;
  /** `not`: the rule matches what its selectors do not. */
  readonly invert: boolean;
  readonly noTrack: boolean;
  readonly text: string;
}

/** Table names of /etc/iproute2/rt_tables that every system has. */
const TABLE_NAMES: Readonly<Record<string, number>> = { default: 253, main: 254, local: 255 };
const SCOPE_NAMES: Readonly<Record<string, RouteScope>> = {
  global: "global",
  universe: "global",
  "0": "global",
  site: "site",
  "200": "site",
  link: "link",
  "253": "link",
  host: "host",
  "254": "host",
};
const ROUTE_TYPES: readonly RouteType[] = [
  "unicast",
  "blackhole",
  "unreachable",
  "prohibit",
  "throw",
];
const ROUTE_WORDS = [
  "to",
  "src",
  "via",
  "gw",
  "dev",
  "oif",
  "table",
  "metric",
  "priority",
  "preference",
  "scope",
  "no_track",
  ...ROUTE_TYPES,
];
/** keepalived words a route may carry that hacore does not carry out: refused by name. */
const ROUTE_REFUSED = [
  "or",
  "nexthop",
  "mtu",
  "advmss",
  "rtt",
  "rttvar",
  "reordering",
  "window",
  "cwnd",
  "ssthresh",
  "realms",
  "rto_min",
  "initcwnd",
  "initrwnd",
  "features",
  "quickack",
  "congctl",
  "pref",
  "fastopen_no_cookie",
  "onlink",
  "encap",
  "expires",
  "protocol",
  "proto",
  "track_group",
  "tos",
  "dsfield",
  "hoplimit",
  "lock",
];
const RULE_WORDS = [
  "from",
  "to",
  "iif",
  "oif",
  "fwmark",
  "tos",
  "dsfield",
  "priority",
  "preference",
  "order",
  "table",
  "lookup",
  "goto",
  "nop",
  "blackhole",
  "unreachable",
  "prohibit",
  "not",
  "no_track",
];
const RULE_REFUSED = [
  "realms",
  "suppress_prefixlength",
  "suppress_ifgroup",
  "uidrange",
  "sport",
  "dport",
  "ipproto",
  "l3mdev",
  "tun_id",
  "protocol",
  "track_group",
];

/** A parse result: the value, or the reason (without the line). */
type Result<T> = { ok: true; value: T } | { ok: false; message: string };

const fail = <T>(message: string): Result<T> => ({ ok: false, message });

/** `NET[/LEN]` (or `default`), checked to be a network address (the kernel refuses host bits). */
function network(
  text: string,
  family?: Family,
): Result<{ family: Family; address: string; prefix: number }> {
  if (text === "default" || text === "all") {
    const f = family ?? "ipv4";
    return { ok: true, value: { family: f, address: f === "ipv4" ? "0.0.0.0" : "::", prefix: 0 } };
  }
  const [addr, len, extra] = text.split("/");
  const ip = parseIp(addr);
  if (ip === null || extra !== undefined) {
    return fail(`expected an address with an optional /PREFIX, e.g. "10.1.0.0/16", got "${text}"`);
  }
  const max = ip.family === "ipv4" ? 32 : 128;
  const prefix = len === undefined ? max : Number(len);
  if (!/^\d{1,3}$/.test(len ?? "0") || prefix > max) {
    return fail(`expected a prefix of 0..${max} in "${text}"`);
  }
  const masked = ip.bytes.map((b, i) => {
    const bits = Math.min(8, Math.max(0, prefix - i * 8));
    return b & (0xff << (8 - bits)) & 0xff;
  });
  if (masked.some((b, i) => b !== ip.bytes[i])) {
    return fail(
      `"${text}" has host bits set: the network is ${
        formatIp(masked)
      }/${prefix} (the kernel refuses the other)`,
    );
  }
  return { ok: true, value: { family: ip.family, address: formatIp(ip.bytes), prefix } };
}

function looksLikeDestination(word: string): boolean {
  return word === "default" || parseIp(word.split("/")[0]) !== null;
}

function address(text: string, what: string): Result<{ family: Family; address: string }> {
  const ip = parseIp(text);
  if (ip === null) return fail(`expected an IP address after "${what}", got "${text}"`);
  return { ok: true, value: { family: ip.family, address: formatIp(ip.bytes) } };
}

function u32(text: string, what: string): Result<number> {
  const n = /^0x[0-9a-f]{1,8}$/i.test(text)
    ? parseInt(text, 16)
    : /^\d{1,10}$/.test(text)
    ? Number(text)
    : NaN;
  if (!Number.isInteger(n) || n > 0xffff_ffff) {
    return fail(`expected a number after "${what}", got "${text}"`);
  }
  return { ok: true, value: n };
}

/** A table id or one of the names every system has; 0 is no table. */
function tableId(text: string): Result<number> {
  const named = TABLE_NAMES[text];
  if (named !== undefined) return { ok: true, value: named };
  const n = u32(text, "table");
  if (!n.ok || n.value === 0) {
    return fail(`expected a table id of 1..4294967295 or default, main, local, got "${text}"`);
  }
  return n;
}

function unknownWord(word: string, words: readonly string[], refused: readonly string[]): string {
  if (refused.includes(word)) return `"${word}" is not supported by hacore`;
  const guess = didYouMean(word, words);
  return `unknown word "${word}"${guess === null ? "" : `; did you mean "${guess}"?`}`;
}

/** Splits a line into words; the caller reads values with `next`. */
class Words {
  readonly #words: string[];
  #i = 0;
  constructor(text: string) {
    this.#words = text.trim().split(/\s+/).filter((w) => w.length > 0);
  }
  get done(): boolean {
    return this.#i >= this.#words.length;
  }
  take(): string {
    return this.#words[this.#i++];
  }
  value(after: string): Result<string> {
    const v = this.#words[this.#i++];
    return v === undefined ? fail(`expected a value after "${after}"`) : { ok: true, value: v };
  }
}

/**
 * Reads keepalived's route line: `[TYPE] [to] NET[/LEN] [src ADDR] [via|gw ADDR]
 * [dev IF] [table N] [metric N] [scope S] [no_track]`, TYPE one of `blackhole`,
 * `unreachable`, `prohibit`, `throw` (unicast otherwise). Pure.
 *
 * @example
 * ```ts
 * parseRouteLine("10.1.0.0/16 via 192.0.2.1 dev eth0 table 100");
 * // { ok: true, value: { dst: "10.1.0.0", dstLen: 16, via: "192.0.2.1", dev: "eth0", table: 100, ... } }
 * parseRouteLine("10.1.0.0/16 mtu 1400"); // { ok: false, message: '"mtu" is not supported by hacore ...' }
 * ```
 */
export function parseRouteLine(text: string): Result<RouteConfig> {
  const r = readRoute(new Words(text));
  return r.ok ? r : fail(`${r.message} in the route "${text.trim()}"`);
}

function readRoute(w: Words): Result<RouteConfig> {
  let type: RouteType = "unicast";
  let dst: { family: Family; address: string; prefix: number } | null = null;
  let dstText: string | null = null;
  let src: { family: Family; address: string } | null = null;
  let via: { family: Family; address: string } | null = null;
  let dev: string | null = null;
  let table = TABLE_NAMES.main;
  let metric: number | null = null;
  let scope: RouteScope | null = null;
  let noTrack = false;
  const seen = new Set<string>();
  while (!w.done) {
    const word = w.take();
    const key = word === "gw"
      ? "via"
      : word === "oif"
      ? "dev"
      : ["priority", "preference"].includes(word)
      ? "metric"
      : word;
    if (key !== "no_track" && seen.has(key) && !ROUTE_TYPES.includes(word as RouteType)) {
      return fail(`"${word}" is given twice`);
    }
    seen.add(key);
    if ((ROUTE_TYPES as readonly string[]).includes(word)) {
      if (dstText !== null) {
        return fail(`the route type "${word}" must come before the destination`);
      }
      type = word as RouteType;
      continue;
    }
    if (word === "no_track") {
      noTrack = true;
      continue;
    }
    const known = ROUTE_WORDS.includes(word);
    if (!known && dstText === null && looksLikeDestination(word)) {
      dstText = word; // the destination, without "to"
      continue;
    }
    if (!known) return fail(unknownWord(word, ROUTE_WORDS, ROUTE_REFUSED));
    const v = w.value(word);
    if (!v.ok) return v;
    switch (key) {
      case "to":
        if (dstText !== null) return fail(`"to" is given twice`);
        dstText = v.value;
        break;
      case "src": {
        const a = address(v.value, word);
        if (!a.ok) return a;
        src = a.value;
        break;
      }
      case "via": {
        const a = address(v.value, word);
        if (!a.ok) return a;
        via = a.value;
        break;
      }
      case "dev": {
        const d = ifname(v.value);
        if (!d.ok) return fail(d.message);
        dev = d.value;
        break;
      }
      case "table": {
        const t = tableId(v.value);
        if (!t.ok) return t;
        table = t.value;
        break;
      }
      case "metric": {
        const m = u32(v.value, word);
        if (!m.ok) return m;
        metric = m.value;
        break;
      }
      case "scope": {
        const s = SCOPE_NAMES[v.value];
        if (s === undefined) {
          return fail(`expected scope global, site, link or host, got "${v.value}"`);
        }
        scope = s;
        break;
      }
    }
  }
  if (dstText === null) return fail(`expected a destination (NET/LEN or default)`);
  const family = src?.family ?? via?.family;
  const d = network(dstText, family);
  if (!d.ok) return d;
  dst = d.value;
  for (const [what, a] of [["src", src], ["via", via]] as const) {
    if (a !== null && a.family !== dst.family) {
      return fail(
        `"${what} ${a.address}" is ${familyName(a.family)} but the destination is ${
          familyName(dst.family)
        }`,
      );
    }
  }
  if (type !== "unicast" && via !== null) return fail(`a ${type} route takes no "via"`);
  if (type === "unicast" && via === null && dev === null) {
    return fail(`expected "via ADDRESS" or "dev INTERFACE" (where the packets go)`);
  }
  return {
    ok: true,
    value: {
      family: dst.family,
      dst: dst.address,
      dstLen: dst.prefix,
      type,
      src: src?.address ?? null,
      via: via?.address ?? null,
      dev,
      table,
      metric,
      scope,
      noTrack,
      text: "",
    },
  };
}

/**
 * Reads keepalived's rule line: any of `from NET[/LEN]`, `to NET[/LEN]`, `iif IF`,
 * `oif IF`, `fwmark N[/MASK]`, `tos N`, `priority|preference|order N`, `not`, then the
 * action: `table|lookup N`, `goto N`, `nop`, `blackhole`, `unreachable`, `prohibit`.
 * IPv4 unless an address says IPv6, as keepalived reads it. Pure.
 *
 * @example
 * ```ts
 * parseRuleLine("from 10.0.0.0/24 table 100 priority 100");
 * // { ok: true, value: { from: { address: "10.0.0.0", prefix: 24 }, table: 100, priority: 100, action: "lookup", ... } }
 * ```
 */
export function parseRuleLine(text: string): Result<RuleConfig> {
  const r = readRule(new Words(text));
  return r.ok ? r : fail(`${r.message} in the rule "${text.trim()}"`);
}

function readRule(w: Words): Result<RuleConfig> {
  let family: Family | null = null;
  const v: {
    from: RuleConfig["from"];
    to: RuleConfig["to"];
    iif: string | null;
    oif: string | null;
    fwmark: number | null;
    fwmask: number | null;
    tos: number | null;
    priority: number | null;
    action: RuleAction | null;
    table: number | null;
    goto: number | null;
    invert: boolean;
    noTrack: boolean;
  } = {
    from: null,
    to: null,
    iif: null,
    oif: null,
    fwmark: null,
    fwmask: null,
    tos: null,
    priority: null,
    action: null,
    table: null,
    goto: null,
    invert: false,
    noTrack: false,
  };
  const seen = new Set<string>();
  const setFamily = (f: Family): string | null => {
    if (family !== null && family !== f) return `mixes IPv4 and IPv6`;
    family = f;
    return null;
  };
  while (!w.done) {
    const word = w.take();
    if (!RULE_WORDS.includes(word)) return fail(unknownWord(word, RULE_WORDS, RULE_REFUSED));
    const key = word === "preference" || word === "order"
      ? "priority"
      : word === "lookup"
      ? "table"
      : word === "dsfield"
      ? "tos"
      : word;
    const isAction = ["table", "goto", "nop", "blackhole", "unreachable", "prohibit"].includes(key);
    if (seen.has(isAction ? "(action)" : key)) {
      return fail(isAction ? `more than one action ("${word}")` : `"${word}" is given twice`);
    }
    seen.add(isAction ? "(action)" : key);
    if (key === "not") {
      v.invert = true;
      continue;
    }
    if (key === "no_track") {
      v.noTrack = true;
      continue;
    }
    if (["nop", "blackhole", "unreachable", "prohibit"].includes(key)) {
      v.action = key as RuleAction;
      continue;
    }
    const val = w.value(word);
    if (!val.ok) return val;
    switch (key) {
      case "from":
      case "to": {
        const n = network(val.value, family ?? undefined);
        if (!n.ok) return n;
        const bad = setFamily(n.value.family);
        if (bad !== null) return fail(bad);
        // "from all" (prefix 0) matches anything: the kernel's rule has no selector then.
        v[key] = n.value.prefix === 0 ? null : { address: n.value.address, prefix: n.value.prefix };
        break;
      }
      case "iif":
      case "oif": {
        const d = ifname(val.value);
        if (!d.ok) return fail(d.message);
        v[key] = d.value;
        break;
      }
      case "fwmark": {
        const [mark, mask, extra] = val.value.split("/");
        const m = u32(mark, "fwmark");
        if (!m.ok) return m;
        v.fwmark = m.value;
        if (mask !== undefined) {
          const k = u32(mask, "fwmark MARK/");
          if (!k.ok || extra !== undefined) {
            return fail(`expected fwmark MARK[/MASK], got "${val.value}"`);
          }
          v.fwmask = k.value;
        }
        break;
      }
      case "tos": {
        const t = u32(val.value, word);
        if (!t.ok || t.value > 255) return fail(`expected a TOS of 0..255, got "${val.value}"`);
        v.tos = t.value;
        break;
      }
      case "priority": {
        const p = u32(val.value, word);
        if (!p.ok) return p;
        v.priority = p.value;
        break;
      }
      case "table": {
        const t = tableId(val.value);
        if (!t.ok) return t;
        v.action = "lookup";
        v.table = t.value;
        break;
      }
      case "goto": {
        const g = u32(val.value, word);
        if (!g.ok) return g;
        v.action = "goto";
        v.goto = g.value;
        break;
      }
    }
  }
  if (v.action === null) {
    return fail(`expected an action: table N, goto N, nop, blackhole, unreachable or prohibit`);
  }
  return {
    ok: true,
    value: {
      family: family ?? "ipv4",
      from: v.from,
      to: v.to,
      iif: v.iif,
      oif: v.oif,
      fwmark: v.fwmark,
      fwmask: v.fwmask,
      tos: v.tos,
      priority: v.priority,
      action: v.action,
      table: v.action === "lookup" ? v.table ?? TABLE_NAMES.main : 0,
      goto: v.goto,
      invert: v.invert,
      noTrack: v.noTrack,
      text: "",
    },
  };
}

/** A TOML parser for one route string. */
export const routeLine: Parser<RouteConfig> = (raw) => lineParser(raw, parseRouteLine, "a route");
/** A TOML parser for one rule string. */
export const ruleLine: Parser<RuleConfig> = (raw) => lineParser(raw, parseRuleLine, "a rule");

function lineParser<T extends { text: string }>(
  raw: unknown,
  parse: (text: string) => Result<T>,
  what: string,
): Parsed<T> {
  if (typeof raw !== "string") {
    return expected(`${what} as keepalived writes it, e.g. "10.1.0.0/16 via 192.0.2.1"`, raw);
  }
  const r = parse(raw);
  return r.ok ? ok({ ...r.value, text: raw.trim() }) : { ok: false, message: r.message };
}

/**
 * Reads a list of route or rule strings at `path`; bad elements are reported at their
 * index and left out.
 *
 * @example
 * ```ts
 * import { Ctx } from "./fields.ts";
 * readLines(new Ctx("a.toml", new Map()), ["10.1.0.0/16 dev eth0"], ["static_routes"], routeLine);
 * ```
 */
export function readLines<T>(ctx: Ctx, raw: unknown, path: KeyPath, parser: Parser<T>): T[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    ctx.error(path, `expected an array of strings in keepalived's line syntax, got ${typeof raw}`);
    return [];
  }
  const out: T[] = [];
  raw.forEach((v, i) => {
    const got = check(ctx, [...path, i], v, parser);
    if (got === undefined) return;
    out.push(got);
    if (typeof v === "string" && /(^|\s)gw\s/.test(v)) {
      // keepalived says the same and carries on.
      ctx.warn([...path, i], `"gw" for routes is deprecated: use "via" (read as via)`);
    }
  });
  return out;
}

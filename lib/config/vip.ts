/**
 * Virtual addresses: `"ADDR[/PREFIX]"`, keepalived's whole `virtual_ipaddress` line in
 * one string (`"10.0.0.200/24 dev eth1 label eth1:vip scope global"`), or
 * `{ address, prefix, dev, label, scope }`.
 *
 * {@link parseVipLine} is pure and shared with the keepalived.conf reader, so both
 * formats read a VIP line the same way.
 *
 * @module
 */

import { type Family, isLinkLocalV6 } from "../net/addr.ts";
import { describeValue, didYouMean } from "./errors.ts";
import {
  check,
  type Ctx,
  expected,
  familyName,
  ifname,
  isTable,
  ok,
  oneOf,
  type Parser,
  type RawTable,
  TableReader,
  unicastIp,
} from "./fields.ts";
import type { KeyPath } from "./scan.ts";
import type { Vip, VipScope } from "./schema.ts";

/** A VIP plus the facts the instance checks need. */
export interface VipDraft {
  vip: Vip;
  family: Family;
  /** Where it was written, for errors about it. */
  path: KeyPath;
}

const SCOPES = ["global", "site", "link", "host"] as const;
const VIP_KEYS = ["address", "prefix", "dev", "label", "scope"] as const;

function maxPrefix(family: Family): number {
  return family === "ipv4" ? 32 : 128;
}

/**
 * Reads one VIP element; reports at `path` (or its keys) and returns undefined when bad.
 * The prefix defaults to a host route (/32, /128); the scope to "link" for IPv6
 * link-local addresses (the kernel would force it anyway) and "global" otherwise.
 *
 * @example
 * ```ts
 * import { Ctx } from "./fields.ts";
 * const ctx = new Ctx("a.toml", new Map());
 * readVip(ctx, "192.0.2.10/24", ["vrrp_instance", "VI_1", "virtual_ipaddress", 0], "eth0")?.vip;
 * // { address: "192.0.2.10", prefix: 24, dev: "eth0", label: null, scope: "global" }
 * ```
 */
export function readVip(
  ctx: Ctx,
  raw: unknown,
  path: KeyPath,
  interfaceName: string,
): VipDraft | undefined {
  if (typeof raw === "string" && /\s/.test(raw.trim())) {
    return readVipLine(ctx, raw, path, interfaceName);
  }
  if (typeof raw === "string") {
    const parsed = check(ctx, path, raw, addressWithPrefix);
    if (parsed === undefined) return undefined;
    const { address, family } = parsed;
    return {
      vip: {
        address,
        prefix: parsed.prefix ?? maxPrefix(family),
        dev: interfaceName,
        label: null,
        scope: defaultScope(address, family),
      },
      family,
      path,
    };
  }
  if (!isTable(raw)) {
    ctx.error(
      path,
      `expected "ADDR[/PREFIX]" or { address = "...", prefix = N, dev = "...", label = "...", scope = "..." }, got ${
        describeValue(raw)
      }`,
    );
    return undefined;
  }
  const r = new TableReader(ctx, raw, path, VIP_KEYS);
  const parsed = r.req("address", addressWithPrefix, `an IP address, e.g. "192.0.2.10"`);
  const dev = r.opt("dev", ifname) ?? interfaceName;
  const scope = r.opt("scope", oneOf(SCOPES));
  if (parsed === undefined) return undefined;
  const { address, family } = parsed;
  let prefix = r.opt<number>("prefix", (v) => {
    const max = maxPrefix(family);
    return typeof v === "bigint" && v >= 1n && v <= BigInt(max)
      ? ok(Number(v))
      : expected(`an integer in 1..${max} for an ${familyName(family)} address`, v);
  });
  if (prefix !== undefined && parsed.prefix !== null) {
    r.fail(
      "prefix",
      `the prefix is given twice: "/${parsed.prefix}" in address and prefix = ${prefix}; keep one`,
    );
    prefix = undefined;
  }
  let label: string | null = null;
  if (r.has("label")) {
    const raw = r.table.label;
    if (family === "ipv6") {
      r.fail(
        "label",
        `expected no label on an IPv6 address (Linux labels are IPv4-only), got ${
          describeValue(raw)
        }`,
      );
    } else if (
      typeof raw !== "string" || !raw.startsWith(dev) || raw.length > 15 || /\s/.test(raw)
    ) {
      // iproute2 and the kernel's alias handling both require the label to start with dev.
      r.fail(
        "label",
        `expected a label starting with the device name "${dev}" (e.g. "${dev}:web"), at most 15 characters, got ${
          describeValue(raw)
        }`,
      );
    } else {
      label = raw;
    }
  }
  return {
    vip: {
      address,
      prefix: prefix ?? parsed.prefix ?? maxPrefix(family),
      dev,
      label,
      scope: scope ?? defaultScope(address, family),
    },
    family,
    path,
  };
}

function defaultScope(address: string, family: Family): VipScope {
  return family === "ipv6" && isLinkLocalV6(address) ? "link" : "global";
}

interface AddressWithPrefix {
  address: string;
  family: Family;
  prefix: number | null;
}

const addressWithPrefix: Parser<AddressWithPrefix> = (v) => {
  const what =
    `a unicast address with an optional /PREFIX, e.g. "192.0.2.10/24" or "2001:db8::10/64"`;
  if (typeof v !== "string") return expected(what, v);
  const slash = v.indexOf("/");
  const addrText = slash < 0 ? v : v.slice(0, slash);
  const ip = unicastIp(addrText);
  if (!ip.ok) return slash < 0 ? ip : expected(what, v);
  if (slash < 0) return ok({ ...ip.value, prefix: null });
  const prefixText = v.slice(slash + 1);
  const max = maxPrefix(ip.value.family);
  const prefix = /^[0-9]{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 1 && prefix <= max)) {
    return expected(`a /PREFIX in 1..${max} for an ${familyName(ip.value.family)} address`, v);
  }
  return ok({ ...ip.value, prefix });
};

/**
 * One keepalived `virtual_ipaddress` line, as written:
 * `ADDR[/PREFIX] [brd ADDR|+|-] [dev IFNAME] [scope SCOPE] [label LABEL] [peer ADDR]
 * [home] [-nodad|nodad] [noprefixroute] [mngtmpaddr] [autojoin] [no_track]
 * [preferred_lft SECONDS|forever] [track_group NAME]`.
 *
 * @example
 * ```ts
 * const line: VipLine = parseVipLine("192.0.2.10/24 dev eth1") as VipLine;
 * ```
 */
export interface VipLine {
  readonly address: string;
  readonly family: Family;
  readonly prefix: number | null;
  readonly dev: string | null;
  readonly scope: VipScope | null;
  readonly label: string | null;
  /** `brd`: an address, `+` (the directed broadcast) or `-` (none); null when absent. */
  readonly broadcast: string | null;
  readonly peer: string | null;
  /** `preferred_lft`: seconds, or "forever"; null when absent. */
  readonly preferredLft: number | "forever" | null;
  readonly trackGroup: string | null;
  /** Bare flags as written: `no_track`, `noprefixroute`, `home`, `nodad`, ... */
  readonly flags: readonly VipFlag[];
}

/** The bare words of a keepalived VIP line. */
export type VipFlag = "no_track" | "noprefixroute" | "home" | "nodad" | "mngtmpaddr" | "autojoin";

const FLAG_WORDS: Readonly<Record<string, VipFlag>> = {
  no_track: "no_track",
  noprefixroute: "noprefixroute",
  home: "home",
  nodad: "nodad",
  "-nodad": "nodad",
  mngtmpaddr: "mngtmpaddr",
  autojoin: "autojoin",
};

const VALUE_WORDS = [
  "brd",
  "broadcast",
  "dev",
  "scope",
  "label",
  "peer",
  "preferred_lft",
  "track_group",
];

/** keepalived's numeric scopes, as `/etc/iproute2/rt_scopes` names them. */
const SCOPE_NUMBERS: Readonly<Record<string, VipScope>> = {
  "0": "global",
  "200": "site",
  "253": "link",
  "254": "host",
};

/**
 * Parses a keepalived `virtual_ipaddress` line. Pure: says what was written, or why it
 * cannot be read; what hacore does with each part is {@link readVip}'s.
 *
 * @example
 * ```ts
 * parseVipLine("10.0.0.200/24 dev eth1 label eth1:1 no_track");
 * // { ok: true, value: { address: "10.0.0.200", prefix: 24, dev: "eth1", label: "eth1:1", flags: ["no_track"], ... } }
 * parseVipLine("10.0.0.200/24 dev"); // { ok: false, message: 'expected a value after "dev" ...' }
 * ```
 */
export function parseVipLine(
  text: string,
): { ok: true; value: VipLine } | { ok: false; message: string } {
  const words = text.trim().split(/\s+/);
  const head = addressWithPrefix(words[0]);
  if (!head.ok) return head;
  const v: {
    -readonly [K in keyof VipLine]: VipLine[K];
  } = {
    address: head.value.address,
    family: head.value.family,
    prefix: head.value.prefix,
    dev: null,
    scope: null,
    label: null,
    broadcast: null,
    peer: null,
    preferredLft: null,
    trackGroup: null,
    flags: [],
  };
  const flags: VipFlag[] = [];
  const seen = new Set<string>();
  for (let i = 1; i < words.length; i++) {
    const word = words[i];
    const flag = FLAG_WORDS[word];
    if (flag !== undefined) {
      if (!flags.includes(flag)) flags.push(flag);
      continue;
    }
    if (!VALUE_WORDS.includes(word)) {
      const guess = didYouMean(word, [...VALUE_WORDS, ...Object.keys(FLAG_WORDS)]);
      return {
        ok: false,
        message: `unknown word "${word}" in the VIP line "${text}"${
          guess === null ? "" : `; did you mean "${guess}"?`
        } (expected ADDR[/PREFIX] then any of: ${VALUE_WORDS.join(", ")}, ${
          Object.keys(FLAG_WORDS).join(", ")
        })`,
      };
    }
    const value = words[i + 1];
    if (value === undefined) {
      return { ok: false, message: `expected a value after "${word}" in the VIP line "${text}"` };
    }
    const key = word === "broadcast" ? "brd" : word;
    if (seen.has(key)) {
      return { ok: false, message: `"${word}" is given twice in the VIP line "${text}"` };
    }
    seen.add(key);
    i++;
    const bad = setVipWord(v, key, value, head.value.family);
    if (bad !== null) return { ok: false, message: `${bad} in the VIP line "${text}"` };
  }
  v.flags = flags;
  return { ok: true, value: v };
}

/** Sets one `WORD VALUE` pair; the error's text (without the line) or null. */
function setVipWord(
  v: { -readonly [K in keyof VipLine]: VipLine[K] },
  key: string,
  value: string,
  family: Family,
): string | null {
  switch (key) {
    case "dev": {
      const r = ifname(value);
      if (!r.ok) return r.message;
      v.dev = r.value;
      return null;
    }
    case "scope": {
      const scope = (SCOPES as readonly string[]).includes(value)
        ? value as VipScope
        : SCOPE_NUMBERS[value];
      if (scope === undefined) {
        return `expected scope global, site, link or host (or 0, 200, 253, 254), got "${value}"`;
      }
      v.scope = scope;
      return null;
    }
    case "label":
      v.label = value;
      return null;
    case "brd": {
      if (value === "+" || value === "-") {
        v.broadcast = value;
        return null;
      }
      const ip = unicastIp(value);
      if (!ip.ok || ip.value.family !== "ipv4" || family !== "ipv4") {
        return `expected brd with an IPv4 address, "+" or "-" on an IPv4 VIP, got "${value}"`;
      }
      v.broadcast = ip.value.address;
      return null;
    }
    case "peer": {
      const ip = unicastIp(value);
      if (!ip.ok || ip.value.family !== family) {
        return `expected peer with an ${familyName(family)} address, got "${value}"`;
      }
      v.peer = ip.value.address;
      return null;
    }
    case "preferred_lft": {
      if (value === "forever") v.preferredLft = "forever";
      else if (/^\d{1,10}$/.test(value)) v.preferredLft = Number(value);
      else return `expected preferred_lft with seconds or "forever", got "${value}"`;
      return null;
    }
    default:
      v.trackGroup = value;
      return null;
  }
}

/** The directed broadcast of an IPv4 address/prefix, as hacore installs it. */
function directedBroadcast(address: string, prefix: number): string {
  const parts = address.split(".").map(Number);
  const n = ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
  const host = prefix >= 32 ? 0 : (0xffffffff >>> prefix);
  const b = (n | host) >>> 0;
  return [b >>> 24, (b >>> 16) & 255, (b >>> 8) & 255, b & 255].join(".");
}

/**
 * A VIP written as a keepalived line: dev, label and scope apply as in the table form;
 * what hacore does anyway is accepted quietly (`no_track`: hacore never faults an
 * instance on a VIP's own device; `brd +` or the directed broadcast; `nodad` on IPv6);
 * every other part is a warning naming what is ignored, and `peer` (a point-to-point
 * address, which would change what the VIP means) is refused.
 */
function readVipLine(
  ctx: Ctx,
  raw: string,
  path: KeyPath,
  interfaceName: string,
): VipDraft | undefined {
  const parsed = parseVipLine(raw);
  if (!parsed.ok) {
    ctx.error(path, parsed.message);
    return undefined;
  }
  const line = parsed.value;
  if (line.peer !== null) {
    ctx.error(
      path,
      `expected no "peer" in a VIP: hacore holds host and subnet addresses only, got "${raw}"`,
    );
    return undefined;
  }
  const family = line.family;
  const prefix = line.prefix ?? maxPrefix(family);
  const dev = line.dev ?? interfaceName;
  const table: RawTable = { address: line.address, dev };
  if (line.prefix !== null) table.prefix = BigInt(line.prefix);
  if (line.scope !== null) table.scope = line.scope;
  if (line.label !== null) table.label = line.label;
  const draft = readVip(ctx, table, path, interfaceName);
  if (draft === undefined) return undefined;
  const ignored: string[] = [];
  if (line.broadcast === "-") ignored.push(`brd - (hacore always sets the directed broadcast)`);
  else if (
    line.broadcast !== null && line.broadcast !== "+" &&
    line.broadcast !== directedBroadcast(line.address, prefix)
  ) {
    ignored.push(
      `brd ${line.broadcast} (hacore sets the directed broadcast, ${
        directedBroadcast(line.address, prefix)
      })`,
    );
  }
  if (line.preferredLft !== null && line.preferredLft !== "forever") {
    ignored.push(`preferred_lft ${line.preferredLft} (VIPs are installed with a forever lifetime)`);
  }
  if (line.trackGroup !== null) ignored.push(`track_group ${line.trackGroup}`);
  for (const flag of line.flags) {
    if (flag === "no_track" || (flag === "nodad" && family === "ipv6")) continue;
    ignored.push(flag);
  }
  if (ignored.length > 0) {
    ctx.warn(path, `ignored in the VIP line "${raw}": ${ignored.join(", ")}`);
  }
  return draft;
}

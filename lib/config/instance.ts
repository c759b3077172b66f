/**
 * `[vrrp_instance.NAME]`: reading and the checks that need only the instance itself
 * (and the names of the trackers it references). Checks across instances live in
 * `validate.ts`.
 *
 * @module
 */

import { type Family, isLinkLocalV6 } from "../net/addr.ts";
import type { VrrpVersion } from "../vrrp/types.ts";
import { describeValue } from "./errors.ts";
import {
  bool,
  check,
  type Ctx,
  expected,
  familyName,
  ifname,
  int,
  type Ip,
  isTable,
  num,
  ok,
  oneOf,
  type Parser,
  type RawTable,
  TableReader,
  text,
  unicastIp,
} from "./fields.ts";
import type { KeyPath } from "./scan.ts";
import type { AuthConfig, GarpConfig, GlobalConfig, InstanceConfig, Vip } from "./schema.ts";
import { NOTIFY_KEYS, readNotify, readTrackRefs, secondsToMs } from "./sections.ts";
import { readLines, routeLine, ruleLine } from "./routes.ts";
import { readVip, type VipDraft } from "./vip.ts";

const INSTANCE_KEYS = [
  "interface",
  "virtual_router_id",
  "priority",
  "advert_int",
  "version",
  "state",
  "nopreempt",
  "preempt_delay",
  "accept",
  "no_accept",
  "release_hold",
  "mcast_src_ip",
  "unicast_src_ip",
  "unicast_peer",
  "allowed_peers",
  "pin_peer_mac",
  "track_src_ip",
  "unicast_ttl",
  "authentication",
  "virtual_ipaddress",
  "virtual_ipaddress_excluded",
  "virtual_routes",
  "virtual_rules",
  "track_script",
  "track_interface",
  "track_file",
  "track_process",
  ...NOTIFY_KEYS,
  "notify_master_rx_lower_pri",
  "use_vmac",
  "vmac_xmit_base",
  "garp_master_delay",
  "garp_master_repeat",
  "garp_master_refresh",
  "garp_master_refresh_repeat",
  "garp_lower_prio_delay",
  "garp_lower_prio_repeat",
] as const;

/** What an instance may refer to outside itself. */
export interface InstanceEnv {
  global: GlobalConfig;
  scripts: ReadonlySet<string>;
  trackFiles: ReadonlySet<string>;
  trackProcesses: ReadonlySet<string>;
}

/** An instance plus what the cross-instance checks need to know about its validity. */
export interface InstanceDraft {
  config: InstanceConfig;
  path: KeyPath;
  /** interface, virtual_router_id and the family are all trustworthy. */
  identityOk: boolean;
  /** IPv4 and IPv6 VIPs together: the instance runs as two protocol instances. */
  dual: boolean;
}

/** RFC 5798 §5.2.7: 12 bits of centiseconds. */
const V3_MAX_CS = 4095;
/** The advert's address count is one byte. */
const MAX_VIPS = 255;

const versionParser: Parser<VrrpVersion> = (v) =>
  v === 2n || v === 3n ? ok(Number(v) as VrrpVersion) : expected("2 or 3", v);

const seconds: Parser<number> = (v) =>
  typeof v === "bigint" || (typeof v === "number" && Number.isFinite(v))
    ? ok(Number(v))
    : expected("a number of seconds", v);

const releaseHold: Parser<"auto" | number> = (v) => {
  if (v === "auto") return ok("auto");
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n === "number" && Number.isFinite(n) && n >= 0 && n <= 3600) return ok(secondsToMs(n));
  return expected(`"auto" or a number of seconds in 0..3600`, v);
};

const authType: Parser<"PASS"> = (v) => {
  if (typeof v === "string" && v.toUpperCase() === "PASS") return ok("PASS");
  if (typeof v === "string" && v.toUpperCase() === "AH") {
    return {
      ok: false,
      message:
        `expected "PASS": AH authentication was removed from VRRP (RFC 3768) and is not supported, got "AH"`,
    };
  }
  return expected(`"PASS"`, v);
};

const authPass: Parser<string> = (v) => {
  const bytes = typeof v === "string" ? new TextEncoder().encode(v).length : 0;
  return bytes >= 1 && bytes <= 8 ? ok(v as string) : expected(
    `a password of 1..8 bytes (the v2 auth field is 8 bytes${
      bytes > 8 ? `; this one is ${bytes}` : ""
    })`,
    v,
  );
};

/**
 * Reads one instance. Errors go to `ctx`; the returned config is filled with defaults
 * where values were bad, and is only meaningful when `ctx` has no errors.
 *
 * @example
 * ```ts
 * import { Ctx } from "./fields.ts";
 * import { GLOBAL_DEFAULTS } from "./schema.ts";
 * const ctx = new Ctx("a.toml", new Map());
 * const none = new Set<string>();
 * const env = { global: GLOBAL_DEFAULTS, scripts: none, trackFiles: none, trackProcesses: none };
 * const d = readInstance(ctx, "VI_1", {
 *   interface: "eth0",
 *   virtual_router_id: 51n,
 *   virtual_ipaddress: ["192.0.2.10/24"],
 * }, env);
 * d.config.priority; // 100
 * ```
 */
export function readInstance(
  ctx: Ctx,
  name: string,
  raw: RawTable,
  env: InstanceEnv,
): InstanceDraft {
  const path: KeyPath = ["vrrp_instance", name];
  const r = new TableReader(ctx, withoutPreempt(ctx, raw, path), path, INSTANCE_KEYS);
  const strict = env.global.strict;

  const iface = r.req("interface", ifname, `an interface name, e.g. "eth0"`) ?? "";
  const vrid = r.req("virtual_router_id", int(1, 255), "an integer in 1..255") ?? 0;
  const priority = r.opt("priority", int(1, 255)) ?? 100;
  const version = r.opt("version", versionParser) ?? env.global.vrrpVersion;
  const inherited = r.has("version") ? "" : `; version ${version} comes from global.vrrp_version`;

  const advertIntervalMs = readAdvertInterval(r, version, inherited);

  const state = r.opt("state", oneOf(["MASTER", "BACKUP"] as const, true)) ?? "BACKUP";
  const nopreempt = r.opt("nopreempt", bool) ?? false;
  const preemptDelayS = r.opt("preempt_delay", num(0, 1000, "seconds")) ?? 0;
  if (nopreempt && preemptDelayS > 0) {
    r.fail(
      "preempt_delay",
      `expected no preempt_delay with nopreempt = true (it would never apply), got ${preemptDelayS}`,
    );
  }
  if (nopreempt && state === "MASTER") {
    r.fail(
      "state",
      `expected "BACKUP" with nopreempt = true (starting as master is preempting), got "MASTER"`,
    );
  }

  const src = readSource(r);
  const peers = readPeers(r, src?.ip.address ?? null, "unicast_peer");
  const allowed = readPeers(r, src?.ip.address ?? null, "allowed_peers");
  if (r.has("unicast_peer") && r.has("allowed_peers")) {
    r.fail(
      "allowed_peers",
      "expected allowed_peers only for multicast: unicast_peer already lists the only peers heard",
    );
  }
  if (strict && r.has("unicast_peer")) {
    r.fail(
      "unicast_peer",
      `expected no unicast_peer under global.vrrp_strict (RFC 3768/5798 adverts are multicast), got ${
        describeValue(r.table.unicast_peer)
      }`,
    );
  }
  const auth = readAuth(r, version, inherited, strict);

  const vips = readVipList(r, "virtual_ipaddress", iface);
  const excluded = readVipList(r, "virtual_ipaddress_excluded", iface);
  if (vips === undefined && !r.has("virtual_ipaddress")) {
    r.fail(
      "virtual_ipaddress",
      `missing required key "virtual_ipaddress": expected an array of 1..${MAX_VIPS} VIPs, e.g. ["192.0.2.10/24"]`,
    );
  } else if (vips !== undefined && vips.length === 0 && r.ok("virtual_ipaddress")) {
    r.fail("virtual_ipaddress", `expected 1..${MAX_VIPS} VIPs, got an empty array`);
  } else if (vips !== undefined && vips.length > MAX_VIPS) {
    r.fail(
      "virtual_ipaddress",
      `expected at most ${MAX_VIPS} VIPs (the advert's address count is one byte), got ${vips.length}`,
    );
  }
  if (strict && r.has("virtual_ipaddress_excluded")) {
    r.fail(
      "virtual_ipaddress_excluded",
      `expected no virtual_ipaddress_excluded under global.vrrp_strict (every address must be in the advert), got ${
        describeValue(r.table.virtual_ipaddress_excluded)
      }`,
    );
  }
  checkDuplicateVips(r, [...(vips ?? []), ...(excluded ?? [])]);

  const family = checkFamily(r, vips ?? [], version, inherited);
  if (family !== null && family !== "dual") {
    checkAddressFamilies(r, family, src, peers);
    checkAddressFamilies(r, family, null, allowed);
  }
  const vmac = readVmac(r, vrid);
  checkOwner(r, priority, src, vips ?? []);

  const config: InstanceConfig = {
    name,
    interface: iface,
    vrid,
    priority,
    version,
    family: family === "ipv6" ? "ipv6" : "ipv4",
    advertIntervalMs,
    initialState: strictState(r, strict, state, priority) === "MASTER" ? "master" : "backup",
    preempt: !nopreempt,
    preemptDelayMs: secondsToMs(strictPreemptDelay(r, strict, preemptDelayS)),
    accept: readAccept(r, strict, version, priority),
    releaseHold: r.opt("release_hold", releaseHold) ?? "auto",
    srcIp: src?.ip.address ?? null,
    unicastPeers: peers.map((p) => p.ip.address),
    allowedPeers: allowed.map((p) => p.ip.address),
    pinPeerMac: r.opt("pin_peer_mac", bool) ?? false,
    trackSrcIp: r.opt("track_src_ip", bool) ?? false,
    unicastTtl: readUnicastTtl(r, peers.length > 0, family),
    auth,
    vips: (vips ?? []).map((d) => onVmac(d.vip, iface, vmac)),
    excludedVips: (excluded ?? []).map((d) => onVmac(d.vip, iface, vmac)),
    garp: readGarp(r, env.global),
    virtualRoutes: readLines(ctx, r.table.virtual_routes, r.at("virtual_routes"), routeLine),
    virtualRules: readLines(ctx, r.table.virtual_rules, r.at("virtual_rules"), ruleLine),
    trackScripts: readTrackRefs(r, "track_script", "vrrp_script", env.scripts),
    trackInterfaces: readTrackRefs(r, "track_interface", null, null, ifname),
    trackFiles: readTrackRefs(r, "track_file", "vrrp_track_file", env.trackFiles),
    trackProcesses: readTrackRefs(r, "track_process", "vrrp_track_process", env.trackProcesses),
    notify: {
      ...readNotify(r),
      masterRxLowerPri: r.opt("notify_master_rx_lower_pri", text("a command line")) ?? null,
    },
    syncGroup: null,
    vmac,
    vmacXmitBase: readXmitBase(r, vmac),
    dualStackOf: null,
  };
  return {
    config,
    path,
    dual: family === "dual",
    identityOk: r.ok("interface") && r.ok("virtual_router_id") && family !== null &&
      r.has("interface") && r.has("virtual_router_id"),
  };
}

/**
 * Accept Mode (RFC 5798 §6.1): `accept = true|false`, or keepalived's `no_accept = true`.
 * The default is keepalived's: accept, unless `global.vrrp_strict`, where the RFC's
 * default (no accept) holds. Without accept, a master drops traffic to VIPs it does not
 * own (`lib/sys/nft.ts`).
 */
function readAccept(
  r: TableReader,
  strict: boolean,
  version: VrrpVersion,
  priority: number,
): boolean {
  const accept = r.opt("accept", bool);
  const noAccept = r.opt("no_accept", bool);
  if (accept !== undefined && noAccept !== undefined && accept === noAccept) {
    r.fail(
      "no_accept",
      `expected one of accept and no_accept: accept = ${accept} and no_accept = ${noAccept} contradict`,
    );
  }
  const wanted = accept ?? (noAccept === undefined ? undefined : !noAccept);
  if (!strict) return wanted ?? true;
  // keepalived's strict rules: Accept Mode is VRRPv3's (RFC 5798); the owner accepts.
  if (wanted === true && version === 2 && priority !== 255) {
    r.ctx.warn(
      r.at(r.has("accept") ? "accept" : "no_accept"),
      "Accept Mode is cleared under global.vrrp_strict with VRRPv2 (RFC 3768 has none): traffic to the VIPs is dropped while master",
    );
    return false;
  }
  return wanted ?? priority === 255;
}

/**
 * keepalived's strict rule: only the address owner (priority 255) may start as master;
 * `state = "MASTER"` otherwise is cleared with a warning.
 */
function strictState(
  r: TableReader,
  strict: boolean,
  state: "MASTER" | "BACKUP",
  priority: number,
): "MASTER" | "BACKUP" {
  if (!strict || state !== "MASTER" || priority === 255) return state;
  r.ctx.warn(
    r.at("state"),
    `state = "MASTER" is cleared under global.vrrp_strict (only the address owner, priority 255, starts as master): starts as BACKUP`,
  );
  return "BACKUP";
}

/** keepalived's strict rule: no preempt_delay (RFC 5798 has none); cleared with a warning. */
function strictPreemptDelay(r: TableReader, strict: boolean, delayS: number): number {
  if (!strict || delayS === 0) return delayS;
  r.ctx.warn(
    r.at("preempt_delay"),
    "preempt_delay is cleared under global.vrrp_strict (RFC 5798 has none): preemption is immediate",
  );
  return 0;
}

/**
 * `preempt` is not a key: preemption is the default, and its opposite is `nopreempt`.
 * `preempt = true` asks for the default, so it is accepted with a warning; `preempt =
 * false` is refused with the key to use, rather than a "did you mean preempt_delay?".
 */
function withoutPreempt(ctx: Ctx, raw: RawTable, path: KeyPath): RawTable {
  if (!Object.hasOwn(raw, "preempt")) return raw;
  const { preempt, ...rest } = raw;
  const at = [...path, "preempt"];
  if (preempt === true) {
    ctx.warn(
      at,
      "preempt = true is the default (preemption is on unless nopreempt = true); remove it",
    );
  } else if (preempt === false) {
    ctx.error(
      at,
      `unknown key "preempt": preemption is the default; to turn it off, write nopreempt = true`,
    );
  } else {
    ctx.error(
      at,
      `unknown key "preempt": preemption is the default; its opposite is nopreempt = true, got ${
        describeValue(preempt)
      }`,
    );
  }
  return rest;
}

/**
 * v2 carries whole seconds in 8 bits; v3 carries centiseconds in 12 bits. Floats like
 * 0.29 are not exact in binary, so "a whole number of centiseconds" allows for that.
 */
function readAdvertInterval(r: TableReader, version: VrrpVersion, inherited: string): number {
  const s = r.opt("advert_int", seconds) ?? 1;
  if (!r.ok("version") || !r.ok("advert_int")) return 1000;
  if (version === 2) {
    if (Number.isInteger(s) && s >= 1 && s <= 255) return s * 1000;
    r.fail(
      "advert_int",
      `expected whole seconds in 1..255 for VRRPv2 (use version = 3 for sub-second adverts${inherited}), got ${
        describeValue(r.table.advert_int)
      }`,
    );
    return 1000;
  }
  const cs = s * 100;
  const whole = Math.round(cs);
  if (Math.abs(cs - whole) < 1e-6 && whole >= 1 && whole <= V3_MAX_CS) return whole * 10;
  r.fail(
    "advert_int",
    `expected 0.01..40.95 seconds in steps of 0.01 for VRRPv3, got ${
      describeValue(r.table.advert_int)
    }`,
  );
  return 1000;
}

interface Source {
  ip: Ip;
  key: "unicast_src_ip" | "mcast_src_ip";
}

/** keepalived treats mcast_src_ip and unicast_src_ip as one setting; so do we. */
function readSource(r: TableReader): Source | null {
  const m = r.opt("mcast_src_ip", unicastIp);
  const u = r.opt("unicast_src_ip", unicastIp);
  if (m !== undefined && u !== undefined && m.address !== u.address) {
    r.fail(
      "unicast_src_ip",
      `expected one source address: unicast_src_ip and mcast_src_ip are the same setting, got ${u.address} and ${m.address}`,
    );
    return null;
  }
  if (u !== undefined) return { ip: u, key: "unicast_src_ip" };
  if (m !== undefined) return { ip: m, key: "mcast_src_ip" };
  return null;
}

interface Peer {
  ip: Ip;
  path: KeyPath;
}

/** `unicast_peer` or `allowed_peers`: other routers' addresses, each once. */
function readPeers(
  r: TableReader,
  srcIp: string | null,
  key: "unicast_peer" | "allowed_peers",
): Peer[] {
  const seen = new Map<string, number>();
  const peers = r.list(key, (v, path) => {
    const ip = check(r.ctx, path, v, unicastIp);
    if (ip === undefined) return undefined;
    const index = path[path.length - 1] as number;
    const previous = seen.get(ip.address);
    if (previous !== undefined) {
      r.ctx.error(path, `duplicate peer ${ip.address} (also at ${key}[${previous}])`);
      return undefined;
    }
    seen.set(ip.address, index);
    if (ip.address === srcIp) {
      r.ctx.error(
        path,
        `expected another router's address, got ${ip.address}, this router's own source address`,
      );
      return undefined;
    }
    return { ip, path };
  }, `an array of peer addresses, e.g. ["192.0.2.2"]`);
  return peers ?? [];
}

/**
 * keepalived's per-instance GARP settings, each defaulting to the global one; the
 * lower-priority delay, unset globally, to the global master delay, as keepalived does.
 */
function readGarp(r: TableReader, g: GlobalConfig): GarpConfig {
  const s = (key: string, max: number) => {
    const v = r.opt(key, int(0, max));
    return v === undefined ? undefined : secondsToMs(v);
  };
  const masterDelayMs = s("garp_master_delay", 3600) ?? g.garpMasterDelayMs;
  const masterRepeat = r.opt("garp_master_repeat", int(1, 255)) ?? g.garpMasterRepeat;
  return {
    masterDelayMs,
    masterRepeat,
    masterRefreshMs: s("garp_master_refresh", 86400) ?? g.garpMasterRefreshMs,
    masterRefreshRepeat: r.opt("garp_master_refresh_repeat", int(1, 255)) ??
      g.garpMasterRefreshRepeat,
    lowerPrioDelayMs: s("garp_lower_prio_delay", 3600) ?? g.garpLowerPrioDelayMs ??
      g.garpMasterDelayMs,
    // Off unless set: hacore announces again once a rival master has gone quiet (the
    // engine's `reannounce`), which covers what keepalived's default burst is for.
    lowerPrioRepeat: r.opt("garp_lower_prio_repeat", int(0, 255)) ?? g.garpLowerPrioRepeat ?? 0,
  };
}

/** `unicast_ttl`: IPv4 unicast only (a hop limit per advert would need IPv6 ancillary data). */
function readUnicastTtl(r: TableReader, unicast: boolean, family: string | null): number {
  const ttl = r.opt("unicast_ttl", int(1, 255));
  if (ttl === undefined) return 255;
  if (!unicast) r.ctx.warn(r.at("unicast_ttl"), "unicast_ttl has no effect without unicast_peer");
  else if (family !== "ipv4" && ttl !== 255) {
    r.fail(
      "unicast_ttl",
      `expected unicast_ttl only on an IPv4 instance (hacore sends IPv6 adverts with hop limit 255), got ${ttl}`,
    );
  }
  return ttl;
}

/** `vmac_xmit_base` means something only with `use_vmac`: said, not silently dropped. */
function readXmitBase(r: TableReader, vmac: string | null): boolean {
  const on = r.opt("vmac_xmit_base", bool) ?? false;
  if (on && vmac === null) {
    r.ctx.warn(r.at("vmac_xmit_base"), "vmac_xmit_base has no effect without use_vmac");
  }
  return on && vmac !== null;
}

function readAuth(
  r: TableReader,
  version: VrrpVersion,
  inherited: string,
  strict: boolean,
): AuthConfig | null {
  if (!r.has("authentication")) return null;
  const raw = r.table.authentication;
  if (!isTable(raw)) {
    r.fail(
      "authentication",
      `expected { auth_type = "PASS", auth_pass = "..." }, got ${describeValue(raw)}`,
    );
    return null;
  }
  const t = new TableReader(r.ctx, raw, r.at("authentication"), ["auth_type", "auth_pass"]);
  const type = t.req("auth_type", authType, `"PASS"`);
  const pass = t.req("auth_pass", authPass, "a password of 1..8 bytes");
  if (strict) {
    // keepalived clears it with a warning: a strict router sends no auth data.
    r.ctx.warn(
      r.at("authentication"),
      "authentication is cleared under global.vrrp_strict (RFC 5798 removed it): adverts carry none",
    );
    return null;
  } else if (version === 3 && r.ok("version")) {
    r.fail(
      "authentication",
      `expected no authentication with VRRPv3 (RFC 5798 removed it; only v2 has it${inherited}), got an authentication table`,
    );
  }
  return type !== undefined && pass !== undefined ? { type, pass } : null;
}

function readVipList(r: TableReader, key: string, iface: string): VipDraft[] | undefined {
  return r.list(
    key,
    (v, path) => readVip(r.ctx, v, path, iface),
    `an array of "ADDR[/PREFIX]" strings or { address = "..." } tables`,
  );
}

function checkDuplicateVips(r: TableReader, all: readonly VipDraft[]): void {
  const seen = new Map<string, KeyPath>();
  for (const d of all) {
    const previous = seen.get(d.vip.address);
    if (previous === undefined) {
      seen.set(d.vip.address, d.path);
      continue;
    }
    const [key, index] = previous.slice(-2);
    r.ctx.error(d.path, `duplicate VIP ${d.vip.address} (also at ${key}[${index}])`);
  }
}

/**
 * The instance's family: that of its VIPs, or "dual" when it has both (it then runs as
 * two protocol instances); null if unknown. The first IPv6 VIP must be link-local.
 */
function checkFamily(
  r: TableReader,
  vips: readonly VipDraft[],
  version: VrrpVersion,
  inherited: string,
): Family | "dual" | null {
  if (vips.length === 0) return null;
  const v6 = vips.filter((d) => d.family === "ipv6");
  const v4 = vips.filter((d) => d.family === "ipv4");
  if (v6.length > 0) {
    const first = v6[0];
    if (!isLinkLocalV6(first.vip.address)) {
      r.ctx.error(
        first.path,
        `expected a link-local address (fe80::/10) as the first IPv6 VIP (RFC 5798 §5.2.9), got ${first.vip.address}`,
      );
    }
    if (version === 2 && r.ok("version")) {
      r.fail(
        "version",
        `expected version = 3 for ${
          v4.length > 0 ? "a dual-stack" : "an IPv6"
        } instance (VRRPv2 is IPv4-only${inherited}), got 2`,
      );
    }
  }
  if (v4.length > 0 && v6.length > 0) return "dual";
  return vips[0].family;
}

function checkAddressFamilies(
  r: TableReader,
  family: Family,
  src: Source | null,
  peers: readonly Peer[],
): void {
  const fam = familyName(family);
  if (src !== null && src.ip.family !== family) {
    r.fail(
      src.key,
      `expected an ${fam} address like the VIPs, got ${
        familyName(src.ip.family)
      } ${src.ip.address}`,
    );
  } else if (
    src !== null && family === "ipv6" && peers.length === 0 && !isLinkLocalV6(src.ip.address)
  ) {
    r.fail(
      src.key,
      `expected a link-local source (fe80::/10) for IPv6 multicast adverts (RFC 5798 §5.1.2.1), got ${src.ip.address}`,
    );
  }
  for (const p of peers) {
    if (p.ip.family === family) continue;
    r.ctx.error(
      p.path,
      `expected an ${fam} address like the VIPs, got ${familyName(p.ip.family)} ${p.ip.address}`,
    );
  }
}

/**
 * The address owner (RFC 5798 §3) is the router whose own address is a VIP; only it may
 * use priority 255, and it must, or two routers would both believe they own the address.
 */
function checkOwner(
  r: TableReader,
  priority: number,
  src: Source | null,
  vips: readonly VipDraft[],
): void {
  if (!r.ok("priority") || !r.ok("unicast_src_ip") || !r.ok("mcast_src_ip")) return;
  const owner = src !== null && vips.some((d) => d.vip.address === src.ip.address);
  if (priority === 255 && !owner) {
    r.fail(
      "priority",
      "expected 1..254: priority 255 is reserved for the address owner; set unicast_src_ip (or mcast_src_ip) to one of this instance's VIPs if this router owns it, got 255",
    );
  } else if (owner && priority !== 255 && src !== null) {
    r.fail(
      "priority",
      `expected 255 for the address owner (${src.key} ${src.ip.address} is one of the VIPs), got ${priority}`,
    );
  }
}

/**
 * `use_vmac = true` (the macvlan is named `vrrp.VRID`, as keepalived names it) or a
 * name; a dual-stack instance's IPv6 half gets its own (`vrrp6.VRID`, or the name + `6`).
 */
function readVmac(r: TableReader, vrid: number): string | null {
  const v = r.table.use_vmac;
  if (v === undefined || v === false) return null;
  if (v === true) return `vrrp.${vrid}`;
  const name = r.opt("use_vmac", ifname);
  if (name === undefined) {
    return null;
  }
  if (name === r.table.interface) {
    r.fail(
      "use_vmac",
      `expected a new interface name for the macvlan, not the instance's own interface "${name}"`,
    );
    return null;
  }
  return name;
}

/** With a virtual MAC, VIPs meant for the instance's interface live on its macvlan. */
function onVmac(vip: Vip, iface: string, vmac: string | null): Vip {
  if (vmac === null || vip.dev !== iface) return vip;
  const label = vip.label !== null && vip.label.startsWith(iface)
    ? `${vmac}${vip.label.slice(iface.length)}`
    : vip.label;
  return { ...vip, dev: vmac, label };
}

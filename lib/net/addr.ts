/**
 * IP address text ⇄ bytes, canonical forms and network-byte-order comparison.
 *
 * The engine keeps addresses as canonical strings (readable in traces and status);
 * the codec and the tie-break need their bytes, so both directions live here.
 *
 * @module
 */

/** Address family of an instance, an advert or a VIP. */
export type Family = "ipv4" | "ipv6";

/**
 * Parses dotted-quad IPv4 text into 4 bytes, or returns null when it is not one.
 *
 * @example
 * ```ts
 * parseIpv4("10.0.0.1"); // Uint8Array [10, 0, 0, 1]
 * ```
 */
export function parseIpv4(text: string): Uint8Array | null {
  // A scan by character code: the receive path parses sources and groups, and a split
  // plus a regular expression per octet was a third of a backup's CPU at 10 ms adverts.
  const out = new Uint8Array(4);
  let octet = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : DOT;
    if (c === DOT) {
      // Leading zeros are refused: inet_aton would read them as octal, which surprises people.
      if (digits === 0 || value > 255 || octet > 3) return null;
      out[octet++] = value;
      value = 0;
      digits = 0;
    } else if (c >= ZERO && c <= NINE) {
      if (digits === 3 || (digits === 1 && value === 0)) return null;
      value = value * 10 + (c - ZERO);
      digits++;
    } else {
      return null;
    }
  }
  return octet === 4 ? out : null;
}

const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/**
 * Parses IPv6 text (RFC 4291 forms, including `::` and a trailing dotted quad)
 * into 16 bytes, or returns null. A zone (`%eth0`) is not accepted.
 *
 * @example
 * ```ts
 * parseIpv6("fe80::1")?.[15]; // 1
 * ```
 */
export function parseIpv6(text: string): Uint8Array | null {
  if (text.length === 0 || text.length > 45 || text.includes("%")) return null;
  let head = text;
  let v4tail: Uint8Array | null = null;
  const lastColon = text.lastIndexOf(":");
  if (lastColon >= 0 && text.indexOf(".", lastColon) > lastColon) {
    v4tail = parseIpv4(text.slice(lastColon + 1));
    if (!v4tail) return null;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const dbl = head.indexOf("::");
  if (dbl !== head.lastIndexOf("::")) return null;
  const groupsOf = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const left = groupsOf(head.slice(0, dbl));
    const right = groupsOf(head.slice(dbl + 2));
    if (!left || !right || left.length + right.length > 7) return null;
    groups = [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  } else {
    const all = groupsOf(head);
    if (!all || all.length !== 8) return null;
    groups = all;
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[i * 2] = groups[i] >> 8;
    out[i * 2 + 1] = groups[i] & 0xff;
  }
  if (v4tail) out.set(v4tail, 12);
  return out;
}

/**
 * Parses an address of either family.
 *
 * @example
 * ```ts
 * parseIp("::1")?.family; // "ipv6"
 * ```
 */
export function parseIp(text: string): { family: Family; bytes: Uint8Array } | null {
  const v4 = parseIpv4(text);
  if (v4) return { family: "ipv4", bytes: v4 };
  const v6 = parseIpv6(text);
  if (v6) return { family: "ipv6", bytes: v6 };
  return null;
}

/** The result of {@link parseIp}, shared by {@link parseIpCached}: read it, never write it. */
export type ParsedIp = { readonly family: Family; readonly bytes: Uint8Array };

/**
 * Distinct texts {@link parseIpCached} remembers: the source, group and VIPs of every
 * instance (255 VRIDs with a few VIPs each fit). Past it the cache starts over, so
 * packets from ever-new sources cost a parse each, never unbounded memory.
 */
const PARSE_CACHE_LIMIT = 1024;
const parseCache = new Map<string, ParsedIp>();

/**
 * {@link parseIp}, remembered: the send path encodes the same source, group and VIPs
 * 100 times a second per instance at 10 ms adverts, and parsing them each time was a
 * tenth of an idle daemon's CPU. The bytes are shared between callers, so they must
 * only be read (copied into a packet, compared); use {@link parseIp} for bytes of your own.
 *
 * @example
 * ```ts
 * parseIpCached("224.0.0.18")?.bytes[0]; // 224, parsed once however often asked
 * ```
 */
export function parseIpCached(text: string): ParsedIp | null {
  const hit = parseCache.get(text);
  if (hit !== undefined) return hit;
  const p = parseIp(text);
  if (p === null) return null;
  if (parseCache.size >= PARSE_CACHE_LIMIT) parseCache.clear();
  parseCache.set(text, p);
  return p;
}

/**
 * IPv4 texts by first octet, then by the other three as one small integer (a Smi: no
 * number is allocated to look one up). Every advert carries a source and a VIP list
 * decoded to text; handing out the same string each time allocates nothing and keeps
 * its hash for the lookups that follow. Bounded like {@link PARSE_CACHE_LIMIT}.
 */
const v4Texts: (Map<number, string> | undefined)[] = new Array(256);
let v4TextCount = 0;

function formatIpv4(a: number, b: number, c: number, d: number): string {
  const key = (b << 16) | (c << 8) | d;
  let m = v4Texts[a];
  const hit = m?.get(key);
  if (hit !== undefined) return hit;
  const text = `${a}.${b}.${c}.${d}`;
  if (v4TextCount >= PARSE_CACHE_LIMIT) {
    v4Texts.fill(undefined);
    v4TextCount = 0;
    m = undefined;
  }
  if (m === undefined) v4Texts[a] = m = new Map();
  m.set(key, text);
  v4TextCount++;
  return text;
}

/**
 * The text of the IPv4 address at `bytes[offset, offset + 4)`, as {@link formatIp}
 * gives it (the same string each time): for reading addresses out of a received
 * header without a view per field.
 *
 * @example
 * ```ts
 * ipv4Text(frame, 12); // the source of the IPv4 header in `frame`, e.g. "192.0.2.11"
 * ```
 */
export function ipv4Text(bytes: Uint8Array, offset: number): string {
  return formatIpv4(bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]);
}

/**
 * Formats 4 or 16 address bytes as canonical text (RFC 5952 for IPv6).
 *
 * @example
 * ```ts
 * formatIp(new Uint8Array([192, 0, 2, 1])); // "192.0.2.1"
 * ```
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return formatIpv4(bytes[0], bytes[1], bytes[2], bytes[3]);
  if (bytes.length !== 16) {
    throw new RangeError(`address must be 4 or 16 bytes, got ${bytes.length}`);
  }
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[i * 2] << 8) | bytes[i * 2 + 1]);
  // RFC 5952: compress the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/**
 * Returns the canonical text of an address, or null when `text` is not one.
 *
 * @example
 * ```ts
 * canonicalIp("FE80:0:0::01"); // "fe80::1"
 * ```
 */
export function canonicalIp(text: string): string | null {
  const hit = canonicalCache.get(text);
  if (hit !== undefined) return hit;
  const p = parseIp(text);
  const canonical = p ? formatIp(p.bytes) : null;
  if (canonicalCache.size >= PARSE_CACHE_LIMIT) canonicalCache.clear();
  canonicalCache.set(text, canonical);
  return canonical;
}

/**
 * {@link canonicalIp} remembered (strings are immutable, so sharing them is safe): the
 * engine canonicalises every advert's source and VIPs, 100 times a second per
 * instance at 10 ms adverts. Bounded like the parse cache.
 */
const canonicalCache = new Map<string, string | null>();

/**
 * Whether two address lists hold the same set of addresses, compared canonically
 * (duplicates and order do not count). The lists an advert and the config carry are
 * nearly always the same texts in the same order: that is answered without building a
 * set.
 *
 * @example
 * ```ts
 * sameIpSet(["192.0.2.1", "fe80::1"], ["FE80:0::1", "192.0.2.1"]); // true
 * ```
 */
export function sameIpSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length === b.length) {
    let i = 0;
    while (i < a.length && a[i] === b[i]) i++;
    if (i === a.length) return true;
  }
  const sa = new Set(a.map((x) => canonicalIp(x) ?? x));
  const sb = new Set(b.map((x) => canonicalIp(x) ?? x));
  if (sa.size !== sb.size) return false;
  for (const x of sa) if (!sb.has(x)) return false;
  return true;
}

/**
 * Compares two addresses of one family as unsigned numbers in network byte order,
 * as the VRRP tie-break requires (RFC 5798 §6.4.3). Negative when `a < b`.
 *
 * @example
 * ```ts
 * compareIp("10.0.0.2", "10.0.0.10") < 0; // true
 * ```
 */
export function compareIp(a: string, b: string): number {
  const pa = parseIp(a);
  const pb = parseIp(b);
  if (!pa || !pb) throw new TypeError(`not an IP address: ${!pa ? a : b}`);
  if (pa.family !== pb.family) throw new TypeError(`mixed families: ${a} and ${b}`);
  for (let i = 0; i < pa.bytes.length; i++) {
    if (pa.bytes[i] !== pb.bytes[i]) return pa.bytes[i] - pb.bytes[i];
  }
  return 0;
}

/**
 * True for an IPv6 link-local unicast address (fe80::/10).
 *
 * @example
 * ```ts
 * isLinkLocalV6("fe80::1"); // true
 * ```
 */
export function isLinkLocalV6(text: string): boolean {
  const b = parseIpv6(text);
  return b !== null && b[0] === 0xfe && (b[1] & 0xc0) === 0x80;
}

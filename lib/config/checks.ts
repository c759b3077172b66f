/**
 * Reading health checks from the config: `[vrrp_script.NAME]` tables, whose `type` picks
 * one of the in-process checks (`tcp`, `http`, `https`, `dns`, `icmp`, `smtp`, `udp`,
 * `file`) or an external `script` (the default when `script` is given, as in keepalived).
 *
 * `readCheck` reads the type-specific keys of any table, so that later sections
 * (virtual servers' real servers) describe checks the same way.
 *
 * @module
 */

import type { CheckSpec, DnsRecordType, Endpoint, HttpCheck } from "../check/types.ts";
import { canonicalIp, parseIp } from "../net/addr.ts";
import {
  bool,
  type Ctx,
  expected,
  int,
  num,
  ok,
  oneOf,
  type Parser,
  type RawTable,
  TableReader,
  text,
} from "./fields.ts";
import type { ScriptConfig } from "./schema.ts";
import { secondsToMs, WEIGHT } from "./sections.ts";

/** The values of `type`; `https` is `http` with TLS. */
export const CHECK_TYPES = [
  "script",
  "tcp",
  "http",
  "https",
  "dns",
  "icmp",
  "smtp",
  "udp",
  "file",
] as const;
/** One value of `type`. */
export type CheckType = typeof CHECK_TYPES[number];

/** Keys each type reads, besides the common ones. */
const TYPE_KEYS: Readonly<Record<CheckType, readonly string[]>> = {
  script: ["script", "user", "dynamic"],
  tcp: ["connect"],
  http: ["url", "status", "body_regex", "digest", "host_header", "sni", "verify_tls"],
  https: ["url", "status", "body_regex", "digest", "host_header", "sni", "verify_tls"],
  dns: ["server", "query", "record_type", "expect"],
  icmp: ["host"],
  smtp: ["connect", "helo_name"],
  udp: ["connect", "payload", "payload_hex", "expect"],
  file: ["file", "expect"],
};

const COMMON_KEYS = ["type", "interval", "timeout", "weight", "rise", "fall", "init_fail"];

/** Every key any check type reads, for "unknown key" suggestions. */
export const ALL_CHECK_KEYS = [...new Set(Object.values(TYPE_KEYS).flat())];

/**
 * `HOST:PORT` (`[V6]:PORT`), or a bare `HOST` when `defaultPort` is given. Only IP
 * addresses: a check must not depend on DNS to decide a failover.
 */
export function endpoint(defaultPort: number | null): Parser<Endpoint> {
  return (v) => {
    const what = defaultPort === null
      ? 'HOST:PORT with an IP address, e.g. "127.0.0.1:80" or "[::1]:80"'
      : `an IP address, optionally with :PORT (default ${defaultPort}), e.g. "127.0.0.1"`;
    if (typeof v !== "string") return expected(what, v);
    const m = /^(?:\[([^\]]+)\]|([^:\[\]]+))(?::(\d{1,5}))?$/.exec(v);
    const bare = m === null && defaultPort !== null ? parseIp(v) : null;
    if (bare !== null) return ok({ host: canonicalIp(v) ?? v, port: defaultPort as number });
    if (m === null) return expected(what, v);
    const host = m[1] ?? m[2];
    const ip = parseIp(host);
    if (ip === null || (m[1] !== undefined && ip.family !== "ipv6")) return expected(what, v);
    if (m[1] === undefined && ip.family === "ipv6") return expected(what, v);
    const port = m[3] === undefined ? defaultPort : Number(m[3]);
    if (port === null || port < 1 || port > 65535) return expected(what, v);
    return ok({ host: canonicalIp(host) ?? host, port });
  };
}

const hostIp: Parser<string> = (v) => {
  const p = typeof v === "string" ? parseIp(v) : null;
  return p === null ? expected("an IP address", v) : ok(canonicalIp(v as string) ?? (v as string));
};

/** A header value may not smuggle a second header (or a body) into the request. */
const headerValue: Parser<string> = (v) =>
  typeof v === "string" && v.length > 0 &&
    ![...v].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)
    ? ok(v)
    : expected("a Host header value without control characters", v);

const regex: Parser<string> = (v) => {
  if (typeof v !== "string") return expected("a regular expression", v);
  try {
    new RegExp(v);
    return ok(v);
  } catch (e) {
    return expected(`a valid regular expression (${(e as Error).message})`, v);
  }
};

const digest: Parser<string> = (v) =>
  typeof v === "string" && /^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{64})$/.test(v)
    ? ok(v.toLowerCase())
    : expected("a hex digest of the body: 32 digits (MD5) or 64 (SHA-256)", v);

const hexBytes: Parser<string> = (v) => {
  if (typeof v !== "string" || !/^(?:[0-9a-fA-F]{2})+$/.test(v.replace(/\s+/g, ""))) {
    return expected('an even number of hex digits, e.g. "0a0b0c"', v);
  }
  return ok(v.replace(/\s+/g, "").toLowerCase());
};

function toHex(text: string): string {
  return [...new TextEncoder().encode(text)].map((b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
}

/** `200`, or `"200-299"`, as an inclusive range. */
const statusRange: Parser<readonly [number, number]> = (v) => {
  const what = 'an HTTP status (100..599) or a range like "200-299"';
  if (typeof v === "bigint") {
    return v >= 100n && v <= 599n ? ok([Number(v), Number(v)] as const) : expected(what, v);
  }
  const m = typeof v === "string" ? /^(\d{3})(?:-(\d{3}))?$/.exec(v) : null;
  if (m === null) return expected(what, v);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  return lo >= 100 && hi <= 599 && lo <= hi ? ok([lo, hi] as const) : expected(what, v);
};

/** A DNS name: labels of 1..63 letters, digits, `-` or `_`, at most 253 characters. */
const dnsName: Parser<string> = (v) => {
  const good = typeof v === "string" && v.length <= 254 &&
    (v === "." ||
      v.replace(/\.$/, "").split(".").every((l) => /^[A-Za-z0-9_-]{1,63}$/.test(l)));
  return good ? ok(v as string) : expected('a DNS name, e.g. "www.example.com"', v);
};

const RECORD_TYPES = [
  "A",
  "AAAA",
  "NS",
  "CNAME",
  "SOA",
  "PTR",
  "MX",
  "TXT",
  "SRV",
] as const satisfies readonly DnsRecordType[];

interface ParsedUrl {
  tls: boolean;
  target: Endpoint;
  path: string;
}

const url: Parser<ParsedUrl> = (v) => {
  const what = 'an http:// or https:// URL with an IP address, e.g. "http://127.0.0.1:8080/health"';
  if (typeof v !== "string") return expected(what, v);
  const m = /^(https?):\/\/(\[[^\]]+\]|[^/:\[\]]+)(?::(\d{1,5}))?(\/[^\s#]*)?$/.exec(v);
  if (m === null) return expected(what, v);
  const tls = m[1] === "https";
  const hostText = m[2].startsWith("[") ? m[2].slice(1, -1) : m[2];
  const ip = parseIp(hostText);
  if (ip === null || (m[2].startsWith("[") !== (ip.family === "ipv6"))) {
    return expected(`${what} (names are not resolved: use the address)`, v);
  }
  const port = m[3] === undefined ? (tls ? 443 : 80) : Number(m[3]);
  if (port < 1 || port > 65535) return expected(what, v);
  return ok({ tls, target: { host: canonicalIp(hostText) ?? hostText, port }, path: m[4] ?? "/" });
};

/**
 * Reads the type-specific keys of a check table. `type` has already been read; keys of
 * other types are reported as not belonging to this type.
 *
 * @example
 * ```ts
 * import { Ctx, TableReader } from "./fields.ts";
 * const ctx = new Ctx("a.toml", new Map());
 * const r = new TableReader(ctx, { connect: "127.0.0.1:80" }, ["vrrp_script", "web"], ["connect"]);
 * readCheck(r, "tcp"); // { kind: "tcp", target: { host: "127.0.0.1", port: 80 } }
 * ```
 */
export function readCheck(r: TableReader, type: CheckType): CheckSpec | undefined {
  for (const key of Object.keys(r.table)) {
    if (COMMON_KEYS.includes(key) || TYPE_KEYS[type].includes(key)) continue;
    if (ALL_CHECK_KEYS.includes(key)) {
      r.fail(
        key,
        `"${key}" does not apply to type = "${type}"; its keys are: ${TYPE_KEYS[type].join(", ")}`,
      );
    }
  }
  switch (type) {
    case "script": {
      const command = r.req(
        "script",
        text("a command line"),
        'a command line, e.g. "/usr/local/bin/check"',
      );
      if (command === undefined) return undefined;
      return {
        kind: "script",
        command,
        user: r.opt("user", text("a user name")) ?? null,
        dynamic: r.opt("dynamic", bool) ?? false,
      };
    }
    case "tcp": {
      const target = r.req("connect", endpoint(null), 'HOST:PORT, e.g. "127.0.0.1:80"');
      return target === undefined ? undefined : { kind: "tcp", target };
    }
    case "http":
    case "https": {
      const u = r.req("url", url, 'a URL, e.g. "http://127.0.0.1:8080/health"');
      if (u === undefined) return undefined;
      if (u.tls !== (type === "https")) {
        r.fail("url", `expected an ${type}:// URL for type = "${type}", got "${r.table.url}"`);
        return undefined;
      }
      const ranges = r.list("status", (v, path) => {
        const p = statusRange(v);
        if (p.ok) return p.value;
        r.ctx.error(path, p.message);
        return undefined;
      }, 'an array of statuses or ranges, e.g. [200, "300-399"]');
      if (ranges !== undefined && ranges.length === 0 && r.ok("status")) {
        r.fail("status", "expected at least one status or range, got an empty array");
      }
      const spec: HttpCheck = {
        kind: "http",
        tls: u.tls,
        target: u.target,
        path: u.path,
        hostHeader: r.opt("host_header", headerValue) ?? null,
        sni: r.opt("sni", dnsName) ?? null,
        verifyTls: r.opt("verify_tls", bool) ?? true,
        statusRanges: ranges !== undefined && ranges.length > 0 ? ranges : [[200, 299]],
        bodyRegex: r.opt("body_regex", regex) ?? null,
        digest: r.opt("digest", digest) ?? null,
      };
      if (!u.tls) {
        for (const key of ["sni", "verify_tls"]) {
          if (r.has(key)) r.fail(key, `"${key}" only applies to type = "https"`);
        }
      }
      return spec;
    }
    case "dns": {
      const server = r.req("server", endpoint(53), 'a DNS server address, e.g. "127.0.0.1"');
      const name = r.req("query", dnsName, 'the name to ask for, e.g. "example.com"');
      const type = r.opt("record_type", oneOf(RECORD_TYPES, true)) ?? "A";
      const expect = r.opt("expect", text("an expected answer")) ?? null;
      if (server === undefined || name === undefined) return undefined;
      return { kind: "dns", server, name, type, expect };
    }
    case "icmp": {
      const host = r.req("host", hostIp, 'an IP address to ping, e.g. "192.0.2.1"');
      return host === undefined ? undefined : { kind: "icmp", host };
    }
    case "smtp": {
      const target = r.req("connect", endpoint(25), 'an SMTP server, e.g. "127.0.0.1:25"');
      if (target === undefined) return undefined;
      return { kind: "smtp", target, heloName: r.opt("helo_name", dnsName) ?? "hacore" };
    }
    case "udp": {
      const target = r.req("connect", endpoint(null), 'HOST:PORT, e.g. "127.0.0.1:53"');
      if (r.has("payload") && r.has("payload_hex")) {
        r.fail("payload_hex", "expected one of payload and payload_hex, got both");
      }
      const payloadHex = r.opt("payload_hex", hexBytes) ??
        toHex(r.opt("payload", text("a payload")) ?? "");
      if (target === undefined) return undefined;
      return { kind: "udp", target, payloadHex, expect: r.opt("expect", regex) ?? null };
    }
    case "file": {
      const path = r.req("file", absolute, 'an absolute path, e.g. "/run/app/ready"');
      if (path === undefined) return undefined;
      return { kind: "file", path, expect: r.opt("expect", regex) ?? null };
    }
  }
}

const absolute: Parser<string> = (v) =>
  typeof v === "string" && v.startsWith("/") && !v.includes("\0")
    ? ok(v)
    : expected("an absolute path (starting with /)", v);

/**
 * Reads one `[vrrp_script.NAME]`: a check plus its pacing, weight and debouncing.
 *
 * @example
 * ```ts
 * import { Ctx } from "./fields.ts";
 * const ctx = new Ctx("a.toml", new Map());
 * readScript(ctx, "chk", { script: "/bin/true" }).intervalMs; // 1000
 * readScript(ctx, "web", { type: "tcp", connect: "127.0.0.1:80" }).check.kind; // "tcp"
 * ```
 */
export function readScript(ctx: Ctx, name: string, raw: RawTable): ScriptConfig {
  const r = new TableReader(ctx, raw, ["vrrp_script", name], [...COMMON_KEYS, ...ALL_CHECK_KEYS]);
  const type = r.opt("type", oneOf(CHECK_TYPES)) ??
    (r.has("type") || r.has("script") ? "script" : undefined);
  if (type === undefined) {
    r.fail(
      "type",
      `missing required key "type": expected one of ${
        CHECK_TYPES.join(", ")
      } (or a "script" command line)`,
    );
  }
  const intervalS = r.opt("interval", num(0.01, 3600, "seconds")) ?? 1;
  const timeoutS = r.opt("timeout", num(0.01, 3600, "seconds")) ?? intervalS;
  const check = type === undefined ? undefined : readCheck(r, type);
  return {
    name,
    check: check ?? { kind: "script", command: "", user: null, dynamic: false },
    intervalMs: secondsToMs(intervalS),
    timeoutMs: secondsToMs(timeoutS),
    weight: r.opt("weight", WEIGHT) ?? 0,
    rise: r.opt("rise", int(1, 1000)) ?? 1,
    fall: r.opt("fall", int(1, 1000)) ?? 1,
    initialUp: !(r.opt("init_fail", bool) ?? false),
  };
}

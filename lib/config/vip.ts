/**
 * Virtual addresses: `"ADDR[/PREFIX]"` or `{ address, prefix, dev, label, scope }`.
 *
 * @module
 */

import { type Family, isLinkLocalV6 } from "../net/addr.ts";
import { describeValue } from "./errors.ts";
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

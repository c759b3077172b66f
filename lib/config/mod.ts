/**
 * hacore configuration: TOML file → validated, fully defaulted, deeply frozen `Config`.
 *
 * Every problem in a file is reported at once, each with its file, line, key path, what
 * was expected and what was seen. Unknown keys are errors (with "did you mean"), never
 * warnings: a misspelt `nopreemt` silently ignored is an outage waiting for a reboot.
 *
 * What `vrrp_strict = true` means here: RFC behaviour only, so that hacore interoperates
 * with any RFC-conformant router:
 * - no `authentication` (RFC 5798 removed it);
 * - no `unicast_peer` (the RFCs send adverts to the multicast group only);
 * - no `virtual_ipaddress_excluded` (every address the router holds is in its advert).
 *
 * @example
 * ```ts
 * import { formatConfigError, loadConfig } from "./mod.ts";
 *
 * const r = await loadConfig("/etc/hacore/hacore.toml");
 * if (!r.ok) for (const e of r.errors) console.error(formatConfigError(e));
 * ```
 *
 * @module
 */

import { parse, TomlError } from "smol-toml";
import type { ConfigError } from "./errors.ts";
import { Ctx } from "./fields.ts";
import { scanKeyLines } from "./scan.ts";
import type { Config } from "./schema.ts";
import { validateDocument } from "./validate.ts";

export { type ConfigError, formatConfigError } from "./errors.ts";
export { autoReleaseHoldMs, summarizeInstance, summarizeScript, toRouterConfig } from "./router.ts";
export type * from "./schema.ts";
export type * from "./lvs_schema.ts";
export type * from "./lvs_roles.ts";
export { LVS_SCHEDULERS } from "./lvs_schema.ts";
export { endpointText, LVS_DEFAULTS, summarizeVirtualServer } from "./lvs.ts";
export { GLOBAL_DEFAULTS } from "./schema.ts";
export { DUAL_STACK_V6_SUFFIX } from "./validate.ts";

/**
 * The outcome of loading a config: a `Config`, or every error found.
 *
 * @example
 * ```ts
 * const r: LoadResult = parseConfig("", "empty.toml");
 * if (r.ok) console.log(r.config.instances.length);
 * else console.log(`${r.errors.length} error(s)`);
 * ```
 */
export type LoadResult = { ok: true; config: Config } | { ok: false; errors: ConfigError[] };

/**
 * Parses and validates config text. Pure: `file` is only used in errors and `Config.file`.
 *
 * @example
 * ```ts
 * const r = parseConfig(`
 * [vrrp_instance.VI_1]
 * interface = "eth0"
 * virtual_router_id = 51
 * virtual_ipaddress = ["192.0.2.100/24"]
 * `, "example.toml");
 * if (r.ok) r.config.instances[0].priority; // 100
 * ```
 */
export function parseConfig(source: string, file: string): LoadResult {
  let doc: Record<string, unknown>;
  try {
    // Integers as bigint keep TOML's integer/float distinction: `vrid = 51.0` is refused.
    doc = parse(source, { integersAsBigInt: true, unsafeKeyBehaviour: "keep" });
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    const what = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
    return {
      ok: false,
      errors: [{
        file,
        line: e.line,
        path: "",
        message: `TOML syntax error at column ${e.column}: ${what}`,
      }],
    };
  }
  const ctx = new Ctx(file, scanKeyLines(source));
  const config = validateDocument(ctx, doc);
  if (ctx.errors.length > 0) {
    // Stable sort: errors on one line keep the order they were found in.
    const errors = [...ctx.errors].sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
    return { ok: false, errors };
  }
  return { ok: true, config: deepFreeze(config) };
}

/**
 * Reads and validates a config file. A file that cannot be read is one error.
 *
 * @example
 * ```ts
 * const r = await loadConfig("examples/unicast.toml");
 * ```
 */
export async function loadConfig(file: string): Promise<LoadResult> {
  let source: string;
  try {
    source = await Deno.readTextFile(file);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return {
      ok: false,
      errors: [{ file, line: null, path: "", message: `cannot read the file: ${why}` }],
    };
  }
  return parseConfig(source, file);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    Object.freeze(value);
    // Recurse even into frozen objects: a frozen parent may hold a mutable child.
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

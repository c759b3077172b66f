/**
 * hacore configuration: TOML file (or keepalived.conf, recognised by its content) →
 * validated, fully defaulted, deeply frozen `Config`.
 *
 * Every problem in a file is reported at once, each with its file, line, key path, what
 * was expected and what was seen. Unknown keys are errors (with "did you mean"), never
 * warnings: a misspelt `nopreemt` silently ignored is an outage waiting for a reboot.
 *
 * What `vrrp_strict = true` means here: RFC behaviour only, so that hacore interoperates
 * with any RFC-conformant router (keepalived's meaning):
 * - `authentication` is cleared with a warning (RFC 5798 removed it), as keepalived does;
 * - no `unicast_peer` (the RFCs send adverts to the multicast group only);
 * - no `virtual_ipaddress_excluded` (every address the router holds is in its advert);
 * - Accept Mode is off unless `accept = true` (v3 only; the owner, priority 255,
 *   accepts): a master drops traffic to VIPs it does not own (nftables, `lib/sys/nft.ts`);
 * - `state = "MASTER"` below priority 255 and `preempt_delay` are cleared with a warning.
 *
 * What is accepted but differs from keepalived, or is ignored, is a warning
 * (`LoadResult.warnings`), never silent.
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
import { deepFreeze } from "./freeze.ts";
import { parsePlainToml } from "./plain_toml.ts";
import { findRedefinition, scanKeyLines } from "./scan.ts";
import type { Config } from "./schema.ts";
import { validateDocument } from "./validate.ts";
import { type KeepalivedOptions, looksLikeKeepalived, parseKeepalived } from "./keepalived/mod.ts";
import { writeToml } from "./keepalived/toml.ts";

export {
  type ConfigError,
  ERRORS_SHOWN_MAX,
  formatConfigError,
  formatConfigErrors,
  formatConfigWarning,
  formatConfigWarnings,
} from "./errors.ts";
export { autoReleaseHoldMs, summarizeInstance, summarizeScript, toRouterConfig } from "./router.ts";
export type * from "./schema.ts";
export type * from "./lvs_schema.ts";
export type * from "./lvs_roles.ts";
export { LVS_SCHEDULERS } from "./lvs_schema.ts";
export { endpointText, LVS_DEFAULTS, summarizeVirtualServer } from "./lvs.ts";
export { GLOBAL_DEFAULTS } from "./schema.ts";
export { DUAL_STACK_V6_SUFFIX } from "./validate.ts";
export {
  defaultConfigId,
  type KeywordInfo,
  KEYWORDS,
  type KeywordStatus,
} from "./keepalived/mod.ts";
export type { KeepalivedOptions } from "./keepalived/mod.ts";

/**
 * keepalived.conf text converted to hacore TOML (with "from FILE:LINE" comments), or
 * every error; warnings either way.
 *
 * @example
 * ```ts
 * const r = importKeepalived("global_defs {\n router_id a\n}\n", "k.conf", { configId: "a" });
 * if (r.ok) console.log(r.toml); // ... [global]\nrouter_id = "a" # from k.conf:2
 * ```
 */
export function importKeepalived(
  source: string,
  file: string,
  options: KeepalivedOptions = {},
):
  | { ok: true; toml: string; config: Config; warnings: ConfigError[] }
  | { ok: false; errors: ConfigError[]; warnings: ConfigError[] } {
  const r = parseKeepalived(source, file, options);
  if (!r.ok) return r;
  return {
    ok: true,
    toml: writeToml(r.doc, r.locs, file, r.warnings),
    config: r.config,
    warnings: r.warnings,
  };
}

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
export type LoadResult =
  | { ok: true; config: Config; warnings?: ConfigError[] }
  | { ok: false; errors: ConfigError[]; warnings?: ConfigError[] };

/** The config languages hacore reads; "auto" tells them apart by content. */
export type ConfigFormat = "auto" | "toml" | "keepalived";

/**
 * How to read a config file. A keepalived.conf's `@id` lines depend on `configId`
 * (keepalived's `--config-id`; default the host name's first label).
 *
 * @example
 * ```ts
 * const opts: LoadOptions = { format: "keepalived", configId: "lb-a" };
 * ```
 */
export interface LoadOptions {
  readonly format?: ConfigFormat;
  readonly configId?: string;
}

/**
 * The format of config text: keepalived.conf (`word {` blocks) or TOML.
 *
 * @example
 * ```ts
 * detectFormat("vrrp_instance VI_1 {\n}\n"); // "keepalived"
 * detectFormat("[vrrp_instance.VI_1]\n"); // "toml"
 * ```
 */
export function detectFormat(source: string): "toml" | "keepalived" {
  return looksLikeKeepalived(source) ? "keepalived" : "toml";
}

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
export function parseConfig(source: string, file: string, options: LoadOptions = {}): LoadResult {
  const format = options.format ?? "auto";
  if (format === "keepalived" || (format === "auto" && detectFormat(source) === "keepalived")) {
    const r = parseKeepalived(source, file, { configId: options.configId });
    return r.ok
      ? { ok: true, config: r.config, warnings: r.warnings }
      : { ok: false, errors: r.errors, warnings: r.warnings };
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(source);
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    const what = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
    const twice = what.includes("redefine") ? findRedefinition(source, e.line) : null;
    if (twice !== null) {
      return {
        ok: false,
        errors: [{
          file,
          line: e.line,
          path: twice.path,
          message: `duplicate key: "${twice.path}" is already defined on line ${twice.firstLine}`,
        }],
      };
    }
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
  // Scanned only when an error or warning needs a line.
  const ctx = new Ctx(file, () => scanKeyLines(source));
  const config = validateDocument(ctx, doc);
  if (ctx.errors.length > 0) {
    // Stable sort: errors on one line keep the order they were found in.
    const errors = [...ctx.errors].sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
    return { ok: false, errors };
  }
  const warnings = [...ctx.warnings].sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
  return { ok: true, config: deepFreeze(config), warnings };
}

/**
 * Reads and validates a config file. A file that cannot be read is one error.
 *
 * @example
 * ```ts
 * const r = await loadConfig("examples/unicast.toml");
 * ```
 */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<LoadResult> {
  let source: string;
  try {
    source = await Deno.readTextFile(file);
  } catch (e) {
    return unreadable(file, e);
  }
  return parseConfig(source, file, options);
}

/**
 * {@link loadConfig} reading the file synchronously: for a daemon's reload, which runs
 * the whole of it in one loop turn right after its Masters advertised, rather than
 * parse at whatever moment an asynchronous read completes.
 *
 * @example
 * ```ts
 * const r = loadConfigSync("examples/unicast.toml");
 * ```
 */
export function loadConfigSync(file: string, options: LoadOptions = {}): LoadResult {
  let source: string;
  try {
    source = Deno.readTextFileSync(file);
  } catch (e) {
    return unreadable(file, e);
  }
  return parseConfig(source, file, options);
}

/**
 * The TOML document of `source`: the plain subset by the lean reader, anything else (an
 * error too) by smol-toml, which throws the `TomlError` the messages are made from.
 *
 * @example
 * ```ts
 * parseToml("[global]\nrouter_id = \"a\"\n").global; // { router_id: "a" }
 * ```
 */
export function parseToml(source: string): Record<string, unknown> {
  // Integers as bigint keep TOML's integer/float distinction: `vrid = 51.0` is refused.
  return parsePlainToml(source) ??
    parse(source, { integersAsBigInt: true, unsafeKeyBehaviour: "keep" });
}

function unreadable(file: string, e: unknown): LoadResult {
  const why = e instanceof Error ? e.message : String(e);
  return {
    ok: false,
    errors: [{ file, line: null, path: "", message: `cannot read the file: ${why}` }],
  };
}

/**
 * A validated `Config` from TOML text, for tests that need one and are not testing the
 * reader itself: a config the test meant to be valid that is not fails the test with
 * the reader's own messages.
 *
 * @module
 */
import { type Config, formatConfigError, parseConfig } from "../../lib/config/mod.ts";

/**
 * Parses `source` as the TOML file `file`, or throws with every error the reader gave.
 *
 * @example
 * ```ts
 * const config = configOf(`[vrrp_instance.VI_1]\ninterface = "eth0"\n...`);
 * ```
 * @throws {Error} "expected a valid config, got: ..." when the reader refuses it.
 */
export function configOf(source: string, file = "test.toml"): Config {
  const r = parseConfig(source, file);
  if (!r.ok) {
    throw new Error(`expected a valid config, got:\n${r.errors.map(formatConfigError).join("\n")}`);
  }
  return r.config;
}

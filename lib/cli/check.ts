/**
 * `hacore check FILE`: validate a config without touching the system, for humans before a
 * reload and for CI on every config change.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { formatConfigError, loadConfig, summarizeInstance } from "../config/mod.ts";

const USAGE = "usage: hacore check FILE";

/**
 * Validates FILE. Prints `ok: FILE` and one summary line per instance (exit 0), or every
 * error then a count on stderr (exit 1). Bad usage exits 2.
 *
 * @example
 * ```ts
 * const code = await checkCommand(["examples/unicast.toml"]); // 0
 * ```
 */
export async function checkCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    console.error(`hacore check: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  const files = parsed.positionals;
  if (files.length !== 1) {
    console.error(files.length === 0 ? USAGE : `hacore check: expected one FILE\n${USAGE}`);
    return 2;
  }
  const file = files[0];
  const result = await loadConfig(file);
  if (!result.ok) {
    for (const e of result.errors) console.error(formatConfigError(e));
    console.error(`${result.errors.length} error(s) in ${file}`);
    return 1;
  }
  console.log(`ok: ${file}`);
  for (const instance of result.config.instances) console.log(`  ${summarizeInstance(instance)}`);
  return 0;
}

/**
 * `hacore check FILE`: validate a config without touching the system, for humans before a
 * reload and for CI on every config change. `hacore check --diff OLD NEW`: validate both
 * and print what a reload from OLD to NEW would change (the daemon's own diff).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Config, formatConfigError, loadConfig, summarizeInstance } from "../config/mod.ts";
import { diffConfigs, diffLines } from "../daemon/reload.ts";

const USAGE = "usage: hacore check FILE | hacore check --diff OLD NEW";

/**
 * Validates FILE. Prints `ok: FILE` and one summary line per instance (exit 0), or every
 * error then a count on stderr (exit 1). With `--diff OLD NEW`, validates both and prints
 * one line per change a reload from OLD to NEW would make, or `no changes` (exit 0).
 * Bad usage exits 2.
 *
 * @example
 * ```ts
 * const code = await checkCommand(["examples/unicast.toml"]); // 0
 * await checkCommand(["--diff", "/etc/hacore/hacore.toml", "new.toml"]); // "VI_1: priority 100 -> 120"
 * ```
 */
export async function checkCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { help: { type: "boolean", short: "h" }, diff: { type: "boolean" } },
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
  if (parsed.values.diff) {
    if (files.length !== 2) {
      console.error(`hacore check: --diff expects OLD and NEW\n${USAGE}`);
      return 2;
    }
    return await diffCommand(files[0], files[1]);
  }
  if (files.length !== 1) {
    console.error(files.length === 0 ? USAGE : `hacore check: expected one FILE\n${USAGE}`);
    return 2;
  }
  const file = files[0];
  const config = await loadOrReport(file);
  if (config === null) return 1;
  console.log(`ok: ${file}`);
  for (const instance of config.instances) console.log(`  ${summarizeInstance(instance)}`);
  return 0;
}

async function diffCommand(oldFile: string, newFile: string): Promise<number> {
  // Both files are reported, so one run shows every error there is.
  const before = await loadOrReport(oldFile);
  const after = await loadOrReport(newFile);
  if (before === null || after === null) return 1;
  const lines = diffLines(diffConfigs(before, after));
  console.log(`ok: ${oldFile} -> ${newFile}`);
  if (lines.length === 0) console.log("  no changes");
  for (const line of lines) console.log(`  ${line}`);
  return 0;
}

/** The validated config, or null after printing its errors and their count. */
async function loadOrReport(file: string): Promise<Config | null> {
  const result = await loadConfig(file);
  if (result.ok) return result.config;
  for (const e of result.errors) console.error(formatConfigError(e));
  console.error(`${result.errors.length} error(s) in ${file}`);
  return null;
}

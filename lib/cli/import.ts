/**
 * `hacore import keepalived.conf [--config-id ID] > hacore.toml`: convert a keepalived
 * configuration once. The TOML names, in comments, the keepalived.conf line each table
 * and key came from; `hacore check` accepts it and it means what the keepalived file
 * means. Warnings (keywords with no effect in hacore, values keepalived corrects) go to
 * stderr and into the TOML as comments; errors go to stderr and nothing is written.
 *
 * Loaded only when asked for: `hacore run` never needs it.
 *
 * @module
 */
import { parseArgs } from "./args.ts";
import { formatConfigError, importKeepalived } from "../config/mod.ts";

const USAGE = "usage: hacore import KEEPALIVED_CONF [--config-id ID] > hacore.toml";

/**
 * Prints FILE as hacore TOML (exit 0), or its errors (exit 1); bad usage exits 2.
 *
 * @example
 * ```ts
 * const code = await importCommand(["/etc/keepalived/keepalived.conf", "--config-id", "lb-a"]);
 * ```
 */
export async function importCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { "config-id": { type: "string" }, help: { type: "boolean", short: "h" } },
    });
  } catch (e) {
    console.error(`hacore import: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length !== 1) {
    console.error(`hacore import: expected one keepalived.conf FILE\n${USAGE}`);
    return 2;
  }
  const file = parsed.positionals[0];
  let source: string;
  try {
    source = await Deno.readTextFile(file);
  } catch (e) {
    console.error(`${file}: cannot read the file: ${(e as Error).message}`);
    return 1;
  }
  const r = importKeepalived(source, file, { configId: parsed.values["config-id"] });
  for (const w of r.warnings) console.error(`warning: ${formatConfigError(w)}`);
  if (!r.ok) {
    for (const e of r.errors) console.error(formatConfigError(e));
    console.error(`${r.errors.length} error(s) in ${file}; nothing was written`);
    return 1;
  }
  await Deno.stdout.write(new TextEncoder().encode(r.toml));
  return 0;
}

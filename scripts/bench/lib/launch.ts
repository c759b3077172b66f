/**
 * The ways a benchmark starts hacore: `deno run main.ts` (as the labs and the deno.json
 * `run` task do) or the bundle's launcher (`scripts/compile.sh --bundle`), both with
 * the V8 flags of lib/sys/runtime_flags.ts.
 *
 * @module
 */

import { v8FlagsArg } from "../../../lib/sys/runtime_flags.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
const MAIN = `${ROOT}main.ts`;
const LAUNCHER = `${ROOT}dist/hacore`;
const BUNDLE = `${ROOT}dist/hacore.js`;

/**
 * How hacore is started: from the sources, from the one-file bundle, or from the
 * sources of another checkout (`--other DIR`: before/after in one run).
 *
 * @example
 * ```ts
 * const how: HacoreLaunch = "bundle";
 * ```
 */
export type HacoreLaunch = "hacore" | "bundle" | "other";

let otherRoot: string | null = null;

/**
 * Sets the checkout that {@link HacoreLaunch} "other" runs (its main.ts).
 *
 * @example
 * ```ts
 * setOtherRoot("/tmp/hacore-before");
 * ```
 */
export function setOtherRoot(dir: string): void {
  otherRoot = dir.replace(/\/+$/, "");
}

/**
 * The command line (program first) that runs `hacore ARGS` the `how` way.
 *
 * @example
 * ```ts
 * hacoreCommand("hacore", ["run", "/tmp/a.toml"]); // [deno, "run", "-A", "--v8-flags=…", ".../main.ts", "run", "/tmp/a.toml"]
 * ```
 */
export function hacoreCommand(
  how: HacoreLaunch,
  args: readonly string[],
  /** V8 flags instead of the production ones (`deno run main.ts` only: the bundle's launcher has its own). */
  v8Flags?: readonly string[],
): string[] {
  if (how === "bundle") return [LAUNCHER, ...args];
  if (how === "other" && otherRoot === null) throw new Error("no --other checkout given");
  const main = how === "other" ? `${otherRoot}/main.ts` : MAIN;
  return [Deno.execPath(), "run", "-A", v8FlagsArg(v8Flags), main, ...args];
}

/**
 * Builds the bundle (`scripts/compile.sh --bundle`) when it is missing or older than
 * any source file under lib/ or main.ts.
 *
 * @example
 * ```ts
 * await ensureBundle((s) => console.log(s));
 * ```
 */
export async function ensureBundle(say: (s: string) => void): Promise<void> {
  const built = (await Deno.stat(BUNDLE).catch(() => null))?.mtime?.getTime() ?? 0;
  let newest = (await Deno.stat(MAIN)).mtime?.getTime() ?? 0;
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.name.endsWith(".ts")) {
        newest = Math.max(newest, (await Deno.stat(p)).mtime?.getTime() ?? 0);
      }
    }
  };
  await walk(`${ROOT}lib`);
  const launcher = await Deno.stat(LAUNCHER).then(() => true, () => false);
  if (built > newest && launcher) return;
  say("building the bundle (scripts/compile.sh --bundle)");
  const r = await new Deno.Command("bash", { args: [`${ROOT}scripts/compile.sh`, "--bundle"] })
    .output();
  if (!r.success) {
    throw new Error(`compile.sh --bundle failed:\n${new TextDecoder().decode(r.stderr)}`);
  }
}

/**
 * The scaffolding every benchmark shares: sweep what a killed earlier run left, make a
 * sandbox of namespaces and processes, clean it up on SIGINT/SIGTERM (exit 130/143) or
 * when the run ends, and turn a failed cleanup into a failed run.
 *
 * @module
 */

import { Sandbox, sweepStaleNamespaces, sweepStaleTempDirs } from "../../../lib/lab/host.ts";

/**
 * What a benchmark's main does before anything else: `parsed` is its options, "help",
 * or a usage error. Returns the exit code to leave with (0 after help, 2 on bad usage, 1
 * without root on Linux), or null to go on.
 *
 * @example
 * ```ts
 * const early = preflight("loop", opts, USAGE);
 * if (early !== null || typeof opts === "string") return early ?? 2;
 * ```
 */
export function preflight(name: string, parsed: unknown, usage: string): number | null {
  if (parsed === "help") {
    console.log(usage);
    return 0;
  }
  if (typeof parsed === "string") {
    console.error(`${name}: ${parsed}\n${usage}`);
    return 2;
  }
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) {
    console.error(`${name}: needs root on Linux (network namespaces, raw sockets)`);
    return 1;
  }
  return null;
}

/**
 * A benchmark's options from `parse` (a `parseArgs` call), or the exit code to leave
 * with: 2 after a usage error (printed with `usage`), 0 after `--help`.
 *
 * @example
 * ```ts
 * const values = benchOptions(USAGE, () => parseArgs({ args, options }).values);
 * if (typeof values === "number") return values;
 * ```
 */
export function benchOptions<V extends { help?: boolean }>(
  usage: string,
  parse: () => V,
): V | number {
  let values: V;
  try {
    values = parse();
  } catch (e) {
    console.error(`${(e as Error).message}\n${usage}`);
    return 2;
  }
  if (values.help) {
    console.log(usage);
    return 0;
  }
  return values;
}

/**
 * Runs `body` in a fresh sandbox whose namespaces start with `${tag}-PID-`; returns its
 * exit code, 130/143 after a signal, 1 when the cleanup fails.
 *
 * @example
 * ```ts
 * const code = await runSandboxed("checks", "hk", async (box, interrupted) => 0);
 * ```
 */
export async function runSandboxed(
  name: string,
  tag: string,
  /** `interrupted()` is true once a signal arrived (a failure then is the cleanup's). */
  body: (box: Sandbox, interrupted: () => boolean) => Promise<number>,
): Promise<number> {
  const swept = await sweepStaleNamespaces(new RegExp(`^${tag}-(\\d+)-\\d+$`));
  await sweepStaleTempDirs("hacore-lab-");
  if (swept.length > 0) console.log(`removed namespaces a killed run left: ${swept.join(", ")}`);

  const box = new Sandbox(`${tag}-${Deno.pid}-`);
  let interrupted: Deno.Signal | null = null;
  let cleaning: Promise<void> | null = null;
  const cleanup = () => {
    cleaning ??= box.cleanup().catch((e) => {
      console.error(`${name}: cleanup: ${(e as Error).message}`);
      throw e;
    });
    return cleaning;
  };
  const onSignal = (sig: Deno.Signal) => async () => {
    if (interrupted) return;
    interrupted = sig;
    console.log(`\n${sig}: cleaning up`);
    await cleanup().catch(() => {});
    Deno.exit(sig === "SIGINT" ? 130 : 143);
  };
  const handlers = (["SIGINT", "SIGTERM"] as const).map((sig) => [sig, onSignal(sig)] as const);
  for (const [sig, fn] of handlers) Deno.addSignalListener(sig, fn);
  let code = 0;
  try {
    code = await body(box, () => interrupted !== null);
  } finally {
    // After a signal the run fails under the cleanup; returning now would exit (and
    // kill the cleanup) before it is done, so wait for it either way.
    try {
      await cleanup();
    } catch {
      code = 1;
    }
    for (const [sig, fn] of handlers) Deno.removeSignalListener(sig, fn);
  }
  if (interrupted) return interrupted === "SIGINT" ? 130 : 143;
  return code;
}

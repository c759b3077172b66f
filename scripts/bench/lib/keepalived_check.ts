/**
 * keepalived's own verdict on a config a benchmark generates (`keepalived -t -f FILE`):
 * the benchmarks compare like with like only when keepalived accepts every line.
 *
 * @example
 * ```ts
 * const r = await keepalivedConfigTest(text);
 * if (r.code !== 0) console.error(r.output);
 * ```
 *
 * @module
 */

/** Where Debian's keepalived package installs it. */
export const KEEPALIVED = "/usr/sbin/keepalived";

/**
 * True when {@link KEEPALIVED} is not installed: tests of keepalived's configs skip.
 *
 * @example
 * ```ts
 * Deno.test({ name: "…", ignore: keepalivedMissing(), fn: async () => {} });
 * ```
 */
export function keepalivedMissing(): boolean {
  try {
    Deno.statSync(KEEPALIVED);
    return false;
  } catch {
    console.log(`skipped: keepalived is not installed at ${KEEPALIVED}`);
    return true;
  }
}

/**
 * Runs `keepalived -t` on `text` (written to a temporary file, removed after): its exit
 * code and everything it printed.
 *
 * @example
 * ```ts
 * const { code, output } = await keepalivedConfigTest("global_defs {\n}\n");
 * ```
 */
export async function keepalivedConfigTest(
  text: string,
): Promise<{ code: number; output: string }> {
  const file = await Deno.makeTempFile({ suffix: ".conf" });
  try {
    await Deno.writeTextFile(file, text);
    const out = await new Deno.Command(KEEPALIVED, {
      args: ["-t", "-f", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, output: dec.decode(out.stderr) + dec.decode(out.stdout) };
  } finally {
    await Deno.remove(file);
  }
}

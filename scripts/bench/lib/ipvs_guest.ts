/**
 * Where an LVS benchmark can run: here when this kernel has IPVS, else again inside
 * the User-Mode Linux guest (`scripts/vm/run.sh`), which has it.
 *
 * @module
 */

/** Set in the guest's environment, so a guest without IPVS fails instead of recursing. */
export const GUEST_ENV = "HACORE_LVS_BENCH_GUEST";

/**
 * True when this kernel has IPVS (`/proc/net/ip_vs`).
 *
 * @example
 * ```ts
 * if (!(await hasIpvs())) return await rerunInGuest(import.meta.url, Deno.args);
 * ```
 */
export async function hasIpvs(): Promise<boolean> {
  try {
    await Deno.stat("/proc/net/ip_vs");
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs the script at `scriptUrl` with `args` in the guest; its exit code.
 *
 * @example
 * ```ts
 * Deno.exit(await rerunInGuest(import.meta.url, ["--quick"]));
 * ```
 */
export async function rerunInGuest(scriptUrl: string, args: string[]): Promise<number> {
  const runSh = new URL("../../vm/run.sh", import.meta.url).pathname;
  const self = new URL(scriptUrl).pathname;
  console.log("no IPVS in this kernel: running in the UML guest (scripts/vm/run.sh)");
  const child = new Deno.Command("bash", {
    args: [runSh, "--timeout", "1500", "--", "deno", "run", "-A", self, ...args],
    env: { [GUEST_ENV]: "1" },
    stdin: "null",
  }).spawn();
  return (await child.status).code;
}

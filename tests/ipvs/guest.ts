/**
 * Declaring tests that need the kernel's IPVS. Most machines that run hacore's tests have
 * no IPVS (and cannot load it), so these tests run inside the User-Mode Linux guest of
 * `scripts/vm/run.sh`, which `scripts/test.sh` starts for `tests/ipvs/`. Run anywhere else
 * they skip with the reason, except under `CI=true`, where a skip would hide that the
 * LVS code went untested: there the missing IPVS is a failure.
 *
 * Each test works in network namespaces it creates (IPVS tables are per namespace), so the
 * guest's, or a real host's, own table is never touched.
 *
 * @module
 */

import { hasCommand, netnsSkipReason } from "../netns/helpers.ts";

/** How to run these tests where IPVS is missing; part of every skip and failure message. */
export const RUN_IN_GUEST =
  "run them in the IPVS guest: scripts/vm/run.sh -- deno test -A tests/ipvs/" +
  " (scripts/test.sh does this)";

/**
 * Why IPVS tests cannot run here, or null when they can: they need root and namespaces
 * (as the netns tests do), the kernel's IPVS (`/proc/net/ip_vs`) and `ipvsadm`.
 *
 * @example
 * ```ts
 * ipvsSkipReason(); // "no IPVS in this kernel (/proc/net/ip_vs missing)" on most hosts
 * ```
 */
export function ipvsSkipReason(): string | null {
  const why = netnsSkipReason();
  if (why) return why;
  try {
    Deno.statSync("/proc/net/ip_vs");
  } catch {
    return "no IPVS in this kernel (/proc/net/ip_vs missing)";
  }
  if (!hasCommand("ipvsadm")) return "needs ipvsadm";
  return null;
}

let warned = false;

/**
 * Declares a test that needs IPVS. Where IPVS is missing it is declared ignored with the
 * reason in its name and the reason printed once; under `CI=true` it is declared as a test
 * that fails with the reason instead, so CI cannot go green without running it.
 *
 * @example
 * ```ts
 * ipvsTest("a service added with ipvsadm is listed", async () => { ... });
 * ```
 */
export function ipvsTest(name: string, fn: () => Promise<void>): void {
  const why = ipvsSkipReason();
  if (!why) {
    Deno.test({ name, fn });
    return;
  }
  if (Deno.env.get("CI") === "true") {
    Deno.test({
      name,
      fn: () => {
        throw new Error(`IPVS test cannot run under CI=true: ${why}; ${RUN_IN_GUEST}`);
      },
    });
    return;
  }
  if (!warned) {
    warned = true;
    console.warn(`IPVS tests SKIPPED: ${why}; ${RUN_IN_GUEST}`);
  }
  Deno.test({ name: `${name} (skipped: ${why})`, ignore: true, fn });
}

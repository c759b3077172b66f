/**
 * Opening the IPVS port where the kernel has no IPVS (every host that runs the unit tests;
 * the IPVS guest has it, and there this test is ignored) fails at once with the fix.
 */

import assert from "node:assert/strict";
import { IpvsUnavailableError, openIpvs } from "../../lib/sys/ipvs.ts";

function hasIpvs(): boolean {
  try {
    Deno.statSync("/proc/net/ip_vs");
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "openIpvs without IPVS in the kernel says so and how to fix it",
  ignore: Deno.build.os !== "linux" || hasIpvs(),
  fn: async () => {
    const e = await openIpvs({ timeoutMs: 2000 }).then(
      async (port) => {
        await port.close();
        return null;
      },
      (e: unknown) => e,
    );
    assert.ok(e instanceof IpvsUnavailableError, `not IpvsUnavailableError: ${e}`);
    assert.equal(
      e.message,
      'IPVS is not available in this kernel (no "IPVS" generic netlink family): load the ip_vs module',
    );
  },
});

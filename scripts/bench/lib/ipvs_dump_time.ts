/**
 * Times full dumps of this namespace's IPVS table through hacore's own IPVS port
 * (`openIpvs().dump()`, what its runtime calls every few seconds): the cost of hacore's
 * periodic kernel comparison, measured apart from the daemon.
 *
 * ```sh
 * ip netns exec NS deno run -A scripts/bench/lib/ipvs_dump_time.ts [N]
 * ```
 *
 * Prints one JSON line: `{ "ms": [...], "services": S, "dests": D }`.
 *
 * @module
 */

import { openIpvs } from "../../../lib/sys/ipvs.ts";

if (import.meta.main) {
  const n = Number(Deno.args[0] ?? "5");
  const ipvs = await openIpvs({ timeoutMs: 30_000 });
  try {
    const ms: number[] = [];
    let services = 0, dests = 0;
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      const table = await ipvs.dump();
      ms.push(performance.now() - t);
      services = table.length;
      dests = table.reduce((sum, s) => sum + s.dests.length, 0);
    }
    console.log(JSON.stringify({ ms, services, dests }));
  } finally {
    await ipvs.close();
  }
}

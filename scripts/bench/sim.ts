/**
 * Simulator throughput: runs N random 3-router scenarios (crashes, loss, partitions)
 * and prints wall time, seeds per second and engine steps per second.
 *
 * usage: deno run --allow-env scripts/bench/sim.ts [SEEDS]
 */
import { checkInvariants, randomScenario, runScenario } from "../../lib/sim/mod.ts";

const seeds = Number(Deno.args[0] ?? "1000");
const t0 = performance.now();
let steps = 0, sent = 0, simulatedMs = 0, broken = 0;
for (let seed = 1; seed <= seeds; seed++) {
  const plan = randomScenario(seed);
  const r = runScenario(plan.spec);
  if (checkInvariants(plan, r).length > 0) broken++;
  steps += r.stats.steps;
  sent += r.stats.sent;
  simulatedMs += plan.spec.durationMs;
}
const wallS = (performance.now() - t0) / 1000;
console.log(
  `simulator: ${seeds} seeds (3 routers, crashes, loss, partitions) in ${wallS.toFixed(2)} s`,
);
console.log(
  `  ${(seeds / wallS).toFixed(0)} seeds/s, ${
    (steps / wallS / 1000).toFixed(0)
  }k engine steps/s, ${sent} adverts`,
);
console.log(
  `  ${(simulatedMs / 1000 / 3600).toFixed(1)} simulated hours, ${broken} seeds with violations`,
);
if (broken > 0) Deno.exitCode = 1;

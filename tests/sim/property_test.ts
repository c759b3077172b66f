/**
 * Property tests over many seeds. `HACORE_SIM_SEEDS=N` sets how many (default 1000);
 * `HACORE_SEED=S` replays one seed and prints its timeline.
 */
import { checkInvariants, formatTimeline, randomScenario, runScenario } from "../../lib/sim/mod.ts";

const replay = Deno.env.get("HACORE_SEED");
const count = Number(Deno.env.get("HACORE_SIM_SEEDS") ?? "1000");
const firstSeed = Number(Deno.env.get("HACORE_SIM_FIRST_SEED") ?? "1");

Deno.test(`simulator: ${replay ? `seed ${replay}` : `${count} seeds`} keep one master, bounded takeover, no flapping, preemption as configured`, () => {
  const seeds = replay ? [Number(replay)] : Array.from({ length: count }, (_, i) => firstSeed + i);
  const failures: string[] = [];
  let checked = 0;
  for (const seed of seeds) {
    const plan = randomScenario(seed);
    const result = runScenario(plan.spec);
    const violations = checkInvariants(plan, result);
    checked += plan.checkpoints.length;
    if (replay) console.log(`${plan.summary}\n${formatTimeline(result)}`);
    if (violations.length > 0) {
      failures.push(
        `${plan.summary}\n${
          violations.map((v) => `  [${v.property}] at ${v.atMs.toFixed(3)} ms: ${v.message}`).join(
            "\n",
          )
        }\n  replay: HACORE_SEED=${seed} deno task test tests/sim/`,
      );
    }
  }
  if (checked < seeds.length * 4) throw new Error(`only ${checked} checkpoints were checked`);
  if (failures.length > 0) {
    throw new Error(
      `${failures.length} of ${seeds.length} seeds broke an invariant:\n${
        failures.slice(0, 10).join("\n")
      }`,
    );
  }
});

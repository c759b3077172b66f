/**
 * `hacore sim`: runs a failover scenario in the deterministic simulator and prints its
 * timeline and the invariant checks. Needs no root and touches no network.
 *
 * @module
 */
import { parseArgs } from "./args.ts";
import {
  checkInvariants,
  demoScenario,
  formatTimeline,
  randomScenario,
  runScenario,
} from "../sim/mod.ts";

const USAGE = "usage: hacore sim [--seed N] [--interval MS]";

/**
 * Runs the demo scenario, or a random one with `--seed`; exit 1 when an invariant broke.
 *
 * @example
 * ```ts
 * await simCommand(["--seed", "42"]);
 * ```
 */
export function simCommand(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        seed: { type: "string" },
        interval: { type: "string" },
        help: { type: "boolean" },
      },
    }));
  } catch (e) {
    console.error(`hacore sim: ${(e as Error).message}\n${USAGE}`);
    return Promise.resolve(2);
  }
  if (values.help) {
    console.log(USAGE);
    return Promise.resolve(0);
  }
  const interval = values.interval === undefined ? undefined : Number(values.interval);
  if (interval !== undefined && !(interval >= 10 && interval <= 40950)) {
    console.error(`hacore sim: --interval must be 10..40950 ms, got "${values.interval}"`);
    return Promise.resolve(2);
  }
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isInteger(seed)) {
    console.error(`hacore sim: --seed must be an integer, got "${values.seed}"`);
    return Promise.resolve(2);
  }
  const plan = seed === undefined
    ? demoScenario(interval)
    : randomScenario(seed, { intervalMs: interval });
  const result = runScenario(plan.spec);
  console.log(plan.summary);
  console.log(formatTimeline(result));
  const violations = checkInvariants(plan, result);
  const s = result.stats;
  console.log(
    `\n${s.sent} adverts sent, ${s.delivered} delivered, ${s.lost} lost, ${s.duplicated} duplicated; ${s.steps} engine steps`,
  );
  if (violations.length === 0) {
    console.log(`invariants: all hold (${plan.checkpoints.length} checkpoints)`);
    return Promise.resolve(0);
  }
  for (const v of violations) {
    console.log(`VIOLATION [${v.property}] at ${v.atMs.toFixed(3)} ms: ${v.message}`);
  }
  return Promise.resolve(1);
}

/**
 * The deterministic simulator's public surface, for tests, the benchmark and the
 * `hacore sim` demo.
 *
 * @module
 */
export { createRng, type Rng } from "./rng.ts";
export {
  type NetworkParams,
  runScenario,
  type ScenarioSpec,
  type SimHostSpec,
  type SimResult,
  type SimTransition,
  statesAt,
  type TimedWorldEvent,
  type WorldEvent,
} from "./sim.ts";
export {
  demoScenario,
  type PlannedScenario,
  randomScenario,
  type ScenarioOptions,
  simRouter,
} from "./scenario.ts";
export { checkInvariants, type Violation } from "./invariants.ts";
export { formatTimeline } from "./timeline.ts";

/**
 * Health checks: what a check is ({@link CheckSpec}), running one
 * ({@link runCheck}), debouncing results ({@link debounceStep}), running many on the
 * daemon's deadlines ({@link CheckScheduler}), and the one service every subsystem
 * subscribes to ({@link CheckService}).
 *
 * @example
 * ```ts
 * import { CheckService } from "./mod.ts";
 * const checks = new CheckService({ clock: { nowMs: () => performance.now() } });
 * const sub = checks.subscribe("web", (id, st) => console.log(id, st.up));
 * sub.set(new Map([["web", {
 *   spec: { kind: "tcp", target: { host: "127.0.0.1", port: 80 } },
 *   timing: { intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, initialUp: true },
 * }]]));
 * await checks.stop();
 * ```
 *
 * @module
 */

export * from "./types.ts";
export {
  type DebounceOutcome,
  type DebounceState,
  debounceStep,
  initialDebounce,
} from "./debounce.ts";
export { checksIdle, runCheck } from "./run.ts";
export {
  type CheckClock,
  CheckScheduler,
  type CheckSchedulerOptions,
  type CheckStatus,
  MAX_IN_FLIGHT,
  type ScheduledCheck,
} from "./scheduler.ts";
export {
  type CheckDefinition,
  CheckService,
  type CheckServiceOptions,
  type CheckSource,
  type CheckSubscription,
  type VerdictListener,
} from "./service.ts";

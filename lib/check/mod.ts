/**
 * Health checks: what a check is ({@link CheckSpec}), running one
 * ({@link runCheck}), debouncing results ({@link debounceStep}) and running many on
 * timers ({@link CheckScheduler}).
 *
 * @example
 * ```ts
 * import { CheckScheduler } from "./mod.ts";
 * const s = new CheckScheduler({ onChange: (st) => console.log(st.id, st.up) });
 * s.set({
 *   id: "vrrp_script:web",
 *   spec: { kind: "tcp", target: { host: "127.0.0.1", port: 80 } },
 *   timing: { intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, initialUp: true },
 * });
 * await s.stop();
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
  CheckScheduler,
  type CheckSchedulerOptions,
  type CheckStatus,
  MAX_IN_FLIGHT,
  type ScheduledCheck,
} from "./scheduler.ts";

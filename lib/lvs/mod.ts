/**
 * LVS: the IPVS table hacore wants (`desired.ts`), the quorum that decides it
 * (`quorum.ts`), the plan that makes the kernel hold it (`plan.ts`), with drains
 * (`drain.ts`), slow start (`slow_start.ts`) and the whole plan of a config
 * (`plan_config.ts`, shared with `hacore check --plan`). All pure; the runtime that dumps
 * the kernel's table and applies a plan sits on the daemon loop, and keeps its ownership
 * file (`ownership.ts`).
 *
 * @module
 */

export * from "./desired.ts";
export * from "./plan.ts";
export * from "./quorum.ts";
export * from "./events.ts";
export * from "./drain.ts";
export * from "./slow_start.ts";
export * from "./plan_config.ts";

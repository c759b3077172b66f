/**
 * LVS: the IPVS table hacore wants (`desired.ts`), the quorum that decides it
 * (`quorum.ts`) and the plan that makes the kernel hold it (`plan.ts`). All pure; the
 * runtime that dumps the kernel's table and applies a plan sits on the daemon loop.
 *
 * @module
 */

export * from "./desired.ts";
export * from "./plan.ts";
export * from "./quorum.ts";
export * from "./events.ts";

/**
 * The four properties every simulated run must have:
 * 1. after convergence, exactly one master per VRID in each connected partition;
 * 2. takeover no later than Master_Down_Interval plus one advert after the master dies;
 * 3. no transitions on a stable network once converged (no flapping);
 * 4. preemption exactly as configured: a stable master changes only to a router with
 *    preemption on and a strictly higher priority, and every `preempt` transition comes
 *    from a router configured to preempt.
 *
 * @module
 */

import { compareIp } from "../net/addr.ts";
import type { RouterConfig } from "../vrrp/types.ts";
import type { PlannedScenario } from "./scenario.ts";
import { type SimResult, statesAt } from "./sim.ts";

/** One broken property, readable on its own. */
export interface Violation {
  property: "one-master" | "takeover-time" | "no-flap" | "preemption";
  atMs: number;
  message: string;
}

function routerConfigs(result: SimResult): Map<string, RouterConfig> {
  const out = new Map<string, RouterConfig>();
  for (const h of result.spec.hosts) for (const r of h.routers) out.set(`${h.name}/${r.name}`, r);
  return out;
}

function vridsOf(result: SimResult): Map<number, string> {
  const out = new Map<number, string>();
  for (const h of result.spec.hosts) for (const r of h.routers) out.set(r.vrid, r.name);
  return out;
}

/** Which host is master of a router name at a time (all masters if several). */
function mastersAt(result: SimResult, atMs: number, router: string, among?: string[]): string[] {
  const states = statesAt(result, atMs);
  const out: string[] = [];
  for (const [host, s] of states) {
    if (among && !among.includes(host)) continue;
    if (s.up && s.routers.get(router) === "master") out.push(host);
  }
  return out;
}

/**
 * Checks a run against its plan and returns every violation (empty when all hold).
 *
 * @example
 * ```ts
 * const plan = randomScenario(1);
 * checkInvariants(plan, runScenario(plan.spec)); // []
 * ```
 */
export function checkInvariants(plan: PlannedScenario, result: SimResult): Violation[] {
  const v: Violation[] = [];
  const cfgs = routerConfigs(result);
  const vrids = vridsOf(result);

  for (const cp of plan.checkpoints) {
    const states = statesAt(result, cp.atMs);
    const groups = cp.groups ?? [result.spec.hosts.map((h) => h.name)];
    for (const group of groups) {
      const alive = group.filter((h) => states.get(h)?.up);
      if (alive.length === 0) continue;
      for (const [vrid, router] of vrids) {
        const masters = mastersAt(result, cp.atMs, router, alive);
        if (masters.length !== 1) {
          v.push({
            property: "one-master",
            atMs: cp.atMs,
            message: `${cp.label}: VRID ${vrid} in partition [${
              alive.join(",")
            }] has ${masters.length} masters (${masters.join(",") || "none"})`,
          });
        }
      }
    }
  }

  for (const w of plan.quiet) {
    for (const t of result.transitions) {
      if (t.atMs > w.fromMs && t.atMs < w.toMs) {
        v.push({
          property: "no-flap",
          atMs: t.atMs,
          message:
            `${w.label}: ${t.host}/${t.router} ${t.from}→${t.to} (${t.reason}) on a stable network`,
        });
      }
    }
  }

  for (const k of plan.kills) {
    const router = vrids.get(k.vrid)!;
    const rec = result.world.find((w) => w.atMs === k.atMs && w.event.kind === "crash-master");
    if (!rec || !rec.host) {
      v.push({
        property: "takeover-time",
        atMs: k.atMs,
        message: `no master to kill for VRID ${k.vrid}`,
      });
      continue;
    }
    const takeover = result.transitions.find((t) =>
      t.atMs >= k.atMs && t.router === router && t.to === "master" && t.host !== rec.host
    );
    if (!takeover) {
      v.push({
        property: "takeover-time",
        atMs: k.atMs,
        message: `nobody took over VRID ${k.vrid} after ${rec.host} died`,
      });
    } else if (takeover.atMs - k.atMs > k.boundMs) {
      v.push({
        property: "takeover-time",
        atMs: takeover.atMs,
        message: `VRID ${k.vrid}: ${takeover.host} took over ${
          (takeover.atMs - k.atMs).toFixed(3)
        } ms after ${rec.host} died; bound ${k.boundMs.toFixed(3)} ms`,
      });
    }
  }

  for (const t of result.transitions) {
    if (t.reason === "preempt" && !cfgs.get(`${t.host}/${t.router}`)?.preempt) {
      v.push({
        property: "preemption",
        atMs: t.atMs,
        message: `${t.host}/${t.router} preempted with preemption off`,
      });
    }
  }
  for (const p of plan.preempts) {
    for (const router of vrids.values()) {
      const before = mastersAt(result, p.fromMs, router);
      const after = mastersAt(result, p.toMs, router);
      if (before.length !== 1 || after.length !== 1) continue; // one-master reports these
      const [b, a] = [before[0], after[0]];
      const cb = cfgs.get(`${b}/${router}`)!;
      const ca = cfgs.get(`${a}/${router}`)!;
      if (a !== b && !(ca.preempt && ca.priority > cb.priority)) {
        v.push({
          property: "preemption",
          atMs: p.toMs,
          message:
            `${p.label}: ${router} moved ${b}(p${cb.priority})→${a}(p${ca.priority}, preempt ${ca.preempt})`,
        });
      }
      // Every up backup that outranks the master must be one that does not preempt.
      const states = statesAt(result, p.toMs);
      for (const [host, s] of states) {
        if (!s.up || host === a) continue;
        const c = cfgs.get(`${host}/${router}`)!;
        if (c.priority > ca.priority && c.preempt && s.routers.get(router) === "backup") {
          v.push({
            property: "preemption",
            atMs: p.toMs,
            message:
              `${p.label}: ${host}/${router} p${c.priority} with preempt stays backup under ${a} p${ca.priority}`,
          });
        }
      }
    }
  }
  return v;
}

/** Orders two routers by (priority, primary IP) as the protocol does; for callers' reports. */
export function outranks(a: RouterConfig, b: RouterConfig): boolean {
  return a.priority > b.priority ||
    (a.priority === b.priority && compareIp(a.primaryIp, b.primaryIp) > 0);
}

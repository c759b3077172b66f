import assert from "node:assert/strict";
import { parseRouteLine, parseRuleLine } from "../../lib/config/routes.ts";
import { makeRateLog } from "../../lib/daemon/common.ts";
import {
  planRoutes,
  planRules,
  routeMatches,
  RouteReconciler,
  ruleMatches,
} from "../../lib/daemon/route_reconciler.ts";
import { Logger, RateLimiter } from "../../lib/log.ts";
import type { KernelRoute, KernelRule, RoutePort } from "../../lib/sys/ports.ts";
import { ManualClock } from "../fakes/daemon.ts";

function route(text: string): KernelRoute {
  const r = parseRouteLine(text);
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

function rule(text: string): KernelRule {
  const r = parseRuleLine(text);
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

/** hacore's routes and rules in a pretend kernel; `failNext` makes the next call throw. */
class FakeRoutePort implements RoutePort {
  routes: KernelRoute[] = [];
  rules: KernelRule[] = [];
  calls: string[] = [];
  failNext = false;
  #maybeFail(call: string) {
    this.calls.push(call);
    if (this.failNext) {
      this.failNext = false;
      throw new Error("EPERM");
    }
  }
  lists = 0;
  listRoutes() {
    this.lists++;
    return Promise.resolve([...this.routes]);
  }
  listRules() {
    return Promise.resolve([...this.rules]);
  }
  addRoute(r: KernelRoute) {
    this.#maybeFail(`add route ${r.dst}/${r.dstLen}`);
    // The kernel fills in what the config left to it.
    this.routes.push({ ...r, dev: r.dev ?? "eth0", scope: r.scope ?? "global" });
    return Promise.resolve();
  }
  removeRoute(r: KernelRoute) {
    this.#maybeFail(`remove route ${r.dst}/${r.dstLen}`);
    this.routes = this.routes.filter((x) => x !== r);
    return Promise.resolve();
  }
  addRule(r: KernelRule) {
    this.#maybeFail(`add rule ${r.priority}`);
    this.rules.push({ ...r, priority: r.priority ?? 32765 });
    return Promise.resolve();
  }
  removeRule(r: KernelRule) {
    this.#maybeFail(`remove rule ${r.priority}`);
    this.rules = this.rules.filter((x) => x !== r);
    return Promise.resolve();
  }
}

function setup() {
  const clock = new ManualClock(1000);
  const lines: string[] = [];
  const log = new Logger({ sink: (l) => lines.push(l), level: "debug", format: "human" });
  const rateLog = makeRateLog(log, new RateLimiter(0), () => clock.nowMs());
  const counters: Record<string, number> = {};
  const port = new FakeRoutePort();
  const routes = new RouteReconciler({ port, log, rateLog, counters, clock, retryMs: 1000 });
  return { clock, lines, counters, port, routes };
}

Deno.test("a route matches what the kernel holds, whatever it filled in that the config left open", () => {
  const want = route("10.9.0.0/16 via 192.0.2.1");
  assert.ok(routeMatches(want, { ...want, dev: "eth0", scope: "global" }));
  assert.ok(!routeMatches(want, { ...want, via: "192.0.2.2" }));
  assert.ok(!routeMatches(route("10.9.0.0/16 via 192.0.2.1 dev eth1"), { ...want, dev: "eth0" }));
  const v6 = route("2001:db8:9::/48 via 2001:db8::1");
  assert.ok(routeMatches(v6, { ...v6, metric: 1024 }), "IPv6's default metric is 1024");
  assert.ok(!routeMatches(v6, { ...v6, metric: 5 }));
});

Deno.test("a rule without a priority matches the one the kernel gave it; a mark's mask defaults to all bits", () => {
  const want = rule("from 10.0.0.0/24 fwmark 7 table 100");
  assert.ok(ruleMatches(want, { ...want, priority: 32765, fwmask: 0xffff_ffff }));
  assert.ok(!ruleMatches({ ...want, priority: 5 }, { ...want, priority: 6 }));
  assert.ok(!ruleMatches(want, { ...want, table: 101 }));
  assert.ok(!ruleMatches(want, { ...want, invert: true }));
});

Deno.test("the plan removes what nobody wants, adds what is missing, and adds one item wanted twice once", () => {
  const a = route("10.9.0.0/16 via 192.0.2.1");
  const b = route("10.8.0.0/16 via 192.0.2.1");
  const stale = route("10.7.0.0/16 via 192.0.2.1");
  const p = planRoutes(
    [{ owner: "VI_1", item: a }, { owner: "VI_1", item: b }, { owner: "VI_2", item: b }],
    [a, stale],
  );
  assert.deepEqual(p.removes, [stale]);
  assert.deepEqual(p.adds, [{ owner: "VI_1", item: b }]);
  const r = rule("from 10.0.0.0/24 table 100 priority 100");
  assert.deepEqual(planRules([], [r]), { removes: [r], adds: [] });
});

Deno.test("the reconciler adds, keeps, restores a route deleted by hand, and removes everything when nothing is wanted", async () => {
  const { clock, lines, counters, port, routes } = setup();
  const want = {
    routes: [{ owner: "VI_1", item: route("10.9.0.0/16 via 192.0.2.1 table 100") }],
    rules: [{ owner: "static", item: rule("from 192.0.2.0/24 table 100 priority 100") }],
  };
  await routes.apply(want);
  assert.deepEqual(port.calls, ["add route 10.9.0.0/16", "add rule 100"]);
  assert.equal(routes.dueAtMs, clock.nowMs() + 2000, "checked again while anything is configured");
  assert.equal(routes.idle, false);
  await routes.apply(want);
  assert.equal(port.calls.length, 2, "nothing to do when the kernel holds it all");

  port.routes = []; // deleted by hand
  await routes.apply(want);
  assert.equal(port.calls[2], "add route 10.9.0.0/16");
  assert.equal(counters.routesRestored, 1);
  assert.ok(
    lines.some((l) => /VI_1: restored route 10\.9\.0\.0\/16 via 192\.0\.2\.1 table 100/.test(l)),
  );

  await routes.apply({ routes: [], rules: [] });
  assert.deepEqual(port.routes, []);
  assert.deepEqual(port.rules, []);
  assert.equal(routes.idle, true);
  assert.equal(routes.dueAtMs, null);
});

Deno.test("with nothing wanted, the kernel is read once (a crash's leftovers go), then not at every VIP reconcile", async () => {
  const { port, routes } = setup();
  port.routes = [route("10.9.0.0/16 via 192.0.2.1 table 100")]; // a crash's leftover
  const none = { routes: [], rules: [] };
  await routes.apply(none);
  assert.deepEqual(port.routes, []);
  assert.equal(port.lists, 1);
  await routes.apply(none);
  await routes.apply(none);
  assert.equal(port.lists, 1, "read again with nothing wanted and nothing held");
  // Something wanted again: read, added; then nothing wanted: read once more, removed.
  const want = {
    routes: [{ owner: "VI_1", item: route("10.9.0.0/16 via 192.0.2.1 table 100") }],
    rules: [],
  };
  await routes.apply(want);
  await routes.apply(none);
  assert.deepEqual(port.routes, []);
  assert.equal(port.lists, 3);
});

Deno.test("a failed add is logged, counted, and retried after retryMs; the stop is not idle until it succeeds", async () => {
  const { clock, lines, counters, port, routes } = setup();
  port.failNext = true;
  const want = {
    routes: [{ owner: "static", item: route("blackhole 203.0.113.0/24") }],
    rules: [],
  };
  await routes.apply(want);
  assert.equal(counters.routeErrors, 1);
  assert.ok(
    lines.some((l) => /static: cannot add route blackhole 203\.0\.113\.0\/24: EPERM/.test(l)),
  );
  assert.equal(routes.dueAtMs, clock.nowMs() + 1000);
  await routes.apply(want);
  assert.equal(port.routes.length, 1);
  port.failNext = true;
  await routes.apply({ routes: [], rules: [] });
  assert.equal(routes.idle, false, "the route is still there");
  await routes.apply({ routes: [], rules: [] });
  assert.equal(routes.idle, true);
});

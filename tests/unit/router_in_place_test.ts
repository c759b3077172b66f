/**
 * `stepInPlace` is `step` without the copy: over long random runs of every kind of
 * event, the state it writes into and the actions it returns must be `step`'s.
 */
import assert from "node:assert/strict";
import { createRouter, nextDeadline, step, stepInPlace } from "../../lib/vrrp/router.ts";
import type { RouterConfig, RouterEvent, RouterState } from "../../lib/vrrp/types.ts";
import { engineAdvert, routerConfig } from "../fakes/router_config.ts";
import { createRng } from "../../lib/sim/rng.ts";

function eventOf(r: number, config: RouterConfig): RouterEvent {
  const pick = <T>(xs: readonly T[]): T => xs[(r >> 12) % xs.length];
  switch ((r >> 4) % 14) {
    case 0:
    case 1:
    case 2:
    case 3:
      return {
        type: "advert",
        advert: engineAdvert(1, pick([50, 100, 150, 200, 0]), 10),
        src: pick(["192.0.2.9", "192.0.2.10", config.primaryIp]),
        count: 1 + ((r >> 8) % 3),
      };
    case 4:
      return { type: "priority", priority: pick([1, 90, 100, 120, 254]) };
    case 5:
      return { type: "fault", tracker: pick(["link", "chk"]), failing: (r & 1) === 1 };
    case 6:
      return { type: "force", state: pick(["backup", "master", "fault"] as const), detail: "g" };
    case 7:
      return { type: "maintenance", on: (r & 1) === 1 };
    case 8:
      return { type: "advertise" };
    case 9:
      return { type: "dropped", reason: pick(["truncated", "version", "checksum"] as const) };
    case 10:
      return { type: "reconfigure", config: { ...config, preemptDelayMs: pick([0, 30]) } };
    default:
      return { type: "tick" };
  }
}

function run(config: RouterConfig, seed: number): Set<string> {
  let pure: RouterState = step(createRouter(config, 0), { type: "startup" }, 0).state;
  const mine: RouterState = step(createRouter(config, 0), { type: "startup" }, 0).state;
  const kinds = new Set<string>();
  const rnd = createRng(seed);
  let now = 0;
  for (let k = 0; k < 4000; k++) {
    const r = rnd.int(0, 2 ** 31 - 1);
    const due = nextDeadline(pure);
    now += r % 6;
    // A shutdown stops the router for good: near the end only.
    const event: RouterEvent = k === 3950
      ? { type: "shutdown" }
      : due !== null && due <= now
      ? { type: "tick" }
      : eventOf(r, config);
    const before = structuredClone(pure);
    const full = step(pure, event, now);
    assert.deepStrictEqual(pure, before, "step leaves its input as it was");
    const actions = stepInPlace(mine, event, now);
    assert.deepStrictEqual(actions, full.actions, `${event.type} at ${now}`);
    assert.deepStrictEqual(mine, full.state, `${event.type} at ${now}`);
    pure = full.state;
    kinds.add(`${event.type}:${pure.state}`);
    for (const a of actions) kinds.add(a.type);
  }
  return kinds;
}

Deno.test("stepped in place, a router goes exactly where step takes it", () => {
  const configs = [
    routerConfig({ advertIntervalMs: 10 }),
    routerConfig({ advertIntervalMs: 10, preemptDelayMs: 25 }),
    routerConfig({ advertIntervalMs: 10, version: 2, preempt: false }),
    routerConfig({ advertIntervalMs: 10, priority: 255 }),
  ];
  const seen = new Set<string>();
  configs.forEach((c, i) => run(c, 11 + i).forEach((k) => seen.add(k)));
  // The runs must reach what they check: each state, releases and takeovers.
  for (
    const k of ["advert:backup", "advert:master", "tick:master", "fault:fault", "shutdown:init"]
  ) {
    assert.ok(seen.has(k), `${k} in ${[...seen].join(" ")}`);
  }
  for (const k of ["transition", "hold-vips", "release-vips", "announce"]) {
    assert.ok(seen.has(k), `${k} in ${[...seen].join(" ")}`);
  }
});

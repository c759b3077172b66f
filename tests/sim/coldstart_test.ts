/**
 * Cold start of three routers spawned at the same instant, each taking its own time to
 * open its sockets (as hacore does, tens to hundreds of milliseconds on a loaded host):
 * with the process's start as the anchor of the first Master_Down deadline, the highest
 * priority is master first however the start-up jitter falls (up to two advert intervals),
 * and a router that restarts beside a live master never takes over before hearing it.
 *
 * The world here is the pure engine (`lib/vrrp/node.ts`) on a lossless LAN with a fixed
 * delay, stepped event by event; `lib/sim` has no notion of start-up time.
 */
import assert from "node:assert/strict";
import { createRng } from "../../lib/sim/rng.ts";
import { simRouter } from "../../lib/sim/scenario.ts";
import { createNode, nodeNextDeadline, type NodeState, stepNode } from "../../lib/vrrp/node.ts";
import type { OutgoingAdvert } from "../../lib/vrrp/types.ts";

const LAN_DELAY_MS = 0.2;

interface Host {
  readonly ip: string;
  /** When its sockets open and it steps `startup`; null = running from the start. */
  readonly opensAtMs: number;
  node: NodeState;
  started: boolean;
}

interface Delivery {
  readonly atMs: number;
  readonly to: Host;
  readonly advert: OutgoingAdvert;
  readonly src: string;
}

/**
 * Runs the hosts until `untilMs`; returns who sent the first advert with a non-zero
 * priority, in order of sending. `anchored`: the startup step carries the exec time 0.
 */
function coldStart(
  specs: readonly { priority: number; opensAtMs: number }[],
  intervalMs: number,
  anchored: boolean,
  untilMs: number,
): string[] {
  const hosts: Host[] = specs.map((s, i) => ({
    ip: `10.0.0.${i + 1}`,
    opensAtMs: s.opensAtMs,
    node: createNode({
      routers: [simRouter({
        name: "VI_1",
        vrid: 51,
        priority: s.priority,
        primaryIp: `10.0.0.${i + 1}`,
        advertIntervalMs: intervalMs,
      })],
      syncGroups: [],
    }, Math.min(0, s.opensAtMs)),
    started: false,
  }));
  const senders: string[] = [];
  let inFlight: Delivery[] = [];
  const apply = (h: Host, step: ReturnType<typeof stepNode>, now: number) => {
    h.node = step.node;
    for (const { action } of step.actions) {
      if (action.type !== "send") continue;
      if (action.advert.priority > 0) senders.push(h.ip);
      for (const to of hosts) {
        // Nobody hears anything before its sockets are open.
        if (to !== h) {
          inFlight.push({ atMs: now + LAN_DELAY_MS, to, advert: action.advert, src: h.ip });
        }
      }
    }
  };
  for (;;) {
    const next = [
      ...hosts.filter((h) => !h.started).map((h) => ({ at: h.opensAtMs, run: () => start(h) })),
      ...hosts.filter((h) => h.started && nodeNextDeadline(h.node) !== null).map((h) => ({
        at: nodeNextDeadline(h.node)!,
        run: (at: number) => apply(h, stepNode(h.node, { type: "tick" }, at), at),
      })),
      ...inFlight.map((d) => ({ at: d.atMs, run: (at: number) => deliver(d, at) })),
    ].sort((a, b) => a.at - b.at)[0];
    if (next === undefined || next.at > untilMs) return senders;
    next.run(next.at);
  }
  function start(h: Host) {
    h.started = true;
    const event = anchored
      ? { type: "startup" as const, startedAtMs: 0 }
      : { type: "startup" as const };
    apply(h, stepNode(h.node, event, h.opensAtMs), h.opensAtMs);
  }
  function deliver(d: Delivery, at: number) {
    inFlight = inFlight.filter((x) => x !== d);
    if (!d.to.started) return;
    const event = {
      type: "advert" as const,
      family: "ipv4" as const,
      advert: { ...d.advert, checksum: 0 },
      src: d.src,
    };
    apply(d.to, stepNode(d.to.node, event, at), at);
  }
}

/** Three routers 150/100/50 whose sockets open at random within `spreadMs` of exec. */
function trial(seed: number, spreadMs: number, anchored: boolean): string {
  const rng = createRng(seed);
  const specs = [150, 100, 50].map((priority) => ({ priority, opensAtMs: rng.next() * spreadMs }));
  return coldStart(specs, 100, anchored, 2000)[0];
}

Deno.test("cold start at 100 ms: the highest priority is master first whatever the start-up jitter", () => {
  // Sockets open anywhere in the first 190 ms: under two intervals, the anchor decides.
  const firsts = Array.from({ length: 200 }, (_, seed) => trial(seed, 190, true));
  assert.deepEqual(firsts.filter((f) => f !== "10.0.0.1"), []);
});

Deno.test("cold start at 100 ms without the anchor: start-up jitter picks the master (the test can fail)", () => {
  const firsts = Array.from({ length: 200 }, (_, seed) => trial(seed, 190, false));
  const wrong = firsts.filter((f) => f !== "10.0.0.1").length;
  assert.ok(wrong > 40, `only ${wrong} of 200 wrong without the anchor`);
});

Deno.test("a backup restarting beside a live master at 10 ms never takes over, however late its sockets open", () => {
  for (const opensAtMs of [5, 40, 135, 400]) {
    // The master has run for a second (the exec-time anchor 0 is in its future, so it is
    // ignored); the restarted backup's exec is at 0.
    const rng = createRng(opensAtMs);
    const masterOpens = -1000 - rng.next();
    const hosts = [
      { priority: 150, opensAtMs: masterOpens },
      { priority: 100, opensAtMs },
    ];
    const senders = coldStart(hosts, 10, true, opensAtMs + 500);
    assert.deepEqual([...new Set(senders)], ["10.0.0.1"], `sockets open at ${opensAtMs} ms`);
  }
});

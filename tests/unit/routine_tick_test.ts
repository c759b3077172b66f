/**
 * A Master's routine tick (its periodic advert, taken without a full step) must be
 * exactly the full step's tick whenever it is taken, and must not be taken when that
 * tick does anything else.
 */
import assert from "node:assert/strict";
import {
  createNode,
  type NodeEvent,
  nodeNextDeadline,
  type NodeState,
  routineNodeTick,
  stepNode,
} from "../../lib/vrrp/node.ts";
import type { Advert, RouterConfig } from "../../lib/vrrp/types.ts";
import { engineAdvert, routerConfig } from "../fakes/router_config.ts";

function rc(name: string, vrid: number, priority: number, over: Partial<RouterConfig> = {}) {
  return routerConfig({
    name,
    vrid,
    priority,
    advertIntervalMs: 10,
    addresses: [`192.0.2.${vrid}`],
    ...over,
  });
}

function started(routers: RouterConfig[], groups: string[][] = []): NodeState {
  const node = createNode({
    routers,
    syncGroups: groups.map((members, i) => ({ name: `G${i}`, members })),
  }, 0);
  return stepNode(node, { type: "startup" }, 0).node;
}

function advert(vrid: number, priority: number): Advert {
  return engineAdvert(vrid, priority, 10);
}

/**
 * Ticks the node at each deadline (every third one late by 4 ms) until `untilMs`,
 * checking each routine tick against the full step; returns how many were routine.
 */
function tickAndCompare(node: NodeState, untilMs: number): { node: NodeState; routine: number } {
  let routine = 0;
  for (let k = 0;; k++) {
    const due = nodeNextDeadline(node);
    if (due === null || due > untilMs) return { node, routine };
    const at = k % 3 === 2 ? due + 4 : due;
    const full = stepNode(node, { type: "tick" }, at);
    const fast = routineNodeTick(node, at);
    if (fast !== null) {
      routine++;
      assert.deepStrictEqual(fast.node, full.node, `tick at ${at}`);
      assert.deepStrictEqual(fast.actions, full.actions, `tick at ${at}`);
    }
    node = full.node;
  }
}

Deno.test("routine tick: an owner's periodic adverts are the full step's, late ones too", () => {
  const { routine } = tickAndCompare(started([rc("A", 1, 255)]), 1000);
  assert.ok(routine >= 70, `only ${routine} ticks were routine`);
});

Deno.test("routine tick: not taken for a Backup's takeover, taken for the new Master after", () => {
  let node = started([rc("B", 2, 100)]);
  const takeover = nodeNextDeadline(node)!;
  assert.equal(routineNodeTick(node, takeover), null);
  node = stepNode(node, { type: "tick" }, takeover).node;
  assert.equal(node.routers.B.state, "master");
  assert.ok(tickAndCompare(node, takeover + 200).routine >= 15);
});

Deno.test("routine tick: not taken when two routers are due at once", () => {
  const node = started([rc("A", 1, 255), rc("C", 3, 255)]);
  const due = nodeNextDeadline(node)!;
  assert.equal(node.routers.A.adverDeadlineMs, node.routers.C.adverDeadlineMs);
  assert.equal(routineNodeTick(node, due), null);
  assert.ok(routineNodeTick(node, due - 1) === null, "nothing is due before the deadline");
});

Deno.test("routine tick: not taken for a sync group member", () => {
  const node = started([rc("A", 1, 255), rc("B", 2, 100)], [["A", "B"]]);
  assert.equal(routineNodeTick(node, node.routers.A.adverDeadlineMs!), null);
});

Deno.test("routine tick: not taken when a rival's quiet deadline is due, taken again after", () => {
  let node = started([rc("A", 1, 200, { initialState: "master" })]);
  node = stepNode(node, { type: "tick" }, nodeNextDeadline(node)!).node;
  assert.equal(node.routers.A.state, "master");
  // Past the handover moments, where a lower master's advert is taken for the old one's.
  node = tickAndCompare(node, 100).node;
  const heard: NodeEvent = {
    type: "advert",
    family: "ipv4",
    advert: advert(1, 50),
    src: "10.0.0.2",
  };
  node = stepNode(node, heard, nodeNextDeadline(node)! - 1).node;
  const quiet = node.routers.A.rivalQuietDeadlineMs;
  assert.ok(quiet !== null, "the lower-priority master is a rival");
  for (;;) {
    const due = nodeNextDeadline(node)!;
    if (due >= quiet) break;
    node = stepNode(node, { type: "tick" }, due).node;
  }
  assert.equal(routineNodeTick(node, quiet), null);
  const after = stepNode(node, { type: "tick" }, quiet);
  assert.ok(after.actions.some((a) => a.action.type === "reannounce"));
  assert.ok(tickAndCompare(after.node, quiet + 100).routine >= 5);
});

Deno.test("routine tick: the advert is shared while the priority holds, and follows a change", () => {
  let node = started([rc("A", 1, 200, { initialState: "master" })]);
  node = stepNode(node, { type: "tick" }, nodeNextDeadline(node)!).node;
  const first = routineNodeTick(node, nodeNextDeadline(node)!)!;
  const second = routineNodeTick(first.node, nodeNextDeadline(first.node)!)!;
  const a1 = first.actions[0].action;
  const a2 = second.actions[0].action;
  assert.ok(a1.type === "send" && a2.type === "send");
  assert.equal(a1.advert, a2.advert);
  assert.ok(Object.isFrozen(a1.advert) && Object.isFrozen(a1.advert.addresses));
  const lowered = stepNode(second.node, {
    type: "router",
    name: "A",
    event: { type: "priority", priority: 150 },
  }, nodeNextDeadline(second.node)! - 1).node;
  const third = routineNodeTick(lowered, nodeNextDeadline(lowered)!)!;
  const a3 = third.actions[0].action;
  assert.ok(a3.type === "send");
  assert.equal(a3.advert.priority, 150);
  assert.equal(third.node.routers.A.counters.advertisementsSent, 4);
});

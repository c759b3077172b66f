/**
 * The instance table steps one router's events, and a Master's routine ticks, in place
 * when the node has no sync group: the result must be exactly what `stepNode` (which
 * copies every router for each event) gives, event after event.
 */
import assert from "node:assert/strict";
import { groupOf, type Instance, makeInstance } from "../../lib/daemon/instance.ts";
import { InstanceTable } from "../../lib/daemon/instance_table.ts";
import {
  createNode,
  type NodeEvent,
  nodeNextDeadline,
  type NodeState,
  routineNodeTick,
  stepNode,
} from "../../lib/vrrp/node.ts";
import type { RouterEvent } from "../../lib/vrrp/types.ts";
import { configOf } from "../fakes/config.ts";
import { engineAdvert } from "../fakes/router_config.ts";

const PRIMARIES = new Map([["eth0", { ipv4: "192.0.2.2" }]]);

function tableOf(count: number, groups: string): { table: InstanceTable; node: NodeState } {
  const blocks = [];
  for (let i = 1; i <= count; i++) {
    blocks.push(
      `[vrrp_instance.VI_${i}]\ninterface = "eth0"\nvirtual_router_id = ${i}\n` +
        `version = 3\npriority = ${i % 2 === 0 ? 150 : 100}\nadvert_int = 0.01\n` +
        `virtual_ipaddress = ["198.51.100.${i}/24"]\n`,
    );
  }
  const config = configOf(`${blocks.join("\n")}\n${groups}`);
  const instances = config.instances.map((vi) => {
    const inst = makeInstance(vi, config, PRIMARIES);
    if (typeof inst === "string") throw new Error(inst);
    return inst;
  });
  const node = createNode({
    routers: instances.map((i: Instance) => i.rc),
    syncGroups: config.syncGroups.map(groupOf),
  }, 0);
  return { table: new InstanceTable(config, instances, 0), node };
}

/** A fixed pseudo-random sequence: the same run every time. */
function* lcg(seed: number): Generator<number> {
  let x = seed;
  for (;;) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    yield x;
  }
}

/** Router events of a busy LAN: adverts of higher and lower priority, releases, verdicts. */
function routerEvent(r: number, count: number): NodeEvent {
  const name = `VI_${1 + (r % count)}`;
  const vrid = 1 + (r % count);
  const kind = (r >> 8) % 10;
  const event: RouterEvent = kind < 6
    ? {
      type: "advert",
      advert: engineAdvert(vrid, [90, 120, 200, 0][(r >> 12) % 4], 10),
      src: "192.0.2.9",
    }
    : kind < 8
    ? { type: "priority", priority: 50 + ((r >> 12) % 150) }
    : { type: "fault", tracker: "link", failing: ((r >> 12) & 1) === 1 };
  return { type: "router", name, event };
}

function run(groups: string): { alone: number; routine: number; transitions: number } {
  const count = 6;
  const { table, node: start } = tableOf(count, groups);
  let node = stepNode(start, { type: "startup" }, 0).node;
  table.step({ type: "startup" }, 0);
  let now = 0;
  let alone = 0;
  let routine = 0;
  let transitions = 0;
  const rnd = lcg(7);
  for (let k = 0; k < 3000; k++) {
    const r = rnd.next().value as number;
    now += r % 7;
    const due = nodeNextDeadline(node);
    let event: NodeEvent;
    if (due !== null && due <= now) {
      // A routine tick where the node allows one, as the runtime takes it.
      const fast = routineNodeTick(node, now);
      const mine = table.routineTick(now);
      assert.equal(mine !== null, fast !== null, `routine tick at ${now}`);
      if (fast !== null && mine !== null) {
        assert.equal(mine.inst.cfg.name, fast.actions[0].router);
        assert.deepEqual({ type: "send", advert: mine.advert }, fast.actions[0].action);
        node = fast.node;
        routine++;
        assert.deepStrictEqual(table.node.routers, node.routers, `after the tick at ${now}`);
        continue;
      }
      event = { type: "tick" };
    } else {
      event = routerEvent(r, count);
      if (groups === "") alone++;
    }
    const full = stepNode(node, event, now);
    const mine = table.step(event, now);
    assert.deepEqual(
      mine.map(({ inst, action }) => ({ router: inst.cfg.name, action })),
      full.actions,
      `${event.type} at ${now}`,
    );
    node = full.node;
    transitions += full.actions.filter((a) => a.action.type === "transition").length;
    assert.deepStrictEqual(table.node.routers, node.routers, `${event.type} at ${now}`);
  }
  return { alone, routine, transitions };
}

Deno.test("without sync groups, a router's events stepped in place match the node's step", () => {
  const { alone, routine, transitions } = run("");
  // The run must exercise what it checks: many events alone, routine ticks, transitions.
  assert.ok(alone > 1000, `${alone} router events`);
  assert.ok(routine > 50, `${routine} routine ticks`);
  assert.ok(transitions > 50, `${transitions} transitions`);
});

Deno.test("with a sync group, every event still goes through the node's rules", () => {
  const { transitions } = run('[vrrp_sync_group.G]\ngroup = ["VI_1", "VI_2", "VI_3"]\n');
  assert.ok(transitions > 50, `${transitions} transitions`);
});

Deno.test("the instances of a transport and VRID are those of the transport with that VRID", () => {
  const blocks = [
    ["A", "eth0", 1, "198.51.100.1/24"],
    ["B", "eth0", 2, "198.51.100.2/24"],
    ["C", "eth1", 1, "203.0.113.1/24"],
    ["D", "eth0", 1, "fe80::1/64"],
    ["E", "eth0", 3, "198.51.100.3/24"],
  ].map(([name, iface, vrid, vip]) =>
    `[vrrp_instance.${name}]\ninterface = "${iface}"\nvirtual_router_id = ${vrid}\n` +
    `version = 3\npriority = 100\nvirtual_ipaddress = ["${vip}"]\n`
  );
  const config = configOf(blocks.join("\n"));
  const primaries = new Map([
    ["eth0", { ipv4: "192.0.2.2", ipv6: "fe80::2" }],
    ["eth1", { ipv4: "192.0.2.66" }],
  ]);
  const instances = config.instances.map((vi) => {
    const inst = makeInstance(vi, config, primaries);
    if (typeof inst === "string") throw new Error(inst);
    return inst;
  });
  const table = new InstanceTable(config, instances, 0);
  const keys = [...new Set(instances.map((i) => i.key)), "eth2/ipv4"];
  let found = 0;
  for (const key of keys) {
    for (let vrid = -1; vrid <= 256; vrid++) {
      const want = table.live.filter((i) => i.key === key && i.cfg.vrid === vrid);
      const got = table.onTransportVrid(key, vrid);
      assert.deepEqual(got.map((i) => i.cfg.name), want.map((i) => i.cfg.name), `${key} ${vrid}`);
      found += got.length;
    }
  }
  assert.equal(found, instances.length, "each instance under its transport and VRID once");
  assert.deepEqual(table.onTransportVrid("eth0/ipv4", 1).map((i) => i.cfg.name), ["A"]);
});

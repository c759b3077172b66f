/**
 * A reload's plan narrowed to the virtual servers it changed (`scopePlanInputs`): the
 * same operations as the whole plan for them, nothing for the others (even an entry of
 * theirs the kernel lost meanwhile: that is the periodic dump's drift to heal), and no
 * narrowing when the groups changed.
 */
import assert from "node:assert/strict";
import { configOf } from "../fakes/config.ts";
import type { Config } from "../../lib/config/schema.ts";
import { virtualServerChanges } from "../../lib/config/diff.ts";
import { desiredTable } from "../../lib/lvs/desired.ts";
import { type Op, ownedKeys } from "../../lib/lvs/plan.ts";
import { type ConfigPlanInputs, configServiceKeys, planConfig } from "../../lib/lvs/plan_config.ts";
import { scopePlanInputs } from "../../lib/lvs/reload_scope.ts";

function vs(name: string, port: number, weight = 1): string {
  return `[virtual_server.${name}]
address = "192.0.2.100"
port = ${port}
lb_algo = "wrr"
lb_kind = "DR"
[[virtual_server.${name}.real_server]]
address = "10.0.0.11"
weight = ${weight}
[[virtual_server.${name}.real_server]]
address = "10.0.0.12"
`;
}

function describeOp(o: Op): string {
  const s = `${o.service.address}:${o.service.port}`;
  return "dest" in o ? `${o.op} ${s} -> ${o.dest.address} weight ${o.dest.weight}` : `${o.op} ${s}`;
}

/** Plan inputs for `next` against a kernel that holds `before`'s table exactly. */
function inputs(before: Config, next: Config): ConfigPlanInputs {
  const kernel = desiredTable({
    virtualServers: before.virtualServers,
    groups: before.virtualServerGroups,
    health: new Map(),
    quorum: new Map(),
  });
  return {
    config: next,
    health: new Map(),
    quorum: new Map(),
    ramps: new Map(),
    heldServers: new Map(),
    kernel,
    owned: ownedKeys(kernel),
    drains: new Map(),
    nowMs: 0,
  };
}

Deno.test("reload scope: one changed weight plans one editDest, as the whole plan does", () => {
  const before = configOf([vs("a", 80), vs("b", 81), vs("c", 82)].join("\n"));
  const next = configOf([vs("a", 80), vs("b", 81, 5), vs("c", 82)].join("\n"));
  const names = virtualServerChanges(before.virtualServers, next.virtualServers).names;
  assert.deepEqual([...names], ["b"]);
  const i = inputs(before, next);
  const scoped = scopePlanInputs(i, before, names);
  assert.ok(scoped !== null);
  assert.equal(scoped.kernel.length, 1, "only b's service is looked at");
  const want = ["editDest 192.0.2.100:81 -> 10.0.0.11 weight 5"];
  assert.deepEqual(planConfig(scoped).ops.map(describeOp), want);
  assert.deepEqual(planConfig(i).ops.map(describeOp), want);
});

Deno.test("reload scope: an unchanged virtual server is not planned, even where the kernel lost an entry", () => {
  const before = configOf([vs("a", 80), vs("b", 81)].join("\n"));
  const next = configOf([vs("a", 80), vs("b", 81, 5)].join("\n"));
  const i = inputs(before, next);
  const lost = {
    ...i,
    kernel: i.kernel.map((e) => e.service.port === 80 ? { ...e, dests: [] } : e),
  };
  const scoped = scopePlanInputs(lost, before, new Set(["b"]))!;
  assert.equal(planConfig(scoped).ops.length, 1);
  assert.equal(planConfig(lost).ops.length, 3, "the whole plan restores a's two as well");
});

Deno.test("reload scope: a removed virtual server's service is in scope (deleted); a groups change is not narrowed", () => {
  const before = configOf([vs("a", 80), vs("b", 81)].join("\n"));
  const next = configOf(vs("a", 80));
  const names = virtualServerChanges(before.virtualServers, next.virtualServers).names;
  const scoped = scopePlanInputs(inputs(before, next), before, names)!;
  assert.deepEqual(planConfig(scoped).ops.map((o) => o.op), ["delService"]);
  assert.deepEqual([...configServiceKeys(before.virtualServers, [], names)], [
    "2 6 192.0.2.100 81",
  ]);

  const group = (port: number) =>
    `[virtual_server_group.g]\naddresses = ["192.0.2.100:${port}"]\n` +
    vs("gv", 0).replace('address = "192.0.2.100"\nport = 0', 'group = "g"').replace('"DR"', '"NAT"')
      .replaceAll('address = "10.0.0.1', 'port = 80\naddress = "10.0.0.1');
  const g1 = configOf(group(90));
  const g2 = configOf(group(91));
  assert.equal(scopePlanInputs(inputs(g1, g2), g1, new Set()), null);
});

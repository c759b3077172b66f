/**
 * `foldOp`: the runtime's running copy of the kernel table after each applied operation.
 * It matches services by identity (family, protocol, address, port; or family and mark)
 * exactly as `serviceKey` does, and touches only the one service an operation names.
 */
import assert from "node:assert/strict";
import type { IpvsTable } from "../../lib/lvs/desired.ts";
import { type Op, plan, serviceKey } from "../../lib/lvs/plan.ts";
import { foldOp, foldOps, opsSummary } from "../../lib/lvs/runtime.ts";
import { withCountersOf } from "../../lib/lvs/fold.ts";
import {
  AF_INET,
  AF_INET6,
  IP_VS_CONN_F_DROUTE,
  IPPROTO_TCP,
  IPPROTO_UDP,
  type IpvsDest,
  type IpvsService,
} from "../../lib/sys/netlink/ipvs_types.ts";

function svc(address: string, port: number, more: Partial<IpvsService> = {}): IpvsService {
  return {
    af: AF_INET,
    protocol: IPPROTO_TCP,
    address,
    port,
    fwmark: 0,
    scheduler: "wrr",
    flags: 0,
    timeoutS: 0,
    netmask: 32,
    persistenceEngine: null,
    ...more,
  };
}

function dst(address: string, weight = 1, more: Partial<IpvsDest> = {}): IpvsDest {
  return {
    af: AF_INET,
    address,
    port: 80,
    forward: IP_VS_CONN_F_DROUTE,
    weight,
    uThreshold: 0,
    lThreshold: 0,
    tunnelType: 0,
    tunnelPort: 0,
    tunnelFlags: 0,
    ...more,
  };
}

/** service key → sorted "address port weight" of its destinations. */
function shape(t: IpvsTable): Map<string, string[]> {
  return new Map(
    t.map((e) => [
      serviceKey(e.service),
      e.dests.map((d) => `${d.address} ${d.port} ${d.weight}`).sort(),
    ]),
  );
}

Deno.test("folding a first apply's plan from an empty table gives the wanted table", () => {
  const wanted: IpvsTable = Array.from({ length: 50 }, (_, i) => ({
    service: svc("192.0.2.100", 10000 + i),
    dests: Array.from({ length: 10 }, (_, j) => dst(`10.2.0.${11 + j}`, 1 + (i + j) % 3)),
  }));
  const ops = plan(wanted, [], new Set());
  assert.equal(ops.length, 550);
  let t: IpvsTable = [];
  for (const op of ops) t = foldOp(t, op);
  assert.deepEqual(shape(t), shape(wanted));
});

Deno.test("an operation changes only the service it names, told apart as serviceKey does", () => {
  const tcp = svc("192.0.2.100", 80);
  const udp = svc("192.0.2.100", 80, { protocol: IPPROTO_UDP });
  const v6 = svc("2001:db8::1", 80, { af: AF_INET6 });
  const mark = svc("0.0.0.0", 0, { fwmark: 7, protocol: 0 });
  const mark6 = svc("::", 0, { fwmark: 7, protocol: 0, af: AF_INET6 });
  const t0: IpvsTable = [tcp, udp, v6, mark, mark6].map((service) => ({
    service,
    dests: [dst("10.2.0.11", 1, { activeConns: 4 })],
  }));
  const edited = foldOp(t0, { op: "editDest", service: mark, dest: dst("10.2.0.11", 9) });
  assert.deepEqual(edited.map((e) => e.dests[0].weight), [1, 1, 1, 9, 1]);
  // An edit keeps the counters the table had.
  assert.equal(edited[3].dests[0].activeConns, 4);
  const gone = foldOp(t0, { op: "delDest", service: udp, dest: dst("10.2.0.11") });
  assert.deepEqual(gone.map((e) => e.dests.length), [1, 0, 1, 1, 1]);
  const noV6 = foldOp(t0, { op: "delService", service: v6 });
  assert.deepEqual(noV6.map((e) => serviceKey(e.service)), [tcp, udp, mark, mark6].map(serviceKey));
  const sched = foldOp(t0, { op: "editService", service: { ...tcp, scheduler: "rr" } });
  assert.deepEqual(sched.map((e) => e.service.scheduler), ["rr", "wrr", "wrr", "wrr", "wrr"]);
  // A service the table lacks: nothing changes.
  const other = foldOp(t0, { op: "delService", service: svc("192.0.2.101", 80) });
  assert.deepEqual(shape(other), shape(t0));
});

Deno.test("a big apply is summed up in one line: how many operations of each kind", () => {
  const wanted: IpvsTable = [1, 2].map((i) => ({
    service: svc(`10.0.0.${i}`, 80),
    dests: [dst("10.1.0.1"), dst("10.1.0.2"), dst("10.1.0.3")],
  }));
  const ops = plan(wanted, [], new Set());
  assert.equal(opsSummary(ops), "applied 8 operations: 2 addService, 6 addDest");
});

Deno.test("folding a batch at once gives what folding it one operation at a time gives", () => {
  const svcs = Array.from({ length: 20 }, (_, i) => svc("192.0.2.100", 1000 + i));
  const t0: IpvsTable = svcs.slice(0, 10).map((service) => ({
    service,
    dests: [dst("10.2.0.11", 1, { activeConns: 3 }), dst("10.2.0.12", 2)],
  }));
  const ops: Op[] = [
    ...svcs.slice(10).flatMap((service): Op[] => [
      { op: "addService", service },
      { op: "addDest", service, dest: dst("10.2.0.20") },
    ]),
    { op: "editDest", service: svcs[0], dest: dst("10.2.0.11", 7) },
    { op: "delDest", service: svcs[1], dest: dst("10.2.0.12") },
    { op: "delService", service: svcs[2] },
    { op: "editService", service: { ...svcs[3], scheduler: "rr" } },
    { op: "addDest", service: svcs[4], dest: dst("10.2.0.13", 4) },
    { op: "delService", service: svc("192.0.2.101", 80) },
  ];
  assert.ok(ops.length > 8, "more than the one-by-one threshold");
  const oneByOne = ops.reduce(foldOp, t0);
  assert.deepEqual(foldOps(t0, ops), oneByOne);
  assert.equal(foldOps(t0, ops)[0].dests.at(-1)?.activeConns, 3, "an edit keeps the counters");
});

Deno.test("withCountersOf: the known table keeps its entries and weights, with a fresh dump's counts where it holds the same destination", () => {
  const a = svc("10.0.0.1", 80);
  const known: IpvsTable = [
    { service: a, dests: [dst("192.0.2.11", 0), dst("192.0.2.12", 2)] },
    { service: svc("10.0.0.2", 80), dests: [dst("192.0.2.13")] },
  ];
  const dumped: IpvsTable = [
    { service: a, dests: [dst("192.0.2.11", 5, { activeConns: 3, inactConns: 1 })] },
  ];
  const t = withCountersOf(known, dumped);
  assert.deepEqual(t[0].dests[0], dst("192.0.2.11", 0, { activeConns: 3, inactConns: 1 }));
  assert.deepEqual(t[0].dests[1], known[0].dests[1], "not in the dump: as known");
  assert.equal(t[1], known[1], "a service the dump lacks: as known");
});

import assert from "node:assert/strict";
import type { IpvsEntry, IpvsTable } from "../../lib/lvs/desired.ts";
import { type Op, ownedKeys, plan, sameEntry, serviceKey } from "../../lib/lvs/plan.ts";
import {
  AF_INET,
  AF_INET6,
  IP_VS_CONN_F_DROUTE,
  IP_VS_CONN_F_MASQ,
  IP_VS_CONN_F_TUNNEL,
  IP_VS_SVC_F_HASHED,
  IP_VS_SVC_F_PERSISTENT,
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
    scheduler: "wlc",
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

/** The kernel's view of a wanted entry: HASHED set, counters present. */
function dumped(e: IpvsEntry): IpvsEntry {
  return {
    service: { ...e.service, flags: e.service.flags | IP_VS_SVC_F_HASHED },
    dests: e.dests.map((d) => ({ ...d, activeConns: 3, inactConns: 1, persistConns: 0 })),
  };
}

/** Ops as short strings: "addService 192.0.2.1:80", "editDest 192.0.2.1:80 192.0.2.11". */
function brief(ops: Op[]): string[] {
  return ops.map((o) => {
    const s = o.service.fwmark !== 0
      ? `fwmark ${o.service.fwmark}`
      : `${o.service.address}:${o.service.port}`;
    return "dest" in o ? `${o.op} ${s} ${o.dest.address}` : `${o.op} ${s}`;
  });
}

const WEB: IpvsEntry = {
  service: svc("192.0.2.100", 80),
  dests: [dst("192.0.2.11"), dst("192.0.2.12")],
};

Deno.test("plan: an empty kernel gets each service before its destinations", () => {
  const wanted: IpvsTable = [WEB, { service: svc("192.0.2.101", 443), dests: [dst("192.0.2.21")] }];
  assert.deepEqual(brief(plan(wanted, [], new Set())), [
    "addService 192.0.2.100:80",
    "addDest 192.0.2.100:80 192.0.2.11",
    "addDest 192.0.2.100:80 192.0.2.12",
    "addService 192.0.2.101:443",
    "addDest 192.0.2.101:443 192.0.2.21",
  ]);
});

Deno.test("plan: a kernel that holds the wanted table needs nothing (HASHED and counters aside)", () => {
  assert.deepEqual(plan([WEB], [dumped(WEB)], ownedKeys([WEB])), []);
});

Deno.test("sameEntry: what a plan compares of one service, whatever the order of its destinations", () => {
  const known = dumped(WEB);
  assert.equal(sameEntry(known, dumped(WEB)), true, "HASHED and counters aside");
  assert.equal(sameEntry(known, { ...known, dests: [...known.dests].reverse() }), true);
  const weighted = { ...WEB, dests: [dst("192.0.2.11"), dst("192.0.2.12", 5)] };
  assert.equal(sameEntry(known, dumped(weighted)), false, "a weight");
  assert.equal(sameEntry(known, dumped({ ...WEB, dests: [...weighted.dests].reverse() })), false);
  const swapped = { ...WEB, dests: [dst("192.0.2.11"), dst("192.0.2.13")] };
  assert.equal(sameEntry(known, dumped(swapped)), false, "another destination");
  assert.equal(sameEntry(known, dumped({ ...WEB, dests: [dst("192.0.2.11")] })), false);
  const rr = { ...WEB, service: svc("192.0.2.100", 80, { scheduler: "rr" }) };
  assert.equal(sameEntry(known, dumped(rr)), false, "the scheduler");
});

interface EditCase {
  name: string;
  wanted: IpvsEntry;
  expect: string[];
}

const EDITS: EditCase[] = [
  {
    name: "a new scheduler is a service edit",
    wanted: { ...WEB, service: svc("192.0.2.100", 80, { scheduler: "rr" }) },
    expect: ["editService 192.0.2.100:80"],
  },
  {
    name: "persistence is a service edit",
    wanted: {
      ...WEB,
      service: svc("192.0.2.100", 80, { flags: IP_VS_SVC_F_PERSISTENT, timeoutS: 300 }),
    },
    expect: ["editService 192.0.2.100:80"],
  },
  {
    name: "a new granularity is a service edit",
    wanted: { ...WEB, service: svc("192.0.2.100", 80, { netmask: 24 }) },
    expect: ["editService 192.0.2.100:80"],
  },
  {
    name: "a persistence engine is a service edit",
    wanted: { ...WEB, service: svc("192.0.2.100", 80, { persistenceEngine: "sip" }) },
    expect: ["editService 192.0.2.100:80"],
  },
  {
    name: "a new weight is a destination edit",
    wanted: { ...WEB, dests: [dst("192.0.2.11", 5), dst("192.0.2.12")] },
    expect: ["editDest 192.0.2.100:80 192.0.2.11"],
  },
  {
    name: "a new method is a destination edit",
    wanted: {
      ...WEB,
      dests: [dst("192.0.2.11"), dst("192.0.2.12", 1, { forward: IP_VS_CONN_F_MASQ })],
    },
    expect: ["editDest 192.0.2.100:80 192.0.2.12"],
  },
  {
    name: "new thresholds are a destination edit",
    wanted: { ...WEB, dests: [dst("192.0.2.11", 1, { uThreshold: 100 }), dst("192.0.2.12")] },
    expect: ["editDest 192.0.2.100:80 192.0.2.11"],
  },
  {
    name: "a destination gone from the wanted table is deleted after the adds",
    wanted: { ...WEB, dests: [dst("192.0.2.13"), dst("192.0.2.12")] },
    expect: ["addDest 192.0.2.100:80 192.0.2.13", "delDest 192.0.2.100:80 192.0.2.11"],
  },
];

for (const c of EDITS) {
  Deno.test(`plan: ${c.name}, never a delete and add`, () => {
    assert.deepEqual(brief(plan([c.wanted], [dumped(WEB)], ownedKeys([WEB]))), c.expect);
  });
}

Deno.test("plan: tunnel settings compare only for tunnelled destinations", () => {
  const tun = (port: number) =>
    dst("192.0.2.11", 1, { forward: IP_VS_CONN_F_TUNNEL, tunnelType: 1, tunnelPort: port });
  const have: IpvsEntry = { service: WEB.service, dests: [tun(6080)] };
  assert.deepEqual(brief(plan([{ ...have, dests: [tun(6081)] }], [have], new Set())), [
    "editDest 192.0.2.100:80 192.0.2.11",
  ]);
  const dr: IpvsEntry = { service: WEB.service, dests: [dst("192.0.2.11")] };
  const drReadBack: IpvsEntry = {
    service: WEB.service,
    dests: [dst("192.0.2.11", 1, { tunnelPort: 9 })],
  };
  assert.deepEqual(plan([dr], [drReadBack], new Set()), []);
});

Deno.test("plan: an owned service no longer wanted is deleted, after destination deletes", () => {
  const old: IpvsEntry = { service: svc("192.0.2.101", 443), dests: [dst("192.0.2.21")] };
  const kernel = [dumped(WEB), dumped(old)];
  const wanted: IpvsTable = [{ ...WEB, dests: [dst("192.0.2.11")] }];
  assert.deepEqual(brief(plan(wanted, kernel, ownedKeys([WEB, old]))), [
    "delDest 192.0.2.100:80 192.0.2.12",
    "delService 192.0.2.101:443",
  ]);
});

Deno.test("plan: leaving destinations are deleted in key order whatever the kernel's order", () => {
  const kernel: IpvsEntry = {
    service: WEB.service,
    dests: ["192.0.2.14", "192.0.2.12", "192.0.2.13", "192.0.2.11"].map((a) => dst(a)),
  };
  const wanted: IpvsTable = [{ ...WEB, dests: [dst("192.0.2.13")] }];
  assert.deepEqual(brief(plan(wanted, [dumped(kernel)], ownedKeys([WEB]))), [
    "delDest 192.0.2.100:80 192.0.2.11",
    "delDest 192.0.2.100:80 192.0.2.12",
    "delDest 192.0.2.100:80 192.0.2.14",
  ]);
});

Deno.test("plan: services hacore does not own are never touched", () => {
  const foreign: IpvsEntry = { service: svc("198.51.100.1", 22), dests: [dst("198.51.100.2")] };
  const foreignMark: IpvsEntry = {
    service: svc("0.0.0.0", 0, { fwmark: 42, protocol: 0 }),
    dests: [dst("198.51.100.3")],
  };
  const kernel = [dumped(foreign), dumped(WEB), dumped(foreignMark)];
  assert.deepEqual(brief(plan([], kernel, ownedKeys([WEB]))), ["delService 192.0.2.100:80"]);
  assert.deepEqual(plan([WEB], kernel, ownedKeys([WEB])), []);
});

Deno.test("plan: identity includes family, protocol and fwmark", () => {
  const udp: IpvsEntry = { service: svc("192.0.2.100", 80, { protocol: IPPROTO_UDP }), dests: [] };
  const v6: IpvsEntry = {
    service: svc("2001:db8::100", 80, { af: AF_INET6, netmask: 128 }),
    dests: [],
  };
  const mark: IpvsEntry = { service: svc("0.0.0.0", 0, { fwmark: 7, protocol: 0 }), dests: [] };
  assert.deepEqual(brief(plan([udp, v6, mark], [dumped(WEB)], new Set())), [
    "addService 192.0.2.100:80",
    "addService 2001:db8::100:80",
    "addService fwmark 7",
  ]);
  assert.notEqual(serviceKey(udp.service), serviceKey(WEB.service));
  // A fwmark service is the same service whatever address the kernel reports for it.
  assert.equal(serviceKey(mark.service), serviceKey({ ...mark.service, address: "::" }));
});

Deno.test("plan: the sorry swap adds the new destination before deleting the old ones", () => {
  const sorry: IpvsEntry = { service: WEB.service, dests: [dst("192.0.2.200")] };
  assert.deepEqual(brief(plan([sorry], [dumped(WEB)], ownedKeys([WEB]))), [
    "addDest 192.0.2.100:80 192.0.2.200",
    "delDest 192.0.2.100:80 192.0.2.11",
    "delDest 192.0.2.100:80 192.0.2.12",
  ]);
});

Deno.test("plan: the same inputs give the same ops in the same order", () => {
  const kernel = [
    dumped({ service: svc("192.0.2.103", 80), dests: [] }),
    dumped({ service: svc("192.0.2.102", 80), dests: [] }),
  ];
  const owned = ownedKeys(kernel);
  const a = brief(plan([], kernel, owned));
  assert.deepEqual(a, ["delService 192.0.2.102:80", "delService 192.0.2.103:80"]);
  assert.deepEqual(brief(plan([], [...kernel].reverse(), owned)), a);
});

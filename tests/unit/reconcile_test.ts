/**
 * Desired VIPs versus the kernel, as tables: what is added, what is removed, and what
 * is only reported. The rule that matters most: an address hacore did not install is
 * never removed.
 */
import assert from "node:assert/strict";
import type { Vip } from "../../lib/config/mod.ts";
import type { KernelAddress } from "../../lib/daemon/ports.ts";
import {
  describeConflict,
  type InstanceVips,
  reconcile,
  vipKey,
} from "../../lib/daemon/reconcile.ts";

function vip(address: string, prefix = 24, dev = "eth0"): Vip {
  return { address, prefix, dev, label: null, scope: "global" };
}

function k(address: string, hacore: boolean, prefix = 24, dev = "eth0"): KernelAddress {
  return {
    dev,
    address,
    prefix,
    family: address.includes(":") ? "ipv6" : "ipv4",
    label: hacore ? `${dev}:hc` : null,
    hacore,
  };
}

function inst(name: string, holding: boolean, vips: Vip[], excluded: Vip[] = []): InstanceVips {
  return { name, holding, vips, excluded };
}

/** The plan as short strings, so tables stay readable. */
function summary(instances: InstanceVips[], kernel: KernelAddress[]) {
  const plan = reconcile(instances, kernel);
  return {
    ops: plan.ops.map((o) =>
      o.op === "add"
        ? `add ${o.spec.address}/${o.spec.prefix} ${o.spec.dev} ${o.spec.family} for ${o.instance}`
        : `remove ${o.address.address}/${o.address.prefix} ${o.address.dev} ${o.why}`
    ),
    conflicts: plan.conflicts.map((c) =>
      c.kind === "shared"
        ? `shared ${c.address} ${c.instances.join(",")}`
        : `foreign ${c.address.address} ${c.address.dev} ${c.instances.join(",")}`
    ),
    held: [...plan.held].sort(),
  };
}

const PRIMARY = k("192.0.2.11", false);

interface Row {
  name: string;
  instances: InstanceVips[];
  kernel: KernelAddress[];
  ops: string[];
  conflicts?: string[];
  held?: string[];
}

const TABLE: Row[] = [
  {
    name: "master, VIP missing: add it",
    instances: [inst("VI_1", true, [vip("192.0.2.100")])],
    kernel: [PRIMARY],
    ops: ["add 192.0.2.100/24 eth0 ipv4 for VI_1"],
    held: ["eth0|192.0.2.100"],
  },
  {
    name: "master, VIP present and ours: nothing to do",
    instances: [inst("VI_1", true, [vip("192.0.2.100")])],
    kernel: [PRIMARY, k("192.0.2.100", true)],
    ops: [],
    held: ["eth0|192.0.2.100"],
  },
  {
    name: "backup, VIP ours: remove it (a backup never holds a VIP)",
    instances: [inst("VI_1", false, [vip("192.0.2.100")])],
    kernel: [PRIMARY, k("192.0.2.100", true)],
    ops: ["remove 192.0.2.100/24 eth0 released"],
    held: [],
  },
  {
    name: "backup, VIP absent: nothing",
    instances: [inst("VI_1", false, [vip("192.0.2.100")])],
    kernel: [PRIMARY],
    ops: [],
  },
  {
    name: "backup, untagged address equal to the VIP: never removed, reported",
    instances: [inst("VI_1", false, [vip("192.0.2.100")])],
    kernel: [PRIMARY, k("192.0.2.100", false)],
    ops: [],
    conflicts: ["foreign 192.0.2.100 eth0 VI_1"],
  },
  {
    name: "master, untagged address equal to the VIP: left in place, not added twice, reported",
    instances: [inst("VI_1", true, [vip("192.0.2.100")])],
    kernel: [PRIMARY, k("192.0.2.100", false)],
    ops: [],
    conflicts: ["foreign 192.0.2.100 eth0 VI_1"],
    held: ["eth0|192.0.2.100"],
  },
  {
    name: "master, untagged copy on another interface: add ours, report theirs",
    instances: [inst("VI_1", true, [vip("192.0.2.100")])],
    kernel: [k("192.0.2.100", false, 24, "eth1")],
    ops: ["add 192.0.2.100/24 eth0 ipv4 for VI_1"],
    conflicts: ["foreign 192.0.2.100 eth1 VI_1"],
  },
  {
    name: "restart cleanup: hacore addresses nobody wants are removed, others untouched",
    instances: [inst("VI_1", false, [vip("192.0.2.100")])],
    kernel: [
      PRIMARY,
      k("198.51.100.7", true, 32),
      k("203.0.113.1", false),
      k("2001:db8::7", true, 64),
    ],
    ops: ["remove 198.51.100.7/32 eth0 leftover", "remove 2001:db8::7/64 eth0 leftover"],
  },
  {
    name: "ours on the wrong interface (config moved it): remove there, add here",
    instances: [inst("VI_1", true, [vip("192.0.2.100")])],
    kernel: [k("192.0.2.100", true, 24, "eth1")],
    ops: ["remove 192.0.2.100/24 eth1 leftover", "add 192.0.2.100/24 eth0 ipv4 for VI_1"],
  },
  {
    name: "ours with the wrong prefix: replaced, removal first",
    instances: [inst("VI_1", true, [vip("192.0.2.100", 24)])],
    kernel: [k("192.0.2.100", true, 32)],
    ops: ["remove 192.0.2.100/32 eth0 replace", "add 192.0.2.100/24 eth0 ipv4 for VI_1"],
  },
  {
    name: "excluded VIPs are held with the advertised ones, of either family",
    instances: [inst("VI_1", true, [vip("192.0.2.100")], [vip("2001:db8::100", 64)])],
    kernel: [],
    ops: ["add 192.0.2.100/24 eth0 ipv4 for VI_1", "add 2001:db8::100/64 eth0 ipv6 for VI_1"],
  },
  {
    name: "excluded VIPs are released with them too",
    instances: [inst("VI_1", false, [vip("192.0.2.100")], [vip("2001:db8::100", 64)])],
    kernel: [k("192.0.2.100", true), k("2001:db8::100", true, 64)],
    ops: ["remove 192.0.2.100/24 eth0 released", "remove 2001:db8::100/64 eth0 released"],
  },
  {
    name: "kernel text is compared canonically",
    instances: [inst("VI_1", true, [vip("2001:db8::100", 64)])],
    kernel: [k("2001:DB8:0::100", true, 64)],
    ops: [],
    held: ["eth0|2001:db8::100"],
  },
  {
    name: "shared VIP, one instance master: held, reported, never removed by the backup",
    instances: [
      inst("VI_1", false, [vip("192.0.2.100")]),
      inst("VI_2", true, [vip("192.0.2.100"), vip("192.0.2.102")]),
    ],
    kernel: [k("192.0.2.100", true)],
    ops: ["add 192.0.2.102/24 eth0 ipv4 for VI_2"],
    conflicts: ["shared 192.0.2.100 VI_1,VI_2"],
  },
  {
    name: "shared VIP, both backup: released",
    instances: [
      inst("VI_1", false, [vip("192.0.2.100")]),
      inst("VI_2", false, [vip("192.0.2.100")]),
    ],
    kernel: [k("192.0.2.100", true)],
    ops: ["remove 192.0.2.100/24 eth0 released"],
    conflicts: ["shared 192.0.2.100 VI_1,VI_2"],
  },
  {
    name: "two instances, one master one backup, disjoint VIPs",
    instances: [
      inst("VI_1", true, [vip("192.0.2.100")]),
      inst("VI_2", false, [vip("192.0.2.200")]),
    ],
    kernel: [k("192.0.2.200", true)],
    ops: ["remove 192.0.2.200/24 eth0 released", "add 192.0.2.100/24 eth0 ipv4 for VI_1"],
  },
];

for (const row of TABLE) {
  Deno.test(`reconcile: ${row.name}`, () => {
    const got = summary(row.instances, row.kernel);
    assert.deepStrictEqual(got.ops, row.ops);
    assert.deepStrictEqual(got.conflicts, row.conflicts ?? []);
    if (row.held) assert.deepStrictEqual(got.held, [...row.held].sort());
  });
}

Deno.test("reconcile never removes an untagged address, whatever the desired state", () => {
  // Every combination of holding / address sets; untagged kernel addresses only.
  const addrs = ["192.0.2.100", "192.0.2.101", "2001:db8::1", "10.0.0.1"];
  for (let mask = 0; mask < 16; mask++) {
    for (const holding of [true, false]) {
      const vips = addrs.filter((_, i) => mask & (1 << i)).map((a) => vip(a));
      const kernel = addrs.map((a) => k(a, false));
      const plan = reconcile([inst("VI_1", holding, vips)], kernel);
      assert.ok(plan.ops.every((o) => o.op === "add"), JSON.stringify(plan.ops));
    }
  }
});

Deno.test("applying a plan converges: a second reconcile has nothing to do", () => {
  const instances = [
    inst("VI_1", true, [vip("192.0.2.100")], [vip("2001:db8::100", 64)]),
    inst("VI_2", false, [vip("192.0.2.200")]),
  ];
  let kernel: KernelAddress[] = [
    k("192.0.2.100", true, 32),
    k("192.0.2.200", true),
    k("198.51.100.1", true),
    k("192.0.2.11", false),
  ];
  const plan = reconcile(instances, kernel);
  for (const op of plan.ops) {
    if (op.op === "remove") kernel = kernel.filter((a) => a !== op.address);
    else {
      kernel = [...kernel, {
        dev: op.spec.dev,
        address: op.spec.address,
        prefix: op.spec.prefix,
        family: op.spec.family,
        label: null,
        hacore: true,
      }];
    }
  }
  assert.deepStrictEqual(reconcile(instances, kernel).ops, []);
  assert.deepStrictEqual(
    kernel.map((a) => `${a.address}/${a.prefix}`).sort(),
    ["192.0.2.100/24", "192.0.2.11/24", "2001:db8::100/64"],
  );
});

Deno.test("vipKey and describeConflict", () => {
  assert.equal(vipKey("eth0", "2001:DB8::0:1"), "eth0|2001:db8::1");
  assert.equal(
    describeConflict({ kind: "foreign", address: k("192.0.2.100", false), instances: ["VI_1"] }),
    "192.0.2.100/24 on eth0 was not installed by hacore but is a VIP of VI_1: left alone (a duplicate address whenever another router is master)",
  );
});

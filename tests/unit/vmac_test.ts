/**
 * Virtual MAC (`use_vmac`) without a kernel: the pure rules (which MAC, which macvlan,
 * where adverts leave from), the daemon's use of its vmac port over in-memory ports
 * (macvlan made before anything else, VIPs and adverts on it, removed at stop only
 * after the VIPs are gone, a failure faulting the instance until a retry succeeds),
 * and the production port's sysctl and ownership rules over a fake link table.
 */

import assert from "node:assert/strict";
import { configOf } from "../fakes/config.ts";
import { parseConfig } from "../../lib/config/mod.ts";
import type { InstanceConfig } from "../../lib/config/schema.ts";
import { Daemon, DaemonSetupError } from "../../lib/daemon/daemon.ts";
import {
  FakeAddressPort,
  FakeLan,
  FakeVmacPort,
  ManualClock,
  RecordingAnnouncer,
  runClock,
} from "../fakes/daemon.ts";
import type { VmacSpec } from "../../lib/daemon/ports.ts";
import { advertVia, vmacAddress, vmacSpecOf, wantedVmacs } from "../../lib/daemon/vmac.ts";
import { Logger } from "../../lib/log.ts";
import {
  IFF_UP,
  type LinkChange,
  type LinkMessage,
  MACVLAN_MODE_BRIDGE,
  type MacvlanSpec,
} from "../../lib/sys/netlink/rtnl_codec.ts";
import { type Sysctls, SystemVmacPort, VMAC_ALIAS, type VmacLinks } from "../../lib/sys/vmac.ts";

const VIP = "192.0.2.100";

function instanceToml(priority: number, extra = ""): string {
  return `
[global]
vrrp_version = 3

[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
priority = ${priority}
advert_int = 1
virtual_ipaddress = ["${VIP}/24"]
use_vmac = true
${extra}
`;
}

// ---------------------------------------------------------------------------------------
// Pure rules

Deno.test("vmacAddress is 00:00:5e:00:01:VRID for IPv4 and 00:00:5e:00:02:VRID for IPv6 (RFC 5798 §7.3)", () => {
  assert.equal(vmacAddress(51, "ipv4"), "00:00:5e:00:01:33");
  assert.equal(vmacAddress(255, "ipv6"), "00:00:5e:00:02:ff");
  assert.equal(vmacAddress(1, "ipv4"), "00:00:5e:00:01:01");
  assert.throws(() => vmacAddress(0, "ipv4"), /VRID 0 is outside 1-255/);
});

Deno.test("vmacSpecOf: the instance's interface is the parent; IPv6 stays off unless an IPv6 address lives there", () => {
  const vi = configOf(instanceToml(100)).instances[0];
  assert.deepEqual(vmacSpecOf(vi), {
    name: "vrrp.51",
    parent: "eth0",
    mac: "00:00:5e:00:01:33",
    ipv6: false,
  });
  const v6 = configOf(instanceToml(100, `virtual_ipaddress_excluded = ["2001:db8::1/64"]`))
    .instances[0];
  assert.equal(vmacSpecOf(v6)?.ipv6, true);
  const plain = configOf(instanceToml(100).replace("use_vmac = true", "")).instances[0];
  assert.equal(vmacSpecOf(plain), null);
});

Deno.test("advertVia: multicast adverts leave from the macvlan, unicast ones from the interface", () => {
  const vi = configOf(instanceToml(100)).instances[0];
  assert.equal(advertVia(vi), "vrrp.51");
  assert.equal(advertVia({ ...vi, unicastPeers: ["192.0.2.12"] }), undefined);
  assert.equal(advertVia({ ...vi, vmac: null }), undefined);
});

Deno.test("vmac_xmit_base: adverts leave from the base interface, the VIPs stay on the macvlan", () => {
  const vi = configOf(instanceToml(100, "vmac_xmit_base = true")).instances[0];
  assert.equal(vi.vmacXmitBase, true);
  assert.equal(advertVia(vi), undefined);
  assert.equal(vi.vips[0].dev, "vrrp.51");
  const r = parseConfig(
    instanceToml(100, "vmac_xmit_base = true").replace("use_vmac = true", ""),
    "a.toml",
  );
  assert.ok(r.ok);
  assert.equal(r.config.instances[0].vmacXmitBase, false);
  assert.match(r.warnings?.[0]?.message ?? "", /vmac_xmit_base has no effect without use_vmac/);
});

Deno.test("wantedVmacs: one macvlan per name; a name wanted with two MACs is a conflict naming both", () => {
  const a = configOf(instanceToml(100)).instances[0];
  const b: InstanceConfig = { ...a, name: "VI_2", family: "ipv6" };
  const { vmacs, conflicts } = wantedVmacs([a, b]);
  assert.deepEqual([...vmacs.keys()], ["vrrp.51"]);
  assert.equal(conflicts.length, 1);
  assert.match(
    conflicts[0],
    /VI_2: use_vmac vrrp\.51 \(MAC 00:00:5e:00:02:33 on eth0\) is also VI_1's/,
  );
  assert.deepEqual(wantedVmacs([a, { ...a, name: "VI_3" }]).vmacs.get("vrrp.51")?.users, [
    "VI_1",
    "VI_3",
  ]);
});

// ---------------------------------------------------------------------------------------
// The daemon over fake ports

/** A fake vmac port that also checks, at removal, that no VIP is left on the macvlan. */
class CheckingVmacs extends FakeVmacPort {
  removedWhileHolding: string[] = [];
  constructor(clock: ManualClock, readonly port: FakeAddressPort) {
    super(clock);
  }
  override remove(name: string): Promise<void> {
    if (this.port.has(name, VIP)) this.removedWhileHolding.push(name);
    return super.remove(name);
  }
}

interface Node {
  name: string;
  daemon: Daemon;
  port: FakeAddressPort;
  vmacs: CheckingVmacs;
  announcer: RecordingAnnouncer;
  lines: string[];
  /** What a reload reads. */
  file: { text: string };
}

class World {
  readonly clock = new ManualClock(0);
  readonly lan = new FakeLan({ clock: this.clock, delayMs: 1 });
  readonly nodes: Node[] = [];

  add(name: string, ip: string, text: string): Node {
    const port = new FakeAddressPort([
      { dev: "eth0", address: ip, prefix: 24, family: "ipv4", label: null, hacore: false },
    ]);
    const vmacs = new CheckingVmacs(this.clock, port);
    const lines: string[] = [];
    const announcer = new RecordingAnnouncer(this.clock);
    const file = { text };
    const daemon = new Daemon({
      config: configOf(text),
      primaryAddresses: new Map([["eth0", { ipv4: ip }]]),
      clock: this.clock,
      transports: this.lan.host(name, [ip]),
      addresses: port,
      announcer,
      vmacs,
      logger: new Logger({ level: "debug", sink: (l) => lines.push(l) }),
      loadConfig: (f) => Promise.resolve(parseConfig(file.text, f)),
    });
    const node = { name, daemon, port, vmacs, announcer, lines, file };
    this.nodes.push(node);
    return node;
  }

  settle = async (): Promise<void> => {
    for (let i = 0; i < 1000; i++) {
      await new Promise((r) => setTimeout(r, 0));
      if (this.nodes.every((n) => n.daemon.idle)) return;
    }
    throw new Error("the daemons never settled");
  };

  run(untilMs: number): Promise<void> {
    return runClock(this.clock, untilMs, this.settle);
  }

  async stop(node: Node): Promise<void> {
    let done = false;
    const p = node.daemon.stop().then(() => (done = true));
    await this.settle();
    while (!done) {
      assert.ok(this.clock.fireNext(this.clock.nowMs() + 30_000), "the stop never finished");
      await this.settle();
    }
    await p;
  }
}

Deno.test("the daemon makes its macvlan before anything else, holds the VIP and sends adverts and GARPs from it", async () => {
  const w = new World();
  const a = w.add("a", "192.0.2.11", instanceToml(150));
  const b = w.add("b", "192.0.2.12", instanceToml(100));
  await Promise.all(w.nodes.map((n) => n.daemon.start()));
  await w.settle();
  for (const n of w.nodes) {
    // At time 0, before the first advert (none is sent before Master_Down_Interval).
    assert.deepEqual(n.vmacs.calls[0], {
      op: "ensure",
      name: "vrrp.51",
      outcome: "created",
      atMs: 0,
    });
    assert.deepEqual(n.vmacs.present.get("vrrp.51"), {
      name: "vrrp.51",
      parent: "eth0",
      mac: "00:00:5e:00:01:33",
      ipv6: false,
    });
  }
  assert.equal(w.lan.sent.length, 0);
  await w.run(5000);
  assert.equal(a.daemon.status().instances[0].state, "master");
  assert.equal(b.daemon.status().instances[0].state, "backup");
  assert.ok(a.port.has("vrrp.51", VIP, 24, true), "the VIP is on the macvlan");
  assert.ok(!a.port.has("eth0", VIP), "and not on eth0");
  const fromA = w.lan.sent.filter((p) => p.host === "a");
  assert.ok(fromA.length >= 2);
  // Sent from the macvlan, with eth0's own address as source (RFC 5798 §5.1.1.1).
  assert.ok(fromA.every((p) => p.via === "vrrp.51" && p.src === "192.0.2.11"), "via the vmac");
  assert.ok(a.announcer.records.length > 0);
  assert.ok(a.announcer.records.every((r) => r.dev === "vrrp.51"), "GARPs from the vmac");
  // Kept in place by later reconciles, not made again.
  assert.ok(a.vmacs.calls.slice(1).every((c) => c.op === "ensure" && c.outcome === "present"));

  await w.stop(a);
  assert.deepEqual(a.vmacs.calls.at(-1)?.op, "remove");
  assert.equal(a.vmacs.present.size, 0, "the macvlan is gone after stop");
  assert.deepEqual(a.vmacs.removedWhileHolding, [], "removed only once the VIP was released");
  await w.run(w.clock.nowMs() + 5000);
  assert.equal(b.daemon.status().instances[0].state, "master");
  assert.ok(b.port.has("vrrp.51", VIP, 24, true));
  await w.stop(b);
  assert.equal(b.vmacs.present.size, 0);
});

Deno.test("a macvlan that cannot be made faults its instance, and the retry brings it back", async () => {
  const w = new World();
  const a = w.add("a", "192.0.2.11", instanceToml(150));
  a.vmacs.failing.add("vrrp.51");
  await a.daemon.start();
  await w.run(5000);
  let s = a.daemon.status().instances[0];
  assert.equal(s.state, "fault");
  assert.ok(s.faults.includes("vmac vrrp.51"), JSON.stringify(s.faults));
  assert.ok(!a.port.has("vrrp.51", VIP), "no VIP without its macvlan");
  assert.ok(a.lines.some((l) => /cannot set up virtual MAC vrrp\.51/.test(l)));
  const tries = a.vmacs.calls.filter((c) => c.op === "ensure").length;
  assert.ok(tries >= 3, `retried (${tries} tries in 5 s)`);
  assert.equal(a.daemon.status().counters.vmacErrors, tries);

  a.vmacs.failing.delete("vrrp.51");
  await w.run(w.clock.nowMs() + 6000);
  s = a.daemon.status().instances[0];
  assert.equal(s.state, "master");
  assert.deepEqual(s.faults, []);
  assert.ok(a.port.has("vrrp.51", VIP, 24, true));
  await w.stop(a);
  assert.equal(a.vmacs.present.size, 0);
});

Deno.test("unicast instances keep their adverts on the interface; the VIPs still go on the macvlan", async () => {
  const w = new World();
  const a = w.add(
    "a",
    "192.0.2.11",
    instanceToml(150, `unicast_peer = ["192.0.2.12"]`),
  );
  await a.daemon.start();
  await w.run(5000);
  assert.equal(a.daemon.status().instances[0].state, "master");
  const sent = w.lan.sent.filter((p) => p.host === "a");
  assert.ok(sent.length > 0 && sent.every((p) => p.via === undefined && p.dst === "192.0.2.12"));
  assert.ok(a.port.has("vrrp.51", VIP, 24, true));
  await w.stop(a);
});

Deno.test("a reload that drops use_vmac removes the macvlan once the VIP has moved back to eth0", async () => {
  const w = new World();
  const a = w.add("a", "192.0.2.11", instanceToml(150));
  await a.daemon.start();
  await w.run(5000);
  assert.ok(a.port.has("vrrp.51", VIP));
  const r = await reloadWith(w, a, instanceToml(150).replace("use_vmac = true", ""));
  assert.ok(r.ok, JSON.stringify(r));
  await w.run(w.clock.nowMs() + 3000);
  assert.ok(a.port.has("eth0", VIP, 24, true), "the VIP is back on eth0");
  assert.ok(!a.port.has("vrrp.51", VIP));
  assert.equal(a.vmacs.present.size, 0, "and the macvlan is gone");
  assert.deepEqual(a.vmacs.removedWhileHolding, []);
  await w.stop(a);
});

/** Puts `text` in `node`'s config file and reloads it, running the clock meanwhile. */
async function reloadWith(
  w: World,
  node: Node,
  text: string,
): Promise<{ ok: boolean; errors: readonly string[] }> {
  node.file.text = text;
  let out: { ok: boolean; errors: readonly string[] } | undefined;
  const p = node.daemon.reload().then((r) => (out = r));
  await w.settle();
  while (out === undefined) {
    assert.ok(w.clock.fireNext(w.clock.nowMs() + 10_000), "the reload never finished");
    await w.settle();
  }
  await p;
  return out;
}

Deno.test("two instances that want one macvlan name with different MACs are refused at start", () => {
  const text = instanceToml(100) + `
[vrrp_instance.VI_2]
interface = "eth0"
virtual_router_id = 52
priority = 100
virtual_ipaddress = ["192.0.2.101/24"]
use_vmac = "vrrp.51"
`;
  const w = new World();
  assert.throws(
    () => w.add("a", "192.0.2.11", text),
    (e: unknown) =>
      e instanceof DaemonSetupError &&
      /VI_2: use_vmac vrrp\.51 \(MAC 00:00:5e:00:01:34 on eth0\) is also VI_1's/.test(e.message),
  );
});

Deno.test("use_vmac without a vmac port is refused at start, naming the instance", () => {
  const clock = new ManualClock(0);
  assert.throws(
    () =>
      new Daemon({
        config: configOf(instanceToml(100)),
        primaryAddresses: new Map([["eth0", { ipv4: "192.0.2.11" }]]),
        clock,
        transports: new FakeLan().host("a", []),
        addresses: new FakeAddressPort(),
        announcer: new RecordingAnnouncer(clock),
        logger: new Logger({ level: "error", sink: () => {} }),
      }),
    /VI_1: use_vmac is set, but this daemon manages no links/,
  );
});

// ---------------------------------------------------------------------------------------
// The production port over a fake kernel

class FakeLinks implements VmacLinks {
  links: LinkMessage[] = [];
  nextIndex = 10;
  readonly calls: string[] = [];

  constructor(readonly sysctls: FakeSysctls) {
    this.addPlain("eth0", 2);
  }

  addPlain(name: string, index: number, extra: Partial<LinkMessage> = {}): void {
    this.links.push(link({ name, index, flags: IFF_UP, mac: "02:00:00:00:00:02", ...extra }));
    this.sysctls.addDevice(name);
  }

  dumpLinks(): Promise<LinkMessage[]> {
    return Promise.resolve(this.links.map((l) => ({ ...l })));
  }
  addMacvlan(spec: MacvlanSpec): Promise<void> {
    this.calls.push(`add ${spec.name} on #${spec.parentIndex} ${spec.mac} mode ${spec.mode}`);
    if (this.links.some((l) => l.name === spec.name)) return Promise.reject(new Error("EEXIST"));
    this.links.push(link({
      name: spec.name,
      index: this.nextIndex++,
      flags: 0,
      mac: String(spec.mac),
      link: spec.parentIndex,
      linkKind: "macvlan",
      macvlanMode: spec.mode,
    }));
    this.sysctls.addDevice(spec.name);
    return Promise.resolve();
  }
  setLink(index: number, change: LinkChange): Promise<void> {
    const l = this.links.find((x) => x.index === index);
    if (!l) return Promise.reject(new Error("ENODEV"));
    this.calls.push(`set ${l.name} ${JSON.stringify(change)}`);
    if (change.up !== undefined) l.flags = change.up ? l.flags | IFF_UP : l.flags & ~IFF_UP;
    if (change.alias !== undefined) l.alias = change.alias;
    return Promise.resolve();
  }
  delLink(index: number): Promise<void> {
    const l = this.links.find((x) => x.index === index);
    if (!l) return Promise.reject(new Error("ENODEV"));
    this.calls.push(`del ${l.name}`);
    this.links = this.links.filter((x) => x !== l);
    this.sysctls.dropDevice(l.name!);
    return Promise.resolve();
  }
}

function link(f: Partial<LinkMessage> & { name: string; index: number }): LinkMessage {
  return {
    kind: "link",
    header: { len: 0, type: 16, flags: 0, seq: 0, pid: 0 },
    deleted: false,
    family: 0,
    linkType: 1,
    change: 0,
    flags: 0,
    ...f,
  };
}

const DEV_DEFAULTS: Record<string, number> = {
  "ipv4/arp_ignore": 0,
  "ipv4/arp_filter": 0,
  "ipv4/arp_announce": 0,
  "ipv4/rp_filter": 0,
  "ipv4/promote_secondaries": 0,
  "ipv4/accept_local": 0,
  "ipv6/disable_ipv6": 0,
  "ipv6/addr_gen_mode": 0,
};

class FakeSysctls implements Sysctls {
  readonly values = new Map<string, number>();
  readonly writes: string[] = [];
  constructor() {
    this.addDevice("all");
    this.addDevice("default");
    this.addDevice("lo");
  }
  addDevice(dev: string): void {
    for (const [k, v] of Object.entries(DEV_DEFAULTS)) {
      const [fam, key] = k.split("/");
      const def = this.values.get(`net/${fam}/conf/default/${key}`);
      this.values.set(`net/${fam}/conf/${dev}/${key}`, dev === "all" ? v : def ?? v);
    }
  }
  dropDevice(dev: string): void {
    for (const k of [...this.values.keys()]) {
      if (k.split("/")[3] === dev) this.values.delete(k);
    }
  }
  read(path: string): Promise<number | null> {
    return Promise.resolve(this.values.get(path) ?? null);
  }
  write(path: string, value: number): Promise<void> {
    if (!this.values.has(path)) return Promise.reject(new Error(`no ${path}`));
    this.values.set(path, value);
    this.writes.push(`${path}=${value}`);
    return Promise.resolve();
  }
  list(dir: string): Promise<string[]> {
    const names = new Set<string>();
    for (const k of this.values.keys()) {
      if (k.startsWith(`${dir}/`)) names.add(k.slice(dir.length + 1).split("/")[0]);
    }
    return Promise.resolve([...names]);
  }
  get(dev: string, key: string, fam = "ipv4"): number | undefined {
    return this.values.get(`net/${fam}/conf/${dev}/${key}`);
  }
}

const SPEC: VmacSpec = { name: "vrrp.51", parent: "eth0", mac: "00:00:5e:00:01:33", ipv6: false };

Deno.test("SystemVmacPort creates a bridge-mode macvlan, tags it, tunes it and its parent, then brings it up", async () => {
  const sysctls = new FakeSysctls();
  const links = new FakeLinks(sysctls);
  const port = new SystemVmacPort(links, sysctls);
  assert.equal(await port.ensure(SPEC), "created");
  assert.deepEqual(links.calls, [
    `add vrrp.51 on #2 00:00:5e:00:01:33 mode ${MACVLAN_MODE_BRIDGE}`,
    `set vrrp.51 {"alias":"${VMAC_ALIAS}"}`,
    `set vrrp.51 {"up":true}`,
  ]);
  assert.equal(sysctls.get("vrrp.51", "arp_ignore"), 1);
  assert.equal(sysctls.get("vrrp.51", "rp_filter"), 0);
  assert.equal(sysctls.get("vrrp.51", "promote_secondaries"), 1);
  assert.equal(sysctls.get("vrrp.51", "disable_ipv6", "ipv6"), 1);
  assert.equal(sysctls.get("eth0", "arp_ignore"), 1);
  assert.equal(sysctls.get("eth0", "arp_announce"), 2);
  assert.equal(sysctls.get("eth0", "arp_filter"), 0, "arp_filter is left alone");
  // Every setting before the link went up.
  const upAt = links.calls.indexOf(`set vrrp.51 {"up":true}`);
  assert.equal(upAt, links.calls.length - 1);

  const writes = sysctls.writes.length;
  assert.equal(await port.ensure(SPEC), "present");
  assert.equal(sysctls.writes.length, writes, "nothing rewritten once in place");

  await port.remove("vrrp.51");
  assert.equal(links.calls.at(-1), "del vrrp.51");
  assert.equal(sysctls.get("eth0", "arp_ignore"), 0, "the parent's arp_ignore is restored");
  assert.equal(sysctls.get("eth0", "arp_announce"), 0, "and its arp_announce");
  assert.deepEqual(port.names(), []);
});

Deno.test("SystemVmacPort: IPv6 macvlans get no generated link-local; IPv4 ones get IPv6 off", async () => {
  const sysctls = new FakeSysctls();
  const port = new SystemVmacPort(new FakeLinks(sysctls), sysctls);
  await port.ensure({ ...SPEC, name: "vrrp6.51", mac: "00:00:5e:00:02:33", ipv6: true });
  assert.equal(sysctls.get("vrrp6.51", "addr_gen_mode", "ipv6"), 1);
  assert.equal(sysctls.get("vrrp6.51", "disable_ipv6", "ipv6"), 0);
});

Deno.test("SystemVmacPort adopts an operator's matching macvlan, gives its settings back and never deletes it", async () => {
  const sysctls = new FakeSysctls();
  const links = new FakeLinks(sysctls);
  links.addPlain("vrrp.51", 5, {
    link: 2,
    linkKind: "macvlan",
    mac: "00:00:5e:00:01:33",
    flags: 0,
  });
  const port = new SystemVmacPort(links, sysctls);
  assert.equal(await port.ensure(SPEC), "adopted");
  assert.equal(sysctls.get("vrrp.51", "arp_ignore"), 1);
  await port.remove("vrrp.51");
  assert.ok(!links.calls.some((c) => c.startsWith("del")), links.calls.join("\n"));
  assert.equal(sysctls.get("vrrp.51", "arp_ignore"), 0);
  assert.equal(sysctls.get("vrrp.51", "rp_filter"), 0);
  assert.equal(sysctls.get("vrrp.51", "disable_ipv6", "ipv6"), 0);
  assert.equal(sysctls.get("eth0", "arp_ignore"), 0);
});

Deno.test("SystemVmacPort treats a macvlan tagged as hacore's (a crash's leftover) as its own", async () => {
  const sysctls = new FakeSysctls();
  const links = new FakeLinks(sysctls);
  links.addPlain("vrrp.51", 5, {
    link: 2,
    linkKind: "macvlan",
    mac: "00:00:5e:00:01:33",
    alias: VMAC_ALIAS,
  });
  const port = new SystemVmacPort(links, sysctls);
  assert.equal(await port.ensure(SPEC), "adopted");
  await port.remove("vrrp.51");
  assert.equal(links.calls.at(-1), "del vrrp.51");
  // A leftover of ours with another MAC is made anew rather than refused.
  links.addPlain("vrrp.51", 6, {
    link: 2,
    linkKind: "macvlan",
    mac: "00:00:5e:00:01:07",
    alias: VMAC_ALIAS,
  });
  assert.equal(await port.ensure(SPEC), "created");
  assert.ok(links.calls.includes("del vrrp.51"));
});

Deno.test("SystemVmacPort leaves a foreign interface under the name alone and says what it is", async () => {
  const sysctls = new FakeSysctls();
  const links = new FakeLinks(sysctls);
  links.addPlain("vrrp.51", 5, { linkKind: "veth", mac: "02:00:00:00:00:05" });
  const port = new SystemVmacPort(links, sysctls);
  await assert.rejects(
    () => port.ensure(SPEC),
    /vrrp\.51 exists but is not a macvlan on eth0 with MAC 00:00:5e:00:01:33 \(veth, MAC 02:00:00:00:00:05\); hacore leaves it alone/,
  );
  assert.deepEqual(links.calls, []);
  assert.equal(sysctls.writes.length, 0);
  await assert.rejects(
    () => port.ensure({ ...SPEC, parent: "eth9" }),
    /vrrp\.51: its parent interface eth9 does not exist/,
  );
});

Deno.test("SystemVmacPort makes the macvlan again when it (or its parent) was deleted", async () => {
  const sysctls = new FakeSysctls();
  const links = new FakeLinks(sysctls);
  const port = new SystemVmacPort(links, sysctls);
  await port.ensure(SPEC);
  // The parent goes, taking the macvlan with it, and comes back with a new index.
  links.links = links.links.filter((l) => l.name !== "eth0" && l.name !== "vrrp.51");
  sysctls.dropDevice("eth0");
  sysctls.dropDevice("vrrp.51");
  await assert.rejects(() => port.ensure(SPEC), /parent interface eth0 does not exist/);
  links.addPlain("eth0", 3);
  assert.equal(await port.ensure(SPEC), "created");
  assert.ok(
    links.calls.includes(`add vrrp.51 on #3 00:00:5e:00:01:33 mode ${MACVLAN_MODE_BRIDGE}`),
  );
  assert.equal(sysctls.get("eth0", "arp_ignore"), 1, "the new parent is tuned again");
  await port.remove("vrrp.51");
  assert.equal(sysctls.get("eth0", "arp_ignore"), 0);
});

Deno.test("SystemVmacPort: strict all.rp_filter is lowered, every other interface keeps its filter, all restored", async () => {
  const sysctls = new FakeSysctls();
  sysctls.values.set("net/ipv4/conf/all/rp_filter", 1);
  sysctls.values.set("net/ipv4/conf/lo/rp_filter", 2);
  const links = new FakeLinks(sysctls);
  const port = new SystemVmacPort(links, sysctls);
  await port.ensure(SPEC);
  assert.equal(sysctls.get("all", "rp_filter"), 0);
  assert.equal(sysctls.get("eth0", "rp_filter"), 1);
  assert.equal(sysctls.get("default", "rp_filter"), 1);
  assert.equal(sysctls.get("lo", "rp_filter"), 2, "a looser-than-strict value above 1 stays");
  assert.equal(sysctls.get("vrrp.51", "rp_filter"), 0);
  await port.remove("vrrp.51");
  assert.equal(sysctls.get("all", "rp_filter"), 1);
  assert.equal(sysctls.get("eth0", "rp_filter"), 0);
  assert.equal(sysctls.get("default", "rp_filter"), 0);
  assert.equal(sysctls.get("lo", "rp_filter"), 2);
});

Deno.test("SystemVmacPort: the parent's setting stays while another macvlan still uses it", async () => {
  const sysctls = new FakeSysctls();
  const port = new SystemVmacPort(new FakeLinks(sysctls), sysctls);
  await port.ensure(SPEC);
  await port.ensure({ ...SPEC, name: "vrrp.52", mac: "00:00:5e:00:01:34" });
  await port.remove("vrrp.51");
  assert.equal(sysctls.get("eth0", "arp_ignore"), 1);
  await port.remove("vrrp.52");
  assert.equal(sysctls.get("eth0", "arp_ignore"), 0);
  await port.remove("never-made"); // unknown names are ignored
});

Deno.test("a macvlan that cannot be made and is then no longer wanted (a reload drops use_vmac) leaves no Fault behind", async () => {
  const w = new World();
  const a = w.add("a", "192.0.2.11", instanceToml(150));
  a.vmacs.failing.add("vrrp.51");
  await a.daemon.start();
  await w.run(3000);
  assert.ok(a.daemon.status().instances[0].faults.includes("vmac vrrp.51"));
  const r = await reloadWith(w, a, instanceToml(150).replace("use_vmac = true", ""));
  assert.ok(r.ok, JSON.stringify(r));
  await w.run(w.clock.nowMs() + 5000);
  const s = a.daemon.status().instances[0];
  assert.deepEqual(s.faults, []);
  assert.equal(s.state, "master");
  assert.ok(a.port.has("eth0", VIP, 24, true));
  await w.stop(a);
});

import assert from "node:assert/strict";
import { type Config, parseConfig } from "../../lib/config/mod.ts";
import { Daemon, DaemonSetupError, type InstanceStatus } from "../../lib/daemon/daemon.ts";
import type { KernelAddress, TransportFactory } from "../../lib/daemon/ports.ts";
import { Logger } from "../../lib/log.ts";
import { SyscallError } from "../../lib/sys/errno.ts";
import {
  FakeAddressPort,
  FakeLan,
  ManualClock,
  RecordingAnnouncer,
  runClock,
} from "../fakes/daemon.ts";

const VIP = "192.0.2.100";

function configOf(global: string, extra = ""): Config {
  const r = parseConfig(
    `[global]\nvrrp_version = 3\n${global}\n
[vrrp_instance.VI_1]
interface = "eth9"
virtual_router_id = 51
priority = 150
virtual_ipaddress = ["${VIP}/24"]
${extra}`,
    "dyn.toml",
  );
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

/** One daemon whose interfaces in `missing` do not exist: opening a socket there is ENODEV. */
class Node {
  readonly clock = new ManualClock(0);
  readonly lan = new FakeLan({ clock: this.clock });
  readonly port: FakeAddressPort;
  readonly missing = new Set<string>(["eth9"]);
  readonly lines: string[] = [];
  readonly file: { text: string };
  readonly daemon: Daemon;

  /** `initial`: addresses present before the start (no event tells of them). */
  constructor(config: Config, fileText = "", initial: KernelAddress[] = []) {
    this.port = new FakeAddressPort(initial);
    this.file = { text: fileText };
    const inner = this.lan.host("a", ["192.0.2.11", "192.0.2.12"]);
    const transports: TransportFactory = {
      open: (req, onPacket) => {
        if (this.missing.has(req.interface)) {
          throw new SyscallError("if_nametoindex", 19, req.interface);
        }
        return inner.open(req, onPacket);
      },
    };
    this.daemon = new Daemon({
      config,
      primaryAddresses: new Map(),
      clock: this.clock,
      transports,
      addresses: this.port,
      announcer: new RecordingAnnouncer(this.clock),
      logger: new Logger({ level: "debug", sink: (l) => this.lines.push(l) }),
      loadConfig: (f) => Promise.resolve(parseConfig(this.file.text, f)),
    });
  }

  settle = async (): Promise<void> => {
    for (let i = 0; i < 1000; i++) {
      await new Promise((r) => setTimeout(r, 0));
      if (this.daemon.idle) return;
    }
    throw new Error("never settled");
  };

  run(forMs: number): Promise<void> {
    return runClock(this.clock, this.clock.nowMs() + forMs, this.settle);
  }

  vi(name = "VI_1"): InstanceStatus {
    return this.daemon.status().instances.find((i) => i.name === name)!;
  }

  /** The interface is created (a macvlan when `over` is given), with `ip` on it, and comes up. */
  create(ip: string, over?: string) {
    this.missing.delete("eth9");
    this.port.addByHand({
      dev: "eth9",
      address: ip,
      prefix: 24,
      family: "ipv4",
      label: null,
      hacore: false,
    });
    this.port.link("eth9", true, over);
  }

  /** Sources of the adverts sent on eth9 since `fromMs`. */
  sources(fromMs: number): Set<string> {
    return new Set(
      this.lan.sent.filter((p) => p.atMs >= fromMs && p.interface === "eth9").map((p) => p.src),
    );
  }

  async stop() {
    const done = this.daemon.stop();
    for (let i = 0; i < 100 && this.daemon.status().phase !== "stopped"; i++) await this.run(1000);
    await done;
    assert.equal(this.lan.openCount(), 0, "transports left open");
  }
}

Deno.test("dynamic_interfaces: an instance whose interface is missing at start waits in FAULT, naming it", async () => {
  const n = new Node(configOf("dynamic_interfaces = true"));
  await n.daemon.start();
  await n.run(10_000);
  assert.equal(n.vi().state, "fault");
  assert.deepEqual([...n.vi().faults].sort(), [
    "interface eth9 missing",
    "no ipv4 address on eth9",
  ]);
  assert.equal(n.lan.openCount(), 0);
  assert.equal(n.lan.sent.length, 0, "a waiting instance sends nothing");
  assert.ok(
    n.lines.some((l) => l.includes("eth9: no such interface at start")),
    n.lines.join("\n"),
  );
  await n.stop();
});

Deno.test("dynamic_interfaces: the interface created → master from its address; deleted → FAULT, VIP gone; re-created → back on the new address", async () => {
  const n = new Node(configOf("dynamic_interfaces = true"));
  await n.daemon.start();
  await n.run(2000);

  n.create("192.0.2.11");
  await n.settle();
  assert.deepEqual(n.vi().faults, []);
  assert.equal(n.lan.openCount(), 1);
  const t1 = n.clock.nowMs();
  await n.run(5000);
  assert.equal(n.vi().state, "master");
  assert.ok(n.port.has("eth9", VIP, 24, true), "the master holds its VIP");
  assert.deepEqual(n.sources(t1), new Set(["192.0.2.11"]));

  n.missing.add("eth9");
  n.port.deleteLink("eth9");
  await n.settle();
  assert.equal(n.vi().state, "fault");
  assert.ok(n.vi().faults.includes("interface eth9 missing"), n.vi().faults.join());
  assert.equal(n.lan.openCount(), 0, "the deleted interface's socket is closed");
  const linesAtDelete = n.lines.length;
  const sentAtDelete = n.lan.sent.length;
  await n.run(30_000);
  assert.ok(!n.port.has("eth9", VIP), "the VIP went with the interface and is not put back");
  assert.equal(n.lan.sent.length, sentAtDelete, "nothing sent while the interface is gone");
  assert.ok(
    n.lines.length - linesAtDelete < 5,
    `no log flood: ${n.lines.slice(linesAtDelete).join("\n")}`,
  );

  n.create("192.0.2.12");
  await n.settle();
  assert.deepEqual(n.vi().faults, []);
  const t2 = n.clock.nowMs();
  await n.run(5000);
  assert.equal(n.vi().state, "master");
  assert.ok(n.port.has("eth9", VIP, 24, true));
  assert.deepEqual(n.sources(t2), new Set(["192.0.2.12"]), "adverts from the new address");
  assert.equal(n.lan.openCount(), 1, "one socket, not a leak");
  await n.stop();
});

Deno.test("dynamic_interfaces: an existing interface without an address waits in FAULT until one appears", async () => {
  const n = new Node(configOf("dynamic_interfaces = true"));
  n.missing.clear();
  await n.daemon.start();
  await n.run(5000);
  assert.equal(n.vi().state, "fault");
  assert.deepEqual(n.vi().faults, ["no ipv4 address on eth9"]);
  n.port.addByHand({
    dev: "eth9",
    address: "192.0.2.11",
    prefix: 24,
    family: "ipv4",
    label: null,
    hacore: false,
  });
  await n.run(5000);
  assert.equal(n.vi().state, "master");
  await n.stop();
});

Deno.test("without dynamic_interfaces a missing interface is still an error at start, naming instance and interface", () => {
  assert.throws(
    () => new Node(configOf("")),
    (e: unknown) =>
      e instanceof DaemonSetupError && /VI_1: no ipv4 address on eth9/.test(e.message),
  );
});

Deno.test("a reload adding an instance on a missing interface: waits in FAULT with dynamic_interfaces, refused without", async () => {
  const added = `[vrrp_instance.VI_2]
interface = "eth8"
virtual_router_id = 52
virtual_ipaddress = ["192.0.2.200/24"]`;
  for (const dynamic of [true, false]) {
    const global = dynamic ? "dynamic_interfaces = true" : "";
    const n = new Node(configOf(global, 'unicast_src_ip = "192.0.2.11"'));
    n.missing.clear();
    n.missing.add("eth8");
    await n.daemon.start();
    await n.run(5000);
    assert.equal(n.vi().state, "master");
    n.file.text = `[global]\nvrrp_version = 3\n${global}\n
[vrrp_instance.VI_1]
interface = "eth9"
virtual_router_id = 51
priority = 150
virtual_ipaddress = ["${VIP}/24"]
unicast_src_ip = "192.0.2.11"
${added}`;
    const outcome = n.daemon.reload();
    await n.run(1000);
    const r = await outcome;
    if (dynamic) {
      assert.ok(r.ok, r.errors.join("\n"));
      assert.equal(n.vi("VI_2").state, "fault");
      assert.deepEqual(
        [...n.vi("VI_2").faults].sort(),
        ["interface eth8 missing", "no ipv4 address on eth8"],
      );
      assert.equal(n.vi().state, "master", "the running instance did not notice");
    } else {
      assert.ok(!r.ok);
      assert.match(r.errors.join("\n"), /VI_2: no ipv4 address on eth8/);
    }
    await n.stop();
  }
});

Deno.test("a reload may move an instance to another interface, as keepalived's does: its socket there opens, the old one closes", async () => {
  const toml = (iface: string) =>
    `[global]\nvrrp_version = 3\ndynamic_interfaces = true\n
[vrrp_instance.VI_1]
interface = "${iface}"
virtual_router_id = 51
priority = 150
virtual_ipaddress = ["${VIP}/24"]
unicast_src_ip = "192.0.2.11"
`;
  const n = new Node(configOf("dynamic_interfaces = true", `unicast_src_ip = "192.0.2.11"`));
  n.missing.clear();
  await n.daemon.start();
  await n.run(5000);
  assert.equal(n.vi().state, "master");
  n.file.text = toml("eth8");
  const outcome = n.daemon.reload();
  await n.run(1000);
  const r = await outcome;
  assert.ok(r.ok, r.errors.join("\n"));
  const t = n.clock.nowMs();
  await n.run(5000);
  assert.equal(n.vi().state, "master");
  const sent = n.lan.sent.filter((p) => p.atMs > t);
  assert.ok(sent.length > 0 && sent.every((p) => p.interface === "eth8"), "adverts on eth8 only");
  assert.equal(n.lan.openCount(), 1, "eth9's socket closed, eth8's open");
  await n.stop();
});

for (const allow of [false, true]) {
  Deno.test(`an interface re-created as another kind is ${allow ? "taken up with" : "refused (FAULT, said once) without"} allow_if_changes, as in keepalived`, async () => {
    const global = `dynamic_interfaces = true\nallow_if_changes = ${allow}`;
    const n = new Node(configOf(global));
    await n.daemon.start();
    n.create("192.0.2.11", "eth1"); // a macvlan over eth1
    await n.run(5000);
    assert.equal(n.vi().state, "master");

    n.missing.add("eth9");
    n.port.deleteLink("eth9", "eth1");
    await n.settle();
    n.create("192.0.2.11"); // back as a plain interface
    await n.run(5000);
    const changed = "interface eth9 changed (allow_if_changes)";
    const said = n.lines.filter((l) => l.includes("eth9: re-created as not a macvlan/ipvlan"));
    if (allow) {
      assert.equal(n.vi().state, "master");
      assert.deepEqual(said, []);
    } else {
      assert.equal(n.vi().state, "fault");
      assert.ok(n.vi().faults.includes(changed), n.vi().faults.join());
      assert.equal(said.length, 1, said.join("\n"));
      assert.match(
        said[0],
        /it was a macvlan\/ipvlan over eth1: not used without allow_if_changes/,
      );
      // Deleted again and back as it first was: taken up.
      n.missing.add("eth9");
      n.port.deleteLink("eth9");
      await n.settle();
      n.create("192.0.2.11", "eth1");
      await n.run(5000);
      assert.equal(n.vi().state, "master");
      assert.deepEqual(n.vi().faults, []);
    }
    await n.stop();
  });
}

Deno.test("dynamic_interfaces over IPv6: the instance sends from the interface's link-local address, never a global one", async () => {
  const r = parseConfig(
    `[global]\nvrrp_version = 3\ndynamic_interfaces = true\n
[vrrp_instance.VI_1]
interface = "eth9"
virtual_router_id = 51
priority = 150
virtual_ipaddress = ["fe80::100/64", "2001:db8::100/64"]
`,
    "dyn6.toml",
  );
  assert.ok(r.ok);
  const n = new Node(r.config);
  await n.daemon.start();
  await n.run(1000);
  n.missing.delete("eth9");
  const v6 = (address: string) => ({
    dev: "eth9",
    address,
    prefix: 64,
    family: "ipv6" as const,
    label: null,
    hacore: false,
  });
  n.port.addByHand(v6("2001:db8::11"));
  n.port.link("eth9", true);
  await n.run(5000);
  assert.equal(n.vi().state, "fault");
  assert.deepEqual(n.vi().faults, ["no ipv6 address on eth9"]);
  n.port.addByHand(v6("fe80::11"));
  const t = n.clock.nowMs();
  await n.run(5000);
  assert.equal(n.vi().state, "master");
  assert.deepEqual(n.sources(t), new Set(["fe80::11"]));
  await n.stop();
});

Deno.test("an address that came before its event could be seen is read when the interface appears", async () => {
  // On eth9 already, but the daemon's primaries (read before) and its events never saw it.
  const early: KernelAddress = {
    dev: "eth9",
    address: "192.0.2.11",
    prefix: 24,
    family: "ipv4",
    label: null,
    hacore: false,
  };
  const n = new Node(configOf("dynamic_interfaces = true"), "", [early]);
  await n.daemon.start();
  await n.run(1000);
  assert.equal(n.vi().state, "fault");
  n.missing.delete("eth9");
  n.port.link("eth9", true);
  const t = n.clock.nowMs();
  await n.run(5000);
  assert.equal(n.vi().state, "master");
  assert.deepEqual(n.sources(t), new Set(["192.0.2.11"]));
  await n.stop();
});

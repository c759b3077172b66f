/**
 * hacore against hacore on a real kernel: namespaces on a bridge, `hacore run` in each,
 * real adverts on the wire. Every assertion is about something observable from outside
 * the daemons: who holds the VIP per `ip addr` in each namespace, how long it took from
 * the signal, what a client connecting to the VIP saw, and what tshark decodes.
 *
 * Timing bounds come from the protocol, not from measurements: a backup takes over
 * within Master_Down_Interval of the master's last advert (which went out at most one
 * interval before the kill), and after a priority-0 advert within Skew_Time. MARGIN_MS
 * covers process scheduling, the reconcile and the polling, on a busy 2-core machine.
 *
 * Crash model: a kill -9 leaves the VIP in the dead daemon's kernel (nothing removes
 * it), which keeps answering ARP and TCP for it. Where the client's view matters, the
 * test also pulls the node's cable (its bridge port down), as a dead machine would; the
 * plain VIP-holder tests do not need to.
 */

import assert from "node:assert/strict";
import { leftoverNamespaces, netnsTest } from "./helpers.ts";
import {
  addressWatcher,
  buildLan,
  hacoreConfigToml,
  hacoreFromToml,
  type HacoreProc,
  LAN_IFACE,
  type LanMember,
  masterDownIntervalMs,
  only,
  type PeerLab,
  peerTest,
  skewTimeMs,
  sleep,
  startCapture,
  startProbe,
  startTcpService,
  summarizeProbe,
  tsharkFrames,
  vipHolders,
  type VipWatcher,
  waitForHolders,
  wallMs,
  withPeerLab,
} from "./peers.ts";

const VIP = "192.0.2.100";
const ADV_MS = 100;
/** Slack for scheduling, reconcile and polling on a loaded machine. */
const MARGIN_MS = 150;
/** Deno start, config load and the first Master_Down_Interval. */
const START_MS = 10_000;

const mdi = (priority: number) => masterDownIntervalMs(3, priority, ADV_MS);

interface Node {
  readonly name: string;
  readonly member: LanMember;
  readonly priority: number;
  readonly watcher: VipWatcher;
  /** The config text, so a restart runs the same one. */
  readonly toml: string;
  hacore: HacoreProc;
}

interface HacoreLan {
  readonly lab: PeerLab;
  readonly dir: string;
  readonly nodes: Node[];
  readonly watchers: VipWatcher[];
  readonly client: LanMember | null;
  readonly cut: (m: LanMember) => Promise<void>;
  readonly plug: (m: LanMember) => Promise<void>;
  restart(node: Node): Promise<HacoreProc>;
}

/**
 * One namespace per entry of `configs` (name → TOML) on a bridge, addresses
 * 192.0.2.11.., hacore started in each at once (or the first alone until it is master,
 * with `firstAlone`); with `withClient`, a client namespace and a TCP service per node.
 */
async function hacoreLan(
  lab: PeerLab,
  configs: { name: string; priority: number; toml: string }[],
  withClient = false,
  firstAlone = false,
): Promise<HacoreLan> {
  const lan = await buildLan(lab, {
    nodes: configs.map((c, i) => ({ name: c.name, address: `192.0.2.${11 + i}/24` })),
    client: withClient ? { name: "client", address: "192.0.2.50/24" } : undefined,
  });
  const dir = await lab.tempDir();
  const nodes: Node[] = configs.map((c, i) => ({
    name: c.name,
    member: lan.nodes[i],
    priority: c.priority,
    watcher: addressWatcher(c.name, lan.nodes[i].ns, LAN_IFACE, VIP),
    toml: c.toml,
    hacore: null!,
  }));
  const out: HacoreLan = {
    lab,
    dir,
    nodes,
    watchers: nodes.map((n) => n.watcher),
    client: lan.client,
    cut: lan.cut,
    plug: lan.plug,
    async restart(node) {
      node.hacore = await hacoreFromToml(lab, dir, node.member.ns, node.name, node.toml);
      return node.hacore;
    },
  };
  if (withClient) {
    await Promise.all(nodes.map((n) => startTcpService(lab, n.member.ns, n.name)));
  }
  if (firstAlone) {
    // The first node is master before the others exist: who wins no longer depends on
    // which process happened to start first (which decides it without preemption).
    await out.restart(nodes[0]);
    await nodes[0].hacore.waitState("MASTER", START_MS);
    await Promise.all(nodes.slice(1).map((n) => out.restart(n)));
  } else {
    await Promise.all(nodes.map((n) => out.restart(n)));
  }
  return out;
}

const v3 = (name: string, priority: number, extra: { preempt?: boolean } = {}) => ({
  name,
  priority,
  toml: hacoreConfigToml({ routerId: name, priority, vips: [`${VIP}/24`], ...extra }),
});

/**
 * Waits until `name` alone holds the VIP, its hacore says MASTER and every other says
 * BACKUP, and that still holds two intervals later. Nodes started together may both
 * time out and claim the VIP for a moment (as the RFC allows) before the lower one
 * hears the higher; a test that killed "the master" then would kill the wrong one.
 */
async function elected(l: HacoreLan, name: string): Promise<void> {
  const states = () =>
    l.nodes.every((n) => n.hacore.state() === (n.name === name ? "MASTER" : "BACKUP"));
  const deadline = wallMs() + START_MS;
  for (;;) {
    await waitForHolders(
      l.watchers,
      (h) => only(name)(h) && states(),
      Math.max(0, deadline - wallMs()),
      `${name} alone to hold the VIP, the others BACKUP`,
    );
    await sleep(2 * ADV_MS);
    if (only(name)(await vipHolders(l.watchers)) && states()) return;
  }
}

netnsTest(
  "two nodes: the higher priority wins, a kill -9 hands the VIP over within Master_Down_Interval, and the old master preempts on return",
  () =>
    withPeerLab(async (lab) => {
      const l = await hacoreLan(lab, [v3("a", 150), v3("b", 100)]);
      const [a, b] = l.nodes;
      await elected(l, "a");

      const tKill = wallMs();
      a.hacore.proc.child.kill("SIGKILL");
      const fromIndex = b.hacore.transitions.length;
      const took = await waitForHolders([b.watcher], only("b"), START_MS, "b to take over");
      const takeoverMs = took.atMs - tKill;
      assert.ok(
        takeoverMs <= mdi(100) + MARGIN_MS,
        `b took ${takeoverMs.toFixed(0)} ms; Master_Down_Interval is ${mdi(100)} ms`,
      );
      // Its last advert left at most one interval before the kill: an earlier takeover
      // would mean b did not wait for the master to be down.
      assert.ok(takeoverMs >= mdi(100) - ADV_MS - 30, `b took over early: ${takeoverMs} ms`);
      const t = await b.hacore.waitState("MASTER", 1000, { fromIndex });
      assert.equal(t.reason, "master-down-timer");

      const tBack = wallMs();
      const a2 = await l.restart(a);
      const back = await waitForHolders(l.watchers, only("a"), START_MS, "a to preempt");
      const preempt = await a2.waitState("MASTER", 1000);
      assert.equal(preempt.reason, "preempt");
      assert.equal(b.hacore.state(), "BACKUP");
      console.log(
        `  kill -9 takeover ${takeoverMs.toFixed(0)} ms (MDI ${mdi(100)}), ` +
          `preempted back ${(back.atMs - tBack).toFixed(0)} ms after the restart`,
      );
    }),
);

netnsTest(
  "two nodes: SIGTERM of the master hands the VIP over within Skew_Time, releases it, and exits 0",
  () =>
    withPeerLab(async (lab) => {
      const l = await hacoreLan(lab, [v3("a", 150), v3("b", 100)]);
      const [a, b] = l.nodes;
      await elected(l, "a");

      const fromIndex = b.hacore.transitions.length;
      const tTerm = wallMs();
      a.hacore.proc.child.kill("SIGTERM");
      const took = await waitForHolders([b.watcher], only("b"), START_MS, "b to take over");
      const handoverMs = took.atMs - tTerm;
      const skew = skewTimeMs(3, 100, ADV_MS);
      assert.ok(
        handoverMs <= skew + MARGIN_MS,
        `b took ${handoverMs.toFixed(0)} ms; Skew_Time is ${skew} ms`,
      );
      const t = await b.hacore.waitState("MASTER", 1000, { fromIndex });
      assert.equal(t.reason, "priority-zero");

      await waitForHolders([a.watcher], (h) => h.length === 0, 2000, "a to release the VIP");
      const status = await a.hacore.proc.exited(2000);
      assert.equal(status.code, 0, `exit status${a.hacore.proc.tail()}`);
      const exitMs = a.hacore.proc.exitedAtMs! - tTerm;
      assert.ok(exitMs < 1500, `a took ${exitMs.toFixed(0)} ms to exit`);
      assert.deepEqual(
        await waitForHolders(l.watchers, only("b"), 1000, "b alone").then((s) => s.holders),
        ["b"],
      );
      console.log(
        `  SIGTERM handover ${handoverMs.toFixed(0)} ms (skew ${skew}), exit ${
          exitMs.toFixed(0)
        } ms`,
      );
    }),
);

netnsTest(
  "link down on the master's interface: it goes FAULT and releases, the backup takes over within Master_Down_Interval, and it preempts back when the link returns",
  () =>
    withPeerLab(async (lab) => {
      const l = await hacoreLan(lab, [v3("a", 150), v3("b", 100)]);
      const [a, b] = l.nodes;
      await elected(l, "a");

      const fromA = a.hacore.transitions.length;
      const fromB = b.hacore.transitions.length;
      const tCut = wallMs();
      await l.cut(a.member);
      const fault = await a.hacore.waitState("FAULT", 2000, { fromIndex: fromA });
      assert.equal(fault.reason, "fault");
      await waitForHolders([a.watcher], (h) => h.length === 0, 2000, "a to release the VIP");
      // a's priority 0 cannot cross a pulled cable, so b waits out its Master_Down_Interval.
      const took = await waitForHolders([b.watcher], only("b"), START_MS, "b to take over");
      const ms = took.atMs - tCut;
      assert.ok(ms <= mdi(100) + MARGIN_MS, `b took ${ms.toFixed(0)} ms; MDI is ${mdi(100)} ms`);
      await b.hacore.waitState("MASTER", 1000, { fromIndex: fromB });

      const fromA2 = a.hacore.transitions.length;
      await l.plug(a.member);
      const back = await a.hacore.waitState("BACKUP", 3000, { fromIndex: fromA2 });
      assert.equal(back.reason, "fault-cleared");
      await a.hacore.waitState("MASTER", START_MS, { fromIndex: fromA2 });
      await waitForHolders(l.watchers, only("a"), START_MS, "a to hold the VIP again");
      console.log(`  link down: FAULT at once, b took over ${ms.toFixed(0)} ms after the cut`);
    }),
);

netnsTest(
  "IPv6: VRRPv3 over ff02::12 from link-local sources elects, fails over on kill -9 and hands over on SIGTERM",
  () =>
    withPeerLab(async (lab) => {
      const VIP6 = "2001:db8::100";
      const v6 = (name: string, priority: number) => ({
        name,
        priority,
        // RFC 5798 §5.2.9: an IPv6 advert's first address is link-local.
        toml: hacoreConfigToml({ routerId: name, priority, vips: ["fe80::100/64", `${VIP6}/64`] }),
      });
      const l = await hacoreLan(lab, [v6("a", 150), v6("b", 100)]);
      const [a, b] = l.nodes;
      const w6 = l.nodes.map((n) => addressWatcher(n.name, n.member.ns, LAN_IFACE, VIP6));
      await waitForHolders(w6, only("a"), START_MS, "a alone to hold the IPv6 VIP");
      await a.hacore.waitState("MASTER", START_MS);

      const tKill = wallMs();
      a.hacore.proc.child.kill("SIGKILL");
      const took = await waitForHolders([w6[1]], only("b"), START_MS, "b to take over");
      const ms = took.atMs - tKill;
      assert.ok(ms <= mdi(100) + MARGIN_MS, `b took ${ms.toFixed(0)} ms; MDI is ${mdi(100)} ms`);

      // The killed node's kernel still holds its copy; a fresh start must clean it up
      // as a backup (it is hacore-tagged) and then preempt.
      await l.restart(a);
      await waitForHolders(w6, only("a"), START_MS, "a to preempt back over IPv6");
      const fromB = b.hacore.transitions.length;
      const tTerm = wallMs();
      a.hacore.proc.child.kill("SIGTERM");
      const handover = await waitForHolders([w6[1]], only("b"), START_MS, "b after SIGTERM");
      const skew = skewTimeMs(3, 100, ADV_MS);
      const hms = handover.atMs - tTerm;
      assert.ok(hms <= skew + MARGIN_MS, `b took ${hms.toFixed(0)} ms; Skew_Time is ${skew} ms`);
      assert.equal(
        (await b.hacore.waitState("MASTER", 1000, { fromIndex: fromB })).reason,
        "priority-zero",
      );
      console.log(
        `  IPv6: kill -9 takeover ${ms.toFixed(0)} ms, SIGTERM handover ${hms.toFixed(0)} ms`,
      );
    }),
);

netnsTest(
  "nopreempt: the higher-priority node comes back as BACKUP and leaves the VIP where it is",
  () =>
    withPeerLab(async (lab) => {
      const l = await hacoreLan(
        lab,
        [
          v3("a", 150, { preempt: false }),
          v3("b", 100, { preempt: false }),
        ],
        false,
        true,
      );
      const [a, b] = l.nodes;
      await elected(l, "a");
      a.hacore.proc.child.kill("SIGKILL");
      await waitForHolders([b.watcher], only("b"), START_MS, "b to take over");

      const a2 = await l.restart(a);
      await a2.waitState("BACKUP", START_MS);
      // A preempting node acts on the first advert it hears (one interval); give it
      // three of its own Master_Down_Intervals, in which a timeout would show as well.
      await sleep(3 * mdi(150));
      assert.deepEqual(a2.transitions.map((t) => t.to), ["BACKUP"]);
      assert.deepEqual(
        await waitForHolders(l.watchers, only("b"), 1000, "b alone").then((s) => s.holders),
        ["b"],
        "b keeps the VIP and a's leftover from the kill is gone",
      );
      assert.equal(b.hacore.state(), "MASTER");
    }),
);

netnsTest(
  "unicast peers: adverts go to the peer's address, and a kill -9 fails over",
  () =>
    withPeerLab(async (lab) => {
      const uni = (name: string, priority: number, src: string, peer: string) => ({
        name,
        priority,
        toml: hacoreConfigToml({
          routerId: name,
          priority,
          vips: [`${VIP}/24`],
          unicastSrcIp: src,
          unicastPeers: [peer],
        }),
      });
      const l = await hacoreLan(lab, [
        uni("a", 150, "192.0.2.11", "192.0.2.12"),
        uni("b", 100, "192.0.2.12", "192.0.2.11"),
      ]);
      const [a, b] = l.nodes;
      await elected(l, "a");
      const tKill = wallMs();
      a.hacore.proc.child.kill("SIGKILL");
      const took = await waitForHolders([b.watcher], only("b"), START_MS, "b to take over");
      const ms = took.atMs - tKill;
      assert.ok(ms <= mdi(100) + MARGIN_MS, `b took ${ms.toFixed(0)} ms`);
      const summary = b.hacore.proc.lines.find((x) => x.text.includes("unicast to 192.0.2.11"));
      assert.ok(summary, `b's log announces unicast${b.hacore.proc.tail()}`);
    }),
);

peerTest("unicast adverts on the wire have the peer as destination, never the group", [
  "tshark",
  "dumpcap",
], () =>
  withPeerLab(async (lab) => {
    // The peer is a bare namespace: it only has to answer ARP for its address.
    const lan = await buildLan(lab, {
      nodes: [{ name: "a", address: "192.0.2.11/24" }, { name: "b", address: "192.0.2.12/24" }],
    });
    const dir = await lab.tempDir();
    const cap = await startCapture(lab, dir, lan.bridgeNs, lan.bridge, "ip proto 112");
    const h = await hacoreFromToml(
      lab,
      dir,
      lan.nodes[0].ns,
      "a",
      hacoreConfigToml({
        routerId: "a",
        priority: 150,
        vips: [`${VIP}/24`],
        unicastSrcIp: "192.0.2.11",
        unicastPeers: ["192.0.2.12"],
      }),
    );
    await h.waitState("MASTER", START_MS);
    await sleep(5 * ADV_MS);
    await cap.stop();
    const rows = (await cap.read("-Y", "vrrp", "-T", "fields", "-e", "ip.src", "-e", "ip.dst"))
      .trim().split("\n").filter((r) => r.length > 0);
    assert.ok(rows.length >= 3, `adverts captured: ${rows.length}`);
    for (const r of rows) assert.equal(r, "192.0.2.11\t192.0.2.12");
  }));

netnsTest(
  "three nodes: the highest priority wins; after a kill -9 the next highest takes over, the lowest stays backup",
  () =>
    withPeerLab(async (lab) => {
      const l = await hacoreLan(lab, [v3("a", 150), v3("b", 100), v3("c", 50)]);
      const [a, b, c] = l.nodes;
      await elected(l, "a");
      const cFrom = c.hacore.transitions.length;
      const tKill = wallMs();
      a.hacore.proc.child.kill("SIGKILL");
      const took = await waitForHolders(
        [b.watcher, c.watcher],
        (h) => h.length > 0,
        START_MS,
        "a new master",
      );
      assert.deepEqual(took.holders, ["b"]);
      const ms = took.atMs - tKill;
      assert.ok(ms <= mdi(100) + MARGIN_MS, `b took ${ms.toFixed(0)} ms`);
      // c's timer (longer skew) was reset by b's first advert as master.
      await sleep(mdi(50));
      assert.deepEqual(
        await waitForHolders([b.watcher, c.watcher], only("b"), 1000, "b alone")
          .then((s) => s.holders),
        ["b"],
      );
      assert.deepEqual(c.hacore.transitions.slice(cFrom).map((t) => t.to), []);
    }),
);

netnsTest(
  "a client connecting to the VIP every 10 ms fails only until the takeover after a crash",
  () =>
    withPeerLab(async (lab) => {
      const l = await hacoreLan(lab, [v3("a", 150), v3("b", 100)], true);
      const [a, b] = l.nodes;
      const probe = await startProbe(lab, l.client!.ns, VIP, { intervalMs: 10, timeoutMs: 200 });
      await elected(l, "a");
      await probe.waitFor((r) => r.ok && r.who === "a", START_MS, "the client to reach a");
      await sleep(3 * ADV_MS);

      const tKill = wallMs();
      a.hacore.proc.child.kill("SIGKILL");
      await l.cut(a.member); // a dead machine: its kernel no longer answers for the VIP
      const took = await waitForHolders([b.watcher], only("b"), START_MS, "b to take over");
      const takeoverMs = took.atMs - tKill;
      await probe.waitFor((r) => r.ok && r.who === "b", START_MS, "the client to reach b");
      // A stretch of steady service after the takeover, then every attempt started up to
      // its end gets the time to finish (or time out).
      await sleep(300);
      const tEnd = wallMs();
      await sleep(probe.timeoutMs + 100);
      await probe.stop();
      const s = summarizeProbe(probe.results, tKill, tEnd);

      assert.ok(s.failed >= 1, "the crash interrupted the service (else nothing was tested)");
      // A SYN sent just before the new master's GARP reached the client still went to a.
      const grace = 50;
      assert.ok(
        s.lastFailureAfterMs! <= takeoverMs + grace,
        `last failure at +${s.lastFailureAfterMs} ms, takeover at +${takeoverMs.toFixed(0)} ms`,
      );
      const after = probe.results.filter((r) => r.t > tKill + takeoverMs + grace && r.t < tEnd);
      assert.ok(after.length >= 10, `attempts after the takeover: ${after.length}`);
      const bad = after.filter((r) => !(r.ok && r.who === "b"));
      assert.deepEqual(bad, [], "every attempt after the takeover reached b");
      const bound = Math.ceil((mdi(100) + MARGIN_MS + grace) / probe.intervalMs);
      assert.ok(s.failed <= bound, `${s.failed} failed connects; bound ${bound}`);
      assert.equal(b.hacore.state(), "MASTER");
      console.log(
        `  takeover ${takeoverMs.toFixed(0)} ms; client: ${s.failed}/${s.attempts} failed, ` +
          `back at +${s.recoveredAfterMs} ms via ${s.recoveredBy}`,
      );
    }),
);

peerTest(
  "tshark decodes hacore's v2, v3 and v3-over-IPv6 adverts as valid: TTL 255, good checksums, no warnings",
  ["tshark", "dumpcap"],
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, { nodes: [{ name: "a", address: "192.0.2.11/24" }] });
      const dir = await lab.tempDir();
      const cap = await startCapture(
        lab,
        dir,
        lan.bridgeNs,
        lan.bridge,
        "ip proto 112 or ip6 proto 112",
      );
      const toml = [
        "[global]",
        'router_id = "a"',
        "[vrrp_instance.v2]",
        'interface = "eth0"',
        "virtual_router_id = 52",
        "version = 2",
        "priority = 150",
        "advert_int = 1",
        `virtual_ipaddress = ["192.0.2.102/24"]`,
        "[vrrp_instance.v3]",
        'interface = "eth0"',
        "virtual_router_id = 53",
        "version = 3",
        "priority = 150",
        "advert_int = 0.1",
        `virtual_ipaddress = ["192.0.2.103/24"]`,
        "[vrrp_instance.v6]",
        'interface = "eth0"',
        "virtual_router_id = 54",
        "version = 3",
        "priority = 150",
        "advert_int = 0.1",
        `virtual_ipaddress = ["fe80::54", "fd00:2::54/64"]`,
        "",
      ].join("\n");
      const h = await hacoreFromToml(lab, dir, lan.nodes[0].ns, "a", toml);
      for (const vi of ["v2", "v3", "v6"]) {
        await h.waitState("MASTER", START_MS, { instance: vi });
      }
      // Two v2 intervals: at least two v2 adverts whatever the phase. (Each instance
      // starts as Backup and waits out its Master_Down_Interval: 3.2 s for v2.)
      await sleep(2100);
      await cap.stop();
      const frames = tsharkFrames(await cap.read("-V"))
        .filter((f) => f.includes("Virtual Router Redundancy Protocol"));
      const kinds = { v2: 0, v3: 0, v6: 0 };
      for (const f of frames) {
        const where = `in frame:\n${f}`;
        assert.doesNotMatch(f, /Expert Info \(Warning/, where);
        assert.doesNotMatch(f, /incorrect/, where);
        assert.doesNotMatch(f, /Bad/, where);
        assert.match(f, /\[Checksum Status: Good\]/, where);
        if (f.includes("Internet Protocol Version 6")) {
          assert.match(f, /Hop Limit: 255\n/, where);
          assert.match(f, /Virtual Rtr ID: 54\n/, where);
          assert.match(f, /IPv6 Address: fe80::54\n/, where);
          kinds.v6 += 1;
        } else {
          assert.match(f, /Time to Live: 255\n/, where);
          assert.match(f, /Destination Address: 224\.0\.0\.18\n/, where);
          if (/Version 2, Packet type 1/.test(f)) {
            assert.match(f, /Virtual Rtr ID: 52\n/, where);
            kinds.v2 += 1;
          } else {
            assert.match(f, /Version 3, Packet type 1/, where);
            assert.match(f, /Virtual Rtr ID: 53\n/, where);
            kinds.v3 += 1;
          }
        }
        assert.match(f, /Priority: 150 /, where);
      }
      assert.ok(kinds.v2 >= 2 && kinds.v3 >= 10 && kinds.v6 >= 10, JSON.stringify(kinds));
      console.log(`  decoded ${frames.length} adverts: ${JSON.stringify(kinds)}`);
    }),
);

// Last in the file: Deno runs a file's tests in order.
netnsTest("no namespace of this run is left behind", async () => {
  assert.deepEqual(await leftoverNamespaces(), []);
});

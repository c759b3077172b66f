/**
 * Trackers on a real kernel: two hacore nodes (node1 priority 150, node2 100, VRRPv3 at
 * 100 ms) and a client that connects to the VIP every 10 ms; each node runs a TCP
 * service that answers with its name, so the client sees who holds the VIP. node1
 * tracks something the test then breaks; node2 must take over, and node1 must take the
 * VIP back (preempt) once the thing is mended. What counts is what is observable from
 * outside: `ip addr` in each namespace, the client's answers, and the daemon's status
 * over its control socket (the same JSON `hacore status --json` prints).
 *
 * - `track_interface` (no weight: FAULT) on a second link whose far end the test owns;
 * - `track_file` with weight -60 as a maintenance switch ("1" moves the VIP away);
 * - `track_process` (quorum 1, weight 0: FAULT) on a `sleep` the test starts and kills;
 * - a sync group over two bridges: a failure on one member's link, or a weight-0
 *   tracker on one member, moves both instances, and no VIP is ever left on each node.
 *
 * Link down on the master's own VRRP interface (FAULT and takeover) is covered by
 * failover_test.ts ("link down on the master's interface ...").
 */

import assert from "node:assert/strict";
import { leftoverNamespaces, netnsTest } from "./helpers.ts";
import {
  only,
  type Probe,
  startProbe,
  startTcpService,
  vipHolders,
  type VipWatcher,
  waitForHolders,
  wallMs,
  withPeerLab,
} from "./peers.ts";
import { ipIn } from "../../lib/lab/host.ts";
import type { TrackerStatus } from "../../lib/track/priority.ts";
import {
  instanceOf,
  instanceToml,
  MOVE_MS,
  type NodeStatus,
  START_MS,
  statusCli,
  type TrackLan,
  trackLan,
  type TrackNode,
  waitStatus,
  watchers,
} from "./track_lab.ts";

const VIP = "192.0.2.100";
const VIP_B = "198.51.100.100";

function trackersOf(s: NodeStatus, instance = "VI_1"): readonly TrackerStatus[] {
  return s.instances.find((x) => x.name === instance)?.trackers ?? [];
}

function tracker(s: NodeStatus, kind: string, name: string, instance = "VI_1"): TrackerStatus {
  const t = trackersOf(s, instance).find((x) => x.kind === kind && x.name === name);
  if (t === undefined) {
    throw new Error(
      `no ${kind} ${name} in ${instance}'s trackers: ${JSON.stringify(trackersOf(s, instance))}`,
    );
  }
  return t;
}

/** The two nodes, their TCP services and the client's probe of the VIP. */
interface Pair {
  readonly l: TrackLan;
  readonly n1: TrackNode;
  readonly n2: TrackNode;
  readonly vip: VipWatcher[];
  readonly probe: Probe;
}

/**
 * Starts node1 on `toml1` until it is master, then node2 (priority 100, no trackers),
 * the services and the client's probe; `before` runs once the lab exists (to add the
 * links and files the trackers watch).
 */
async function pair(
  lab: Parameters<Parameters<typeof withPeerLab>[0]>[0],
  toml1: (l: TrackLan) => string,
  before: (l: TrackLan) => Promise<void> = () => Promise.resolve(),
): Promise<Pair> {
  const l = await trackLan(lab, ["node1", "node2"]);
  const [n1, n2] = l.nodes;
  await before(l);
  await Promise.all(l.nodes.map((n) => startTcpService(lab, n.member.ns, n.name)));
  await l.start(n1, toml1(l));
  await n1.hacore.waitState("MASTER", START_MS);
  await l.start(n2, instanceToml({ routerId: "node2", priority: 100, vips: [`${VIP}/24`] }));
  await n2.hacore.waitState("BACKUP", START_MS);
  const vip = watchers(l.nodes, VIP);
  await waitForHolders(vip, only("node1"), START_MS, "node1 alone to hold the VIP");
  const probe = await startProbe(lab, l.client.ns, VIP, { intervalMs: 10, timeoutMs: 200 });
  await probe.waitFor((r) => r.ok && r.who === "node1", START_MS, "the client to reach node1");
  return { l, n1, n2, vip, probe };
}

/**
 * Waits until `to` alone holds the VIP and the client's connects started after `since`
 * reach it; returns how long after `since` the VIP moved.
 */
async function movesTo(p: Pair, to: string, since: number, what: string): Promise<number> {
  const seen = await waitForHolders(p.vip, only(to), MOVE_MS, `${what}: ${to} alone holds the VIP`);
  await p.probe.waitFor(
    (r) => r.ok && r.who === to && r.t > seen.atMs,
    MOVE_MS,
    `${what}: the client to reach ${to}`,
  );
  return seen.atMs - since;
}

netnsTest(
  "track_interface, track_file and track_process on node1 move the VIP to node2 and back, as the client sees it",
  () =>
    withPeerLab(async (lab) => {
      const dir = await lab.tempDir();
      const maint = `${dir}/maint`;
      await Deno.writeTextFile(maint, "0\n");
      // A command line no other process on the machine has.
      const sleeper = `${1000 + (Deno.pid % 1000)}.5`;
      const startSleeper = () => lab.spawn(stub!, "sleep", sleeper);
      let stub: string | null = null;
      const tables = [
        "[vrrp_track_file.maint]",
        `file = ${JSON.stringify(maint)}`,
        "weight = -60",
        "",
        "[vrrp_track_process.sleeper]",
        `process = "sleep ${sleeper}"`,
        "full_command = true",
        "quorum = 1",
        "weight = 0",
        "",
      ].join("\n");
      let sleepProc: Deno.ChildProcess | null = null;
      const p = await pair(
        lab,
        () =>
          instanceToml({
            routerId: "node1",
            priority: 150,
            vips: [`${VIP}/24`],
            lines: [
              'track_interface = ["eth1"]',
              'track_file = ["maint"]',
              'track_process = ["sleeper"]',
            ],
            tables,
          }),
        async (l) => {
          // node1's eth1: a veth whose far end lives in a namespace of the test's own.
          stub = await lab.netns();
          await ipIn(
            stub,
            "link",
            "add",
            "far",
            "type",
            "veth",
            "peer",
            "name",
            "eth1",
            "netns",
            l.nodes[0].member.ns,
          );
          await ipIn(stub, "link", "set", "far", "up");
          await ipIn(l.nodes[0].member.ns, "link", "set", "eth1", "up");
          sleepProc = startSleeper();
        },
      );
      const { n1, n2 } = p;
      const s0 = await statusCli(n1);
      assert.deepEqual(
        trackersOf(s0).map((t) => [t.kind, t.name, t.state]),
        [["interface", "eth1", "up"], ["file", "maint", "up"], ["process", "sleeper", "up"]],
      );
      assert.equal(s0.instances[0].priority.effective, 150);
      const times: string[] = [];

      // 1. track_interface: the far end goes down, eth1 loses carrier: FAULT.
      let t = wallMs();
      await ipIn(stub!, "link", "set", "far", "down");
      times.push(
        `interface down -> node2 ${(await movesTo(p, "node2", t, "eth1 down")).toFixed(0)} ms`,
      );
      let s = await waitStatus(n1, (x) => x.instances[0].state === "fault", 1000, "node1 FAULT");
      assert.deepEqual(s.instances[0].faults, ["interface eth1"]);
      assert.equal(tracker(s, "interface", "eth1").fault, true);
      assert.equal((await instanceOf(n2)).state, "master");
      t = wallMs();
      await ipIn(stub!, "link", "set", "far", "up");
      times.push(
        `interface up -> node1 ${(await movesTo(p, "node1", t, "eth1 up")).toFixed(0)} ms`,
      );
      s = await waitStatus(n1, (x) => x.instances[0].state === "master", 1000, "node1 MASTER");
      assert.deepEqual(s.instances[0].faults, []);
      assert.equal(n1.hacore.transitions.at(-1)?.reason, "preempt");

      // 2. track_file as a maintenance switch: "1" × -60 takes node1 to 90 < 100.
      t = wallMs();
      await Deno.writeTextFile(maint, "1\n");
      times.push(`file 1 -> node2 ${(await movesTo(p, "node2", t, "maint = 1")).toFixed(0)} ms`);
      s = await waitStatus(n1, (x) => x.instances[0].state === "backup", 1000, "node1 BACKUP");
      assert.equal(s.instances[0].priority.effective, 90);
      assert.deepEqual(
        (({ state, value, contribution }) => ({ state, value, contribution }))(
          tracker(s, "file", "maint"),
        ),
        { state: "down", value: 1, contribution: -60 },
      );
      t = wallMs();
      await Deno.writeTextFile(maint, "0\n");
      times.push(`file 0 -> node1 ${(await movesTo(p, "node1", t, "maint = 0")).toFixed(0)} ms`);
      s = await waitStatus(n1, (x) => x.instances[0].priority.effective === 150, 1000, "150");
      assert.equal(s.instances[0].state, "master");

      // 3. track_process: the only matching process dies: below quorum, FAULT.
      t = wallMs();
      (sleepProc as Deno.ChildProcess | null)?.kill("SIGKILL");
      times.push(
        `process gone -> node2 ${(await movesTo(p, "node2", t, "sleep killed")).toFixed(0)} ms`,
      );
      s = await waitStatus(n1, (x) => x.instances[0].state === "fault", 1000, "node1 FAULT");
      assert.deepEqual(s.instances[0].faults, ["process sleeper"]);
      assert.equal(tracker(s, "process", "sleeper").value, 0);
      t = wallMs();
      sleepProc = startSleeper();
      times.push(
        `process back -> node1 ${(await movesTo(p, "node1", t, "sleep again")).toFixed(0)} ms`,
      );
      s = await waitStatus(n1, (x) => x.instances[0].state === "master", 1000, "node1 MASTER");
      assert.equal(tracker(s, "process", "sleeper").value, 1);

      await p.probe.stop();
      console.log(`  ${times.join("; ")}`);
    }),
);

netnsTest(
  "sync group over two bridges: a member's link down, or a weight-0 tracker on one member, moves both instances to node2 and back; never one VIP on each node",
  () =>
    withPeerLab(async (lab) => {
      const l = await trackLan(lab, ["node1", "node2"]);
      const [n1, n2] = l.nodes;
      // Bridge B: a second bridge in the bridge namespace, an eth1 per node on it.
      const brB = await lab.bridge(l.lan.bridgeNs);
      const portsB: string[] = [];
      for (const [i, n] of l.nodes.entries()) {
        const port = `b${i + 1}`;
        await ipIn(
          l.lan.bridgeNs,
          "link",
          "add",
          port,
          "type",
          "veth",
          "peer",
          "name",
          "eth1",
          "netns",
          n.member.ns,
        );
        await ipIn(l.lan.bridgeNs, "link", "set", port, "master", brB);
        await ipIn(l.lan.bridgeNs, "link", "set", port, "up");
        await ipIn(n.member.ns, "addr", "add", `198.51.100.${11 + i}/24`, "dev", "eth1");
        await ipIn(n.member.ns, "link", "set", "eth1", "up");
        portsB.push(port);
      }
      const dir = await lab.tempDir();
      const flag = `${dir}/member-fault`;
      await Deno.writeTextFile(flag, "0\n");
      const toml = (routerId: string, priority: number, tracked: boolean) =>
        [
          instanceToml({ routerId, priority, name: "VI_A", vrid: 51, vips: [`${VIP}/24`] }),
          instanceToml({
            routerId,
            priority,
            name: "VI_B",
            vrid: 52,
            iface: "eth1",
            vips: [`${VIP_B}/24`],
            noGlobal: true,
            lines: tracked ? ['track_file = ["member"]'] : [],
          }),
          '[vrrp_sync_group.G]\ngroup = ["VI_A", "VI_B"]\n',
          tracked ? `[vrrp_track_file.member]\nfile = ${JSON.stringify(flag)}\nweight = 0\n` : "",
        ].join("\n");
      await l.start(n1, toml("node1", 150, true));
      await n1.hacore.waitState("MASTER", START_MS, { instance: "VI_B" });
      await l.start(n2, toml("node2", 100, false));
      await n2.hacore.waitState("BACKUP", START_MS, { instance: "VI_B" });

      const wA = watchers(l.nodes, VIP);
      const wB = watchers(l.nodes, VIP_B, "eth1");
      const both = async (to: string, what: string) => {
        await waitForHolders(wA, only(to), MOVE_MS, `${what}: ${to} holds VIP A`);
        await waitForHolders(wB, only(to), MOVE_MS, `${what}: ${to} holds VIP B`);
      };
      /** Samples the holders for `ms`: every sample must have both VIPs on `on`. */
      const steady = async (on: string, ms: number, what: string) => {
        const end = wallMs() + ms;
        let samples = 0;
        while (wallMs() < end) {
          const [a, b] = await Promise.all([vipHolders(wA), vipHolders(wB)]);
          assert.deepEqual({ a, b }, { a: [on], b: [on] }, `${what}: split or gap`);
          samples += 1;
        }
        return samples;
      };
      await both("node1", "start");
      let samples = await steady("node1", 300, "start");
      const times: string[] = [];

      // 1. node1's cable on bridge B is pulled: VI_B faults, the group takes VI_A along.
      let t = wallMs();
      await ipIn(l.lan.bridgeNs, "link", "set", portsB[0], "down");
      await both("node2", "node1's eth1 down");
      times.push(`link down -> both on node2 ${(wallMs() - t).toFixed(0)} ms`);
      const s1 = await waitStatus(
        n1,
        (s) => s.instances.every((i) => i.state === "fault"),
        1000,
        "node1: both FAULT",
      );
      assert.deepEqual(s1.instances.map((i) => [i.name, i.state]), [
        ["VI_A", "fault"],
        ["VI_B", "fault"],
      ]);
      samples += await steady("node2", 500, "after the link went down");
      t = wallMs();
      await ipIn(l.lan.bridgeNs, "link", "set", portsB[0], "up");
      await both("node1", "node1's eth1 up");
      times.push(`link up -> both on node1 ${(wallMs() - t).toFixed(0)} ms`);
      samples += await steady("node1", 500, "after the link came back");

      // 2. A weight-0 tracker on one member (VI_B) fails: both move.
      t = wallMs();
      await Deno.writeTextFile(flag, "1\n");
      await both("node2", "VI_B's tracker failing");
      times.push(`member tracker -> both on node2 ${(wallMs() - t).toFixed(0)} ms`);
      const s2 = await waitStatus(
        n1,
        (s) => s.instances.every((i) => i.state === "fault"),
        1000,
        "node1: both FAULT",
      );
      assert.deepEqual(s2.instances.find((i) => i.name === "VI_B")?.faults, ["file member"]);
      samples += await steady("node2", 500, "while VI_B's tracker fails");
      t = wallMs();
      await Deno.writeTextFile(flag, "0\n");
      await both("node1", "VI_B's tracker mended");
      times.push(`tracker mended -> both on node1 ${(wallMs() - t).toFixed(0)} ms`);
      samples += await steady("node1", 300, "after the tracker mended");
      assert.deepEqual(
        (await statusCli(n2)).instances.map((i) => [i.name, i.state]),
        [["VI_A", "backup"], ["VI_B", "backup"]],
      );
      console.log(`  ${times.join("; ")}; ${samples} holder samples, no split`);
    }),
);

// Last in the file: Deno runs a file's tests in order.
netnsTest("track: no namespace of this run is left behind", async () => {
  assert.deepEqual(await leftoverNamespaces(), []);
});

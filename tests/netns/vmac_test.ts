/**
 * Virtual MAC (`use_vmac`) on a real kernel: hacore makes a macvlan with the virtual
 * router MAC 00:00:5e:00:01:VRID, holds the VIP on it, and sends its adverts and GARPs
 * from it, so a client's ARP entry for the VIP and the bridge's forwarding entry follow
 * the Master while the MAC itself never changes.
 *
 * (a) two hacore nodes: the Master's adverts leave with the virtual MAC and the Backup
 *     still hears them (bridge-mode macvlan, listening on eth0); kill -9 of the Master
 *     moves the same MAC to the other node; a restarted node takes its leftover
 *     macvlan back; SIGTERM removes the macvlan and restores eth0's arp_ignore.
 * (b) hacore and FRR's vrrpd (which also uses a bridge-mode macvlan with the virtual
 *     MAC, in protodown while Backup) in one VRRPv3 virtual router, each Master in turn:
 *     the client reaches the VIP at 00:00:5e:00:01:33 throughout.
 *
 * The client reaches the VIP with `curl` to a closed port: a refused connection (exit
 * 7) means its SYN got an answer, hence that ARP resolved and the holder replied.
 * Skips, printing why, when not root or when curl, dumpcap / tshark or FRR are missing.
 */

import assert from "node:assert/strict";
import { runChecked } from "../../lib/lab/host.ts";
import { run } from "./helpers.ts";
import {
  buildLan,
  hacoreConfigToml,
  hacoreFromToml,
  type HacoreProc,
  type Lan,
  LAN_IFACE,
  type PeerLab,
  peerTest,
  startCapture,
  startFrr,
  userIds,
  VRRPD,
  withPeerLab,
  ZEBRA,
} from "./peers.ts";

const VIP = "192.0.2.100";
const VMAC = "vrrp.51";
const MAC = "00:00:5e:00:01:33";
/** hacore's start, one Master_Down_Interval at 100 ms, and room for a loaded machine. */
const START_MS = 15_000;
const FAILOVER_MS = 5_000;

function hacoreToml(name: string, priority: number): string {
  // The instance's table is the last one: its keys can follow.
  return hacoreConfigToml({ routerId: name, priority, vips: [`${VIP}/24`] }) +
    "use_vmac = true\n";
}

interface LinkJson {
  ifname: string;
  address?: string;
  flags?: string[];
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_data?: { mode?: string } };
}

async function linkOf(ns: string, dev: string): Promise<LinkJson | null> {
  const r = await run("ip", ["-n", ns, "-j", "-d", "link", "show", "dev", dev]);
  if (r.code !== 0) return null;
  return (JSON.parse(r.stdout) as LinkJson[])[0] ?? null;
}

/** `net.<family>.conf.<dev>.<key>` of `ns` (interface names may hold dots: no dotted key). */
async function sysctl(
  ns: string,
  family: "ipv4" | "ipv6",
  dev: string,
  key: string,
): Promise<number> {
  const path = `/proc/sys/net/${family}/conf/${dev}/${key}`;
  return Number((await runChecked("ip", ["netns", "exec", ns, "cat", path])).trim());
}

/**
 * The client connects to the VIP (a closed port: a refusal proves an answer) and
 * returns the MAC its neighbour table then holds for the VIP.
 */
async function clientSeesVipAt(lan: Lan): Promise<string> {
  const client = lan.client!;
  const r = await run("ip", [
    "netns",
    "exec",
    client.ns,
    "curl",
    "-s",
    "-m",
    "2",
    `http://${VIP}:9/`,
  ]);
  assert.equal(r.code, 7, `curl to the VIP: exit ${r.code} (7 = refused, 28 = no answer)`);
  const neigh = await runChecked("ip", ["-n", client.ns, "-j", "neigh", "show", VIP]);
  const entry = (JSON.parse(neigh) as { lladdr?: string }[])[0];
  return entry?.lladdr ?? "none";
}

/** The bridge port the bridge's forwarding table has the virtual MAC on. */
async function fdbPortOfVmac(lan: Lan): Promise<string | null> {
  const out = await runChecked("bridge", [
    "-n",
    lan.bridgeNs,
    "-j",
    "fdb",
    "show",
    "br",
    lan.bridge,
  ]);
  const e = (JSON.parse(out) as { mac: string; ifname: string }[]).find((x) => x.mac === MAC);
  return e?.ifname ?? null;
}

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. */
async function eventually(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startNode(
  lab: PeerLab,
  dir: string,
  ns: string,
  name: string,
  priority: number,
): Promise<HacoreProc> {
  return await hacoreFromToml(lab, dir, ns, name, hacoreToml(name, priority));
}

peerTest(
  "use_vmac: the Master answers at the virtual MAC, kill -9 moves that MAC, stop removes the macvlan",
  ["curl", "dumpcap", "tshark", "bridge"],
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, {
        nodes: [{ name: "a", address: "192.0.2.11/24" }, {
          name: "b",
          address: "192.0.2.12/24",
        }],
        client: { name: "client", address: "192.0.2.50/24" },
      });
      const [na, nb] = lan.nodes;
      const dir = await lab.tempDir();
      const ignoreBefore = await sysctl(nb.ns, "ipv4", LAN_IFACE, "arp_ignore");
      const announceBefore = await sysctl(nb.ns, "ipv4", LAN_IFACE, "arp_announce");
      const cap = await startCapture(lab, dir, lan.bridgeNs, lan.bridge, "ip proto 112");

      const a = await startNode(lab, dir, na.ns, "a", 150);
      const b = await startNode(lab, dir, nb.ns, "b", 100);
      await a.waitState("MASTER", START_MS);
      await b.waitState("BACKUP", START_MS);

      for (const n of [na, nb]) {
        const l = await linkOf(n.ns, VMAC);
        assert.ok(l, `${n.name} has ${VMAC}`);
        assert.equal(l.address, MAC);
        assert.equal(l.linkinfo?.info_kind, "macvlan");
        assert.equal(l.linkinfo?.info_data?.mode, "bridge");
        assert.equal(l.ifalias, "hacore vmac");
        assert.ok(l.flags?.includes("UP"), `${n.name}'s ${VMAC} is up`);
        assert.equal(await sysctl(n.ns, "ipv4", VMAC, "arp_ignore"), 1);
        assert.equal(await sysctl(n.ns, "ipv4", VMAC, "rp_filter"), 0);
        assert.equal(await sysctl(n.ns, "ipv6", VMAC, "disable_ipv6"), 1);
        assert.equal(await sysctl(n.ns, "ipv4", LAN_IFACE, "arp_ignore"), 1);
        assert.equal(await sysctl(n.ns, "ipv4", LAN_IFACE, "arp_announce"), 2);
      }
      const vipOn = async (ns: string, dev: string) =>
        (await runChecked("ip", ["-n", ns, "-4", "-o", "addr", "show", "dev", dev])).includes(
          ` ${VIP}/`,
        );
      assert.ok(await vipOn(na.ns, VMAC), "a holds the VIP on its macvlan");
      assert.ok(!(await vipOn(na.ns, LAN_IFACE)), "not on eth0");
      assert.ok(!(await vipOn(nb.ns, VMAC)), "b does not hold it");

      assert.equal(await clientSeesVipAt(lan), MAC);
      assert.equal(await fdbPortOfVmac(lan), na.port, "the bridge has the virtual MAC at a");

      // kill -9: a leaves its macvlan and VIP behind; b takes over and announces the MAC.
      const bFrom = b.transitions.length;
      a.proc.child.kill("SIGKILL");
      await a.proc.exited(5000);
      await b.waitState("MASTER", FAILOVER_MS, { fromIndex: bFrom });
      await eventually("the bridge to move the virtual MAC to b", FAILOVER_MS, async () =>
        (await fdbPortOfVmac(lan)) === nb.port);
      assert.equal(await clientSeesVipAt(lan), MAC, "the same MAC after the failover");
      assert.ok(await vipOn(nb.ns, VMAC));

      // a again: it takes its leftover macvlan back (tagged as hacore's) and preempts.
      const a2 = await startNode(lab, dir, na.ns, "a2", 150);
      await a2.waitState("MASTER", START_MS);
      assert.ok(
        a2.proc.lines.some((l) =>
          /adopted virtual MAC vrrp\.51/.test(l.text)
        ),
        "a2 adopted the leftover",
      );
      await eventually("the bridge to move the virtual MAC back to a", FAILOVER_MS, async () =>
        (await fdbPortOfVmac(lan)) === na.port);
      assert.equal(await clientSeesVipAt(lan), MAC);

      // SIGTERM: the macvlan goes and eth0's arp_ignore is what it was.
      await b.proc.stop("SIGTERM", 10_000);
      assert.equal(await linkOf(nb.ns, VMAC), null, "b's macvlan is gone");
      assert.equal(await sysctl(nb.ns, "ipv4", LAN_IFACE, "arp_ignore"), ignoreBefore);
      assert.equal(await sysctl(nb.ns, "ipv4", LAN_IFACE, "arp_announce"), announceBefore);
      await a2.proc.stop("SIGTERM", 10_000);
      assert.equal(await linkOf(na.ns, VMAC), null, "a's macvlan is gone");

      // Every advert on the wire came from the virtual MAC and a node's own address.
      await cap.stop();
      const frames =
        (await cap.read("-T", "fields", "-e", "eth.src", "-e", "ip.src", "-E", "separator=,"))
          .split("\n").filter((l) =>
            l.length > 0
          );
      // A master sends every 100 ms; the test moves fast, so only some seconds' worth.
      assert.ok(frames.length >= 4, `${frames.length} adverts captured`);
      for (const src of ["192.0.2.11", "192.0.2.12"]) {
        assert.ok(
          frames.some((f) =>
            f.endsWith(`,${src}`)
          ),
          `adverts from ${src} captured`,
        );
      }
      const bad = frames.filter((f) => !/^00:00:5e:00:01:33,192\.0\.2\.1[12]$/.test(f));
      assert.deepEqual(bad, [], "adverts not from the virtual MAC");
    }),
);

function frrMissing(): string | null {
  return userIds("frr") === null ? "needs the frr user" : null;
}

peerTest(
  "use_vmac interop with FRR vrrpd: each Master in turn, the client sees the VIP at the virtual MAC",
  ["curl", "bridge", ZEBRA, VRRPD],
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, {
        nodes: [{ name: "frr", address: "192.0.2.11/24" }, {
          name: "hc",
          address: "192.0.2.12/24",
        }],
        client: { name: "client", address: "192.0.2.50/24" },
      });
      const [nFrr, nHc] = lan.nodes;
      const dir = await lab.tempDir();
      const spec = (priority: number) => ({
        priority,
        advertIntMs: 100,
        vip: VIP,
        prefix: 24,
      });
      // FRR changes no sysctl itself; its node needs what hacore sets on its own eth0.
      // Measured without them: arp_ignore = 0 has a Backup vrrpd's node answer ARP for
      // the VIP (still a local address on its protodown macvlan) from eth0's MAC, and
      // arp_announce = 0 has a Master vrrpd's node resolve the client with "VIP is at
      // <eth0's MAC>" (replies leave by eth0): either way the client ended up holding
      // FRR's eth0 MAC for the VIP. An FRR operator sets both by hand; so does this test.
      await runChecked("ip", [
        "netns",
        "exec",
        nFrr.ns,
        "sh",
        "-c",
        `echo 1 > /proc/sys/net/ipv4/conf/${LAN_IFACE}/arp_ignore && ` +
        `echo 2 > /proc/sys/net/ipv4/conf/${LAN_IFACE}/arp_announce`,
      ]);
      const frr = await startFrr(lab, nFrr.ns, spec(100));
      const hc = await startNode(lab, dir, nHc.ns, "hc", 150);

      // 1. hacore Master, vrrpd Backup (it hears hacore's adverts from the virtual MAC;
      //    it may have been Master for a moment before hacore started).
      const frrState = () => {
        const hits = frr.vrrpd.lines.map((l) => /\[IPv4\] \S+ -> (\S+)$/.exec(l.text)).filter((m) =>
          m
        );
        return hits.at(-1)?.[1] ?? "none";
      };
      await hc.waitState("MASTER", START_MS);
      await eventually("vrrpd to be Backup", FAILOVER_MS, () =>
        Promise.resolve(frrState() === "Backup"));
      await new Promise((r) =>
        setTimeout(r, 1000)
      );
      assert.equal(frrState(), "Backup", "vrrpd stays Backup under hacore");
      assert.equal(hc.state(), "MASTER");
      assert.equal(await clientSeesVipAt(lan), MAC);
      assert.equal(await fdbPortOfVmac(lan), nHc.port);

      // 2. vrrpd at a higher priority preempts; hacore, listening on eth0, hears its
      //    adverts (sent from vrrpd's own macvlan, with the same virtual MAC) and yields.
      const hcFrom = hc.transitions.length;
      await frr.restart(spec(200));
      await frr.waitState("Master", FAILOVER_MS);
      await hc.waitState("BACKUP", FAILOVER_MS, { fromIndex: hcFrom });
      await eventually("the bridge to move the virtual MAC to FRR", FAILOVER_MS, async () =>
        (await fdbPortOfVmac(lan)) === nFrr.port);
      assert.equal(await clientSeesVipAt(lan), MAC);
      assert.equal(hc.state(), "BACKUP", "hacore stays Backup under vrrpd");

      // 3. vrrpd back at a lower priority: hacore is Master again.
      const hcFrom2 = hc.transitions.length;
      await frr.restart(spec(100));
      await hc.waitState("MASTER", FAILOVER_MS, { fromIndex: hcFrom2 });
      await eventually("the bridge to move the virtual MAC back to hacore", FAILOVER_MS, async () =>
        (await fdbPortOfVmac(lan)) === nHc.port);
      assert.equal(await clientSeesVipAt(lan), MAC);

      await hc.proc.stop("SIGTERM", 10_000);
      assert.equal(await linkOf(nHc.ns, VMAC), null);
    }),
  frrMissing,
);

peerTest(
  "use_vmac over IPv6: adverts from 00:00:5e:00:02:VRID and eth0's link-local, the VIP answers at that MAC",
  ["curl", "dumpcap", "tshark"],
  () =>
    withPeerLab(async (lab) => {
      const vip6 = "2001:db8::100";
      const mac6 = "00:00:5e:00:02:33";
      const lan = await buildLan(lab, {
        nodes: [{ name: "a", address: "192.0.2.11/24" }, {
          name: "b",
          address: "192.0.2.12/24",
        }],
        client: { name: "client", address: "192.0.2.50/24" },
      });
      const [na, nb] = lan.nodes;
      const client = lan.client!;
      await runChecked("ip", [
        "-n",
        client.ns,
        "addr",
        "add",
        "2001:db8::50/64",
        "dev",
        LAN_IFACE,
        "nodad",
      ]);
      const dir = await lab.tempDir();
      const cap = await startCapture(lab, dir, lan.bridgeNs, lan.bridge, "ip6 proto 112");
      const toml = (name: string, priority: number) =>
        hacoreConfigToml({
          routerId: name,
          priority,
          // RFC 5798 §5.2.9: an IPv6 virtual router's first address is link-local.
          vips: ["fe80::100/64", `${vip6}/64`],
        }) +
        "use_vmac = true\n";
      const a = await hacoreFromToml(lab, dir, na.ns, "a", toml("a", 150));
      const b = await hacoreFromToml(lab, dir, nb.ns, "b", toml("b", 100));
      await a.waitState("MASTER", START_MS);
      await b.waitState("BACKUP", START_MS);
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(
        b.state(),
        "BACKUP",
        `b hears a's adverts and stays Backup; a: ${
          a.proc.lines.filter((x) => /warn|error/.test(x.text)).slice(0, 3).map((x) => x.text).join(
            "\n",
          )
        }`,
      );
      const l = await linkOf(na.ns, VMAC);
      assert.equal(l?.address, mac6);
      assert.equal(await sysctl(na.ns, "ipv6", VMAC, "addr_gen_mode"), 1);
      const ll = await runChecked("ip", ["-n", na.ns, "-6", "-o", "addr", "show", "dev", VMAC]);
      // Only the VIPs: no link-local of its own (one from the virtual MAC would be the
      // same on every router of the virtual router).
      const mine = [...ll.matchAll(/inet6 ([0-9a-f:]+)\//g)].map((m) => m[1]).sort();
      assert.deepEqual(mine, [vip6, "fe80::100"].sort(), ll);

      const r = await run("ip", [
        "netns",
        "exec",
        client.ns,
        "curl",
        "-s",
        "-m",
        "2",
        `http://[${vip6}]:9/`,
      ]);
      assert.equal(r.code, 7, `curl to the IPv6 VIP: exit ${r.code}`);
      const neigh = await runChecked("ip", ["-n", client.ns, "-j", "-6", "neigh", "show", vip6]);
      assert.equal((JSON.parse(neigh) as { lladdr?: string }[])[0]?.lladdr, mac6);

      await b.proc.stop("SIGTERM", 10_000);
      await a.proc.stop("SIGTERM", 10_000);
      assert.equal(await linkOf(na.ns, VMAC), null);
      await cap.stop();
      const linkLocal = async (ns: string) =>
        (await runChecked("ip", ["-n", ns, "-6", "-o", "addr", "show", "dev", LAN_IFACE]))
          .match(/fe80::[0-9a-f:]+/)?.[0];
      const aLl = await linkLocal(na.ns);
      const bLl = await linkLocal(nb.ns);
      const frames =
        (await cap.read("-T", "fields", "-e", "eth.src", "-e", "ipv6.src", "-E", "separator=,"))
          .split("\n").filter((x) => x.length > 0);
      const fromA = frames.filter((f) => f === `${mac6},${aLl}`);
      assert.ok(fromA.length >= 4, `${fromA.length} of a's adverts captured`);
      // b may have been Master for a moment at start (a's link-local still tentative),
      // and then sends its own few adverts and a parting one: from its vmac too.
      assert.deepEqual(
        frames.filter((f) => f !== `${mac6},${aLl}` && f !== `${mac6},${bLl}`),
        [],
        "adverts not from a vmac with the sender's own link-local",
      );
    }),
);

/**
 * Accept Mode on a real kernel: with `vrrp_strict` (so no accept), the master's VIP
 * answers ARP but drops TCP (all IP) to it, through hacore's own nftables table, while
 * the node's own address still answers; the table is gone after a stop. A leftover table
 * from an earlier run is removed at start.
 */

import assert from "node:assert/strict";
import {
  hasCommand,
  inNetns,
  leftoverNamespaces,
  netnsTest,
  run as runArgs,
  withLab,
} from "./helpers.ts";
import { NETLINK_NETFILTER, nftTableExists } from "../../lib/sys/nft.ts";
import { NetlinkConnection } from "../../lib/sys/netlink/connection.ts";
import {
  buildLan,
  hacoreConfigToml,
  hacoreFromToml,
  type Lan,
  LAN_IFACE,
  type PeerLab,
  peerTest,
  startTcpService,
  withPeerLab,
} from "./peers.ts";

const run = (cmd: string, ...args: string[]) => runArgs(cmd, args);

const VIP = "192.0.2.100";
const NODE_IP = "192.0.2.11";
const PORT = 8080;

async function nftTables(ns: string): Promise<string> {
  const r = await run("ip", "netns", "exec", ns, "nft", "list", "tables");
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** A TCP connect from the client, with a deadline: true when it was accepted. */
async function connects(ns: string, address: string): Promise<boolean> {
  const r = await run(
    "ip",
    "netns",
    "exec",
    ns,
    "timeout",
    "2",
    "bash",
    "-c",
    `exec 3<>/dev/tcp/${address}/${PORT}`,
  );
  return r.code === 0;
}

/** The client's neighbour entry for `address`: the MAC it learnt by ARP, or null. */
async function learntMac(ns: string, address: string): Promise<string | null> {
  const r = await run("ip", "-n", ns, "-j", "neigh", "show", address, "dev", LAN_IFACE);
  const entries = JSON.parse(r.stdout || "[]") as { lladdr?: string; state?: string[] }[];
  const e = entries.find((x) => x.lladdr !== undefined && !(x.state ?? []).includes("FAILED"));
  return e?.lladdr ?? null;
}

async function macOf(ns: string): Promise<string> {
  const r = await run("ip", "-n", ns, "-j", "link", "show", LAN_IFACE);
  return (JSON.parse(r.stdout) as { address: string }[])[0].address;
}

async function lanWithClient(lab: PeerLab): Promise<Lan> {
  return await buildLan(lab, {
    nodes: [{ name: "a", address: `${NODE_IP}/24` }],
    client: { name: "client", address: "192.0.2.50/24" },
  });
}

async function until(pred: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const strictToml = hacoreConfigToml({ routerId: "a", priority: 150, vips: [`${VIP}/24`] })
  .replace("[global]\n", "[global]\nvrrp_strict = true\n");

peerTest(
  "vrrp_strict master: the VIP answers ARP but drops TCP; the rules go at stop",
  ["nft", "timeout", "bash"],
  () =>
    withPeerLab(async (lab) => {
      const lan = await lanWithClient(lab);
      const [node] = lan.nodes;
      const client = lan.client!;
      const dir = await lab.tempDir();
      const svc = await startTcpService(lab, node.ns, "a", PORT);
      lab.defer(async () => void await svc.stop("SIGTERM", 2000).catch(() => {}));

      const h = await hacoreFromToml(lab, dir, node.ns, "a", strictToml);
      await h.waitState("MASTER", 15_000);
      await until(async () => (await nftTables(node.ns)).includes("inet hacore"), 5000, "table");

      const list = await run(
        "ip",
        "netns",
        "exec",
        node.ns,
        "nft",
        "list",
        "table",
        "inet",
        "hacore",
      );
      assert.match(list.stdout, /elements = \{ 192\.0\.2\.100 \}/);
      assert.equal(await connects(client.ns, VIP), false, "TCP to the VIP must be dropped");
      // ARP is below IP: the client learnt the VIP's MAC though its SYN got no answer.
      assert.equal(await learntMac(client.ns, VIP), await macOf(node.ns));
      // Only the VIP is filtered: the node's own address still answers.
      assert.equal(await connects(client.ns, NODE_IP), true);

      const status = await h.proc.stop("SIGTERM", 15_000);
      assert.equal(status.code, 0);
      assert.doesNotMatch(await nftTables(node.ns), /inet hacore/);
    }),
);

peerTest(
  "accept mode: a leftover hacore table is removed at start and the VIP answers",
  ["nft", "timeout", "bash"],
  () =>
    withPeerLab(async (lab) => {
      const lan = await lanWithClient(lab);
      const [node] = lan.nodes;
      const dir = await lab.tempDir();
      const svc = await startTcpService(lab, node.ns, "a", PORT);
      lab.defer(async () => void await svc.stop("SIGTERM", 2000).catch(() => {}));
      const leftover = await run(
        "ip",
        "netns",
        "exec",
        node.ns,
        "nft",
        `add table inet hacore; add chain inet hacore input { type filter hook input priority 0; policy drop; }`,
      );
      assert.equal(leftover.code, 0, leftover.stderr);
      const toml = hacoreConfigToml({ routerId: "a", priority: 150, vips: [`${VIP}/24`] });
      const h = await hacoreFromToml(lab, dir, node.ns, "a", toml);
      await until(
        async () => !(await nftTables(node.ns)).includes("inet hacore"),
        15_000,
        "removal",
      );
      await h.waitState("MASTER", 15_000);
      assert.equal(await connects(lan.client!.ns, VIP), true);
      await h.proc.stop("SIGTERM", 15_000);
    }),
);

netnsTest(
  "nftTableExists: the kernel's answer over nfnetlink, for hacore's table only",
  async () => {
    await withLab(async (lab) => {
      const ns = await lab.netns();
      const probe = () =>
        nftTableExists(() => inNetns(ns, () => NetlinkConnection.open(NETLINK_NETFILTER)));
      assert.equal(await probe(), false, "a fresh namespace has none");
      assert.equal((await run("ip", "netns", "exec", ns, "nft", "add table inet hacore")).code, 0);
      assert.equal(await probe(), true);
      await run("ip", "netns", "exec", ns, "nft", "add table inet other; delete table inet hacore");
      assert.equal(await probe(), false, "another table is not ours");
    });
  },
);

netnsTest("no namespace of this run is left behind (accept)", async () => {
  if (!hasCommand("nft")) return;
  assert.deepEqual(await leftoverNamespaces(), []);
});

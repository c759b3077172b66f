/**
 * Routes, rules and static addresses on a real kernel, two hacore nodes on one LAN:
 * the master holds its `virtual_routes`/`virtual_rules`, the backup none; a route
 * deleted by hand comes back; after a failover they move to the new master; each node
 * holds its `static_*` while it runs; after a stop nothing of hacore's is left.
 */

import assert from "node:assert/strict";
import { run as runArgs } from "./helpers.ts";
import {
  buildLan,
  hacoreConfigToml,
  hacoreFromToml,
  LAN_IFACE,
  peerTest,
  withPeerLab,
} from "./peers.ts";

const run = (cmd: string, ...args: string[]) => runArgs(cmd, args);

const VIP = "192.0.2.100";

/** hacore's routes and rules in `ns`, as `ip` prints them (protocol 0x48 = 72). */
async function hacoreState(
  ns: string,
): Promise<{ routes: string[]; rules: string[]; addrs: string[] }> {
  const routes = await run("ip", "-n", ns, "route", "show", "table", "all", "proto", "72");
  const rules = [
    ...(await run("ip", "-n", ns, "-4", "rule", "show")).stdout.split("\n"),
    ...(await run("ip", "-n", ns, "-6", "rule", "show")).stdout.split("\n"),
  ].filter((l) => / proto 72\b/.test(l));
  const addrs = await run("ip", "-n", ns, "-o", "addr", "show", "dev", LAN_IFACE);
  return {
    routes: routes.stdout.split("\n").filter((l) => l.trim() !== ""),
    rules,
    addrs: addrs.stdout.split("\n").filter((l) => l.includes("198.18.0.")),
  };
}

async function until(pred: () => Promise<boolean>, timeoutMs: number, what: () => Promise<string>) {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${await what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function config(routerId: string, priority: number, staticNet: string): string {
  const statics = [
    `static_ipaddress = ["${staticNet}.1/24 dev ${LAN_IFACE}"]`,
    `static_routes = ["blackhole 203.0.113.0/24", "198.51.100.0/24 via 192.0.2.1 metric 7"]`,
    `static_rules = ["from ${staticNet}.0/24 table 300 priority 300"]`,
    "",
  ];
  return statics.join("\n") +
    hacoreConfigToml({ routerId, priority, vips: [`${VIP}/24`] }) +
    [
      `virtual_routes = ["10.9.0.0/16 via 192.0.2.1 table 100", "2001:db8:9::/48 dev ${LAN_IFACE} table 100"]`,
      `virtual_rules = ["from ${VIP} table 100 priority 100", "to 2001:db8:9::/48 table 100 priority 101"]`,
      "",
    ].join("\n");
}

const holdsVirtual = (s: { routes: string[]; rules: string[] }) =>
  s.routes.some((l) => l.startsWith("10.9.0.0/16 via 192.0.2.1") && l.includes("table 100")) &&
  s.routes.some((l) => l.startsWith("2001:db8:9::/48") && l.includes("table 100")) &&
  s.rules.some((l) => /^100:\s+from 192\.0\.2\.100 lookup 100/.test(l)) &&
  s.rules.some((l) => /^101:\s+from all to 2001:db8:9::\/48 lookup 100/.test(l));

const holdsStatic = (s: { routes: string[]; rules: string[]; addrs: string[] }) =>
  s.routes.some((l) => l.startsWith("blackhole 203.0.113.0/24")) &&
  s.routes.some((l) => l.startsWith("198.51.100.0/24 via 192.0.2.1") && l.includes("metric 7")) &&
  s.rules.some((l) => /^300:\s+from 198\.18\.0\.0\/24 lookup 300/.test(l)) &&
  s.addrs.length === 1;

peerTest(
  "virtual routes and rules follow the master; static ones stay while hacore runs; a stop leaves none",
  [],
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, {
        nodes: [{ name: "a", address: "192.0.2.11/24" }, { name: "b", address: "192.0.2.12/24" }],
      });
      const [na, nb] = lan.nodes;
      const dir = await lab.tempDir();
      // Two nodes on one LAN: each its own static address, the same static routes.
      for (const n of [na, nb]) {
        await run(
          "ip",
          "-n",
          n.ns,
          "-6",
          "addr",
          "add",
          "2001:db8::1/64",
          "dev",
          LAN_IFACE,
          "nodad",
        );
      }
      const a = await hacoreFromToml(lab, dir, na.ns, "a", config("a", 150, "198.18.0"));
      await a.waitState("MASTER", 15_000);
      const b = await hacoreFromToml(lab, dir, nb.ns, "b", config("b", 100, "198.18.0"));
      await b.waitState("BACKUP", 15_000);

      const show = async () =>
        JSON.stringify({ a: await hacoreState(na.ns), b: await hacoreState(nb.ns) }, null, 1);
      await until(
        async () => {
          const [sa, sb] = [await hacoreState(na.ns), await hacoreState(nb.ns)];
          return holdsVirtual(sa) && holdsStatic(sa) && holdsStatic(sb);
        },
        5000,
        show,
      );
      assert.equal(holdsVirtual(await hacoreState(nb.ns)), false, await show());
      assert.deepEqual(
        (await hacoreState(nb.ns)).routes.filter((l) => l.includes("table 100")),
        [],
        "the backup holds no virtual route",
      );

      // Deleted by hand: restored within the recheck.
      const del = await run("ip", "-n", na.ns, "route", "del", "10.9.0.0/16", "table", "100");
      assert.equal(del.code, 0, del.stderr);
      const delRule = await run("ip", "-n", na.ns, "rule", "del", "priority", "300");
      assert.equal(delRule.code, 0, delRule.stderr);
      await until(
        async () => {
          const s = await hacoreState(na.ns);
          return holdsVirtual(s) && holdsStatic(s);
        },
        5000,
        show,
      );

      // Failover: the routes move with the VIPs; the stopped node keeps nothing.
      const from = b.transitions.length;
      const stopA = await a.proc.stop("SIGTERM", 15_000);
      assert.equal(stopA.code, 0);
      await b.waitState("MASTER", 15_000, { fromIndex: from });
      const left = await hacoreState(na.ns);
      assert.deepEqual(
        left,
        { routes: [], rules: [], addrs: [] },
        "a stop leaves none of hacore's",
      );
      await until(async () => holdsVirtual(await hacoreState(nb.ns)), 5000, show);

      const stopB = await b.proc.stop("SIGTERM", 15_000);
      assert.equal(stopB.code, 0);
      assert.deepEqual(await hacoreState(nb.ns), { routes: [], rules: [], addrs: [] });
    }),
);

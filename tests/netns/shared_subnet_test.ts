/**
 * VIPs that share a subnet, on a real kernel: 50 instances, each with one VIP in
 * 198.51.100.0/24 (not the interface's own subnet). The kernel makes the first of them
 * the subnet's primary and the rest its secondaries; without `promote_secondaries`,
 * deleting that primary deletes every secondary with it. hacore turns it on while it
 * runs (and puts it back at exit), removes secondaries first, never adds back a VIP it
 * is releasing, and does not log a cascade as an error per address.
 */

import assert from "node:assert/strict";
import { ipJson, leftoverNamespaces, netnsTest, runOk } from "./helpers.ts";
import { buildLan, hacoreFromToml, type HacoreProc, sleep, withPeerLab } from "./peers.ts";
import { logMessage } from "../../lib/lab/hacore.ts";
import { LAN_IFACE } from "../../lib/lab/topology.ts";

const COUNT = 50;
const VIPS = Array.from({ length: COUNT }, (_, i) => `198.51.100.${i + 1}`);
const START_MS = 20_000;

function config(): string {
  const lines = ["[global]", `router_id = "a"`, ""];
  VIPS.forEach((vip, i) => {
    lines.push(
      `[vrrp_instance.VI_${i + 1}]`,
      `interface = "${LAN_IFACE}"`,
      `virtual_router_id = ${i + 1}`,
      "version = 3",
      "priority = 100",
      "advert_int = 0.1",
      `virtual_ipaddress = ["${vip}/24"]`,
      "",
    );
  });
  return lines.join("\n");
}

async function vipsIn(ns: string): Promise<string[]> {
  const links = await ipJson(ns, "-4", "addr", "show", "dev", LAN_IFACE) as {
    addr_info: { local: string }[];
  }[];
  const held = links.flatMap((l) => l.addr_info.map((a) => a.local));
  return VIPS.filter((v) => held.includes(v));
}

async function promoteSecondaries(ns: string): Promise<string> {
  return (await runOk("ip", [
    "netns",
    "exec",
    ns,
    "cat",
    `/proc/sys/net/ipv4/conf/${LAN_IFACE}/promote_secondaries`,
  ])).trim();
}

function messages(h: HacoreProc, from = 0): { msg: string; level: string | null }[] {
  return h.proc.lines.slice(from).map((l) => logMessage(l.text));
}

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs: number) {
  const until = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

netnsTest(
  "50 VIPs in one foreign subnet: deleting its primary takes no other, a SIGTERM releases all quietly and re-adds none",
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, { nodes: [{ name: "a", address: "192.0.2.11/24" }] });
      const ns = lan.nodes[0].ns;
      assert.equal(await promoteSecondaries(ns), "0", "the kernel's default");
      const dir = await lab.tempDir();
      const a = await hacoreFromToml(lab, dir, ns, "a", config());
      await a.proc.waitFor(
        () => VIPS.every((_, i) => a.state(`VI_${i + 1}`) === "MASTER") || null,
        START_MS,
        "a master of all",
      );
      await waitFor("all VIPs", async () => (await vipsIn(ns)).length === COUNT, 5000);
      assert.equal(await promoteSecondaries(ns), "1", "on while hacore holds VIPs");

      // An operator deletes the subnet's primary: the others stay, and only it comes back.
      const before = a.proc.lines.length;
      await runOk("ip", ["-n", ns, "addr", "del", `${VIPS[0]}/24`, "dev", LAN_IFACE]);
      // Every other VIP is still there (the deleted one may already be back: hacore
      // restores it within milliseconds, sooner than `ip` can be asked twice).
      const left = await vipsIn(ns);
      const others = VIPS.slice(1).filter((v) => !left.includes(v));
      assert.deepEqual(others, [], `after deleting the primary, gone: ${others.join(" ")}`);
      await waitFor("the deleted VIP restored", async () =>
        (await vipsIn(ns)).length === COUNT, 3000);
      await sleep(300);
      const afterDelete = messages(a, before);
      assert.deepEqual(
        afterDelete.filter((m) =>
          m.level === "error"
        ),
        [],
      );
      assert.equal(
        afterDelete.filter((m) => m.msg.includes("restoring it")).length,
        1,
        afterDelete.map((m) => m.msg).join("\n"),
      );

      // SIGTERM: every VIP goes, none is added back, nothing is an error.
      const atTerm = a.proc.lines.length;
      a.proc.child.kill("SIGTERM");
      const status = await a.proc.exited(10_000);
      assert.equal(status.code, 0);
      assert.deepEqual(await vipsIn(ns), []);
      const afterTerm = messages(a, atTerm);
      assert.deepEqual(afterTerm.filter((m) => m.level === "error" || m.level === "warn"), []);
      assert.deepEqual(afterTerm.filter((m) => /\b(added|restored|restoring)\b/.test(m.msg)), []);
      assert.equal(await promoteSecondaries(ns), "0", "put back at exit");
    }),
);

netnsTest("no namespaces left behind by the shared-subnet test", async () => {
  assert.deepEqual(await leftoverNamespaces(), []);
});

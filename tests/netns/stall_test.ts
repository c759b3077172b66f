/**
 * Packets before timers on a real kernel: two hacore nodes with 50 instances at 10 ms
 * adverts on one bridge. The backup is frozen (SIGSTOP) for 100 ms ten times, each about three
 * Master_Down_Intervals, while the master's adverts pile up in its socket buffer; on
 * SIGCONT its clock says every Master_Down deadline is overdue, and only the adverts
 * already in the buffer say the master is alive. SIGSTOP freezes the poll threads too,
 * the harder case: nothing was read during the stall. No instance may take over.
 * The master runs with real-time priority, so that only the backup is ever late.
 */

import assert from "node:assert/strict";
import { leftoverNamespaces, netnsTest, runOk } from "./helpers.ts";
import { buildLan, hacoreFromToml, type HacoreProc, sleep, wallMs, withPeerLab } from "./peers.ts";
import { LAN_IFACE } from "../../lib/lab/topology.ts";

const INSTANCES = 50;
const ADV_S = 0.01;
const STALL_MS = 100;
const STALLS = 10;
const START_MS = 20_000;

/** `count` instances at `advertS`, VRIDs 1.., each with its own VIP in 198.51.100.0/24. */
function manyInstances(routerId: string, priority: number): string {
  const lines = ["[global]", `router_id = "${routerId}"`, ""];
  for (let i = 1; i <= INSTANCES; i++) {
    lines.push(
      `[vrrp_instance.VI_${i}]`,
      `interface = "${LAN_IFACE}"`,
      `virtual_router_id = ${i}`,
      "version = 3",
      `priority = ${priority}`,
      `advert_int = ${ADV_S}`,
      `virtual_ipaddress = ["198.51.100.${i}/24"]`,
      "",
    );
  }
  return lines.join("\n");
}

const names = Array.from({ length: INSTANCES }, (_, i) => `VI_${i + 1}`);

function allIn(h: HacoreProc, state: string): boolean {
  return names.every((n) => h.state(n) === state);
}

/** Takeovers since `fromIndex`, each with its delay after the last SIGCONT before it. */
function takeovers(h: HacoreProc, fromIndex: number, conts: readonly number[]): string[] {
  return h.transitions.slice(fromIndex).filter((t) => t.to === "MASTER").map((t) => {
    const after = conts.filter((c) => c <= t.atMs).at(-1);
    const when = after === undefined ? "" : ` (${(t.atMs - after).toFixed(0)} ms after SIGCONT)`;
    return `${t.instance}: ${t.reason}: ${t.detail}${when}`;
  });
}

netnsTest(
  "a backup frozen for 100 ms while 50 instances' adverts queue takes over none of them",
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, {
        nodes: [{ name: "a", address: "192.0.2.11/24" }, { name: "b", address: "192.0.2.12/24" }],
      });
      const dir = await lab.tempDir();
      const a = await hacoreFromToml(lab, dir, lan.nodes[0].ns, "a", manyInstances("a", 150));
      // The master gets round-robin real-time priority (all its threads): on a busy
      // shared machine it could otherwise send late on its own, and a takeover then
      // would be its lateness, not the backup's stall this test is about.
      await runOk("chrt", ["-a", "-r", "-p", "10", String(a.proc.child.pid)]);
      await a.proc.waitFor(() => allIn(a, "MASTER") || null, START_MS, "a master of all");
      const b = await hacoreFromToml(lab, dir, lan.nodes[1].ns, "b", manyInstances("b", 100));
      await b.proc.waitFor(() => allIn(b, "BACKUP") || null, START_MS, "b backup of all");
      // Settled: the adverts flow and b follows them.
      await sleep(500);
      const fromB = b.transitions.length;
      const fromA = a.transitions.length;
      const pid = b.proc.child.pid;
      const conts: number[] = [];
      for (let i = 0; i < STALLS; i++) {
        Deno.kill(pid, "SIGSTOP");
        const t0 = wallMs();
        while (wallMs() - t0 < STALL_MS) await sleep(5);
        Deno.kill(pid, "SIGCONT");
        conts.push(wallMs());
        // Long enough for any takeover to be logged (its MDI is under 40 ms).
        await sleep(400);
      }
      assert.deepEqual(takeovers(b, fromB, conts), [], "b took over after a stall");
      assert.ok(allIn(b, "BACKUP") && allIn(a, "MASTER"));
      assert.equal(a.transitions.length, fromA, "a changed state");
    }),
);

netnsTest("no namespaces left behind by the stall test", async () => {
  assert.deepEqual(await leftoverNamespaces(), []);
});

/**
 * A dual-stack instance on a real kernel: one `[vrrp_instance.web]` with an IPv4 VIP
 * and two IPv6 VIPs (link-local first), which hacore runs as `web` (VRRPv3 over
 * 224.0.0.18) and `web@v6` (VRRPv3 over ff02::12 from the link-local address) in one
 * implicit sync group. A client namespace connects to both the IPv4 and the IPv6 VIP
 * every 10 ms; it must follow both across an operator's `hacore demote web` / `resume
 * web` and across a kill -9 of the master.
 *
 * After a crash the client's kernel still has a REACHABLE neighbour entry pointing at
 * the dead master's MAC, which it would only re-verify after tens of seconds: a client
 * that reaches the new master over IPv6 within a second of the takeover, with its entry
 * now naming the new master's MAC, got there through hacore's unsolicited NA (the
 * IPv6 twin of the gratuitous ARP).
 */

import assert from "node:assert/strict";
import { hasCommand, leftoverNamespaces, netnsTest } from "./helpers.ts";
import {
  type Capture,
  only,
  sleep,
  startCapture,
  startProbe,
  startTcpService,
  summarizeProbe,
  waitForHolders,
  wallMs,
  withPeerLab,
} from "./peers.ts";
import { runChecked } from "../../lib/lab/host.ts";
import {
  hacoreCli,
  instanceToml,
  macOf,
  START_MS,
  statusCli,
  trackLan,
  waitStatus,
  watchers,
} from "./track_lab.ts";

const V4 = "192.0.2.100";
const LL = "fe80::100";
const V6 = "2001:db8::100";
const MDI_MS = 3 * 100 + Math.floor(((256 - 100) * 100) / 256);
const MARGIN_MS = 300;

const dual = (routerId: string, priority: number, maint?: string) =>
  instanceToml({
    routerId,
    priority,
    name: "web",
    vips: [`${V4}/24`, `${LL}/64`, `${V6}/64`],
    lines: maint === undefined ? [] : ['track_file = ["maint"]'],
    tables: maint === undefined
      ? ""
      : `[vrrp_track_file.maint]\nfile = ${JSON.stringify(maint)}\nweight = -60\n`,
  });

netnsTest(
  "dual-stack: one instance, IPv4 and IPv6 VIPs move together on demote/resume, a tracker and kill -9; the client reaches both, IPv6 via unsolicited NA",
  () =>
    withPeerLab(async (lab) => {
      const l = await trackLan(lab, ["node1", "node2"], { v6: true });
      const [n1, n2] = l.nodes;
      // One service per node on [::]: it answers on the IPv4 VIP and on the IPv6 one.
      await Promise.all(
        l.nodes.map((n) => startTcpService(lab, n.member.ns, n.name, 8080, 10_000, "::")),
      );
      const maint = `${l.dir}/maint`;
      await Deno.writeTextFile(maint, "0\n");
      await l.start(n1, dual("node1", 150, maint));
      await n1.hacore.waitState("MASTER", START_MS, { instance: "web@v6" });
      await l.start(n2, dual("node2", 100));
      await n2.hacore.waitState("BACKUP", START_MS, { instance: "web@v6" });

      const w4 = watchers(l.nodes, V4);
      const wl = watchers(l.nodes, LL);
      const w6 = watchers(l.nodes, V6);
      const allOn = async (name: string, what: string, timeoutMs = START_MS) => {
        for (const w of [w4, wl, w6]) await waitForHolders(w, only(name), timeoutMs, what);
      };
      await allOn("node1", "node1 alone to hold all three VIPs");

      // Status (the real CLI) shows both halves, each of its own family, in one group.
      const s = await statusCli(n1);
      assert.deepEqual(
        s.instances.map((i) => [i.name, i.family, i.state, i.vips.map((v) => v.address)]),
        [
          ["web", "ipv4", "master", [V4]],
          ["web@v6", "ipv6", "master", [LL, V6]],
        ],
      );

      const p4 = await startProbe(lab, l.client.ns, V4, { intervalMs: 10, timeoutMs: 200 });
      const p6 = await startProbe(lab, l.client.ns, V6, { intervalMs: 10, timeoutMs: 200 });
      await p4.waitFor(
        (r) => r.ok && r.who === "node1",
        START_MS,
        "the client to reach node1 (v4)",
      );
      await p6.waitFor(
        (r) => r.ok && r.who === "node1",
        START_MS,
        "the client to reach node1 (v6)",
      );

      // The operator's verb on the name in the file applies to both halves.
      const demoted = await hacoreCli("demote", "web", "--priority", "50", "--socket", n1.socket);
      assert.match(demoted, /web: priority 150 -> 50/);
      assert.match(demoted, /web@v6: priority 150 -> 50/);
      const tDemote = wallMs();
      await allOn("node2", "both VIPs to move to node2 after `demote web`", 3000);
      const movedMs = wallMs() - tDemote;
      await waitStatus(
        n1,
        (st) => st.instances.every((i) => i.state === "backup" && i.priority.effective === 50),
        2000,
        "both halves backup at priority 50",
      );
      await p4.waitFor((r) => r.ok && r.who === "node2", 2000, "the client to reach node2 (v4)");
      await p6.waitFor((r) => r.ok && r.who === "node2", 2000, "the client to reach node2 (v6)");

      await hacoreCli("resume", "web", "--socket", n1.socket);
      await allOn("node1", "both VIPs back on node1 after `resume web`", 3000);
      await p4.waitFor(
        (r) => r.ok && r.who === "node1" && r.t > tDemote + movedMs,
        2000,
        "v4 back",
      );
      await p6.waitFor(
        (r) => r.ok && r.who === "node1" && r.t > tDemote + movedMs,
        2000,
        "v6 back",
      );
      await sleep(300);

      // The NAs themselves, where dumpcap can show them.
      const capture: Capture | null = hasCommand("dumpcap") && hasCommand("tshark")
        ? await startCapture(lab, l.dir, l.lan.bridgeNs, l.lan.bridge, "icmp6")
        : null;
      if (capture === null) {
        console.warn("  (no dumpcap/tshark: the NA is judged by the client only)");
      }
      // dumpcap reports "Capturing on" a little before it sees every frame.
      await sleep(300);

      // A crash: kill -9, and the machine is gone from the LAN (its kernel would keep
      // answering for the VIPs otherwise).
      const tKill = wallMs();
      n1.hacore.proc.child.kill("SIGKILL");
      await l.lan.cut(n1.member);
      const took4 = await waitForHolders([w4[1]], only("node2"), START_MS, "node2 to take v4");
      const took6 = await waitForHolders([w6[1]], only("node2"), START_MS, "node2 to take v6");
      await waitForHolders([wl[1]], only("node2"), 1000, "node2 to take the link-local VIP");
      const take4 = took4.atMs - tKill;
      const take6 = took6.atMs - tKill;
      for (const [what, ms] of [["v4", take4], ["v6", take6]] as const) {
        assert.ok(ms <= MDI_MS + MARGIN_MS, `${what} took ${ms.toFixed(0)} ms; MDI ${MDI_MS}`);
      }
      const r4 = await p4.waitFor((r) => r.ok && r.who === "node2" && r.t > tKill, 2000, "v4");
      const r6 = await p6.waitFor((r) => r.ok && r.who === "node2" && r.t > tKill, 2000, "v6");
      const back6 = r6.t + r6.ms - tKill;
      assert.ok(
        back6 <= take6 + 1000,
        `the client reached node2 over IPv6 ${back6.toFixed(0)} ms after the kill (takeover at ${
          take6.toFixed(0)
        } ms): too slow for an NA-driven update`,
      );
      const neigh = JSON.parse(
        await runChecked("ip", ["-n", l.client.ns, "-j", "neigh", "show", V6]),
      ) as { lladdr?: string }[];
      const mac2 = await macOf(n2.member.ns);
      assert.equal(neigh[0]?.lladdr, mac2, "client's neighbour entry for V6");
      if (capture !== null) {
        // dumpcap hands packets over in blocks; give the last one time to be written.
        await sleep(1000);
        await capture.stop();
        const rows = (await capture.read(
          "-Y",
          "icmpv6.type == 136",
          "-T",
          "fields",
          "-e",
          "eth.src",
          "-e",
          "icmpv6.nd.na.target_address",
          "-e",
          "icmpv6.nd.na.flag.o",
          "-e",
          "icmpv6.nd.na.flag.s",
        )).trim().split("\n").map((r) => r.split("\t"));
        const unsolicited = rows.filter(([src, target, o, sol]) =>
          src === mac2 && target === V6 && (o === "1" || o === "True") &&
          (sol === "0" || sol === "False")
        );
        assert.ok(
          unsolicited.length >= 1,
          `an unsolicited NA (O=1, S=0) for ${V6} from node2 (${mac2}); captured: ${
            JSON.stringify(rows)
          }`,
        );
      }

      await sleep(200);
      const tEnd = wallMs();
      await sleep(300);
      await Promise.all([p4.stop(), p6.stop()]);
      const s4 = summarizeProbe(p4.results, tKill, tEnd);
      const s6 = summarizeProbe(p6.results, tKill, tEnd);
      for (const [what, s] of [["v4", s4], ["v6", s6]] as const) {
        assert.equal(s.recoveredBy, "node2", `${what}: ${JSON.stringify(s)}`);
      }
      await waitStatus(
        n2,
        (st) => st.instances.every((i) => i.state === "master"),
        1000,
        "node2: both halves master",
      );
      console.log(
        `  demote moved both in ${movedMs.toFixed(0)} ms; kill -9: v4 ${take4.toFixed(0)} ms, ` +
          `v6 ${take6.toFixed(0)} ms (MDI ${MDI_MS}); client v4 ${s4.failed}/${s4.attempts} ` +
          `failed, back +${s4.recoveredAfterMs} ms; v6 ${s6.failed}/${s6.attempts} failed, back +${s6.recoveredAfterMs} ms (${r4.who})`,
      );
    }),
);

// Last in the file: Deno runs a file's tests in order.
netnsTest("dual-stack: no namespace of this run is left behind", async () => {
  assert.deepEqual(await leftoverNamespaces(), []);
});

/**
 * Transitions that lose nothing, on a real kernel: two hacore nodes on a bridge and a
 * client connecting to the VIP every 5 ms, driven through every planned handover an
 * operator makes: demote and resume, promote and resume, maintenance on and off, a
 * reload that lowers and restores the priority, and a restart that preempts back. The
 * new master holds the VIP and has announced it before its first advert, and the old
 * master lets go only once it hears that advert, so no connect may find the VIP missing
 * or black-holed. The one thing no VRRP daemon can carry across is a connection in
 * flight at the instant the client's ARP entry moves: a capture of such a failure shows
 * the handshake and the answer done with the old master, then the client's ACK of that
 * answer reaching the new one, which resets it. Attempts do not overlap at this cadence,
 * so each handover may cost at most one such reset (ECONNRESET), and nothing else. And a
 * reload of an unchanged file at 10 ms adverts, with a connect every 1 ms: nothing
 * moves (the reload's parse once stalled the master's loop past the Backup's
 * Master_Down_Interval, which took over and was preempted back).
 */

import assert from "node:assert/strict";
import { pollUntil } from "../../lib/lab/proc.ts";
import { leftoverNamespaces, netnsTest } from "./helpers.ts";
import {
  addressWatcher,
  buildLan,
  hacoreConfigToml,
  hacoreFromToml,
  type HacoreProc,
  LAN_IFACE,
  only,
  sleep,
  startProbe,
  startTcpService,
  summarizeProbe,
  waitForHolders,
  wallMs,
  withPeerLab,
} from "./peers.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const VIP = "192.0.2.100";
const START_MS = 10_000;
const MOVE_MS = 5000;
/** After each handover: long enough for stragglers (the probe times out at 200 ms). */
const SETTLE_MS = 500;

async function cli(...args: string[]): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, `hacore ${args.join(" ")}: ${text}`);
}

const toml = (name: string, priority: number) =>
  hacoreConfigToml({ routerId: name, priority, vips: [`${VIP}/24`] });

netnsTest(
  "a client connecting every 5 ms loses nothing through demote, promote, maintenance, reload and a preempting restart",
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, {
        nodes: [{ name: "a", address: "192.0.2.11/24" }, { name: "b", address: "192.0.2.12/24" }],
        client: { name: "client", address: "192.0.2.50/24" },
      });
      const [na, nb] = lan.nodes;
      await Promise.all([
        startTcpService(lab, na.ns, "a"),
        startTcpService(lab, nb.ns, "b"),
      ]);
      const dir = await lab.tempDir();
      const sock = (n: string) => `${dir}/${n}.sock`;
      let a: HacoreProc = await hacoreFromToml(lab, dir, na.ns, "a", toml("a", 150));
      await a.waitState("MASTER", START_MS);
      const b = await hacoreFromToml(lab, dir, nb.ns, "b", toml("b", 100));
      const daemons = [a, b];
      const watchers = [
        addressWatcher("a", na.ns, LAN_IFACE, VIP),
        addressWatcher("b", nb.ns, LAN_IFACE, VIP),
      ];
      await waitForHolders(watchers, only("a"), START_MS, "a alone");
      await sleep(1000); // b has joined as BACKUP and follows a

      const probe = await startProbe(lab, lan.client!.ns, VIP, { intervalMs: 5 });
      const steps: { what: string; from: number; to: number }[] = [];
      const step = async (what: string, holder: string, act: () => Promise<void>) => {
        const from = wallMs();
        await act();
        await waitForHolders(watchers, only(holder), MOVE_MS, `${holder} alone after ${what}`);
        await sleep(SETTLE_MS);
        steps.push({ what, from, to: wallMs() });
      };
      try {
        await sleep(SETTLE_MS);
        await step("demote a", "b", () => cli("demote", "VI_1", "--socket", sock("a")));
        await step("resume a (preempt back)", "a", () =>
          cli("resume", "VI_1", "--socket", sock("a")));
        await step("promote b", "b", () =>
          cli("promote", "VI_1", "--socket", sock("b")));
        await step("resume b", "a", () =>
          cli("resume", "VI_1", "--socket", sock("b")));
        await step("maintenance on a", "b", () => cli("maintenance", "on", "--socket", sock("a")));
        await step(
          "maintenance off a",
          "a",
          () => cli("maintenance", "off", "--socket", sock("a")),
        );
        await step("reload a to priority 90", "b", async () => {
          await Deno.writeTextFile(`${dir}/a.toml`, toml("a", 90));
          await cli("reload", "--socket", sock("a"));
        });
        await step("reload a back to 150", "a", async () => {
          await Deno.writeTextFile(`${dir}/a.toml`, toml("a", 150));
          await cli("reload", "--socket", sock("a"));
        });
        await step("SIGTERM a", "b", async () => {
          a.proc.child.kill("SIGTERM");
          await a.proc.exited(MOVE_MS);
        });
        await step("restart a (preempt back)", "a", async () => {
          a = await hacoreFromToml(lab, dir, na.ns, "a", toml("a", 150));
          daemons.push(a);
          await a.waitState("MASTER", START_MS);
        });
      } finally {
        await probe.stop();
      }
      const report = steps.map((s) => {
        const sum = summarizeProbe(probe.results, s.from, s.to);
        return { what: s.what, attempts: sum.attempts, failed: sum.failed, errors: sum.errors };
      });
      const whole = summarizeProbe(probe.results, steps[0].from);
      console.log(
        report.map((r) =>
          `  ${r.what}: ${r.failed}/${r.attempts} failed${
            r.failed > 0 ? ` ${JSON.stringify(r.errors)}` : ""
          }`
        ).join("\n"),
      );
      assert.ok(whole.attempts > 100, `only ${whole.attempts} connects`);
      const lost = report.filter((r) => r.failed > (r.errors.ECONNRESET === 1 ? 1 : 0));
      assert.deepEqual(lost, [], "connects lost");
      // Every handover here was planned: none is a split brain, and b says who took over.
      const lines = daemons.flatMap((d) => d.proc.lines.map((l) => `${d.name}: ${l.text}`));
      assert.deepEqual(lines.filter((l) => l.includes("dual master")), []);
      assert.ok(
        b.transitions.some((t) => t.detail.startsWith("preempted by 192.0.2.11 (priority 150")),
        b.transitions.map((t) => `${t.from} -> ${t.to} (${t.reason}: ${t.detail})`).join("\n"),
      );
    }),
);

/** A reload changes nothing here: the same file, re-read this many times. */
const RELOADS = 10;

netnsTest(
  "a reload with the same config at 10 ms adverts disturbs nothing: no transition, 0 lost connects at one every 1 ms",
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, {
        nodes: [{ name: "a", address: "192.0.2.11/24" }, { name: "b", address: "192.0.2.12/24" }],
        client: { name: "client", address: "192.0.2.50/24" },
      });
      const [na, nb] = lan.nodes;
      await Promise.all([startTcpService(lab, na.ns, "a"), startTcpService(lab, nb.ns, "b")]);
      const dir = await lab.tempDir();
      const fast = (name: string, priority: number) =>
        hacoreConfigToml({ routerId: name, priority, vips: [`${VIP}/24`], advertIntS: 0.01 });
      const a = await hacoreFromToml(lab, dir, na.ns, "a", fast("a", 150));
      await a.waitState("MASTER", START_MS);
      const b = await hacoreFromToml(lab, dir, nb.ns, "b", fast("b", 100));
      await b.waitState("BACKUP", START_MS);
      await sleep(1000); // b follows a
      const [aFrom, bFrom] = [a.transitions.length, b.transitions.length];
      const probe = await startProbe(lab, lan.client!.ns, VIP, { intervalMs: 1, timeoutMs: 50 });
      const from = wallMs();
      try {
        await sleep(SETTLE_MS);
        for (let i = 0; i < RELOADS; i++) {
          const applied = () => a.proc.lines.filter((l) => l.text.includes("no changes")).length;
          const before = applied();
          a.proc.child.kill("SIGHUP");
          await pollUntil(() => applied() > before || null, MOVE_MS, `reload ${i + 1} applied`);
          await sleep(200);
        }
        await sleep(SETTLE_MS);
      } finally {
        await probe.stop();
      }
      const sum = summarizeProbe(probe.results, from);
      const show = (d: HacoreProc, i: number) =>
        d.transitions.slice(i).map((t) => `${d.name}: ${t.from} -> ${t.to} (${t.detail})`);
      assert.deepEqual([...show(a, aFrom), ...show(b, bFrom)], [], "transitions during reloads");
      assert.ok(sum.attempts > 1000, `only ${sum.attempts} connects`);
      assert.equal(
        sum.failed,
        0,
        `${sum.failed} of ${sum.attempts} connects failed: ${sum.errors}`,
      );
    }),
);

netnsTest("no namespaces left behind by the transitions test", async () => {
  assert.deepEqual(await leftoverNamespaces(), []);
});

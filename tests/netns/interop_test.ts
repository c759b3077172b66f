/**
 * hacore in the same virtual router as the incumbents, on a real kernel: keepalived
 * 2.2.x (VRRPv2 at 1 s, VRRPv3 at 100 ms) and FRR's vrrpd (VRRPv3 at 100 ms). Each side
 * is master in turn: the higher priority wins the election, a crash of the master hands
 * the VIP to the other implementation within its Master_Down_Interval, and the
 * restarted higher-priority router preempts back. Then the priorities are swapped.
 *
 * "Holds the VIP" is read from the kernel: the address on eth0 for hacore and
 * keepalived; for FRR, the VIP's macvlan up and not in protodown (vrrpd keeps the
 * address on the macvlan and switches the link instead).
 *
 * The third-party daemons run from the test's temp dir only (see peers.ts). Tests skip,
 * printing why, when not root or when keepalived / FRR are not installed.
 */

import assert from "node:assert/strict";
import { leftoverNamespaces, netnsTest } from "./helpers.ts";
import {
  addressWatcher,
  buildLan,
  hacoreConfigToml,
  hacoreFromToml,
  type HacoreProc,
  type KeepalivedSpec,
  LAN_IFACE,
  masterDownIntervalMs,
  only,
  type PeerLab,
  peerTest,
  startFrr,
  startKeepalived,
  userIds,
  VRRPD,
  waitForHolders,
  wallMs,
  withPeerLab,
  ZEBRA,
} from "./peers.ts";

const VIP = "192.0.2.100";
/** Slack for scheduling, reconcile and polling on a loaded machine. */
const MARGIN_MS = 200;
/** Process start plus one VRRPv2 Master_Down_Interval (3.6 s) with room to spare. */
const START_MS = 15_000;

function hacoreToml(priority: number, version: 2 | 3, advertIntS: number): string {
  return hacoreConfigToml({
    routerId: "hc",
    priority,
    version,
    advertIntS,
    vips: [`${VIP}/24`],
  });
}

/** Lines where hacore complains (warn/error), e.g. about adverts it dropped. */
function complaints(h: HacoreProc): string[] {
  return h.proc.lines.map((l) => l.text).filter((t) => /"level":"(warn|error)"/.test(t));
}

async function keepalivedRound(
  lab: PeerLab,
  version: 2 | 3,
  advertIntS: number,
): Promise<string[]> {
  const advMs = advertIntS * 1000;
  const lan = await buildLan(lab, {
    nodes: [{ name: "ka", address: "192.0.2.11/24" }, { name: "hc", address: "192.0.2.12/24" }],
  });
  const [nsKa, nsHc] = lan.nodes.map((n) => n.ns);
  const dir = await lab.tempDir();
  const kaW = addressWatcher("keepalived", nsKa, LAN_IFACE, VIP);
  const hcW = addressWatcher("hacore", nsHc, LAN_IFACE, VIP);
  const both = [kaW, hcW];
  const ka = (priority: number): KeepalivedSpec => ({
    routerId: "ka",
    priority,
    version,
    advertIntS,
    vips: [`${VIP}/24`],
  });
  const report: string[] = [];

  // keepalived 200, hacore 100: keepalived masters, hacore stays backup without the VIP.
  let k = await startKeepalived(lab, dir, nsKa, ka(200));
  let h = await hacoreFromToml(lab, dir, nsHc, "hc", hacoreToml(100, version, advertIntS));
  await waitForHolders(both, only("keepalived"), START_MS, "keepalived alone to hold the VIP");
  await k.waitState("MASTER", START_MS);
  await h.waitState("BACKUP", START_MS);
  // Several adverts later hacore is still content to be backup.
  await new Promise((r) => setTimeout(r, 3 * advMs));
  assert.equal(h.state(), "BACKUP");
  assert.deepEqual((await waitForHolders(both, only("keepalived"), 1000, "no change")).holders, [
    "keepalived",
  ]);

  // keepalived crashes: hacore takes over after its Master_Down_Interval.
  let from = h.transitions.length;
  let t = wallMs();
  await k.crash();
  const took = await waitForHolders([hcW], only("hacore"), START_MS, "hacore to take over");
  const mdiHc = masterDownIntervalMs(version, 100, advMs);
  const takeoverMs = took.atMs - t;
  assert.ok(takeoverMs <= mdiHc + MARGIN_MS, `hacore took ${takeoverMs} ms; MDI ${mdiHc}`);
  assert.ok(takeoverMs >= mdiHc - advMs - 30, `hacore took over early: ${takeoverMs} ms`);
  assert.equal(
    (await h.waitState("MASTER", 1000, { fromIndex: from })).reason,
    "master-down-timer",
  );
  report.push(`keepalived killed -> hacore master in ${takeoverMs.toFixed(0)} ms (MDI ${mdiHc})`);

  // keepalived back: it preempts, hacore steps down and removes the VIP.
  from = h.transitions.length;
  t = wallMs();
  k = await startKeepalived(lab, dir, nsKa, ka(200));
  const back = await waitForHolders(both, only("keepalived"), START_MS, "keepalived to preempt");
  const down = await h.waitState("BACKUP", 1000, { fromIndex: from });
  assert.equal(down.reason, "higher-priority");
  report.push(`keepalived restarted -> preempted in ${(back.atMs - t).toFixed(0)} ms`);

  // Swap: hacore 200, keepalived 100.
  await k.stop();
  h.proc.child.kill("SIGTERM");
  assert.equal((await h.proc.exited(5000)).code, 0);
  h = await hacoreFromToml(lab, dir, nsHc, "hc", hacoreToml(200, version, advertIntS));
  k = await startKeepalived(lab, dir, nsKa, ka(100));
  await waitForHolders(both, only("hacore"), START_MS, "hacore alone to hold the VIP");
  await h.waitState("MASTER", 1000);
  await new Promise((r) => setTimeout(r, 3 * advMs));
  assert.equal(k.states.at(-1)?.state, "BACKUP", "keepalived stays backup");
  assert.deepEqual((await waitForHolders(both, only("hacore"), 1000, "no change")).holders, [
    "hacore",
  ]);

  // hacore crashes: keepalived takes over.
  let kFrom = k.states.length;
  t = wallMs();
  h.proc.child.kill("SIGKILL");
  const kaTook = await waitForHolders(
    [kaW],
    only("keepalived"),
    START_MS,
    "keepalived to take over",
  );
  const mdiKa = masterDownIntervalMs(version, 100, advMs);
  const kaMs = kaTook.atMs - t;
  assert.ok(kaMs <= mdiKa + MARGIN_MS, `keepalived took ${kaMs} ms; MDI ${mdiKa}`);
  await k.waitState("MASTER", 1000, kFrom);
  report.push(`hacore killed -> keepalived master in ${kaMs.toFixed(0)} ms (MDI ${mdiKa})`);

  // hacore back: it preempts; keepalived steps down.
  kFrom = k.states.length;
  t = wallMs();
  h = await hacoreFromToml(lab, dir, nsHc, "hc", hacoreToml(200, version, advertIntS));
  const hcBack = await waitForHolders(both, only("hacore"), START_MS, "hacore to preempt");
  assert.equal((await h.waitState("MASTER", 1000)).reason, "preempt");
  await k.waitState("BACKUP", 2000, kFrom);
  report.push(`hacore restarted -> preempted in ${(hcBack.atMs - t).toFixed(0)} ms`);

  assert.deepEqual(complaints(h), [], "hacore accepted every keepalived advert");
  return report;
}

peerTest(
  "keepalived VRRPv2 (advert_int 1): each is master in turn, crash failover and preemption both ways",
  ["keepalived"],
  () =>
    withPeerLab(async (lab) => {
      const report = await keepalivedRound(lab, 2, 1);
      for (const r of report) console.log(`  v2: ${r}`);
    }),
);

peerTest(
  "keepalived VRRPv3 (advert_int 0.1): each is master in turn, crash failover and preemption both ways",
  ["keepalived"],
  () =>
    withPeerLab(async (lab) => {
      const report = await keepalivedRound(lab, 3, 0.1);
      for (const r of report) console.log(`  v3: ${r}`);
    }),
);

peerTest(
  "FRR vrrpd VRRPv3 (100 ms): each is master in turn, crash failover and preemption both ways",
  [ZEBRA, VRRPD],
  () =>
    withPeerLab(async (lab) => {
      const advMs = 100;
      const lan = await buildLan(lab, {
        nodes: [{ name: "frr", address: "192.0.2.11/24" }, {
          name: "hc",
          address: "192.0.2.12/24",
        }],
      });
      const [nsFrr, nsHc] = lan.nodes.map((n) => n.ns);
      const dir = await lab.tempDir();
      const spec = (priority: number) => ({ priority, advertIntMs: advMs, vip: VIP, prefix: 24 });
      const frr = await startFrr(lab, nsFrr, spec(200));
      const frrW = frr.watcher("frr");
      const hcW = addressWatcher("hacore", nsHc, LAN_IFACE, VIP);
      const both = [frrW, hcW];

      // FRR 200, hacore 100.
      let h = await hacoreFromToml(lab, dir, nsHc, "hc", hacoreToml(100, 3, 0.1));
      await waitForHolders(both, only("frr"), START_MS, "FRR alone to hold the VIP");
      await frr.waitState("Master", 1000);
      await h.waitState("BACKUP", START_MS);
      await new Promise((r) => setTimeout(r, 3 * advMs));
      assert.equal(h.state(), "BACKUP");

      // vrrpd crashes: hacore takes over.
      let from = h.transitions.length;
      let t = wallMs();
      await frr.crash();
      const took = await waitForHolders([hcW], only("hacore"), START_MS, "hacore to take over");
      const mdiHc = masterDownIntervalMs(3, 100, advMs);
      const ms = took.atMs - t;
      assert.ok(ms <= mdiHc + MARGIN_MS, `hacore took ${ms} ms; MDI ${mdiHc}`);
      assert.equal(
        (await h.waitState("MASTER", 1000, { fromIndex: from })).reason,
        "master-down-timer",
      );
      console.log(`  vrrpd killed -> hacore master in ${ms.toFixed(0)} ms (MDI ${mdiHc})`);

      // vrrpd back: it preempts.
      from = h.transitions.length;
      t = wallMs();
      await frr.restart(spec(200));
      const back = await waitForHolders(both, only("frr"), START_MS, "FRR to preempt");
      assert.equal(
        (await h.waitState("BACKUP", 1000, { fromIndex: from })).reason,
        "higher-priority",
      );
      console.log(`  vrrpd restarted -> preempted in ${(back.atMs - t).toFixed(0)} ms`);

      // Swap: hacore 200, FRR 100.
      h.proc.child.kill("SIGTERM");
      assert.equal((await h.proc.exited(5000)).code, 0);
      await frr.restart(spec(100));
      h = await hacoreFromToml(lab, dir, nsHc, "hc", hacoreToml(200, 3, 0.1));
      await waitForHolders(both, only("hacore"), START_MS, "hacore alone to hold the VIP");
      await new Promise((r) => setTimeout(r, 3 * advMs));
      assert.deepEqual((await waitForHolders(both, only("hacore"), 1000, "no change")).holders, [
        "hacore",
      ]);

      // hacore crashes: FRR takes over.
      let line = frr.vrrpd.lines.length;
      t = wallMs();
      h.proc.child.kill("SIGKILL");
      const frrTook = await waitForHolders([frrW], only("frr"), START_MS, "FRR to take over");
      const mdiFrr = masterDownIntervalMs(3, 100, advMs);
      const frrMs = frrTook.atMs - t;
      assert.ok(frrMs <= mdiFrr + MARGIN_MS, `FRR took ${frrMs} ms; MDI ${mdiFrr}`);
      await frr.waitState("Master", 1000, line);
      console.log(`  hacore killed -> vrrpd master in ${frrMs.toFixed(0)} ms (MDI ${mdiFrr})`);

      // hacore back: it preempts; vrrpd goes back to Backup (macvlan protodown).
      line = frr.vrrpd.lines.length;
      t = wallMs();
      h = await hacoreFromToml(lab, dir, nsHc, "hc", hacoreToml(200, 3, 0.1));
      const hcBack = await waitForHolders(both, only("hacore"), START_MS, "hacore to preempt");
      assert.equal((await h.waitState("MASTER", 1000)).reason, "preempt");
      await frr.waitState("Backup", 2000, line);
      console.log(`  hacore restarted -> preempted in ${(hcBack.atMs - t).toFixed(0)} ms`);
      assert.deepEqual(complaints(h), [], "hacore accepted every vrrpd advert");
    }),
  () => (userIds("frr") === null ? "needs FRR's frr user" : null),
);

// Last in the file: Deno runs a file's tests in order.
netnsTest("no namespace of this run is left behind", async () => {
  assert.deepEqual(await leftoverNamespaces(), []);
});

/**
 * Split-brain guards on a real kernel, judged from outside as an operator would:
 * `hacore status --json`, the log and `/metrics`.
 *
 * 1. Foreign senders: a hacore master on a bridge; from another namespace, crafted
 *    adverts for its VRIDs from four sources, each with one thing wrong: another VIP
 *    set, another v2 password, another v2 interval (all three dropped, RFC 3768 §7.1),
 *    and another v3 interval at a lower priority (legitimate on the wire, RFC 5798
 *    §6.4.2). Each is listed with the right reason, warned about once and counted,
 *    hacore stays master with its VIPs; once they stop, each is resolved.
 * 2. Dual master: two hacore nodes, the VRRP between them dropped at the bridge (tc:
 *    redirected into a sink), so both are master and hold the VIP; healed, the winner
 *    answers the loser, the loser releases, and the winner sends a fresh gratuitous ARP
 *    burst, counted on the bridge by its source MAC.
 */

import assert from "node:assert/strict";
import { logMessage } from "../../lib/lab/hacore.ts";
import type { Line } from "../../lib/lab/proc.ts";
import { closeFd, IPPROTO_VRRP, sendTo, sockaddrIn } from "../../lib/sys/libc.ts";
import { encodeAdvert } from "../../lib/vrrp/packet.ts";
import type { OutgoingAdvert } from "../../lib/vrrp/types.ts";
import { parseBoth, value } from "../unit/prometheus.ts";
import { ipNs, leftoverNamespaces, netnsTest, openVrrpSender, run, runOk } from "./helpers.ts";
import {
  addressWatcher,
  buildLan,
  hacoreFromToml,
  type HacoreProc,
  LAN_IFACE,
  only,
  peerTest,
  sleep,
  startCapture,
  waitForHolders,
  wallMs,
  withPeerLab,
} from "./peers.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const VIP = "192.0.2.100";
const VIP3 = "192.0.2.102";
const GROUP = "224.0.0.18";
const METRICS = "127.0.0.1:9650";

// ---------------------------------------------------------------------------------------
// Helpers

interface ForeignJson {
  source: string;
  reasons: string[];
  differences: string[];
  count: number;
  firstSeen: string;
  lastSeen: string;
}

interface StatusJson {
  instances: {
    name: string;
    state: string;
    counters: Record<string, number>;
    vips: { address: string; held: boolean }[];
    foreignSenders: ForeignJson[];
  }[];
}

/** `hacore status --json` through the real CLI, as an operator runs it. */
async function statusJson(socket: string): Promise<StatusJson> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "status", "--socket", socket, "--json"],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assert.equal(out.code, 0, `hacore status exited ${out.code}: ${dec.decode(out.stderr)}`);
  return JSON.parse(dec.decode(out.stdout)) as StatusJson;
}

/** `/metrics` from inside `ns` (127.0.0.1 there is the namespace's own loopback). */
async function scrape(ns: string) {
  const r = await run("ip", [
    "netns",
    "exec",
    ns,
    "curl",
    "-sS",
    "--max-time",
    "2",
    `http://${METRICS}/metrics`,
  ]);
  assert.equal(r.code, 0, `curl: ${r.stderr}`);
  return parseBoth(r.stdout);
}

function msg(l: Line): { msg: string; level: string | null } {
  return logMessage(l.text);
}

/** Log messages of `h` matching `re`, with their level. */
function logged(h: HacoreProc, re: RegExp): { msg: string; level: string | null }[] {
  return h.proc.lines.map(msg).filter((m) => re.test(m.msg));
}

/** Waits until `h` has logged `n` messages matching `re`. */
function waitLogged(h: HacoreProc, re: RegExp, n: number, timeoutMs: number) {
  return h.proc.waitFor(
    () => (logged(h, re).length >= n ? true : null),
    timeoutMs,
    `${n} log lines matching ${re}`,
  );
}

/** A raw VRRP socket in `ns` sending from `src` to the group with TTL 255. */
function vrrpSender(ns: string, src: string): number {
  return openVrrpSender(ns, LAN_IFACE, { src, ttl: 255 });
}

const pass = (p: string) => {
  const b = new Uint8Array(8);
  b.set(new TextEncoder().encode(p));
  return b;
};

function v2(over: Partial<OutgoingAdvert>): OutgoingAdvert {
  return {
    version: 2,
    vrid: 51,
    priority: 200,
    intervalMs: 1000,
    addresses: [VIP],
    authType: 1,
    authData: pass("secret"),
    ...over,
  };
}

// ---------------------------------------------------------------------------------------
// 1. Foreign senders

const FOREIGN_TOML = `
[global]
router_id = "a"
metrics_listen = "${METRICS}"

[vrrp_instance.VI_1]
interface = "${LAN_IFACE}"
virtual_router_id = 51
version = 2
priority = 150
advert_int = 1
authentication = { auth_type = "PASS", auth_pass = "secret" }
virtual_ipaddress = ["${VIP}/24"]

[vrrp_instance.VI_3]
interface = "${LAN_IFACE}"
virtual_router_id = 53
version = 3
priority = 150
advert_int = 1
virtual_ipaddress = ["${VIP3}/24"]
`;

/** The four misconfigured routers: source, instance, advert, what hacore must say. */
const FOREIGN = [
  {
    src: "192.0.2.21",
    instance: "VI_1",
    advert: v2({ addresses: [VIP, "192.0.2.101"] }),
    reason: "addresses",
    says: `VIPs ${VIP},192.0.2.101 vs ours ${VIP}`,
    drop: "addressListErrors",
  },
  {
    src: "192.0.2.22",
    instance: "VI_1",
    advert: v2({ authData: pass("guess") }),
    reason: "auth",
    says: "auth PASS differs",
    drop: "authFailures",
  },
  {
    src: "192.0.2.23",
    instance: "VI_1",
    advert: v2({ intervalMs: 2000 }),
    reason: "interval",
    says: "interval 2000 ms vs ours 1000 ms",
    drop: "advertiseIntervalErrors",
  },
  {
    // v3: another interval is legitimate (a backup would learn it), so the advert is
    // not dropped; at priority 100 the master answers it and stays master.
    src: "192.0.2.24",
    instance: "VI_3",
    advert: {
      version: 3,
      vrid: 53,
      priority: 100,
      intervalMs: 2000,
      addresses: [VIP3],
      authType: 0,
      authData: new Uint8Array(0),
    } as OutgoingAdvert,
    reason: "interval",
    says: "interval 2000 ms vs ours 1000 ms",
    drop: null,
  },
] as const;

peerTest(
  "split brain: foreign senders (other VIPs, v2 auth, v2 and v3 interval) show in status, log and metrics; hacore stays master; each resolves once quiet",
  ["curl"],
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, {
        nodes: [{ name: "a", address: "192.0.2.11/24" }, { name: "x", address: "192.0.2.12/24" }],
      });
      const [a, x] = lan.nodes;
      for (const f of FOREIGN) await ipNs(x.ns, "addr", "add", `${f.src}/24`, "dev", LAN_IFACE);
      const dir = await lab.tempDir();
      const h = await hacoreFromToml(lab, dir, a.ns, "a", FOREIGN_TOML);
      const socket = `${dir}/a.sock`;
      await h.waitState("MASTER", 10_000, { instance: "VI_1" });
      await h.waitState("MASTER", 10_000, { instance: "VI_3" });
      const watchers = [
        addressWatcher("a", a.ns, LAN_IFACE, VIP),
        addressWatcher("a", a.ns, LAN_IFACE, VIP3),
      ];
      await waitForHolders(watchers.slice(0, 1), only("a"), 2000, "a to hold VIP");
      await waitForHolders(watchers.slice(1), only("a"), 2000, "a to hold VIP3");
      const transitionsBefore = h.transitions.length;

      const fds = FOREIGN.map((f) => vrrpSender(x.ns, f.src));
      const rounds = 4;
      let stoppedAt = 0;
      try {
        for (let round = 0; round < rounds; round++) {
          FOREIGN.forEach((f, i) => {
            const bytes = encodeAdvert(
              f.advert,
              { family: "ipv4", src: f.src, dst: GROUP },
              "pseudo-header",
            );
            assert.equal(sendTo(fds[i], bytes, sockaddrIn(GROUP)), bytes.length);
          });
          if (round < rounds - 1) await sleep(1000);
        }
        stoppedAt = wallMs();
      } finally {
        for (const fd of fds) closeFd(fd);
      }
      await sleep(200);

      // Status: every sender listed under its instance, with the right reason.
      const st = await statusJson(socket);
      for (const f of FOREIGN) {
        const inst = st.instances.find((i) => i.name === f.instance)!;
        const s = inst.foreignSenders.find((s) => s.source === f.src);
        assert.ok(
          s,
          `${f.src} not listed for ${f.instance}: ${JSON.stringify(inst.foreignSenders)}`,
        );
        assert.deepEqual(s.reasons, [f.reason], f.src);
        assert.deepEqual(s.differences, [f.says], f.src);
        assert.equal(s.count, rounds, f.src);
        assert.ok(Date.parse(s.lastSeen) >= Date.parse(s.firstSeen));
        if (f.drop !== null) {
          assert.ok(inst.counters[f.drop] >= rounds, `${f.drop}: ${JSON.stringify(inst.counters)}`);
        }
      }
      const vi3 = st.instances.find((i) => i.name === "VI_3")!;
      assert.equal(vi3.counters.advertiseIntervalErrors, undefined, "v3: not dropped");
      for (const i of st.instances) {
        assert.equal(i.state, "master", i.name);
        assert.ok(i.vips.every((v) => v.held), i.name);
      }
      assert.equal(h.transitions.length, transitionsBefore, "no transition during the flood");
      assert.deepEqual(
        (await waitForHolders(watchers, (hs) => hs.length === 2, 1000, "VIPs held")).holders,
        ["a", "a"],
      );

      // Log: exactly one warning per sender, naming what differs.
      for (const f of FOREIGN) {
        const warns = logged(
          h,
          new RegExp(`foreign sender ${f.src.replaceAll(".", "\\.")} advertises`),
        );
        assert.equal(warns.length, 1, `${f.src}: ${JSON.stringify(warns)}`);
        assert.equal(warns[0].level, "warn");
        assert.ok(warns[0].msg.includes(f.says), warns[0].msg);
        assert.ok(warns[0].msg.includes("split-brain risk"), warns[0].msg);
      }

      // Metrics: the gauge per instance, the counters, and the RFC 6527 drops beside.
      const m = await scrape(a.ns);
      assert.equal(value(m, "hacore_vrrp_foreign_senders", { instance: "VI_1" }), 3);
      assert.equal(value(m, "hacore_vrrp_foreign_senders", { instance: "VI_3" }), 1);
      assert.equal(value(m, "hacore_vrrp_foreign_adverts_total", { instance: "VI_1" }), 3 * rounds);
      assert.equal(value(m, "hacore_vrrp_foreign_adverts_total", { instance: "VI_3" }), rounds);
      for (const f of FOREIGN) {
        if (f.drop === null) continue;
        const n = value(m, "hacore_vrrp_drops_total", { instance: "VI_1", reason: f.drop });
        assert.ok(n !== undefined && n >= rounds, `${f.drop} ${n}`);
      }

      // Quiet: max(3 × interval, 10 s) after each one's last advert, one info line each.
      await waitLogged(
        h,
        /^VI_\d: foreign sender \S+ resolved: silent for/,
        FOREIGN.length,
        15_000,
      );
      const resolvedAfterMs = wallMs() - stoppedAt;
      const resolved = logged(h, /foreign sender \S+ resolved/);
      assert.ok(resolved.every((r) => r.level === "info"), JSON.stringify(resolved));
      const after = await statusJson(socket);
      assert.deepEqual(after.instances.map((i) => i.foreignSenders.length), [0, 0]);
      assert.deepEqual(after.instances.map((i) => i.state), ["master", "master"]);
      const m2 = await scrape(a.ns);
      assert.equal(value(m2, "hacore_vrrp_foreign_senders", { instance: "VI_1" }), 0);
      // The v3 sender was also a lower-priority master: once it fell silent (2 × 2 s),
      // VI_3 announced its VIP again.
      assert.equal(value(m2, "hacore_vrrp_reannouncements_total", { instance: "VI_3" }), 1);
      assert.equal(value(m2, "hacore_vrrp_reannouncements_total", { instance: "VI_1" }), 0);
      console.log(
        `  4 foreign senders × ${rounds} adverts: listed, 4 warnings, gauge 3+1; ` +
          `resolved ${(resolvedAfterMs / 1000).toFixed(1)} s after the last advert`,
      );
    }),
);

// ---------------------------------------------------------------------------------------
// 2. Dual master: partition, heal, re-announce

/** Node config: v3 at 100 ms, and no delayed second GARP burst, so every GARP is accounted for. */
function dualToml(name: string, priority: number): string {
  return `
[global]
router_id = "${name}"
vrrp_garp_master_delay = 0

[vrrp_instance.VI_1]
interface = "${LAN_IFACE}"
virtual_router_id = 51
version = 3
priority = ${priority}
advert_int = 0.1
virtual_ipaddress = ["${VIP}/24"]
`;
}

async function macOf(ns: string): Promise<string> {
  const links = JSON.parse(
    await runOk("ip", ["-j", "-n", ns, "link", "show", "dev", LAN_IFACE]),
  ) as {
    address: string;
  }[];
  return links[0].address;
}

/** Drops VRRP on a bridge port (`ingress`: from the node; `egress`: to it) by redirecting it into a sink. */
async function dropVrrp(ns: string, port: string, dir: "ingress" | "egress") {
  await runOk("ip", [
    "netns",
    "exec",
    ns,
    "tc",
    "filter",
    "add",
    "dev",
    port,
    dir,
    "protocol",
    "ip",
    "u32",
    "match",
    "ip",
    "protocol",
    String(IPPROTO_VRRP),
    "0xff",
    "action",
    "mirred",
    "egress",
    "redirect",
    "dev",
    "sink0",
  ]);
}

/** Removes both drop filters from one tc process, microseconds apart. */
async function allowVrrpBothWays(ns: string, port: string) {
  const batch = await Deno.makeTempFile({ prefix: "hacore-tc-" });
  try {
    await Deno.writeTextFile(
      batch,
      `filter del dev ${port} egress\nfilter del dev ${port} ingress\n`,
    );
    await runOk("ip", ["netns", "exec", ns, "tc", "-batch", batch]);
  } finally {
    await Deno.remove(batch);
  }
}

peerTest(
  "dual master: a partition makes both master; healed, the loser releases and the winner sends a fresh GARP burst",
  ["tc", "dumpcap", "tshark"],
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, {
        nodes: [{ name: "a", address: "192.0.2.11/24" }, { name: "b", address: "192.0.2.12/24" }],
      });
      const [a, b] = lan.nodes;
      const dir = await lab.tempDir();
      const br = lan.bridgeNs;
      // A sink for the dropped packets: a veth pair in the bridge namespace, in no bridge.
      await ipNs(br, "link", "add", "sink0", "type", "veth", "peer", "name", "sink1");
      await ipNs(br, "link", "set", "sink0", "up");
      await ipNs(br, "link", "set", "sink1", "up");
      await runOk("ip", ["netns", "exec", br, "tc", "qdisc", "add", "dev", b.port, "clsact"]);
      const cap = await startCapture(lab, dir, br, lan.bridge, "arp");
      const macA = await macOf(a.ns);

      const ha = await hacoreFromToml(lab, dir, a.ns, "a", dualToml("a", 200));
      await ha.waitState("MASTER", 10_000);
      const hb = await hacoreFromToml(lab, dir, b.ns, "b", dualToml("b", 100));
      await hb.waitState("BACKUP", 10_000);
      const watchers = [
        addressWatcher("a", a.ns, LAN_IFACE, VIP),
        addressWatcher("b", b.ns, LAN_IFACE, VIP),
      ];
      await waitForHolders(watchers, only("a"), 2000, "a alone to hold the VIP");

      // Partition: no VRRP between b and the rest, either way. b takes over too.
      await dropVrrp(br, b.port, "ingress");
      await dropVrrp(br, b.port, "egress");
      await hb.waitState("MASTER", 3000);
      await waitForHolders(watchers, (hs) => hs.length === 2, 2000, "both to hold the VIP");
      await sleep(500);

      // Heal both ways at once (one tc batch). Whichever advert crosses first, a learns
      // of the episode: b's advert reaches a, or a's reaches b and b steps down with a
      // parting advert.
      const aTransitions = ha.transitions.length;
      const bTransitions = hb.transitions.length;
      const healAt = wallMs();
      await allowVrrpBothWays(br, b.port);
      const down = await hb.waitState("BACKUP", 2000, { fromIndex: bTransitions });
      assert.equal(down.reason, "higher-priority");
      await waitForHolders(watchers, only("a"), 2000, "a alone to hold the VIP again");
      await waitLogged(ha, /^VI_1: dual master over: 192\.0\.2\.12 \(priority 100\)/, 1, 3000);
      await sleep(300); // the burst's frames reach the capture
      await cap.stop();
      assert.equal(ha.transitions.length, aTransitions, "a stayed master throughout");

      // Gratuitous ARPs for the VIP from a's MAC after the heal: one fresh burst
      // (vrrp_garp_master_repeat, 5 by default; no delayed second burst here).
      const fields = await cap.read(
        "-Y",
        `arp && eth.src == ${macA} && arp.src.proto_ipv4 == ${VIP} && arp.dst.proto_ipv4 == ${VIP}`,
        "-T",
        "fields",
        "-e",
        "frame.time_epoch",
      );
      const times = fields.split("\n").filter((l) => l.trim() !== "").map((l) => Number(l) * 1000);
      const afterHeal = times.filter((t) => t >= healAt);
      const beforeHeal = times.filter((t) => t < healAt);
      const st = await statusJson(`${dir}/a.sock`);
      // ARP still crosses the partition: a's VIP guard answers b's GARPs with a burst each.
      const answers = st.instances[0].counters.vipClaimAnswers ?? 0;
      assert.equal(
        beforeHeal.length,
        5 + 5 * answers,
        `a's takeover burst and ${answers} guard answers: ${beforeHeal.length} GARPs`,
      );
      assert.equal(afterHeal.length, 5, `after the heal: ${afterHeal.length} GARPs from a`);
      const logLine = logged(ha, /dual master over/)[0];
      assert.equal(logLine.level, "notice");
      assert.equal(st.instances[0].counters.reannouncements, 1);
      assert.deepEqual(st.instances[0].foreignSenders, [], "same settings: no foreign sender");
      console.log(
        `  healed: b backup ${(down.atMs - healAt).toFixed(0)} ms after the heal; ` +
          `a re-announced ${(Math.min(...afterHeal) - healAt).toFixed(0)} ms after it ` +
          `(${afterHeal.length} GARPs); ${logLine.msg}`,
      );
    }),
);

netnsTest("split brain: no namespace of this run is left behind", async () => {
  assert.deepEqual(await leftoverNamespaces(), []);
});

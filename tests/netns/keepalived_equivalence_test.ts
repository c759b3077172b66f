/**
 * keepalived.conf equivalence on the wire (issue 13): for each VRRP file of the corpus,
 * keepalived 2.2.7 running the original and hacore running the import (and, where the
 * file is VRRP-only, the original itself) on one namespace LAN agree on the master, on
 * the VIPs it holds, and on every field of the adverts; then each takes over from the
 * other, after an orderly stop (SIGTERM) and after a crash (kill -9 and a pulled cable).
 *
 * The LAN: a bridge and two nodes, n1 (192.0.2.211) and n2 (192.0.2.212), each with an
 * `eth0` (the interface the files name). n1 runs the file with the first config id of
 * its entry, n2 with the second. Round one puts keepalived on n1 and hacore on n2;
 * round two swaps them, so each implementation is master on each node at some point.
 * The master predicted follows keepalived's rules: the higher priority wins and
 * preempts; at equal priority whoever is master stays (a backup does not preempt an
 * equal), so the predicted master is started first and the other joins it.
 *
 * The adverts are captured on both bridge ports (a unicast advert between the nodes
 * never reaches the bridge device itself) and decoded by tshark; for each VRID and
 * sending node, the set of adverts hacore sent equals the set keepalived sent, field for
 * field (version, type, VRID, count and list of addresses, auth type and data,
 * advert interval, checksum verdict, TTL, destination) and byte for byte (the VRRP
 * message with its priority and checksum masked: auth padding and reserved bits too),
 * the priority apart: each node's is the one its config id gives, or 0 when it stops.
 * TTL 255, a good checksum and the destination (the group, or the configured unicast
 * peer) are also checked as such, so two equally wrong adverts cannot pass.
 *
 * Run: vrrp_equiv_v2.conf and vrrp_equiv_unicast_v3.conf (written for this test: 1 s
 * and 200 ms adverts, priorities per `@id` line and `$PARAM`), mixed_include.conf
 * (includes, conditionals, parameters, ~SEQ), vrrp_basic.conf (a sync group across
 * eth0 and eth1: a second segment is built for eth1; no haproxy runs, since keepalived
 * drops a weighted track_script of a sync-group member altogether), warnings.conf
 * (auth_pass truncated, advert_int 1.5 rounded to 2), strict_auth.conf and
 * bad_include.conf; the last four have no `@id` lines, so both nodes run the same
 * priority.
 *
 * Not run, and why:
 * - vrrp_unicast_v3.conf: one fixed `unicast_src_ip` with no `@id` lines, so two nodes
 *   cannot both run it; vrrp_equiv_unicast_v3.conf covers unicast v3 per config id.
 * - refused_static.conf: hacore refuses it (static_ipaddress), by design.
 * - lvs_only.conf, lvs_fwmark_protocol.conf: no VRRP. bad_*.conf but bad_include.conf:
 *   keepalived rejects them.
 * - mixed_include.conf and warnings.conf run with their LVS sections stripped from the
 *   import, and not directly: `hacore run` on the original would program IPVS, which
 *   this host's kernel lacks (keepalived runs with -P, VRRP only).
 *
 * EQUIV_DEBUG=1 prints both daemons' output and the advert shapes compared;
 * EQUIV_BOTH_KA=1 runs keepalived in hacore's place too, to check what this test
 * predicts against keepalived alone (the adverts are then held against keepalived's own).
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseKeepalived } from "../../lib/config/keepalived/mod.ts";
import { writeToml } from "../../lib/config/keepalived/toml.ts";
import type { InstanceConfig, Vip } from "../../lib/config/schema.ts";
import { pollUntil } from "../../lib/lab/proc.ts";
import { leftoverNamespaces, netnsTest, run } from "./helpers.ts";
import { ipIn } from "../../lib/lab/host.ts";
import { bareAddress, type Lan } from "../../lib/lab/topology.ts";
import {
  buildLan,
  type Capture,
  hacoreFromToml,
  type HacoreProc,
  hasAddress,
  type KeepalivedPeer,
  LAN_IFACE,
  type LanMember,
  masterDownIntervalMs,
  type PeerLab,
  peerTest,
  skewTimeMs,
  sleep,
  startCapture,
  startHacore,
  startKeepalivedFile,
  wallMs,
  withPeerLab,
} from "./peers.ts";

const DIR = new URL("../fixtures/keepalived/", import.meta.url).pathname;
/** Away from the corpus's VIPs (mixed_include.conf's run 192.0.2.10-12). */
const NODES = [{ name: "n1", address: "192.0.2.211/24" }, {
  name: "n2",
  address: "192.0.2.212/24",
}];
/** Process start plus a VRRPv2 Master_Down_Interval, with room for a loaded machine. */
const START_MS = 20_000;
/** Slack for scheduling and polling on a loaded machine. */
const MARGIN_MS = 1500;

/** One corpus file run on the wire. */
interface WireFile {
  readonly file: string;
  /** The config ids of n1 and n2 (the same twice where the file has no `@id` lines). */
  readonly ids: readonly [string, string];
  /** Whether hacore also runs the original file (false where it has LVS sections). */
  readonly direct: boolean;
  /** A second segment on eth1 (10.0.0.0/24) for instances there. */
  readonly eth1?: boolean;
}

const FILES: readonly WireFile[] = [
  { file: "vrrp_equiv_v2.conf", ids: ["lb-a", "lb-b"], direct: true },
  { file: "vrrp_equiv_unicast_v3.conf", ids: ["lb-a", "lb-b"], direct: true },
  { file: "mixed_include.conf", ids: ["lb-a", "lb-b"], direct: false },
  { file: "warnings.conf", ids: ["lb-a", "lb-a"], direct: false },
  { file: "strict_auth.conf", ids: ["lb-a", "lb-a"], direct: true },
  { file: "bad_include.conf", ids: ["lb-a", "lb-a"], direct: true },
  { file: "vrrp_basic.conf", ids: ["lb-a", "lb-a"], direct: true, eth1: true },
];

/** n1's and n2's addresses on the eth1 segment. */
const ETH1 = ["10.0.0.211/24", "10.0.0.212/24"];

/** The instances `file` gives config id `id`, read by hacore's reader. */
function instancesFor(file: string, id: string): readonly InstanceConfig[] {
  const r = parseKeepalived(Deno.readTextFileSync(`${DIR}${file}`), `${DIR}${file}`, {
    configId: id,
  });
  if (!r.ok) throw new Error(`${file} (${id}): ${r.errors.map((e) => e.message).join("; ")}`);
  return r.config.instances;
}

/** The import as `hacore import` writes it, without the LVS sections (no IPVS here). */
function importVrrpOnly(file: string, id: string): string {
  const path = `${DIR}${file}`;
  const r = parseKeepalived(Deno.readTextFileSync(path), path, { configId: id });
  if (!r.ok) throw new Error(`${file} (${id}): ${r.errors.map((e) => e.message).join("; ")}`);
  const doc = { ...r.doc };
  delete doc.virtual_server;
  delete doc.virtual_server_group;
  return writeToml(doc, r.locs, path, r.warnings);
}

/** A VRRP daemon on one node, whichever implementation. */
interface Daemon {
  readonly impl: "keepalived" | "hacore";
  /** SIGTERM and wait for the exit: priority 0 sent, VIPs removed. */
  stop(): Promise<void>;
  /** kill -9: nothing sent, the VIPs stay. */
  crash(): Promise<void>;
}

type HacoreMode = "import" | "direct";

interface NodeRun {
  readonly member: LanMember;
  /** Its address (no prefix) on each of its interfaces. */
  readonly addresses: Readonly<Record<string, string>>;
  readonly id: string;
  readonly instances: readonly InstanceConfig[];
  start(): Promise<Daemon>;
}

async function startKa(
  lab: PeerLab,
  dir: string,
  member: LanMember,
  file: string,
  id: string,
): Promise<Daemon> {
  const ka: KeepalivedPeer = await startKeepalivedFile(
    lab,
    dir,
    member.ns,
    `ka-${member.name}`,
    `${DIR}${file}`,
    { configId: id },
  );
  if (Deno.env.get("EQUIV_DEBUG")) {
    for (const l of ka.proc.lines) console.log(`ka-${member.name}: ${l.text}`);
    ka.proc.onLine((l) => console.log(`ka-${member.name}: ${l.text}`));
  }
  return { impl: "keepalived", stop: () => ka.stop(), crash: () => ka.crash() };
}

async function startHc(
  lab: PeerLab,
  dir: string,
  member: LanMember,
  file: string,
  id: string,
  mode: HacoreMode,
): Promise<Daemon> {
  if (Deno.env.get("EQUIV_BOTH_KA")) return startKa(lab, dir, member, file, id);
  const name = `hc-${member.name}`;
  let h: HacoreProc;
  if (mode === "import") {
    h = await hacoreFromToml(lab, dir, member.ns, name, importVrrpOnly(file, id));
  } else {
    h = startHacore(lab, member.ns, `${DIR}${file}`, {
      name,
      pidFile: `${dir}/${name}.pid`,
      controlSocket: `${dir}/${name}.sock`,
      extraArgs: ["--config-id", id],
    });
  }
  if (Deno.env.get("EQUIV_DEBUG")) h.proc.onLine((l) => console.log(`${name}: ${l.text}`));
  await h.waitState("BACKUP", START_MS);
  const exited = async (sig: Deno.Signal) => {
    try {
      h.proc.child.kill(sig);
    } catch {
      // exited already
    }
    await h.proc.exited(5000);
  };
  return { impl: "hacore", stop: () => exited("SIGTERM"), crash: () => exited("SIGKILL") };
}

/** Every VIP of `instances`. */
function vipsOf(instances: readonly InstanceConfig[]): Vip[] {
  return instances.flatMap((i) => i.vips);
}

/** How many of `vips` `member` holds, each on its own interface. */
async function held(member: LanMember, vips: readonly Vip[]): Promise<number> {
  let n = 0;
  for (const v of vips) if (await hasAddress(member.ns, v.dev, v.address)) n++;
  return n;
}

/** Waits until `master` holds every VIP and `others` none; returns when it was seen. */
async function waitMaster(
  master: LanMember,
  others: readonly LanMember[],
  vips: readonly Vip[],
  timeoutMs: number,
  what: string,
): Promise<number> {
  return await pollUntil(
    async () => {
      if ((await held(master, vips)) !== vips.length) return null;
      for (const o of others) if ((await held(o, vips)) !== 0) return null;
      return wallMs();
    },
    timeoutMs,
    `${master.name} alone to hold ${vips.map((v) => v.address).join(", ")} (${what})`,
    20,
  );
}

/**
 * The predicted master: the higher priority of the first instance; at equal priority
 * the one started first, which is n2 here.
 */
function predictedMaster(runs: readonly NodeRun[]): { master: NodeRun; backup: NodeRun } {
  const [a, b] = runs;
  return a.instances[0].priority > b.instances[0].priority
    ? { master: a, backup: b }
    : { master: b, backup: a };
}

/** One round: start both, check the master, SIGTERM it, restart, crash the master. */
async function round(
  cut: (m: LanMember) => Promise<void>,
  plug: (m: LanMember) => Promise<void>,
  runs: readonly NodeRun[],
  log: string[],
): Promise<void> {
  const vips = vipsOf(runs[0].instances);
  const advMs = runs[0].instances[0].advertIntervalMs;
  const { master, backup } = predictedMaster(runs);
  const daemons = new Map<NodeRun, Daemon>();
  const d = (r: NodeRun) => daemons.get(r)!;
  const label = (r: NodeRun) => `${d(r).impl} on ${r.member.name} (${r.id})`;

  // The predicted master first: at equal priority the first one up keeps the role (a
  // backup never preempts an equal), so the order decides there.
  daemons.set(master, await master.start());
  await waitMaster(master.member, [backup.member], vips, START_MS, "alone");
  daemons.set(backup, await backup.start());
  // Several adverts later nothing has changed.
  await sleep(3 * advMs);
  await waitMaster(master.member, [backup.member], vips, 10, "still");
  log.push(`${label(master)} master over ${label(backup)}`);

  // Orderly stop: the backup takes over at once (priority 0: Skew_Time).
  let t = wallMs();
  await d(master).stop();
  let at = await waitMaster(backup.member, [master.member], vips, START_MS, "after SIGTERM");
  assert.ok(at - t <= advMs + MARGIN_MS, `${label(backup)} took ${at - t} ms after a SIGTERM`);
  log.push(`SIGTERM ${label(master)} -> ${label(backup)} master in ${(at - t).toFixed(0)} ms`);

  // Back: it preempts if its priority is higher; at equal priority the holder stays
  // (keepalived's `state MASTER` too starts as backup and does not preempt an equal).
  daemons.set(master, await master.start());
  const preempts = master.instances[0].priority > backup.instances[0].priority;
  const [cur, other] = preempts ? [master, backup] : [backup, master];
  if (preempts) {
    await waitMaster(master.member, [backup.member], vips, START_MS, "preempting");
  } else {
    await sleep(4 * advMs);
    await waitMaster(backup.member, [master.member], vips, 10, "equal priority: no preemption");
  }
  log.push(`${label(master)} restarted: ${label(cur)} master`);

  // Crash and a pulled cable: the other takes over after its Master_Down_Interval.
  t = wallMs();
  await d(cur).crash();
  await cut(cur.member);
  const inst = other.instances[0];
  const mdi = masterDownIntervalMs(inst.version, inst.priority, advMs);
  at = await pollUntil(
    async () => (await held(other.member, vips)) === vips.length ? wallMs() : null,
    START_MS,
    `${other.member.name} to take over after the crash`,
    20,
  );
  assert.ok(at - t <= mdi + MARGIN_MS, `${label(other)} took ${at - t} ms; MDI ${mdi}`);
  log.push(`kill -9 + cable ${label(cur)} -> ${label(other)} master in ${(at - t).toFixed(0)} ms`);

  await d(other).stop();
  await plug(cur.member);
  // The crashed daemon left its VIPs behind; the next round starts clean.
  for (const vip of cur.instances.flatMap((i) => i.vips)) {
    const cidr = `${vip.address}/${vip.prefix}`;
    await run("ip", ["-n", cur.member.ns, "addr", "del", cidr, "dev", vip.dev]);
  }
  assert.equal(await held(cur.member, vips), 0, "the crashed node's VIPs removed");
}

const FIELDS = [
  "frame.time_epoch",
  "ip.src",
  "ip.dst",
  "ip.ttl",
  "vrrp.version",
  "vrrp.type",
  "vrrp.virt_rtr_id",
  "vrrp.prio",
  "vrrp.addr_count",
  "vrrp.auth_type",
  "vrrp.auth_string",
  "vrrp.adver_int",
  "vrrp.short_adver_int",
  "vrrp.checksum.status",
  "vrrp.ip_addr",
];

/** One captured advert: who sent it, when, and its fields by tshark name. */
interface Advert {
  readonly atMs: number;
  readonly src: string;
  readonly vrid: string;
  readonly prio: number;
  readonly fields: Readonly<Record<string, string>>;
}

/**
 * The VRRP message's bytes in hex, priority and checksum masked (they differ by design):
 * every other byte, the auth data's padding and the reserved bits included, must match.
 */
async function rawMessages(cap: Capture): Promise<string[]> {
  type Frame = { _source: { layers: { vrrp_raw?: [string, ...unknown[]] } } };
  const frames = JSON.parse(await cap.read("-Y", "vrrp", "-T", "json", "-x")) as Frame[];
  return frames.map((f) => {
    const hex = f._source.layers.vrrp_raw?.[0] ?? "";
    return `${hex.slice(0, 4)}pp${hex.slice(6, 12)}cccc${hex.slice(16)}`;
  });
}

async function readAdverts(cap: Capture): Promise<Advert[]> {
  const text = await cap.read(
    "-Y",
    "vrrp",
    "-T",
    "fields",
    "-E",
    "separator=/t",
    "-E",
    "aggregator=,",
    ...FIELDS.flatMap((f) => ["-e", f]),
  );
  const lines = text.split("\n").filter((l) => l !== "");
  const raw = await rawMessages(cap);
  assert.equal(raw.length, lines.length, "tshark's two readings of the capture disagree");
  return lines.map((l, n) => {
    const v = l.split("\t");
    const fields: Record<string, string> = {};
    FIELDS.forEach((f, i) => (fields[f] = v[i] ?? ""));
    fields.raw = raw[n];
    return {
      atMs: Number(fields["frame.time_epoch"]) * 1000,
      src: fields["ip.src"],
      vrid: fields["vrrp.virt_rtr_id"],
      prio: Number(fields["vrrp.prio"]),
      fields,
    };
  });
}

/** What must be equal between two implementations' adverts: all but time, source, priority. */
function shape(a: Advert): string {
  return [...FIELDS, "raw"].filter((f) => !["frame.time_epoch", "ip.src", "vrrp.prio"].includes(f))
    .map((f) => `${f}=${a.fields[f]}`).join(" ");
}

/** The implementation on `node` at `atMs`, per the rounds' schedule. */
interface Span {
  readonly fromMs: number;
  readonly toMs: number;
  readonly impl: Readonly<Record<string, "keepalived" | "hacore">>;
}

function compareAdverts(adverts: readonly Advert[], spans: readonly Span[], runs: NodeRun[]) {
  // key: vrid|src -> impl -> shapes
  const seen = new Map<string, Map<string, Set<string>>>();
  const prios = new Map<string, Set<number>>();
  for (const a of adverts) {
    const span = spans.find((s) => a.atMs >= s.fromMs && a.atMs <= s.toMs);
    const impl = span?.impl[a.src];
    if (impl === undefined) continue;
    const key = `VRID ${a.vrid} from ${a.src}`;
    const byImpl = seen.get(key) ?? new Map<string, Set<string>>();
    seen.set(key, byImpl);
    const shapes = byImpl.get(impl) ?? new Set<string>();
    byImpl.set(impl, shapes);
    shapes.add(shape(a));
    const pk = `${key} by ${impl}`;
    prios.set(pk, (prios.get(pk) ?? new Set()).add(a.prio));
  }
  for (const r of runs) {
    for (const i of r.instances) {
      const key = `VRID ${i.vrid} from ${r.addresses[i.interface]}`;
      const byImpl = seen.get(key);
      assert.ok(byImpl !== undefined, `no advert ${key}`);
      const ka = [...(byImpl.get("keepalived") ?? [])].sort();
      const hc = [...(byImpl.get("hacore") ?? [])].sort();
      assert.ok(ka.length > 0, `no keepalived advert ${key}`);
      if (Deno.env.get("EQUIV_DEBUG")) console.log(key, ka, hc);
      const dsts = i.unicastPeers.length > 0 ? i.unicastPeers : ["224.0.0.18"];
      for (const s of ka) {
        // Absolutes too, so that two equally wrong adverts do not pass.
        assert.match(s, /ip\.ttl=255 /, `TTL ${key}`);
        assert.match(s, /vrrp\.checksum\.status=1 /, `checksum ${key}`);
        assert.ok(dsts.some((d) => s.startsWith(`ip.dst=${d} `)), `destination ${key}: ${s}`);
      }
      assert.deepEqual(hc, ka, `hacore's adverts ${key} differ from keepalived's`);
      for (const impl of ["keepalived", "hacore"]) {
        const p = [...(prios.get(`${key} by ${impl}`) ?? [])].filter((x) => x !== 0);
        assert.deepEqual(p, [i.priority], `${impl}'s priorities ${key}`);
      }
    }
  }
  // Each implementation was stopped in order once as master: a priority-0 advert each.
  for (const impl of ["keepalived", "hacore"]) {
    const zero = [...prios.entries()].some(([k, p]) => k.endsWith(impl) && p.has(0));
    assert.ok(zero, `no priority-0 advert from ${impl} after its SIGTERM`);
  }
}

/** A second segment: a bridge `br1` beside br0, and an `eth1` in each node on it. */
async function addEth1(lan: Lan): Promise<string[]> {
  const ports: string[] = [];
  await ipIn(lan.bridgeNs, "link", "add", "br1", "type", "bridge", "mcast_snooping", "0");
  await ipIn(lan.bridgeNs, "link", "set", "br1", "up");
  for (const [n, m] of lan.nodes.entries()) {
    const port = `q${n + 1}`;
    await ipIn(
      lan.bridgeNs,
      "link",
      "add",
      port,
      "type",
      "veth",
      "peer",
      "name",
      "eth1",
      "netns",
      m.ns,
    );
    await ipIn(lan.bridgeNs, "link", "set", port, "master", "br1");
    await ipIn(lan.bridgeNs, "link", "set", port, "up");
    await ipIn(m.ns, "addr", "add", ETH1[n], "dev", "eth1");
    await ipIn(m.ns, "link", "set", "eth1", "up");
    ports.push(port);
  }
  return ports;
}

/** Capture timestamps are exact; this is for the receiver's scheduling on a busy host. */
const RELEASE_SLACK_MS = 400;

/**
 * After the first priority-0 advert of a VRID in a round (the master's orderly stop),
 * the other node's first advert as master comes within its Skew_Time, whichever
 * implementation receives it: the time is read off the capture, not off the stopping
 * process's exit. (A round's last stop has no one left to take over.)
 */
function checkReleases(adverts: readonly Advert[], spans: readonly Span[], runs: NodeRun[]) {
  const out: string[] = [];
  const sorted = [...adverts].sort((a, b) => a.atMs - b.atMs);
  for (const span of spans) {
    const inSpan = sorted.filter((a) => a.atMs >= span.fromMs && a.atMs <= span.toMs);
    const seen = new Set<string>();
    for (const zero of inSpan.filter((a) => a.prio === 0)) {
      if (seen.has(zero.vrid)) continue;
      seen.add(zero.vrid);
      const taker = runs.flatMap((r) =>
        r.instances.filter((i) => String(i.vrid) === zero.vrid)
          .map((i) => ({ i, src: r.addresses[i.interface] }))
      ).find((x) => x.src !== zero.src);
      assert.ok(taker !== undefined, `no other node for VRID ${zero.vrid}`);
      const next = inSpan.find((a) =>
        a.atMs > zero.atMs && a.vrid === zero.vrid && a.src === taker.src && a.prio > 0
      );
      const who = `${span.impl[taker.src]} (VRID ${zero.vrid})`;
      assert.ok(next !== undefined, `${who} never took over after the priority-0 advert`);
      const skew = skewTimeMs(taker.i.version, taker.i.priority, taker.i.advertIntervalMs);
      const ms = next.atMs - zero.atMs;
      assert.ok(ms <= skew + RELEASE_SLACK_MS, `${who}: ${ms.toFixed(0)} ms; Skew_Time ${skew}`);
      out.push(`priority 0 -> ${who} master in ${ms.toFixed(0)} ms (Skew_Time ${skew.toFixed(0)})`);
    }
  }
  return out;
}

async function equivalence(w: WireFile, mode: HacoreMode): Promise<string[]> {
  return await withPeerLab(async (lab) => {
    const lan = await buildLan(lab, { nodes: NODES });
    const dir = await lab.tempDir();
    const eth1Ports = w.eth1 ? await addEth1(lan) : [];
    const addresses = lan.nodes.map((m, n) => ({
      [LAN_IFACE]: bareAddress(m.address),
      ...(w.eth1 ? { eth1: bareAddress(ETH1[n]) } : {}),
    }));
    // A pulled cable pulls every cable of the machine.
    const ports = (m: LanMember) => [m.port, ...(w.eth1 ? [eth1Ports[lan.nodes.indexOf(m)]] : [])];
    const cut = async (m: LanMember) => {
      for (const p of ports(m)) await ipIn(lan.bridgeNs, "link", "set", p, "down");
    };
    const plug = async (m: LanMember) => {
      for (const p of ports(m)) await ipIn(lan.bridgeNs, "link", "set", p, "up");
    };
    const caps: { cap: Capture; own: Set<string> }[] = [];
    for (const [n, m] of lan.nodes.entries()) {
      for (const port of ports(m)) {
        const cap = await startCapture(lab, dir, lan.bridgeNs, port, "ip proto 112");
        caps.push({ cap, own: new Set(Object.values(addresses[n])) });
      }
    }
    const log: string[] = [];
    const spans: Span[] = [];
    let allRuns: NodeRun[] = [];
    for (const kaFirst of [true, false]) {
      const isKa = (n: number) => (n === 0) === kaFirst;
      const runs: NodeRun[] = lan.nodes.map((member, n) => {
        const id = w.ids[n];
        return {
          member,
          addresses: addresses[n],
          id,
          instances: instancesFor(w.file, id),
          start: () =>
            isKa(n)
              ? startKa(lab, dir, member, w.file, id)
              : startHc(lab, dir, member, w.file, id, mode),
        };
      });
      allRuns = runs;
      const impl: Record<string, "keepalived" | "hacore"> = {};
      addresses.forEach((a, n) => {
        for (const addr of Object.values(a)) impl[addr] = isKa(n) ? "keepalived" : "hacore";
      });
      const fromMs = wallMs();
      await round(cut, plug, runs, log);
      spans.push({ fromMs, toMs: wallMs(), impl });
    }
    await sleep(200);
    const adverts: Advert[] = [];
    for (const { cap, own } of caps) {
      await cap.stop();
      adverts.push(...(await readAdverts(cap)).filter((a) => own.has(a.src)));
    }
    compareAdverts(adverts, spans, allRuns);
    log.push(...checkReleases(adverts, spans, allRuns));
    log.push(`${adverts.length} adverts compared`);
    return log;
  });
}

for (const w of FILES) {
  for (const mode of ["import", "direct"] as const) {
    if (mode === "direct" && !w.direct) continue;
    const how = mode === "import" ? "the import" : "the original";
    peerTest(
      `${w.file}: keepalived and hacore (${how}) agree on the master, the VIPs and the adverts, and take over from each other`,
      ["keepalived", "dumpcap", "tshark"],
      async () => {
        for (const l of await equivalence(w, mode)) console.log(`  ${l}`);
      },
    );
  }
}

// Last in the file: Deno runs a file's tests in order.
netnsTest("no namespace of this run is left behind", async () => {
  assert.deepEqual(await leftoverNamespaces(), []);
});

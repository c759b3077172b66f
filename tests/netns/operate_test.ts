/**
 * Operating hacore for real: `hacore run` in namespaces on a bridge, driven the way an
 * operator drives it (SIGHUP, `hacore reload`, `hacore demote`, a pulled cable, systemd's
 * notify socket, a Prometheus scrape), judged only by what can be observed from outside
 * the daemon: `ip addr` in each namespace, what a client connecting to the VIPs saw,
 * the daemon's log lines, what hooks wrote, datagrams on a notify socket, and HTTP.
 *
 * - reload under traffic: a reload that touches one instance must not disturb the
 *   others, not even for one 10 ms connect;
 * - an invalid reload changes nothing, loudly, and the daemon lives on;
 * - notify hooks run in transition order with keepalived's arguments, their results
 *   are shown, and an insecure hook is refused (and shown);
 * - systemd notify (READY, RELOADING + MONOTONIC_USEC, WATCHDOG, STOPPING) reaches a
 *   real AF_UNIX datagram socket from a real daemon;
 * - metrics are served inside the node's namespace and parse under two parsers;
 * - `hacore check --diff FILE` shows what the next reload would change, against the
 *   daemon's running config, and changes nothing itself.
 *
 * Needs root and iproute2 (each test skips with a printed reason otherwise). VRRPv3 at
 * 100 ms keeps the whole file well under a minute.
 */

import assert from "node:assert/strict";
import { checkScript } from "../../lib/sys/script_security.ts";
import { logMessage } from "../../lib/lab/hacore.ts";
import type { NetnsHost } from "../../lib/lab/host.ts";
import type { Line } from "../../lib/lab/proc.ts";
import {
  AF_UNIX,
  bindSocket,
  clockMonotonicUsec,
  closeFd,
  openSocket,
  recvFrom,
  SOCK_DGRAM,
  sockaddrUn,
} from "../../lib/sys/libc.ts";
import { hasCommand, run } from "./helpers.ts";
import { parseBoth, value } from "../unit/prometheus.ts";
import {
  addressWatcher,
  buildLan,
  type HacoreProc,
  hasAddress,
  LAN_IFACE,
  type LanMember,
  only,
  type PeerLab,
  peerTest,
  type Probe,
  sleep,
  startHacore,
  startProbe,
  startTcpService,
  summarizeProbe,
  waitForHolders,
  wallMs,
  withPeerLab,
} from "./peers.ts";

// ---------------------------------------------------------------------------------------
// Lab plumbing
// ---------------------------------------------------------------------------------------

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
/** Deno start, config load and the first Master_Down_Interval, on a busy 2-core box. */
const START_MS = 10_000;
/** A state change driven by the test (cut, plug, demote) lands within a few adverts. */
const MOVE_MS = 3000;

/** One `[vrrp_instance.NAME]` of a generated config. */
interface InstanceSpec {
  readonly name: string;
  readonly vrid: number;
  readonly priority: number;
  readonly vips: readonly string[];
  readonly excluded?: readonly string[];
  /** Extra keys written as is (`notify_master = "..."`), values TOML-quoted. */
  readonly keys?: Readonly<Record<string, string>>;
}

const q = (s: string) => JSON.stringify(s);

/**
 * A config of several VRRPv3 instances at 100 ms on eth0. `global` adds keys to
 * `[global]` (values TOML-quoted). Every instance line is written the same way on
 * every node, so two nodes' files differ only where a test says so.
 */
function configToml(
  routerId: string,
  instances: readonly InstanceSpec[],
  global: Readonly<Record<string, string>> = {},
): string {
  const lines = ["[global]", `router_id = ${q(routerId)}`];
  for (const [k, v] of Object.entries(global)) lines.push(`${k} = ${q(v)}`);
  for (const i of instances) {
    lines.push(
      "",
      `[vrrp_instance.${i.name}]`,
      `interface = ${q(LAN_IFACE)}`,
      `virtual_router_id = ${i.vrid}`,
      "version = 3",
      `priority = ${i.priority}`,
      "advert_int = 0.1",
      `virtual_ipaddress = [${i.vips.map(q).join(", ")}]`,
    );
    if (i.excluded) lines.push(`virtual_ipaddress_excluded = [${i.excluded.map(q).join(", ")}]`);
    for (const [k, v] of Object.entries(i.keys ?? {})) lines.push(`${k} = ${q(v)}`);
  }
  return `${lines.join("\n")}\n`;
}

/** A running node: its namespace, config file, control socket and daemon. */
interface Node {
  readonly name: string;
  readonly member: LanMember;
  readonly file: string;
  readonly socket: string;
  readonly hacore: HacoreProc;
}

/**
 * Writes `toml` to `DIR/NAME.toml` and starts `hacore run` on it in the member's
 * namespace, with its pid file and control socket in `dir`. With `env`, the daemon is
 * started through `env K=V ...` (it execs in place, so the pid stays the daemon's):
 * how systemd's NOTIFY_SOCKET reaches it, without changing the lab's spawn helper.
 */
async function startNode(
  lab: PeerLab,
  dir: string,
  member: LanMember,
  toml: string,
  env: Readonly<Record<string, string>> = {},
): Promise<Node> {
  const file = `${dir}/${member.name}.toml`;
  await Deno.writeTextFile(file, toml);
  const socket = `${dir}/${member.name}.sock`;
  const pairs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const host: NetnsHost = pairs.length === 0 ? lab : {
    netns: () => lab.netns(),
    spawn: (ns, cmd, ...args) => lab.spawn(ns, "env", ...pairs, cmd, ...args),
  };
  const hacore = startHacore(host, member.ns, file, {
    name: member.name,
    pidFile: `${dir}/${member.name}.pid`,
    controlSocket: socket,
  });
  return { name: member.name, member, file, socket, hacore };
}

/** Waits for the control socket to exist (it is bound right after the daemon's start). */
async function waitForSocket(path: string): Promise<void> {
  const deadline = wallMs() + START_MS;
  for (;;) {
    try {
      if ((await Deno.lstat(path)).isSocket) return;
    } catch {
      // not yet
    }
    if (wallMs() > deadline) throw new Error(`no control socket at ${path}`);
    await sleep(20);
  }
}

/** The daemon's log message of a line (JSON log), level included. */
function msgOf(l: Line): { msg: string; level: string | null } {
  return logMessage(l.text);
}

/**
 * The first log line from index `from` on whose message matches `re`; throws after
 * `timeoutMs` (with the log's tail).
 */
function waitLog(h: HacoreProc, re: RegExp, timeoutMs: number, from = 0): Promise<Line> {
  return h.proc.waitLine(
    (l) => h.proc.lines.indexOf(l) >= from && re.test(msgOf(l).msg),
    timeoutMs,
    `a log line matching ${re}`,
  );
}

/** Every log message of `h` from line `from` on. */
function messages(h: HacoreProc, from = 0): string[] {
  return h.proc.lines.slice(from).map((l) => msgOf(l).msg);
}

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The real `hacore` CLI as a separate process in the root namespace, as an operator runs it. */
async function cli(...args: string[]): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { LANG: "C.UTF-8", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function cliOk(...args: string[]): Promise<string> {
  const r = await cli(...args);
  assert.equal(r.code, 0, `hacore ${args.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `hacore status --json` of a node, parsed. */
async function statusJson(n: Node): Promise<StatusJson> {
  return JSON.parse(await cliOk("status", "--socket", n.socket, "--json")) as StatusJson;
}

interface StatusJson {
  phase: string;
  instances: {
    name: string;
    state: string;
    priority: { base: number; effective: number };
    vips: { address: string; held: boolean; excluded: boolean }[];
  }[];
}

interface HookRunJson {
  hook: string;
  name: string;
  state: string;
  command: string;
  durationMs: number;
  exitCode: number | null;
  timedOut: boolean;
  error: string | null;
}

/** Sends `sig` to the daemon (the spawned pid is the daemon's own). */
function signal(n: Node, sig: Deno.Signal): void {
  n.hacore.proc.child.kill(sig);
}

const vipOf = (v: string) => v.split("/")[0];

/** Watchers for `vip` on each node, named after the node. */
const watchersFor = (nodes: readonly Node[], vip: string) =>
  nodes.map((n) => addressWatcher(n.name, n.member.ns, LAN_IFACE, vipOf(vip)));

// ---------------------------------------------------------------------------------------
// 1. Hitless reload under traffic
// ---------------------------------------------------------------------------------------

const RELOAD_VIPS = { 51: "192.0.2.101/24", 52: "192.0.2.102/24", 53: "192.0.2.103/24" };
const ADDED_VIP = "192.0.2.111/24";
const EXCLUDED_VIP = "192.0.2.121/24";

/** Instances VI_51..VI_53 at one priority; `vi51` overrides parts of VI_51. */
function threeInstances(
  routerId: string,
  priority: number,
  vi51: Partial<InstanceSpec> = {},
): string {
  return configToml(routerId, [
    { name: "VI_51", vrid: 51, priority, vips: [RELOAD_VIPS[51]], ...vi51 },
    { name: "VI_52", vrid: 52, priority, vips: [RELOAD_VIPS[52]] },
    { name: "VI_53", vrid: 53, priority, vips: [RELOAD_VIPS[53]] },
  ]);
}

peerTest(
  "operate: a reload under traffic changes only instance 51 (a VIP and its priority, by SIGHUP, then an excluded VIP by hacore reload); 52 and 53 keep their state and every connect",
  [],
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, {
        nodes: [{ name: "a", address: "192.0.2.11/24" }, { name: "b", address: "192.0.2.12/24" }],
        client: { name: "client", address: "192.0.2.50/24" },
      });
      const dir = await lab.tempDir();
      await Promise.all(lan.nodes.map((m) => startTcpService(lab, m.ns, m.name)));
      // a alone first, so it is master of all three before b exists: who wins is no race.
      const a = await startNode(lab, dir, lan.nodes[0], threeInstances("a", 150));
      for (const vi of ["VI_51", "VI_52", "VI_53"]) {
        await a.hacore.waitState("MASTER", START_MS, { instance: vi });
      }
      const b = await startNode(lab, dir, lan.nodes[1], threeInstances("b", 100));
      for (const vi of ["VI_51", "VI_52", "VI_53"]) {
        await b.hacore.waitState("BACKUP", START_MS, { instance: vi });
      }
      const nodes = [a, b];
      for (const vip of Object.values(RELOAD_VIPS)) {
        await waitForHolders(watchersFor(nodes, vip), only("a"), START_MS, `a alone on ${vip}`);
      }
      await Promise.all([waitForSocket(a.socket), waitForSocket(b.socket)]);

      const client = lan.client!;
      const probes: Probe[] = [
        await startProbe(lab, client.ns, vipOf(RELOAD_VIPS[52])),
        await startProbe(lab, client.ns, vipOf(RELOAD_VIPS[53])),
      ];
      for (const p of probes) {
        await p.waitFor((r) => r.ok && r.who === "a", MOVE_MS, "a first answer from a");
      }
      await sleep(300);

      // Step 1, SIGHUP. VRRP wants the same address list on every node (a peer drops
      // adverts whose list differs from its own, RFC 5798 §7.1), so b gets the added
      // VIP in the same instant, as config management would do it; a alone gets the
      // new priority. Neither file touches VI_52 or VI_53.
      const aFrom = a.hacore.transitions.length;
      const bFrom = b.hacore.transitions.length;
      const aLine = a.hacore.proc.lines.length;
      const bLine = b.hacore.proc.lines.length;
      const vips51 = [RELOAD_VIPS[51], ADDED_VIP];
      await Deno.writeTextFile(a.file, threeInstances("a", 150, { priority: 160, vips: vips51 }));
      await Deno.writeTextFile(b.file, threeInstances("b", 100, { vips: vips51 }));
      const tReload = wallMs();
      signal(a, "SIGHUP");
      signal(b, "SIGHUP");
      const [aDone, bDone] = await Promise.all([
        waitLog(a.hacore, /^reload: \S+: 2 changes applied$/, MOVE_MS, aLine),
        waitLog(b.hacore, /^reload: \S+: 1 change applied$/, MOVE_MS, bLine),
      ]);
      const aApplied = messages(a.hacore, aLine);
      assert.ok(aApplied.includes(`reload: VI_51: added ${ADDED_VIP}`), aApplied.join("\n"));
      assert.ok(aApplied.includes("reload: VI_51: priority 150 -> 160"), aApplied.join("\n"));
      assert.ok(messages(b.hacore, bLine).includes(`reload: VI_51: added ${ADDED_VIP}`));
      const appliedAt = (l: Line) => logMessage(l.text).tsMs ?? l.atMs;
      const gapMs = Math.abs(appliedAt(aDone) - appliedAt(bDone));
      for (const vip of vips51) {
        await waitForHolders(watchersFor(nodes, vip), only("a"), MOVE_MS, `a alone on ${vip}`);
      }
      const s1 = await statusJson(a);
      const vi51 = s1.instances.find((i) => i.name === "VI_51")!;
      assert.equal(vi51.state, "master");
      assert.deepStrictEqual(vi51.priority, { base: 160, effective: 160 });
      assert.deepStrictEqual(
        vi51.vips.map((v) => [v.address, v.held]),
        [["192.0.2.101", true], ["192.0.2.111", true]],
      );

      // Step 2, `hacore reload`: an excluded VIP (not in adverts, so b needs nothing)
      // and another priority. The command prints each change and exits 0.
      await Deno.writeTextFile(
        a.file,
        threeInstances("a", 150, { priority: 170, vips: vips51, excluded: [EXCLUDED_VIP] }),
      );
      const tCli = wallMs();
      const out = await cliOk("reload", "--socket", a.socket);
      const cliMs = wallMs() - tCli;
      assert.equal(
        out,
        `reload: applied 2 change(s)\n  VI_51: added excluded ${EXCLUDED_VIP}\n` +
          "  VI_51: priority 160 -> 170\n",
      );
      await waitForHolders(
        watchersFor(nodes, EXCLUDED_VIP),
        only("a"),
        MOVE_MS,
        `a alone on ${EXCLUDED_VIP}`,
      );
      // Several Master_Down_Intervals (about 360 ms for b) with nothing happening: a
      // reload that had upset an instance would show by now.
      await sleep(1000);
      const tEnd = wallMs();
      await Promise.all(probes.map((p) => p.stop()));

      const after = (h: HacoreProc, from: number) =>
        h.transitions.slice(from).map((t) => `${t.instance}: ${t.from} -> ${t.to} (${t.reason})`);
      assert.deepStrictEqual(after(a.hacore, aFrom), [], "no transition on a after the reloads");
      assert.deepStrictEqual(after(b.hacore, bFrom), [], "no transition on b after the reloads");
      const sa = await statusJson(a);
      const sb = await statusJson(b);
      assert.deepStrictEqual(sa.instances.map((i) => i.state), ["master", "master", "master"]);
      assert.deepStrictEqual(sb.instances.map((i) => i.state), ["backup", "backup", "backup"]);
      for (const vip of Object.values(RELOAD_VIPS)) {
        assert.ok(await hasAddress(a.member.ns, LAN_IFACE, vipOf(vip)), `a lost ${vip}`);
      }

      const summaries = probes.map((p) => summarizeProbe(p.results, tReload, tEnd));
      const whole = probes.map((p) => summarizeProbe(p.results, 0));
      console.log(
        `  reload under traffic: SIGHUP applied on a ${
          (appliedAt(aDone) - tReload).toFixed(0)
        } ms ` +
          `after the signal (b ${gapMs.toFixed(0)} ms apart), hacore reload ${
            cliMs.toFixed(0)
          } ms; ` +
          [52, 53].map((vrid, i) =>
            `.${vrid + 50}: ${summaries[i].failed}/${summaries[i].attempts} failed across the ` +
            `reloads (${whole[i].failed}/${whole[i].attempts} over the probe's life)`
          ).join(", "),
      );
      for (const [i, s] of summaries.entries()) {
        assert.equal(s.failed, 0, `probe ${i}: ${JSON.stringify(s.errors)}`);
        assert.equal(whole[i].failed, 0, `probe ${i}: ${JSON.stringify(whole[i].errors)}`);
        // 10 ms cadence over well over a second: a probe that stalled would prove nothing.
        assert.ok(s.attempts >= 100, `probe ${i} made only ${s.attempts} attempts`);
        assert.deepStrictEqual(s.answeredBy.map((x) => x.who), ["a"]);
      }
    }),
);

// ---------------------------------------------------------------------------------------
// 2. Invalid reload
// ---------------------------------------------------------------------------------------

peerTest(
  "operate: a broken config is refused by hacore reload (exit 1, file:line: key) and by SIGHUP (logged, nothing changed); instances, VIPs and the daemon carry on",
  [],
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, { nodes: [{ name: "a", address: "192.0.2.11/24" }] });
      const dir = await lab.tempDir();
      const instances: InstanceSpec[] = [
        { name: "VI_1", vrid: 51, priority: 150, vips: ["192.0.2.101/24"] },
        { name: "VI_2", vrid: 52, priority: 150, vips: ["192.0.2.102/24"] },
      ];
      const good = configToml("a", instances);
      const a = await startNode(lab, dir, lan.nodes[0], good);
      await a.hacore.waitState("MASTER", START_MS, { instance: "VI_1" });
      await a.hacore.waitState("MASTER", START_MS, { instance: "VI_2" });
      await waitForSocket(a.socket);
      const from = a.hacore.transitions.length;

      const bad = configToml("a", [instances[0], { ...instances[1], vrid: 300 }]);
      const line = bad.split("\n").indexOf("virtual_router_id = 300") + 1;
      const error = `${a.file}:${line}: vrrp_instance.VI_2.virtual_router_id: ` +
        "expected an integer in 1..255, got 300";
      await Deno.writeTextFile(a.file, bad);

      const r = await cli("reload", "--socket", a.socket);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(
        r.stderr,
        "hacore reload: refused, the running configuration is unchanged; 1 error(s):\n" +
          `  ${error}\n`,
      );

      const fromLine = a.hacore.proc.lines.length;
      signal(a, "SIGHUP");
      const refused = await waitLog(a.hacore, /nothing changed$/, MOVE_MS, fromLine);
      assert.equal(msgOf(refused).msg, `reload: 1 error(s) in ${a.file}; nothing changed`);
      assert.equal(msgOf(refused).level, "error");
      const logged = a.hacore.proc.lines.slice(fromLine).map(msgOf);
      assert.ok(
        logged.some((m) => m.msg === `reload: ${error}` && m.level === "error"),
        logged.map((m) => m.msg).join("\n"),
      );

      // Still running, still answering, nothing moved.
      await sleep(500);
      assert.equal(a.hacore.proc.status, null, "the daemon exited");
      const s = await statusJson(a);
      assert.equal(s.phase, "running");
      assert.deepStrictEqual(s.instances.map((i) => [i.name, i.state]), [
        ["VI_1", "master"],
        ["VI_2", "master"],
      ]);
      assert.deepStrictEqual(a.hacore.transitions.slice(from), []);
      for (const vip of ["192.0.2.101", "192.0.2.102"]) {
        assert.ok(await hasAddress(a.member.ns, LAN_IFACE, vip), `${vip} gone`);
      }
      assert.match(await cliOk("status", "--socket", a.socket), /^VI_2 +eth0 +52 +v3 +MASTER /m);

      // The file fixed again: the running config never changed, so nothing to apply.
      await Deno.writeTextFile(a.file, good);
      assert.equal(await cliOk("reload", "--socket", a.socket), "reload: applied, no changes\n");
    }),
);

// ---------------------------------------------------------------------------------------
// 3. Notify hooks
// ---------------------------------------------------------------------------------------

/** Prefix of the hook dirs; the pid lets a later run remove what a killed one left. */
const HOOK_DIR_PREFIX = `hacore-netns-hooks-`;

/** Why `dir` and every directory above it are not root's alone, or null. */
function notRootOnly(dir: string): string | null {
  for (let p = dir; p !== ""; p = p === "/" ? "" : p.slice(0, p.lastIndexOf("/")) || "/") {
    const st = Deno.statSync(p);
    if (st.uid !== 0) return `${p} is owned by uid ${st.uid}`;
    if ((st.mode ?? 0) & 0o022) return `${p} is writable by others (mode ${st.mode?.toString(8)})`;
  }
  return null;
}

/**
 * Where hook scripts can live honestly: script security refuses anything under a
 * directory a non-root user can write, and /tmp (mode 1777) is one, sticky bit or not
 * (anyone may plant a directory there before root does). So the temp dir goes under
 * the first of $TMPDIR, /run, /var/lib whose whole chain is root's; null when none is.
 */
function hookBase(): string | null {
  const tmp = Deno.env.get("TMPDIR") || "/tmp";
  for (const base of [tmp, "/run", "/var/lib"]) {
    try {
      if (notRootOnly(base) === null) return base;
    } catch {
      // missing: try the next
    }
  }
  return null;
}

function hookSkipReason(): string | null {
  return hookBase() === null
    ? "no root-only directory for hook scripts ($TMPDIR, /run and /var/lib are all writable by others)"
    : null;
}

/** Removes hook dirs of earlier runs whose process is gone (a SIGKILLed run leaves them). */
async function sweepHookDirs(base: string): Promise<void> {
  const re = new RegExp(`^${HOOK_DIR_PREFIX}(\\d+)-`);
  for await (const e of Deno.readDir(base)) {
    const m = re.exec(e.name);
    if (!e.isDirectory || !m || Number(m[1]) === Deno.pid) continue;
    // Through sh, as lib/lab/host.ts asks: a refused /proc read must not look like "gone".
    const alive = await run("sh", ["-c", 'test -d "/proc/$1"', "sh", m[1]]);
    if (alive.code !== 0) {
      await Deno.remove(`${base}/${e.name}`, { recursive: true }).catch(() => {});
    }
  }
}

/**
 * A root-owned 0700 temp dir under {@link hookBase}, removed at cleanup, holding a
 * 0700 `hooks/` subdir (where the scripts go).
 */
async function hookDir(lab: PeerLab): Promise<string> {
  const base = hookBase()!;
  await sweepHookDirs(base);
  const dir = await Deno.makeTempDir({ dir: base, prefix: `${HOOK_DIR_PREFIX}${Deno.pid}-` });
  lab.defer(() => Deno.remove(dir, { recursive: true }));
  await Deno.chmod(dir, 0o700);
  await Deno.mkdir(`${dir}/hooks`);
  await Deno.chmod(`${dir}/hooks`, 0o700);
  return dir;
}

/**
 * Writes a hook that appends how it was called and what hacore's environment told it
 * (`$0 $@ $HACORE_STATE $HACORE_REASON`) to `log`, then sleeps 0.2 s, so every run has
 * a known minimum duration and a hook that overtook another would show in the log.
 * Mode 0700, root's: what script security asks of a hook.
 */
async function writeHook(path: string, log: string): Promise<void> {
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\necho "$0 $@ $HACORE_STATE $HACORE_REASON" >> ${log}\nsleep 0.2\n`,
  );
  await Deno.chmod(path, 0o700);
}

peerTest(
  "operate: notify hooks run one at a time in transition order with keepalived's arguments, their results show in status; a hook in a world-writable directory is refused and shown",
  [],
  () =>
    withPeerLab(async (lab) => {
      const hd = await hookDir(lab);
      const log = `${hd}/hooks/hooks.log`;
      const script = (n: string) => `${hd}/hooks/${n}.sh`;
      for (const n of ["master", "backup", "fault", "notify"]) await writeHook(script(n), log);
      // A world-writable directory (0777: chmod, since mkdir's mode passes the umask).
      await Deno.mkdir(`${hd}/open`);
      await Deno.chmod(`${hd}/open`, 0o777);
      const insecure = `${hd}/open/master.sh`;
      await writeHook(insecure, `${hd}/open/never.log`);
      const hooks = {
        // Words as written, nothing appended: keepalived's state-specific hooks.
        notify_master: `${script("master")} up "two words"`,
        notify_backup: script("backup"),
        notify_fault: script("fault"),
        notify: script("notify"),
      };
      // The test's own precondition: these pass the daemon's check, the other does not.
      for (const cmd of Object.values(hooks)) {
        const v = checkScript(cmd, { allowInsecure: false });
        assert.ok(v.ok, `${cmd}: ${v.ok ? "" : v.error}`);
      }
      assert.equal(checkScript(insecure, { allowInsecure: false }).ok, false);

      const lan = await buildLan(lab, {
        nodes: [{ name: "a", address: "192.0.2.11/24" }, { name: "b", address: "192.0.2.12/24" }],
      });
      const dir = await lab.tempDir();
      const vip = "192.0.2.100/24";
      const a = await startNode(
        lab,
        dir,
        lan.nodes[0],
        configToml("a", [
          { name: "VI_1", vrid: 51, priority: 150, vips: [vip], keys: hooks },
          // Alone on its VRID, so it becomes master and its (refused) hook comes due.
          {
            name: "VI_2",
            vrid: 52,
            priority: 150,
            vips: ["192.0.2.102/24"],
            keys: { notify_master: insecure },
          },
        ]),
      );
      // Start (BACKUP), then MASTER: nobody else is there yet.
      await a.hacore.waitState("MASTER", START_MS, { instance: "VI_1" });
      const b = await startNode(
        lab,
        dir,
        lan.nodes[1],
        configToml("b", [{ name: "VI_1", vrid: 51, priority: 100, vips: [vip] }]),
      );
      await b.hacore.waitState("BACKUP", START_MS, { instance: "VI_1" });
      await waitForSocket(a.socket);
      const watchers = watchersFor([a, b], vip);
      const vi1 = () => a.hacore.transitions.filter((t) => t.instance === "VI_1");
      // Each driven change must be exactly the next transition: one skipped or added
      // would also shift the hooks.
      let seen = vi1().length;
      const next = async (to: string, what: string) => {
        const t = await a.hacore.proc.waitFor(() => vi1()[seen], MOVE_MS, what);
        seen += 1;
        assert.equal(t.to, to, `${what}: got ${t.from} -> ${t.to} (${t.reason})`);
      };

      await lan.cut(a.member); // the cable: FAULT
      await next("FAULT", "a FAULT after its cable is pulled");
      await waitForHolders(watchers, (h) => h.includes("b"), MOVE_MS, "b to take over");
      await lan.plug(a.member); // back: BACKUP, then MASTER by preemption
      await next("BACKUP", "a BACKUP after the cable is back");
      await next("MASTER", "a MASTER again");
      await waitForHolders(watchers, only("a"), MOVE_MS, "a alone again");
      await cliOk("demote", "VI_1", "--socket", a.socket); // priority 1: b preempts
      await next("BACKUP", "a BACKUP after the demote");
      await waitForHolders(watchers, only("b"), MOVE_MS, "b alone after the demote");

      const transitions = vi1();
      assert.deepStrictEqual(
        transitions.map((t) => `${t.from}->${t.to}`),
        [
          "INIT->BACKUP",
          "BACKUP->MASTER",
          "MASTER->FAULT",
          "FAULT->BACKUP",
          "BACKUP->MASTER",
          "MASTER->BACKUP",
        ],
      );
      // What each transition must have run, in order: the state's own hook with its
      // words as written, then `notify` with INSTANCE NAME STATE PRIORITY appended; each
      // followed by the HACORE_STATE and HACORE_REASON it was given. The priority is the
      // effective one: 1 once demoted.
      const words: Record<string, string[]> = {
        MASTER: [script("master"), "up", "two", "words"],
        BACKUP: [script("backup")],
        FAULT: [script("fault")],
      };
      const expected = transitions.flatMap((t, i) => {
        const prio = i === transitions.length - 1 ? "1" : "150";
        return [
          [...words[t.to], t.to, t.reason].join(" "),
          [script("notify"), "INSTANCE", "VI_1", t.to, prio, t.to, t.reason].join(" "),
        ];
      });
      // Hooks lag transitions by up to 0.2 s each: wait until all have written.
      const deadline = wallMs() + expected.length * 200 + MOVE_MS;
      let lines: string[] = [];
      for (;;) {
        lines = (await Deno.readTextFile(log).catch(() => "")).split("\n").filter((l) => l);
        if (lines.length >= expected.length || wallMs() > deadline) break;
        await sleep(50);
      }
      await sleep(300); // and nothing more comes
      lines = (await Deno.readTextFile(log)).split("\n").filter((l) => l);
      assert.deepStrictEqual(lines.map((l) => l.split(/\s+/).join(" ")), expected);

      // Status shows every run: JSON with exit codes and durations, the table too.
      const detail = JSON.parse(await cliOk("status", "VI_1", "--socket", a.socket, "--json")) as {
        hooks: HookRunJson[];
      };
      const runs = detail.hooks.filter((h) => h.name === "VI_1");
      assert.deepStrictEqual(
        runs.map((h) => `${h.hook} ${h.state}`),
        transitions.flatMap((t) => [
          `notify_${t.to.toLowerCase()} ${t.to}`,
          `notify ${t.to}`,
        ]),
      );
      for (const h of runs) {
        assert.equal(h.exitCode, 0, JSON.stringify(h));
        assert.equal(h.error, null);
        assert.equal(h.timedOut, false);
        assert.ok(h.durationMs >= 200, `${h.hook} took ${h.durationMs} ms, less than its sleep`);
      }
      const table = await cliOk("status", "VI_1", "--socket", a.socket);
      assert.match(table, new RegExp(`^hook runs \\(${runs.length}, oldest first\\)$`, "m"));
      const rows = [
        ...table.matchAll(/^ {2}\S+Z {2}(\S+) \((\w+)\) {2}exit 0 after (\d+\.\d)ms$/gm),
      ];
      assert.deepStrictEqual(
        rows.map((m) => `${m[1]} ${m[2]}`),
        runs.map((h) => `${h.hook} ${h.state}`),
        table,
      );
      assert.ok(rows.every((m) => Number(m[3]) >= 200), table);

      // The insecure hook: refused, never run, and said so in status and in the log.
      const d2 = JSON.parse(await cliOk("status", "VI_2", "--socket", a.socket, "--json")) as {
        hooks: HookRunJson[];
      };
      const refusedRuns = d2.hooks.filter((h) => h.name === "VI_2");
      assert.ok(refusedRuns.length >= 1, "VI_2 became master, so its hook came due");
      const why = new RegExp(
        `${insecure} is in ${hd}/open, which is writable by all users \\(mode 0777\\)`,
      );
      for (const h of refusedRuns) {
        assert.equal(h.hook, "notify_master");
        assert.equal(h.exitCode, null);
        assert.match(h.error ?? "", why);
      }
      assert.match(
        await cliOk("status", "VI_2", "--socket", a.socket),
        /notify_master \(MASTER\) {2}not run: /,
      );
      assert.equal(await Deno.stat(`${hd}/open/never.log`).then(() => true, () => false), false);
      const all = messages(a.hacore);
      assert.ok(all.some((m) => /^VI_2: notify_master not run: /.test(m) && why.test(m)));
      // Also warned at startup, before anything ran.
      assert.ok(all.some((m) => m.startsWith("vrrp_instance.VI_2.notify_master: ") && why.test(m)));
      const ms = runs.map((h) => h.durationMs);
      console.log(
        `  hooks: ${transitions.map((t) => `${t.to} (${t.reason})`).join(" → ")}\n` +
          `  ${runs.length} runs in transition order, ${Math.min(...ms).toFixed(0)}-` +
          `${Math.max(...ms).toFixed(0)} ms each; the insecure one refused ${refusedRuns.length}×`,
      );
    }),
  hookSkipReason,
);

// ---------------------------------------------------------------------------------------
// 4. systemd notify
// ---------------------------------------------------------------------------------------

/** A datagram as it arrived on the stand-in notify socket. */
interface Datagram {
  readonly text: string;
  readonly atMs: number;
}

/**
 * systemd's side of NOTIFY_SOCKET: an AF_UNIX datagram socket bound at `path`, drained
 * every 2 ms into {@link NotifyListener.got} with arrival times (the watchdog cadence
 * is measured from them). Path sockets live in the filesystem, not in a network
 * namespace, so a daemon in its namespace reaches it.
 */
class NotifyListener {
  readonly got: Datagram[] = [];
  readonly #fd: number;
  readonly #timer: ReturnType<typeof setInterval>;
  constructor(readonly path: string) {
    this.#fd = openSocket(AF_UNIX, SOCK_DGRAM, 0);
    bindSocket(this.#fd, sockaddrUn(path));
    const buf = new Uint8Array(4096);
    const dec = new TextDecoder();
    this.#timer = setInterval(() => {
      for (;;) {
        const r = recvFrom(this.#fd, buf);
        if (r === null) return;
        this.got.push({ text: dec.decode(buf.subarray(0, r.n)), atMs: wallMs() });
      }
    }, 2);
  }
  /** The first datagram at index `from` or later matching `re`, waiting up to `timeoutMs`. */
  async wait(re: RegExp, timeoutMs: number, from = 0): Promise<Datagram & { index: number }> {
    const deadline = wallMs() + timeoutMs;
    for (;;) {
      const i = this.got.findIndex((d, j) => j >= from && re.test(d.text));
      if (i >= 0) return { ...this.got[i], index: i };
      if (wallMs() > deadline) {
        throw new Error(
          `no datagram matching ${re} within ${timeoutMs} ms; got ${JSON.stringify(this.got)}`,
        );
      }
      await sleep(5);
    }
  }
  close(): void {
    clearInterval(this.#timer);
    closeFd(this.#fd);
  }
}

peerTest(
  "operate: systemd notify end to end: READY with a STATUS, RELOADING with MONOTONIC_USEC then READY on SIGHUP, WATCHDOG at half of WATCHDOG_USEC, STOPPING on SIGTERM",
  [],
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, { nodes: [{ name: "a", address: "192.0.2.11/24" }] });
      const dir = await lab.tempDir();
      const sd = new NotifyListener(`${dir}/notify`);
      lab.defer(() => Promise.resolve(sd.close()));
      // No WATCHDOG_PID: the pid is only known after the spawn, and unset means "any".
      const a = await startNode(
        lab,
        dir,
        lan.nodes[0],
        configToml("a", [{ name: "VI_1", vrid: 51, priority: 150, vips: ["192.0.2.100/24"] }]),
        { NOTIFY_SOCKET: sd.path, WATCHDOG_USEC: "500000" },
      );
      const ready = await sd.wait(/^READY=1/, START_MS);
      assert.equal(ready.text, `READY=1\nSTATUS=1 instance(s) from ${a.file}`);
      assert.equal(ready.index, 0, `READY=1 must come first: ${JSON.stringify(sd.got)}`);
      await a.hacore.waitState("MASTER", START_MS, { instance: "VI_1" });

      // Watchdog: pings at half of 500 ms, never a gap systemd would kill us for.
      await sleep(1300);
      const pings = sd.got.filter((d) => d.text === "WATCHDOG=1").map((d) => d.atMs);
      const gaps = pings.slice(1).map((t, i) => t - pings[i]);
      const sorted = [...gaps].sort((x, y) => x - y);
      const median = sorted[Math.floor(sorted.length / 2)];
      assert.ok(pings.length >= 4, `only ${pings.length} WATCHDOG=1 in 1.3 s`);
      assert.ok(median >= 200 && median <= 300, `median gap ${median} ms, expected about 250`);
      assert.ok(Math.max(...gaps) < 500, `a ${Math.max(...gaps)} ms gap: systemd would kill it`);

      // SIGHUP: RELOADING=1 stamped with CLOCK_MONOTONIC (systemd ≥ 253 wants it), then READY.
      const before = clockMonotonicUsec();
      const from = sd.got.length;
      signal(a, "SIGHUP");
      const reloading = await sd.wait(/^RELOADING=1/, MOVE_MS, from);
      const after = clockMonotonicUsec();
      const m = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(reloading.text);
      assert.ok(m, JSON.stringify(reloading.text));
      const usec = BigInt(m[1]);
      assert.ok(before <= usec && usec <= after, `${before} <= ${usec} <= ${after}`);
      const reReady = await sd.wait(/^READY=1/, MOVE_MS, reloading.index);
      assert.equal(reReady.text, "READY=1\nSTATUS=reloaded");

      // SIGTERM: STOPPING=1 at once, then a clean exit.
      const stopFrom = sd.got.length;
      signal(a, "SIGTERM");
      const stopping = await sd.wait(/^STOPPING=1/, MOVE_MS, stopFrom);
      assert.equal(stopping.text, "STOPPING=1\nSTATUS=releasing (priority 0)");
      const st = await a.hacore.proc.exited(START_MS);
      assert.equal(st.code, 0);
      const kinds = sd.got.map((d) => d.text.split("\n")[0]).filter((k) => k !== "WATCHDOG=1");
      assert.deepStrictEqual(kinds, ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"]);
      console.log(
        `  sd_notify: ${pings.length} WATCHDOG=1 in 1.3 s, gaps ${sorted[0].toFixed(0)}/` +
          `${median.toFixed(0)}/${
            sorted.at(-1)!.toFixed(0)
          } ms (min/median/max), RELOADING→READY ` +
          `${(reReady.atMs - reloading.atMs).toFixed(0)} ms`,
      );
    }),
);

// ---------------------------------------------------------------------------------------
// 5. Metrics
// ---------------------------------------------------------------------------------------

const METRICS = "127.0.0.1:9650";

interface HttpResult {
  /** HTTP status, or null when nothing answered. */
  readonly status: number | null;
  readonly body: string;
  /** Why nothing answered (curl's exit code or Deno's error). */
  readonly error: string;
}

/**
 * GET `url` from inside `ns`: 127.0.0.1 there is the namespace's own loopback, so the
 * port is the daemon's and nobody else's. curl when installed, else a Deno one-liner.
 */
async function httpGet(ns: string, url: string): Promise<HttpResult> {
  if (hasCommand("curl")) {
    const r = await run("ip", [
      "netns",
      "exec",
      ns,
      "curl",
      "-sS",
      "--max-time",
      "2",
      "-w",
      "\n%{http_code}",
      url,
    ]);
    if (r.code !== 0) return { status: null, body: "", error: `curl exit ${r.code}: ${r.stderr}` };
    const cut = r.stdout.lastIndexOf("\n");
    return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut), error: "" };
  }
  const script = `try { const r = await fetch(${q(url)}); ` +
    `console.log(JSON.stringify({ status: r.status, body: await r.text() })); } ` +
    `catch (e) { console.log(JSON.stringify({ status: null, body: "", ` +
    // The cause carries the reason ("Connection refused"); the error alone says "fetch failed".
    `error: String(e) + ": " + String(e.cause) })); }`;
  const r = await run("ip", ["netns", "exec", ns, Deno.execPath(), "eval", "--quiet", script]);
  const o = JSON.parse(r.stdout) as { status: number | null; body: string; error?: string };
  return { status: o.status, body: o.body, error: o.error ?? "" };
}

peerTest(
  "operate: live metrics inside the node's namespace: valid exposition, state master, adverts counting up, /healthz 200, and the port closed after SIGTERM",
  [],
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, { nodes: [{ name: "a", address: "192.0.2.11/24" }] });
      const dir = await lab.tempDir();
      const a = await startNode(
        lab,
        dir,
        lan.nodes[0],
        configToml(
          "a",
          [{ name: "VI_1", vrid: 51, priority: 150, vips: ["192.0.2.100/24"] }],
          { metrics_listen: METRICS },
        ),
      );
      await a.hacore.waitState("MASTER", START_MS, { instance: "VI_1" });
      const ns = a.member.ns;
      const scrape = async () => {
        const r = await httpGet(ns, `http://${METRICS}/metrics`);
        assert.equal(r.status, 200, r.error);
        return parseBoth(r.body);
      };
      const labels = { instance: "VI_1", interface: "eth0", vrid: "51" };
      const t1 = wallMs();
      const m1 = await scrape();
      assert.equal(value(m1, "hacore_vrrp_state", { ...labels, state: "master" }), 1);
      for (const state of ["init", "backup", "fault"]) {
        assert.equal(value(m1, "hacore_vrrp_state", { ...labels, state }), 0, state);
      }
      assert.equal(value(m1, "hacore_vrrp_priority", { instance: "VI_1", kind: "effective" }), 150);
      assert.equal(value(m1, "hacore_vrrp_vips_held", { instance: "VI_1" }), 1);
      const sent1 = value(m1, "hacore_vrrp_adverts_sent_total", { instance: "VI_1" });
      await sleep(600);
      const m2 = await scrape();
      const t2 = wallMs();
      const sent2 = value(m2, "hacore_vrrp_adverts_sent_total", { instance: "VI_1" });
      // One advert per 100 ms: at least 4 more after 600 ms, and not wildly more.
      assert.ok(sent2 - sent1 >= 4, `adverts_sent_total ${sent1} -> ${sent2} in ${t2 - t1} ms`);
      assert.ok(sent2 - sent1 <= (t2 - t1) / 100 + 3, `${sent1} -> ${sent2} in ${t2 - t1} ms`);

      const health = await httpGet(ns, `http://${METRICS}/healthz`);
      assert.equal(health.status, 200, health.error);

      const st = await a.hacore.proc.stop("SIGTERM", START_MS);
      assert.equal(st.code, 0);
      const closed = await httpGet(ns, `http://${METRICS}/metrics`);
      assert.equal(closed.status, null, `still answering after exit: ${closed.body}`);
      assert.match(closed.error, /exit 7|refused/i);
      console.log(
        `  metrics: adverts_sent_total ${sent1} -> ${sent2} over ${(t2 - t1).toFixed(0)} ms; ` +
          `after SIGTERM: ${closed.error.trim()}`,
      );
    }),
);

// ---------------------------------------------------------------------------------------
// 6. hacore check --diff FILE: a dry run of the next reload
// ---------------------------------------------------------------------------------------

peerTest(
  "operate: hacore check --diff FILE on an edited config prints the added VIP and changes nothing; hacore reload then applies exactly the printed change",
  [],
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, { nodes: [{ name: "a", address: "192.0.2.11/24" }] });
      const dir = await lab.tempDir();
      const vip = "192.0.2.101/24";
      const added = "192.0.2.111/24";
      const spec: InstanceSpec = { name: "VI_1", vrid: 51, priority: 150, vips: [vip] };
      const a = await startNode(lab, dir, lan.nodes[0], configToml("a", [spec]));
      await a.hacore.waitState("MASTER", START_MS, { instance: "VI_1" });
      await waitForSocket(a.socket);
      const watchers = (v: string) => watchersFor([a], v);
      await waitForHolders(watchers(vip), only("a"), MOVE_MS, `a on ${vip}`);
      const from = a.hacore.transitions.length;
      const fromLine = a.hacore.proc.lines.length;

      // The operator's edit, on the very file the daemon runs: the diff must come from
      // the daemon's memory, since the file no longer says what runs.
      await Deno.writeTextFile(a.file, configToml("a", [{ ...spec, vips: [vip, added] }]));
      const check = await cliOk("check", "--diff", a.file, "--socket", a.socket);
      assert.equal(check, `ok: ${a.file} (running) -> ${a.file}\n  VI_1: added ${added}\n`);
      const printed = check.split("\n").slice(1, -1);

      // A dry run: after several adverts the daemon still runs the old VIP set, in its
      // status, in the kernel and in its log.
      await sleep(500);
      const held = async () =>
        (await statusJson(a)).instances[0].vips.map((v) => `${v.address} ${v.held}`);
      assert.deepStrictEqual(await held(), ["192.0.2.101 true"]);
      assert.equal(await hasAddress(a.member.ns, LAN_IFACE, vipOf(added)), false);
      const logged = messages(a.hacore, fromLine).filter((m) => m.startsWith("reload"));
      assert.deepStrictEqual(logged, [], "check --diff reloaded nothing");

      // The reload applies what was printed, no more and no less.
      const out = await cliOk("reload", "--socket", a.socket);
      assert.equal(
        out,
        `reload: applied ${printed.length} change(s)\n${printed.map((l) => `${l}\n`).join("")}`,
      );
      await waitForHolders(watchers(added), only("a"), MOVE_MS, `a on ${added}`);
      assert.deepStrictEqual(await held(), ["192.0.2.101 true", "192.0.2.111 true"]);
      // The daemon's config is now the file's: nothing is left to apply.
      assert.equal(
        await cliOk("check", "--diff", a.file, "--socket", a.socket),
        `ok: ${a.file} (running) -> ${a.file}\n  no changes\n`,
      );
      assert.deepStrictEqual(a.hacore.transitions.slice(from), [], "no transition");
      console.log(`  check --diff: printed ${JSON.stringify(printed)}; reload applied the same`);
    }),
);

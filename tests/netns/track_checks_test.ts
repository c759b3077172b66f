/**
 * Every health-check type as a `vrrp_script` on a real kernel. Two hacore nodes (node1
 * priority 150, node2 100, VRRPv3 at 100 ms) and a client that connects to the VIP
 * every 10 ms (each node's TCP service answers with its name). node1 tracks one check
 * per type, each at a 100 ms interval with rise 2 / fall 2; the test then breaks the
 * thing behind one check at a time:
 *
 * - weight -60: node1 drops to 90, node2 (100) preempts;
 * - weight 0 (udp, script): node1 goes to FAULT and releases;
 *
 * and node2 must hold the VIP (the client reaching node2), node1's status must name
 * the failing check (and only it), and once the thing is mended node1 must take the VIP
 * back (preempt) after `rise` passes. The services live in node1's namespace on
 * 127.0.0.1, as a local web server or resolver would; the ICMP check pings an address
 * of the client's namespace that the test removes and restores.
 *
 * Two tests (network services; icmp, file and script), each in its own lab, to keep
 * each well under 20 s on a busy 2-core machine.
 */

import assert from "node:assert/strict";
import { hasCommand, leftoverNamespaces, netnsTest, run } from "./helpers.ts";
import {
  type LineProc,
  only,
  type PeerLab,
  type Probe,
  startProbe,
  startTcpService,
  waitForHolders,
  wallMs,
  withPeerLab,
} from "./peers.ts";
import { ipIn } from "../../lib/lab/host.ts";
import type { TrackerStatus } from "../../lib/track/priority.ts";
import { type CheckServerKind, DNS_ANSWER, startCheckServer } from "./check_servers.ts";
import {
  instanceToml,
  MOVE_MS,
  type NodeStatus,
  START_MS,
  statusCli,
  type TrackLan,
  trackLan,
  type TrackNode,
  waitStatus,
  watchers,
} from "./track_lab.ts";

const VIP = "192.0.2.100";
/** An address of the client's namespace that node1's ICMP check pings. */
const PING_TARGET = "192.0.2.60";

/** One check under test: its table, and how to break and mend what it watches. */
interface CheckCase {
  readonly type: string;
  readonly weight: number;
  /** Keys of its `[vrrp_script.chk_TYPE]` besides type, timing and weight. */
  readonly keys: readonly string[];
  start(): Promise<void>;
  break(): Promise<void>;
  mend(): Promise<void>;
}

function scriptTrackers(s: NodeStatus): TrackerStatus[] {
  return (s.instances[0]?.trackers ?? []).filter((t) => t.kind === "script");
}

const q = JSON.stringify;

function configOf(cases: readonly CheckCase[]): string {
  const tables = cases.map((c) =>
    [
      `[vrrp_script.chk_${c.type}]`,
      `type = ${q(c.type)}`,
      ...c.keys,
      "interval = 0.1",
      "timeout = 0.3",
      "rise = 2",
      "fall = 2",
      `weight = ${c.weight}`,
      "",
    ].join("\n")
  ).join("\n");
  return instanceToml({
    routerId: "node1",
    priority: 150,
    vips: [`${VIP}/24`],
    lines: [`track_script = [${cases.map((c) => q(`chk_${c.type}`)).join(", ")}]`],
    tables,
  });
}

/** A server of `kind` in node1's namespace that the case kills and starts again. */
function serverCase(
  lab: PeerLab,
  node: () => TrackNode,
  kind: CheckServerKind,
  port: number,
  weight: number,
  keys: readonly string[],
  tls?: { cert: string; key: string },
): CheckCase {
  let proc: LineProc | null = null;
  const start = async () => {
    proc = await startCheckServer(lab, node().member.ns, kind, port, "127.0.0.1", tls);
  };
  return {
    type: kind,
    weight,
    keys,
    start,
    async break() {
      const p = proc!;
      p.child.kill("SIGKILL");
      await p.exited(5000);
    },
    mend: start,
  };
}

/**
 * Builds the lab, starts every case's service, node1 (tracking them all) until it is
 * master with every check up, node2, the services behind the VIP and the client's
 * probe; then breaks and mends each case in turn.
 */
async function runCases(
  lab: PeerLab,
  makeCases: (l: TrackLan, node1: () => TrackNode) => Promise<CheckCase[]>,
): Promise<string[]> {
  const l = await trackLan(lab, ["node1", "node2"]);
  const [n1, n2] = l.nodes;
  const cases = await makeCases(l, () => n1);
  await Promise.all([
    ...cases.map((c) => c.start()),
    ...l.nodes.map((n) => startTcpService(lab, n.member.ns, n.name)),
  ]);
  await l.start(n1, configOf(cases));
  await n1.hacore.waitState("MASTER", START_MS);
  await l.start(n2, instanceToml({ routerId: "node2", priority: 100, vips: [`${VIP}/24`] }));
  await n2.hacore.waitState("BACKUP", START_MS);
  const vip = watchers(l.nodes, VIP);
  await waitForHolders(vip, only("node1"), START_MS, "node1 alone to hold the VIP");
  const s0 = await waitStatus(
    n1,
    (s) =>
      scriptTrackers(s).length === cases.length && scriptTrackers(s).every((t) => t.state === "up"),
    START_MS,
    "every check up",
  );
  assert.equal(s0.instances[0].priority.effective, 150);
  const probe = await startProbe(lab, l.client.ns, VIP, { intervalMs: 10, timeoutMs: 200 });
  await probe.waitFor((r) => r.ok && r.who === "node1", START_MS, "the client to reach node1");

  const times: string[] = [];
  for (const c of cases) {
    const name = `chk_${c.type}`;
    const tBreak = wallMs();
    await c.break();
    const away = await movesTo(vip, probe, "node2", `${c.type} broken`);
    const s = await waitStatus(
      n1,
      (x) => x.instances[0].state === (c.weight === 0 ? "fault" : "backup"),
      MOVE_MS,
      `node1 ${c.weight === 0 ? "FAULT" : "BACKUP"} with ${name} failing`,
    );
    const down = scriptTrackers(s).filter((t) => t.state === "down");
    assert.deepEqual(down.map((t) => t.name), [name], `only ${name} fails: ${q(down)}`);
    if (c.weight === 0) {
      assert.deepEqual(s.instances[0].faults, [`script ${name}`]);
      assert.equal(down[0].fault, true);
    } else {
      assert.equal(s.instances[0].priority.effective, 150 + c.weight);
      assert.equal(down[0].contribution, c.weight);
    }
    const fromIndex = n1.hacore.transitions.length;
    const tMend = wallMs();
    await c.mend();
    const back = await movesTo(vip, probe, "node1", `${c.type} mended`);
    const t = await n1.hacore.waitState("MASTER", MOVE_MS, { fromIndex });
    assert.equal(t.reason, "preempt", `${c.type}: node1 came back by ${t.reason}`);
    await waitStatus(
      n1,
      (x) =>
        x.instances[0].priority.effective === 150 &&
        scriptTrackers(x).every((k) => k.state === "up"),
      MOVE_MS,
      `every check up again after mending ${c.type}`,
    );
    times.push(
      `${c.type}(${c.weight}) away ${(away - tBreak).toFixed(0)} back ${
        (back - tMend).toFixed(0)
      } ms`,
    );
  }
  // One look through the operator's eyes: the real CLI shows the trackers too.
  const shown = await statusCli(n1);
  assert.deepEqual(
    scriptTrackers(shown).map((t) => t.name).sort(),
    cases.map((c) => `chk_${c.type}`).sort(),
  );
  await probe.stop();
  return times;
}

/** Waits until `to` alone holds the VIP and the client reaches it; returns when it moved. */
async function movesTo(
  vip: Parameters<typeof waitForHolders>[0],
  probe: Probe,
  to: string,
  what: string,
): Promise<number> {
  const seen = await waitForHolders(vip, only(to), MOVE_MS, `${what}: ${to} alone holds the VIP`);
  await probe.waitFor((r) => r.ok && r.who === to && r.t > seen.atMs, MOVE_MS, `${what}: client`);
  return seen.atMs;
}

/** A self-signed certificate for 127.0.0.1, made now; null without openssl. */
async function selfSigned(dir: string): Promise<{ cert: string; key: string } | null> {
  if (!hasCommand("openssl")) return null;
  const cert = `${dir}/cert.pem`;
  const key = `${dir}/key.pem`;
  const r = await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "1",
    "-subj",
    "/CN=hacore-test",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
  ]);
  assert.equal(r.code, 0, `openssl: ${r.stderr}`);
  return { cert, key };
}

netnsTest(
  "checks tcp, http, https, dns, smtp and udp: a dead service moves the VIP to node2 (weight -60, or FAULT for udp), a restarted one brings it back",
  () =>
    withPeerLab(async (lab) => {
      const times = await runCases(lab, async (_l, n1) => {
        const tls = await selfSigned(await lab.tempDir());
        if (tls === null) {
          console.warn("  SKIPPED the https check: needs openssl for a certificate");
        }
        return [
          serverCase(lab, n1, "tcp", 9001, -60, ['connect = "127.0.0.1:9001"']),
          serverCase(lab, n1, "http", 9080, -60, ['url = "http://127.0.0.1:9080/health"']),
          ...(tls === null ? [] : [
            serverCase(
              lab,
              n1,
              "https",
              9443,
              -60,
              ['url = "https://127.0.0.1:9443/health"', "verify_tls = false"],
              tls,
            ),
          ]),
          serverCase(lab, n1, "dns", 9053, -60, [
            'server = "127.0.0.1:9053"',
            'query = "svc.hacore.test"',
            'record_type = "A"',
            `expect = ${q(DNS_ANSWER)}`,
          ]),
          serverCase(lab, n1, "smtp", 9025, -60, [
            'connect = "127.0.0.1:9025"',
            'helo_name = "node1.hacore.test"',
          ]),
          serverCase(lab, n1, "udp", 9007, 0, [
            'connect = "127.0.0.1:9007"',
            'payload = "ping"',
            'expect = "^ping$"',
          ]),
        ];
      });
      console.log(`  ${times.join("; ")}`);
    }),
);

netnsTest(
  "checks icmp, file and script: an unreachable host, a file saying down, a failing command move the VIP to node2 (FAULT for script), and back once mended",
  () =>
    withPeerLab(async (lab) => {
      const dir = await lab.tempDir();
      const ready = `${dir}/ready`;
      const flag = `${dir}/healthy`;
      const times = await runCases(lab, (l) => {
        const client = l.client.ns;
        return Promise.resolve([
          {
            type: "icmp",
            weight: -60,
            keys: [`host = ${q(PING_TARGET)}`],
            start: () =>
              ipIn(client, "addr", "add", `${PING_TARGET}/24`, "dev", "eth0").then(() => {}),
            break: () =>
              ipIn(client, "addr", "del", `${PING_TARGET}/24`, "dev", "eth0").then(() => {}),
            mend: () =>
              ipIn(client, "addr", "add", `${PING_TARGET}/24`, "dev", "eth0").then(() => {}),
          },
          {
            type: "file",
            weight: -60,
            keys: [`file = ${q(ready)}`, 'expect = "^ok"'],
            start: () => Deno.writeTextFile(ready, "ok\n"),
            break: () => Deno.writeTextFile(ready, "draining\n"),
            mend: () => Deno.writeTextFile(ready, "ok\n"),
          },
          {
            type: "script",
            weight: 0,
            // No shell: the command line is split on whitespace and run as is.
            keys: [`script = ${q(`/usr/bin/test -e ${flag}`)}`],
            start: () => Deno.writeTextFile(flag, ""),
            break: () => Deno.remove(flag),
            mend: () => Deno.writeTextFile(flag, ""),
          },
        ]);
      });
      console.log(`  ${times.join("; ")}`);
    }),
);

// Last in the file: Deno runs a file's tests in order.
netnsTest("checks: no namespace of this run is left behind", async () => {
  assert.deepEqual(await leftoverNamespaces(), []);
});

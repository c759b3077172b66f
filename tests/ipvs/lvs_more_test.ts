/**
 * LVS beyond keepalived, part B, on the guest's real IPVS: one probe serving three
 * virtual servers (the real server counts the connections it gets), preflight in
 * `hacore check` naming a scheduler module the kernel lacks and the sysctls that bite,
 * and connection sync between two directors: a long-lived TCP connection through the
 * VIP survives a kill -9 of the master director with `lvs_sync_daemon` on, and is reset
 * without it. The real server there runs hacore's `[real_server_role]` for its DR side.
 *
 * @module
 */

import assert from "node:assert/strict";
import { buildLan, type Lan, LineProc, type PeerLab, sleep, withPeerLab } from "../netns/peers.ts";
import { hacoreFromToml, type HacoreProc } from "../netns/peers.ts";
import { ipvsTest } from "./guest.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const PEER = new URL("./lvs_more_peer.ts", import.meta.url).pathname;
const VIP = "10.0.0.100";

/** The echo server (or client) of `lvs_more_peer.ts` in `ns`. */
function peer(lab: PeerLab, ns: string, label: string, ...args: string[]): LineProc {
  return new LineProc(label, lab.spawn(ns, Deno.execPath(), "run", "-A", PEER, ...args));
}

/** `hacore ARGS` run to completion inside `ns`. */
async function hacoreCli(lab: PeerLab, ns: string, ...args: string[]) {
  return await lab.exec(ns, Deno.execPath(), "run", "-A", `${ROOT}main.ts`, ...args);
}

function virtualServer(name: string, port: number, rsPort: number, kind: string): string {
  return `[virtual_server.${name}]
address = "${VIP}"
port = ${port}
lb_kind = "${kind}"
lb_algo = "rr"
delay_loop = 1
warmup = 0
[[virtual_server.${name}.real_server]]
address = "10.0.0.11"
port = ${rsPort}
[[virtual_server.${name}.real_server.check]]
type = "tcp"
connect_timeout = 1
`;
}

ipvsTest(
  "one probe serves three virtual servers: the real server gets one check connection per delay_loop",
  async () => {
    await withPeerLab(async (lab) => {
      const dir = await lab.tempDir();
      const lan = await buildLan(lab, {
        nodes: [{ name: "director", address: "10.0.0.1/24" }, {
          name: "rs",
          address: "10.0.0.11/24",
        }],
      });
      const [director, rs] = lan.nodes;
      const server = peer(lab, rs.ns, "echo", "echo", "8080");
      await server.waitLine((l) => l.text === "listening", 20_000, "the echo server");
      let accepted = 0;
      server.onLine((l) => {
        if (l.text.startsWith("accepted ")) accepted++;
      });
      const text = [80, 81, 82].map((p) => virtualServer(`web${p}`, p, 8080, "NAT")).join("\n");
      const h = await hacoreFromToml(lab, dir, director.ns, "director", text);
      await h.proc.waitLine((l) => l.text.includes("lvs starting"), 30_000, "lvs start");
      // The first run is at once (warmup 0); count over 4 more delay_loops.
      await sleep(500);
      const before = accepted;
      await sleep(4000);
      const probes = accepted - before;
      assert.ok(
        probes >= 3 && probes <= 5,
        `${probes} check connections in 4 s (one probe: ~4, three: ~12)`,
      );
      const status = await hacoreCli(
        lab,
        director.ns,
        "status",
        "--socket",
        `${dir}/director.sock`,
        "--ascii",
      );
      assert.match(status.stdout, /^checks: 1 probe for 3 checks \(2 shared\)$/m, status.stdout);
    });
  },
);

ipvsTest(
  "preflight: hacore check names the missing scheduler module and the IPVS sysctls that change the config",
  async () => {
    await withPeerLab(async (lab) => {
      const dir = await lab.tempDir();
      const ns = await lab.netns();
      const file = `${dir}/pre.toml`;
      // The guest's 6.1 kernel has no ip_vs_twos (Linux 6.7); a fresh namespace has the
      // kernel's default expire_nodest_conn = 0.
      await Deno.writeTextFile(
        file,
        virtualServer("web", 80, 80, "DR").replace('lb_algo = "rr"', 'lb_algo = "twos"'),
      );
      const r = await hacoreCli(lab, ns, "check", file);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        /preflight warning: virtual_server\.web\.lb_algo: scheduler twos needs the kernel module ip_vs_twos/,
      );
      assert.match(
        r.stdout,
        /preflight warning: virtual_server\.web\.real_server\[0\]\.inhibit_on_failure: \/proc\/sys\/net\/ipv4\/vs\/expire_nodest_conn = 0/,
      );
      await lab.exec(ns, "sysctl", "-qw", "net.ipv4.vs.expire_nodest_conn=1");
      await Deno.writeTextFile(file, virtualServer("web", 80, 80, "DR"));
      const ok = await hacoreCli(lab, ns, "check", file);
      assert.ok(!ok.stdout.includes("preflight warning"), ok.stdout);
    });
  },
);

ipvsTest(
  "real_server_role: the VIP on lo and the ARP sysctls while hacore runs, all undone by SIGTERM",
  async () => {
    await withPeerLab(async (lab) => {
      const dir = await lab.tempDir();
      const ns = await lab.netns();
      const sysctl = async (key: string) => (await lab.exec(ns, "sysctl", "-n", key)).stdout.trim();
      const keys = ["lo.arp_ignore", "lo.arp_announce", "all.arp_ignore", "all.arp_announce"]
        .map((k) => `net.ipv4.conf.${k}`);
      const before = await Promise.all(keys.map(sysctl));
      const h = await hacoreFromToml(lab, dir, ns, "rs", `[real_server_role]\nvips = ["${VIP}"]\n`);
      await h.proc.waitLine(
        (l) => l.text.includes("added 10.0.0.100/32 dev lo"),
        30_000,
        "the VIP",
      );
      assert.match(
        (await lab.exec(ns, "ip", "-4", "addr", "show", "dev", "lo")).stdout,
        /inet 10\.0\.0\.100\/32 /,
      );
      assert.deepEqual(await Promise.all(keys.map(sysctl)), ["1", "2", "1", "2"]);
      // The originals, saved beside the control socket for a run after a crash.
      const saved = JSON.parse(await Deno.readTextFile(`${dir}/real_server_role.json`));
      assert.equal(String(saved["net/ipv4/conf/all/arp_ignore"]), before[2]);
      const status = await hacoreCli(lab, ns, "status", "--socket", `${dir}/rs.sock`, "--ascii");
      assert.match(status.stdout, /^real server role: lo \+ 10\.0\.0\.100\/32$/m, status.stdout);
      const st = await h.proc.stop("SIGTERM", 10_000);
      assert.equal(st.code, 0);
      assert.doesNotMatch(
        (await lab.exec(ns, "ip", "-4", "addr", "show", "dev", "lo")).stdout,
        /10\.0\.0\.100/,
      );
      assert.deepEqual(await Promise.all(keys.map(sysctl)), before);
      await assert.rejects(Deno.stat(`${dir}/real_server_role.json`), Deno.errors.NotFound);
    });
  },
);

ipvsTest(
  "lvs_sync_daemon: the kernel runs the daemon with the configured id, maxlen, group, port and ttl",
  async () => {
    await withPeerLab(async (lab) => {
      const dir = await lab.tempDir();
      const lan = await buildLan(lab, { nodes: [{ name: "d", address: "10.0.0.1/24" }] });
      const ns = lan.nodes[0].ns;
      const h = await hacoreFromToml(
        lab,
        dir,
        ns,
        "d",
        `[global.lvs_sync_daemon]
interface = "eth0"
instance = "VI_web"
sync_id = 9
maxlen = 1400
group = "224.0.0.82"
port = 8849
ttl = 2

[vrrp_instance.VI_web]
interface = "eth0"
virtual_router_id = 51
version = 3
priority = 150
advert_int = 0.1
virtual_ipaddress = ["${VIP}/24"]
`,
      );
      await h.proc.waitLine((l) => l.text.includes("lvs sync daemon: master"), 30_000, "master");
      const r = await lab.exec(ns, "ipvsadm", "-L", "--daemon");
      assert.match(
        r.stdout,
        /^master sync daemon \(mcast=eth0, syncid=9, maxlen=1400, group=224\.0\.0\.82, port=8849, ttl=2\)$/m,
        r.stdout,
      );
      await h.proc.stop("SIGTERM", 10_000);
      assert.equal((await lab.exec(ns, "ipvsadm", "-L", "--daemon")).stdout.trim(), "");
    });
  },
);

/** Two directors, a DR real server and a client on one LAN; the VIP moves by VRRP. */
async function failover(
  sync: boolean,
): Promise<{ answered: number; error: string | null; backupTable: string }> {
  return await withPeerLab(async (lab) => {
    const dir = await lab.tempDir();
    const lan: Lan = await buildLan(lab, {
      nodes: [
        { name: "d1", address: "10.0.0.1/24" },
        { name: "d2", address: "10.0.0.2/24" },
        { name: "rs", address: "10.0.0.11/24" },
      ],
      client: { name: "client", address: "10.0.0.50/24" },
    });
    const [d1, d2, rs] = lan.nodes;
    const role = await hacoreFromToml(
      lab,
      dir,
      rs.ns,
      "rs",
      `[real_server_role]\nvips = ["${VIP}"]\n`,
    );
    await role.proc.waitLine(
      (l) => l.text.includes("added 10.0.0.100/32 dev lo"),
      30_000,
      "rs VIP",
    );
    const server = peer(lab, rs.ns, "echo", "echo", "80");
    await server.waitLine((l) => l.text === "listening", 20_000, "the echo server");
    const director = (name: string, priority: number) =>
      `[global]
router_id = "${name}"
${sync ? '[global.lvs_sync_daemon]\ninterface = "eth0"\ninstance = "VI_web"\nsync_id = 7\n' : ""}
[vrrp_instance.VI_web]
interface = "eth0"
virtual_router_id = 51
version = 3
priority = ${priority}
advert_int = 0.1
virtual_ipaddress = ["${VIP}/24"]

${virtualServer("web", 80, 80, "DR")}`;
    const h1 = await hacoreFromToml(lab, dir, d1.ns, "d1", director("d1", 150));
    await h1.waitState("MASTER", 30_000);
    const h2 = await hacoreFromToml(lab, dir, d2.ns, "d2", director("d2", 100));
    await h2.waitState("BACKUP", 30_000);
    if (sync) {
      await h2.proc.waitLine((l) => l.text.includes("lvs sync daemon: backup"), 10_000, "d2 sync");
    }
    // A director starting on the guest's one CPU may miss adverts and flap once; the
    // connection starts once d2 has been a steady backup for a second.
    await settledBackup(h2);
    const client = peer(lab, lan.client!.ns, "client", "client", VIP, "80");
    // 60 exchanges: the master syncs a connection at its 3rd packet and every 50th after
    // (sync_threshold), so a sync missed while d2 was starting is sent again.
    await client.waitLine((l) => l.text === "ok 60", 30_000, "60 answers through d1");
    // What the backup director holds for the client before the failover (the failure
    // message shows it).
    const backupTable = (await lab.exec(d2.ns, "ipvsadm", "-Lnc")).stdout;
    // The master director dies: its daemon is killed and its cable pulled (a dead host
    // neither forwards nor answers ARP for the VIP it still holds).
    await h1.proc.stop("SIGKILL", 5000);
    await lan.cut(d1);
    await h2.waitState("MASTER", 10_000);
    let answered = 0;
    let error: string | null = null;
    client.onLine((l) => {
      if (l.text.startsWith("ok ")) answered++;
      if (l.text.startsWith("error ")) error = l.text;
    });
    // Long enough for TCP's retransmissions to reach the new master.
    for (let i = 0; i < 60 && error === null && answered < 20; i++) await sleep(250);
    return { answered, error, backupTable };
  });
}

/** Waits until `h` has stayed BACKUP for a second (at most 10 s). */
async function settledBackup(h: HacoreProc): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const seen = h.transitions.length;
    await sleep(1000);
    if (h.transitions.length === seen && h.state() === "BACKUP") return;
  }
  throw new Error(`${h.name} never settled as backup: ${h.proc.tail(10)}`);
}

ipvsTest(
  "lvs_sync_daemon: a TCP connection through the VIP survives a kill -9 of the master director",
  async () => {
    const r = await failover(true);
    assert.equal(r.error, null);
    assert.ok(r.answered >= 20, `${r.answered} answers after the failover`);
  },
);

ipvsTest("without lvs_sync_daemon the same connection is reset by the new master", async () => {
  const r = await failover(false);
  assert.match(r.error ?? "no error", /error .*(reset|ECONNRESET|closed)/i, JSON.stringify(r));
  assert.ok(!r.backupTable.includes("10.0.0.50"), r.backupTable);
});

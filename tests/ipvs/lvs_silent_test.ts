/**
 * A real server that goes silent (its link down: no FIN, no RST, connects just time
 * out) leaves the kernel table within fall × delay_loop, on the guest's real IPVS. Two
 * ways, each tested alone:
 * - behind a switch (a bridge: the director's link stays up), the watched connection's
 *   TCP keepalive probes, paced by the check's own delay_loop and delay_before_retry, go
 *   unanswered and the kernel aborts it;
 * - on the director's own link (a veth, whose carrier goes with its peer), the carrier's
 *   loss takes the servers routed through it out at once, even a server that closes
 *   idle connections at once (so is not watched).
 * The checks alone would take a delay_loop phase, connect_timeout, delay_before_retry
 * and a second connect_timeout (3-4 s here, as keepalived).
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  buildLan,
  LAN_IFACE,
  LineProc,
  type PeerLab,
  sleep,
  wallMs,
  withPeerLab,
} from "../netns/peers.ts";
import { hacoreFromToml } from "../netns/peers.ts";
import { ipvsTest } from "./guest.ts";

const PEER = new URL("./lvs_more_peer.ts", import.meta.url).pathname;
/** TCP ports that accept and close at once (scripts/bench/lib/check_servers.ts). */
const CLOSING = new URL("../../scripts/bench/lib/check_servers.ts", import.meta.url).pathname;
const VIP = "10.0.0.100";
const RS = "10.0.0.11";

const CONFIG = `[virtual_server.web]
address = "${VIP}"
port = 80
lb_kind = "DR"
lb_algo = "rr"
delay_loop = 1
warmup = 0
[[virtual_server.web.real_server]]
address = "${RS}"
port = 80
[[virtual_server.web.real_server.check]]
type = "tcp"
connect_timeout = 1
retry = 1
delay_before_retry = 1
`;

ipvsTest(
  "a real server whose link goes down leaves the table within fall × delay_loop (keepalive on the watched connection)",
  async () => {
    await withPeerLab(async (lab) => {
      const dir = await lab.tempDir();
      const lan = await buildLan(lab, {
        nodes: [
          { name: "director", address: "10.0.0.1/24" },
          { name: "rs", address: `${RS}/24` },
        ],
      });
      const [director, rs] = lan.nodes;
      const server = new LineProc(
        "echo",
        lab.spawn(rs.ns, Deno.execPath(), "run", "-A", PEER, "echo", "80"),
      );
      await server.waitLine((l) => l.text === "listening", 20_000, "the echo server");
      const h = await hacoreFromToml(lab, dir, director.ns, "director", CONFIG);
      await h.proc.waitLine((l) => l.text.includes("lvs starting"), 30_000, "lvs start");
      const inTable = async () =>
        (await lab.exec(director.ns, "ipvsadm", "-Ln")).stdout.includes(`${RS}:80`);
      const deadline = wallMs() + 10_000;
      while (!(await inTable())) {
        assert.ok(wallMs() < deadline, "the real server never entered the table");
        await sleep(50);
      }
      // A few passing checks: the watched connection is open and probed by then.
      await sleep(2500);
      await lab.exec(rs.ns, "ip", "link", "set", LAN_IFACE, "down");
      const downAt = wallMs();
      while (await inTable()) {
        assert.ok(wallMs() - downAt < 6000, "still in the table 6 s after its link went down");
        await sleep(20);
      }
      const took = wallMs() - downAt;
      // fall (2) × delay_loop (1 s) at most, plus the guest's scheduling noise; the
      // checks' timeouts alone take over 3 s.
      assert.ok(took <= 2300, `removed ${Math.round(took)} ms after the link went down`);
      assert.ok(
        h.proc.lines.some((l) => l.text.includes("TCP keepalive probe")),
        "the log says why",
      );
    });
  },
);

/** Waits until `present()` says what `want` says, polling; the ms it took. */
async function until(what: string, present: () => Promise<boolean>, want: boolean) {
  const t0 = wallMs();
  while ((await present()) !== want) {
    assert.ok(wallMs() - t0 < 10_000, `${what}: not ${want ? "in" : "out of"} the table`);
    await sleep(20);
  }
  return wallMs() - t0;
}

function inTable(lab: PeerLab, ns: string) {
  return async () => (await lab.exec(ns, "ipvsadm", "-Ln")).stdout.includes(`${RS}:80`);
}

ipvsTest(
  "a real server behind the director's own link leaves the table as the link loses its carrier, and comes back with it",
  async () => {
    await withPeerLab(async (lab) => {
      const dir = await lab.tempDir();
      const director = await lab.netns();
      const rs = await lab.netns();
      await lab.exec(
        director,
        "ip",
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "eth0",
        "netns",
        rs,
      );
      await lab.exec(director, "ip", "addr", "add", "10.0.0.1/24", "dev", "eth0");
      await lab.exec(director, "ip", "link", "set", "eth0", "up");
      await lab.exec(rs, "ip", "addr", "add", `${RS}/24`, "dev", "eth0");
      await lab.exec(rs, "ip", "link", "set", "eth0", "up");
      // Accepts and closes at once: a server that is never watched.
      lab.spawn(rs, Deno.execPath(), "run", "-A", CLOSING, "80-80", "-", "0.0.0.0");
      const h = await hacoreFromToml(lab, dir, director, "director", CONFIG);
      await h.proc.waitLine((l) => l.text.includes("lvs starting"), 30_000, "lvs start");
      await until("at start", inTable(lab, director), true);
      await sleep(1500);
      await lab.exec(rs, "ip", "link", "set", "eth0", "down");
      const took = await until("link down", inTable(lab, director), false);
      assert.ok(took <= 1000, `removed ${Math.round(took)} ms after the carrier went`);
      assert.ok(
        h.proc.lines.some((l) => l.text.includes("its link eth0 has no carrier")),
        "the log says why",
      );
      await lab.exec(rs, "ip", "link", "set", "eth0", "up");
      await until("link back up", inTable(lab, director), true);
    });
  },
);

/**
 * A real server that goes silent (its link down: no FIN, no RST, connects just time
 * out) leaves the kernel table within fall × delay_loop of its last answer, on the
 * guest's real IPVS: the watched connection's TCP keepalive probes, paced by the check's
 * own delay_loop and delay_before_retry, go unanswered and the kernel aborts it. The
 * checks alone would take a delay_loop phase, connect_timeout, delay_before_retry and a
 * second connect_timeout (3-4 s here, as keepalived).
 *
 * @module
 */

import assert from "node:assert/strict";
import { buildLan, LAN_IFACE, LineProc, sleep, wallMs, withPeerLab } from "../netns/peers.ts";
import { hacoreFromToml } from "../netns/peers.ts";
import { ipvsTest } from "./guest.ts";

const PEER = new URL("./lvs_more_peer.ts", import.meta.url).pathname;
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

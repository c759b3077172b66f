/**
 * The outage a forged priority-0 advert costs a client (issue 14, item 3), measured
 * against any hacore checkout: `HACORE_MAIN=/path/to/main.ts deno run -A
 * tests/netns/bench_forged.ts` (this checkout's by default).
 *
 * Two hacore nodes (a: 150, master; b: 100) and a client probing the VIP by TCP every
 * 10 ms. A third namespace forges a priority-0 advert with a's address from its own MAC
 * (VRRPv3 has no authentication) right after one of a's adverts, ten times. Reported: b's takeovers
 * and the client's failed connects. Before the priority-0 rule, each forgery made b
 * take over after Skew_Time and hand back moments later, its gratuitous ARP having
 * moved the client to a MAC that no longer holds the VIP.
 *
 * `FORGE=high` forges priority 254 from the attacker's own address instead, aimed at
 * the Master; `EXTRA='allowed_peers = ["192.0.2.11", "192.0.2.12"]'` adds a line to
 * both nodes' instance.
 */

import { logMessage } from "../../lib/lab/hacore.ts";
import { LineProc } from "../../lib/lab/proc.ts";
import { encodeEthernet, ipv4MulticastMac, parseMac } from "../../lib/net/ether.ts";
import { encodeIpv4Header, IPV4_HEADER_LENGTH } from "../../lib/net/ip.ts";
import {
  AF_PACKET,
  closeFd,
  ETH_P_IP,
  ifNameToIndex,
  IPPROTO_VRRP,
  openSocket,
  sendTo,
  SOCK_RAW,
  sockaddrLl,
} from "../../lib/sys/libc.ts";
import { SystemTransportFactory } from "../../lib/sys/transport.ts";
import { encodeAdvert } from "../../lib/vrrp/packet.ts";
import { inNetns, runOk } from "./helpers.ts";
import {
  buildLan,
  hacoreConfigToml,
  LAN_IFACE,
  sleep,
  startProbe,
  startTcpService,
  summarizeProbe,
  wallMs,
  withPeerLab,
} from "./peers.ts";

const MAIN = Deno.env.get("HACORE_MAIN") ?? new URL("../../main.ts", import.meta.url).pathname;
/**
 * `zero` (default): a release with a's address and x's MAC, aimed at the Backup.
 * `high`: priority 254 from x's own address, aimed at the Master.
 */
const FORGE = Deno.env.get("FORGE") === "high" ? "high" : "zero";
/** Extra instance lines for both nodes, e.g. `allowed_peers = ["192.0.2.11", "192.0.2.12"]`. */
const EXTRA = Deno.env.get("EXTRA") ?? "";
const VIP = "192.0.2.100";
const GROUP = "224.0.0.18";
const ROUNDS = 10;

function forgedAdvert(priority: number, src: string, mac: string): Uint8Array {
  const payload = encodeAdvert(
    {
      version: 3,
      vrid: 51,
      priority,
      intervalMs: 1000,
      addresses: [VIP],
      authType: 0,
      authData: new Uint8Array(0),
    },
    { family: "ipv4", src, dst: GROUP },
    "pseudo-header",
  );
  const ip = new Uint8Array(IPV4_HEADER_LENGTH + payload.length);
  ip.set(encodeIpv4Header({
    src,
    dst: GROUP,
    ttl: 255,
    tos: 0xc0,
    protocol: IPPROTO_VRRP,
    id: 1,
    payloadLength: payload.length,
    df: false,
  }));
  ip.set(payload, IPV4_HEADER_LENGTH);
  return encodeEthernet({
    dst: ipv4MulticastMac(new Uint8Array([224, 0, 0, 18])),
    src: parseMac(mac)!,
    etherType: ETH_P_IP,
    payload: ip,
  });
}

await withPeerLab(async (lab) => {
  const lan = await buildLan(lab, {
    nodes: [
      { name: "a", address: "192.0.2.11/24" },
      { name: "b", address: "192.0.2.12/24" },
      { name: "x", address: "192.0.2.13/24" },
    ],
    client: { name: "client", address: "192.0.2.50/24" },
  });
  const [a, b, x] = lan.nodes;
  const dir = await lab.tempDir();
  const start = async (name: string, ns: string, priority: number) => {
    const file = `${dir}/${name}.toml`;
    await Deno.writeTextFile(
      file,
      hacoreConfigToml({ routerId: name, priority, vips: [`${VIP}/24`], advertIntS: 1 }) +
        (EXTRA === "" ? "" : `${EXTRA}\n`),
    );
    return new LineProc(
      `hacore ${name}`,
      lab.spawn(
        ns,
        Deno.execPath(),
        "run",
        "-A",
        MAIN,
        "run",
        file,
        "--log-format",
        "json",
        "--pidfile",
        `${dir}/${name}.pid`,
        "--control-socket",
        `${dir}/${name}.sock`,
      ),
    );
  };
  await startTcpService(lab, a.ns, "a");
  await startTcpService(lab, b.ns, "b");
  const ha = await start("a", a.ns, 150);
  await sleep(4500);
  const hb = await start("b", b.ns, 100);
  await sleep(3000);
  const probe = await startProbe(lab, lan.client!.ns, VIP, { intervalMs: 10 });
  await sleep(1000);
  const out = await runOk("ip", ["-n", x.ns, "-j", "link", "show", "dev", LAN_IFACE]);
  const xMac = (JSON.parse(out) as { address: string }[])[0].address;
  const { fd, ifindex } = inNetns(x.ns, () => ({
    fd: openSocket(AF_PACKET, SOCK_RAW, 0),
    ifindex: ifNameToIndex(LAN_IFACE),
  }));
  const t0 = wallMs();
  // Timed to the master's advert clock, as an attacker would: right after each advert
  // of a's (one every other second), so the Backup's Skew_Time runs out long before
  // a's next advert could reset it.
  const factory = new SystemTransportFactory();
  let sent = 0;
  let lastMs = 0;
  try {
    const frame = FORGE === "zero"
      ? forgedAdvert(0, "192.0.2.11", xMac)
      : forgedAdvert(254, "192.0.2.13", xMac);
    inNetns(
      x.ns,
      () =>
        factory.open({ interface: LAN_IFACE, family: "ipv4", group: GROUP }, (p) => {
          if (p.src !== "192.0.2.11" || sent >= ROUNDS || wallMs() - lastMs < 1500) return;
          sendTo(fd, frame, sockaddrLl({ protocol: ETH_P_IP, ifindex }));
          sent++;
          lastMs = wallMs();
        }),
    );
    while (sent < ROUNDS && wallMs() - t0 < 60_000) await sleep(100);
  } finally {
    await factory.close();
    closeFd(fd);
  }
  await sleep(2000);
  await probe.stop();
  const s = summarizeProbe(probe.results, t0);
  const count = (p: LineProc, re: RegExp) =>
    p.lines.filter((l) => re.test(logMessage(l.text).msg)).length;
  console.log(`hacore: ${MAIN}${EXTRA === "" ? "" : ` with ${EXTRA}`}`);
  const what = FORGE === "zero"
    ? "forged priority-0 adverts (a's address, another MAC)"
    : "forged priority-254 adverts (x's own address)";
  console.log(
    `${ROUNDS} ${what}: b took over ${count(hb, /BACKUP -> MASTER/)} times, a stepped down ${
      count(ha, /MASTER -> BACKUP/)
    } times; ` +
      `client: ${s.failed} of ${s.attempts} connects failed (${
        (s.failed * 10 / ROUNDS).toFixed(0)
      } ms of outage per forged packet at 10 ms per connect), answered by ${
        s.answeredBy.map((w) => w.who).join(", ")
      }`,
  );
});

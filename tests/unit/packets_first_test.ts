/**
 * Packets before timers: a daemon whose loop wakes after its Master_Down deadline, while
 * the master's adverts still sit in the socket buffer (not yet reported by the poll
 * thread), reads the sockets before it fires the deadline, and stays Backup. Without a
 * drainable factory the same stall is a takeover, which shows the test can fail.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/mod.ts";
import { Daemon } from "../../lib/daemon/daemon.ts";
import type { ReceivedPacket, TransportFactory } from "../../lib/daemon/ports.ts";
import { Logger } from "../../lib/log.ts";
import { encodeAdvert } from "../../lib/vrrp/packet.ts";
import { masterDownIntervalMs } from "../../lib/vrrp/timing.ts";
import { FakeAddressPort, ManualClock, RecordingAnnouncer, runClock } from "../fakes/daemon.ts";

const VIP = "192.0.2.100";
const GROUP = "224.0.0.18";
const MASTER_IP = "192.0.2.11";
const ADV_MS = 1000;

/** Sockets whose packets wait in a "kernel buffer" until read by `drainNow`. */
class BufferedSockets {
  readonly buffered: ReceivedPacket[] = [];
  #deliver: ((p: ReceivedPacket) => void) | null = null;

  factory(drainable: boolean): TransportFactory {
    const open: TransportFactory["open"] = (_req, onPacket) => {
      this.#deliver = onPacket;
      return { send: () => {}, close: () => (this.#deliver = null) };
    };
    return drainable ? { open, drainNow: () => this.drain() } : { open };
  }

  /** What the poll thread would report: delivered at once. */
  deliver(p: ReceivedPacket) {
    this.#deliver?.(p);
  }

  drain(): number {
    const n = this.buffered.length;
    for (const p of this.buffered.splice(0)) this.#deliver?.(p);
    return n;
  }
}

function masterAdvert(): ReceivedPacket {
  const bytes = encodeAdvert(
    {
      version: 3,
      vrid: 51,
      priority: 200,
      intervalMs: ADV_MS,
      addresses: [VIP],
      authType: 0,
      authData: new Uint8Array(0),
    },
    { family: "ipv4", src: MASTER_IP, dst: GROUP },
    "pseudo-header",
  );
  return { bytes, src: MASTER_IP, dst: GROUP, ttl: 255 };
}

async function stalledBackup(drainable: boolean): Promise<{ state: string; lines: string[] }> {
  const parsed = parseConfig(
    `
[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
version = 3
priority = 100
advert_int = ${ADV_MS / 1000}
virtual_ipaddress = ["${VIP}/24"]
`,
    "b.toml",
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const clock = new ManualClock(0);
  const sockets = new BufferedSockets();
  const lines: string[] = [];
  const daemon = new Daemon({
    config: parsed.config,
    primaryAddresses: new Map([["eth0", { ipv4: "192.0.2.12" }]]),
    clock,
    transports: sockets.factory(drainable),
    addresses: new FakeAddressPort([
      {
        dev: "eth0",
        address: "192.0.2.12",
        prefix: 24,
        family: "ipv4",
        label: null,
        hacore: false,
      },
    ]),
    announcer: new RecordingAnnouncer(clock),
    logger: new Logger({ level: "info", sink: (l) => lines.push(l) }),
  });
  const settle = async () => {
    for (let i = 0; i < 1000 && !daemon.idle; i++) await new Promise((r) => setTimeout(r, 0));
  };
  await daemon.start();
  await settle();
  sockets.deliver(masterAdvert());
  await runClock(clock, 500, settle);
  assert.equal(daemon.status().instances[0].state, "backup");
  // The stall: adverts keep arriving every interval but the poll thread never reports
  // them, and the loop next wakes well past Master_Down_Interval.
  const mdi = masterDownIntervalMs(3, 100, ADV_MS);
  for (let t = 500 + ADV_MS; t < 500 + mdi + ADV_MS; t += ADV_MS) {
    sockets.buffered.push(masterAdvert());
  }
  await runClock(clock, 500 + mdi + ADV_MS, settle);
  const state = daemon.status().instances[0].state;
  let stopped = false;
  daemon.stop().then(() => (stopped = true));
  for (let i = 0; i < 1000 && !stopped; i++) {
    await settle();
    clock.fireNext(Infinity);
    await new Promise((r) => setTimeout(r, 0));
  }
  assert.ok(stopped, "the daemon stopped");
  return { state, lines };
}

Deno.test("a loop that wakes after Master_Down_Interval reads the queued adverts first and stays backup", async () => {
  const { state, lines } = await stalledBackup(true);
  assert.equal(state, "backup", lines.join("\n"));
  assert.ok(!lines.some((l) => l.includes("-> MASTER")), lines.join("\n"));
});

Deno.test("without reading the sockets first, the same stall is a takeover (the test can fail)", async () => {
  const { state } = await stalledBackup(false);
  assert.equal(state, "master");
});

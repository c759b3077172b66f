/**
 * A Backup's routine adverts: the daemon tells the transport which adverts change
 * nothing but a timer (its Master's, as last heard), withdraws them when it stops being
 * that Master's Backup, and judges an advert read late from when it arrived.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/mod.ts";
import { Daemon } from "../../lib/daemon/daemon.ts";
import type { ReceivedPacket, RoutineAdvert, TransportFactory } from "../../lib/daemon/ports.ts";
import { Logger } from "../../lib/log.ts";
import { encodeAdvert } from "../../lib/vrrp/packet.ts";
import { masterDownIntervalMs } from "../../lib/vrrp/timing.ts";
import { FakeAddressPort, ManualClock, RecordingAnnouncer, runClock } from "../fakes/daemon.ts";

const VIP = "192.0.2.100";
const GROUP = "224.0.0.18";
const MASTER_IP = "192.0.2.11";
const ADV_MS = 1000;
const MDI = masterDownIntervalMs(3, 100, ADV_MS);

/** One transport that records what it is told is routine. */
class RoutineSocket {
  readonly told: (readonly RoutineAdvert[])[] = [];
  #deliver: ((p: ReceivedPacket) => void) | null = null;

  factory(): TransportFactory {
    return {
      open: (_req, onPacket) => {
        this.#deliver = onPacket;
        return {
          send: () => {},
          close: () => (this.#deliver = null),
          expectRoutine: (routine) => this.told.push(routine.map((r) => ({ ...r }))),
        };
      },
    };
  }

  deliver(p: ReceivedPacket) {
    this.#deliver?.(p);
  }

  get last(): readonly RoutineAdvert[] | undefined {
    return this.told.at(-1);
  }
}

function masterAdvert(priority: number, atMs?: number): ReceivedPacket {
  const bytes = encodeAdvert(
    {
      version: 3,
      vrid: 51,
      priority,
      intervalMs: ADV_MS,
      addresses: [VIP],
      authType: 0,
      authData: new Uint8Array(0),
    },
    { family: "ipv4", src: MASTER_IP, dst: GROUP },
    "pseudo-header",
  );
  const p = { bytes, src: MASTER_IP, dst: GROUP, ttl: 255 };
  return atMs === undefined ? p : { ...p, atMs };
}

async function backup() {
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
  const socket = new RoutineSocket();
  const lines: string[] = [];
  const daemon = new Daemon({
    config: parsed.config,
    primaryAddresses: new Map([["eth0", { ipv4: "192.0.2.12" }]]),
    clock,
    transports: socket.factory(),
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
  const stop = async () => {
    let stopped = false;
    daemon.stop().then(() => (stopped = true));
    for (let i = 0; i < 1000 && !stopped; i++) {
      await settle();
      clock.fireNext(Infinity);
      await new Promise((r) => setTimeout(r, 0));
    }
    assert.ok(stopped, "the daemon stopped");
  };
  const state = () => daemon.status().instances[0].state;
  return { clock, socket, lines, settle, stop, state, daemon };
}

Deno.test("a Backup's Master's advert is routine to its transport until the Backup takes over", async () => {
  const b = await backup();
  const advert = masterAdvert(200);
  b.socket.deliver(advert);
  await runClock(b.clock, 100, b.settle);
  assert.equal(b.state(), "backup");
  assert.deepEqual(b.socket.last, [{ src: MASTER_IP, head: advert.bytes.slice(0, 6) }]);

  // The Master goes silent: Master_Down, and its adverts are routine no more.
  await runClock(b.clock, 100 + MDI + 10, b.settle);
  assert.equal(b.state(), "master", b.lines.join("\n"));
  assert.deepEqual(b.socket.last, [], "nothing is routine to a Master");
  await b.stop();
});

Deno.test("a priority 0 is never routine, even from the followed Master", async () => {
  const b = await backup();
  b.socket.deliver(masterAdvert(200));
  await runClock(b.clock, 100, b.settle);
  const told = b.socket.told.length;
  b.socket.deliver(masterAdvert(0));
  await runClock(b.clock, 101, b.settle);
  assert.ok(
    b.socket.told.slice(told).every((list) => list.every((r) => r.head[2] !== 0)),
    JSON.stringify(b.socket.told),
  );
  await b.stop();
});

Deno.test("an advert read late is judged from its arrival: Master_Down runs from then", async () => {
  const b = await backup();
  b.socket.deliver(masterAdvert(200));
  await runClock(b.clock, 2000, b.settle);
  b.socket.deliver(masterAdvert(200, 2000));
  await runClock(b.clock, 2500, b.settle);
  // Read at 2,500 ms, arrived at 2,000: the Master was last heard 500 ms ago.
  b.socket.deliver(masterAdvert(200, 2000));
  await b.settle();
  const ago = b.daemon.status().instances[0].lastMaster?.agoMs;
  assert.equal(ago, 500);
  await runClock(b.clock, 2000 + MDI - 1, b.settle);
  assert.equal(b.state(), "backup");
  await runClock(b.clock, 2000 + MDI + 1, b.settle);
  assert.equal(b.state(), "master", "taken over at arrival + Master_Down_Interval");
  await b.stop();
});

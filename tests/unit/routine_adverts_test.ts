/**
 * A Backup's routine adverts: the daemon tells the transport which adverts change
 * nothing but a timer (its Master's, as last heard), withdraws them when it stops being
 * that Master's Backup, and judges an advert read late from when it arrived.
 */
import assert from "node:assert/strict";
import type { ReceivedPacket, RoutineAdvert, TransportFactory } from "../../lib/daemon/ports.ts";
import { masterDownIntervalMs } from "../../lib/vrrp/timing.ts";
import { runClock } from "../fakes/daemon.ts";
import { masterAdvert, SOLO_MASTER_IP, soloBackup } from "../fakes/solo_backup.ts";

const MDI = masterDownIntervalMs(3, 100, 1000);

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

async function backup() {
  const socket = new RoutineSocket();
  return { socket, ...await soloBackup({ transports: socket.factory() }) };
}

Deno.test("a Backup's Master's advert is routine to its transport until the Backup takes over", async () => {
  const b = await backup();
  const advert = masterAdvert(200);
  b.socket.deliver(advert);
  await runClock(b.clock, 100, b.settle);
  assert.equal(b.state(), "backup");
  assert.deepEqual(b.socket.last, [{ src: SOLO_MASTER_IP, head: advert.bytes.slice(0, 6) }]);

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
  b.socket.deliver(masterAdvert(200, { atMs: 2000 }));
  await runClock(b.clock, 2500, b.settle);
  // Read at 2,500 ms, arrived at 2,000: the Master was last heard 500 ms ago.
  b.socket.deliver(masterAdvert(200, { atMs: 2000 }));
  await b.settle();
  assert.equal(b.daemon.status().instances[0].lastMaster?.agoMs, 500);
  await runClock(b.clock, 2000 + MDI - 1, b.settle);
  assert.equal(b.state(), "backup");
  await runClock(b.clock, 2000 + MDI + 1, b.settle);
  assert.equal(b.state(), "master", "taken over at arrival + Master_Down_Interval");
  await b.stop();
});

Deno.test("a run of identical adverts counts as many and is judged from its last arrival", async () => {
  const b = await backup();
  b.socket.deliver(masterAdvert(200));
  await runClock(b.clock, 2500, b.settle);
  const received = () => b.daemon.status().instances[0].counters.advertisementsReceived ?? 0;
  assert.equal(received(), 1);
  b.socket.deliver({ ...masterAdvert(200, { atMs: 2400 }), repeats: 5 });
  await b.settle();
  assert.equal(received(), 6, "five adverts, handed on once");
  assert.equal(b.daemon.status().instances[0].lastMaster?.agoMs, 100);
  await runClock(b.clock, 2400 + MDI - 1, b.settle);
  assert.equal(b.state(), "backup", "Master_Down runs from the run's last advert");
  await runClock(b.clock, 2400 + MDI + 1, b.settle);
  assert.equal(b.state(), "master");
  await b.stop();
});

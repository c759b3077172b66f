/**
 * Packets before timers: a daemon whose loop wakes after its Master_Down deadline, while
 * the master's adverts still sit in the socket buffer (not yet reported by the poll
 * thread), reads the sockets before it fires the deadline, and stays Backup. Without a
 * drainable factory the same stall is a takeover, which shows the test can fail.
 */
import assert from "node:assert/strict";
import type { ReceivedPacket, TransportFactory } from "../../lib/daemon/ports.ts";
import { masterDownIntervalMs } from "../../lib/vrrp/timing.ts";
import { runClock } from "../fakes/daemon.ts";
import { masterAdvert, soloBackup } from "../fakes/solo_backup.ts";

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

async function stalledBackup(drainable: boolean): Promise<{ state: string; lines: string[] }> {
  const sockets = new BufferedSockets();
  const b = await soloBackup({ transports: sockets.factory(drainable), advertIntervalMs: ADV_MS });
  sockets.deliver(masterAdvert(200));
  await runClock(b.clock, 500, b.settle);
  assert.equal(b.state(), "backup");
  // The stall: adverts keep arriving every interval but the poll thread never reports
  // them, and the loop next wakes well past Master_Down_Interval.
  const mdi = masterDownIntervalMs(3, 100, ADV_MS);
  for (let t = 500 + ADV_MS; t < 500 + mdi + ADV_MS; t += ADV_MS) {
    sockets.buffered.push(masterAdvert(200));
  }
  await runClock(b.clock, 500 + mdi + ADV_MS, b.settle);
  const state = b.state();
  await b.stop();
  return { state, lines: b.lines };
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

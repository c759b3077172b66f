/**
 * What one advert costs in JavaScript, received and sent: the daemon's real code path,
 * in-process, without sockets or a loop that waits, so that runs compare with each
 * other (the namespace runs of `scripts/bench/contention.ts` measure the whole daemon,
 * syscalls and waits included, and are as noisy as the machine).
 *
 * ```sh
 * deno task bench:packet [--instances N]... [--rounds N] [--repeat N]
 * ```
 *
 * Two VRRP runtimes (`NodeRuntime`, as the daemon builds it) with N VRRPv3 instances at
 * advert_int 0.01 s on a manual clock: a master (priority 150) and a backup (100).
 *
 * - send: the clock moves to the master's next deadline and its turn runs (the engine's
 *   tick, encoding, checksum, and the transport's IPv4 framing, as `RawTransport`
 *   frames before `sendto`), until it sent `rounds` adverts per instance;
 * - receive: each framed advert is read back as a packet socket would return it
 *   (`parseLinkFrame`: IP header checks, sender's MAC), handed to the backup's transport
 *   callback, and handled (intake, foreign-sender table, engine step); one loop turn
 *   (`advance()` and `nextDeadlineMs()`) per round of N adverts, as when they arrive
 *   together, and the clock moves one advert interval per round.
 *
 * Printed per path: µs per advert (median of `--repeat` timed runs, after a warm-up)
 * and bytes allocated per advert (the V8 heap's growth over batches that no GC
 * interrupted, median). What is left out: the syscalls, the poll threads and the loop's
 * waiting, which cost the same whatever JavaScript does per packet.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Config, parseConfig } from "../../lib/config/mod.ts";
import { makeInstance } from "../../lib/daemon/instance.ts";
import type { InboxItem } from "../../lib/daemon/inbox.ts";
import type { ReceivedPacket, TransportFactory } from "../../lib/daemon/ports.ts";
import { NodeRuntime } from "../../lib/daemon/runtime.ts";
import { makeRateLog } from "../../lib/daemon/common.ts";
import { Logger, RateLimiter } from "../../lib/log.ts";
import { AF_PACKET, PACKET_MULTICAST, type RecvMsgResult } from "../../lib/sys/libc.ts";
import { frameIpv4Advert, parseLinkFrame } from "../../lib/sys/transport.ts";
import { TrackerHub } from "../../lib/track/hub.ts";
import { CheckService } from "../../lib/check/service.ts";
import { FakeAddressPort, ManualClock, RecordingAnnouncer } from "../../tests/fakes/daemon.ts";
import { FakeTrackProbes } from "../../tests/fakes/track.ts";

const GROUP = "224.0.0.18";
const MASTER_IP = "192.0.2.11";
const BACKUP_IP = "192.0.2.12";
const MASTER_MAC = new Uint8Array([0x02, 0, 0, 0, 0, 0x11]);
const INTERVAL_MS = 10;

function configText(instances: number, priority: number): string {
  const lines = ["[global]", "vrrp_garp_master_delay = 0"];
  for (let i = 1; i <= instances; i++) {
    lines.push(
      "",
      `[vrrp_instance.VI_${i}]`,
      'interface = "eth0"',
      `virtual_router_id = ${i}`,
      "version = 3",
      `priority = ${priority}`,
      `advert_int = ${INTERVAL_MS / 1000}`,
      `virtual_ipaddress = ["198.51.100.${i}/24"]`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** One runtime on a fake transport: what it sends is framed and kept, last per VRID. */
export interface Side {
  rt: NodeRuntime;
  readonly clock: ManualClock;
  /** The transport's receive callback (one transport: eth0, IPv4). */
  deliver: (p: ReceivedPacket) => void;
  /** Framed adverts sent since last taken, while `keep` is set. */
  readonly sent: Uint8Array[];
  keep: boolean;
  /** Adverts sent in all. */
  sentCount: number;
}

export async function makeSide(instances: number, priority: number, ip: string): Promise<Side> {
  const parsed = parseConfig(configText(instances, priority), "bench.toml");
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const config: Config = parsed.config;
  const clock = new ManualClock(1_000_000);
  const logger = new Logger({ level: "error", sink: () => {} });
  const primaries = new Map([["eth0", { ipv4: ip }]]);
  const inst = config.instances.map((vi) => {
    const i = makeInstance(vi, config, primaries);
    if (typeof i === "string") throw new Error(i);
    return i;
  });
  const side: Side = {
    rt: null as unknown as NodeRuntime,
    clock,
    deliver: () => {},
    sent: [],
    keep: true,
    sentCount: 0,
  };
  const transports: TransportFactory = {
    open: (_req, onPacket) => {
      side.deliver = onPacket;
      let id = 0;
      let frame: Uint8Array | undefined;
      return {
        // As `RawTransport` frames, in a buffer kept from one send to the next; the
        // copy kept for the receive side is the bench's, not the daemon's.
        send: (bytes, dst, src, _via, ttl) => {
          id = id >= 0xffff ? 1 : id + 1;
          frame = frameIpv4Advert(bytes, dst, src, ttl ?? 255, id, frame);
          if (side.keep) side.sent.push(frame.slice());
          side.sentCount++;
        },
        close: () => {},
      };
    },
  };
  const enqueue = (item: InboxItem) => {
    // What the daemon's loop does with each queued item, at once.
    if (item.kind === "packet") side.rt.onPacket(item.iface, item.family, item.packet);
    else if (item.kind === "control") item.run();
  };
  const counters: Record<string, number> = {};
  const rt = new NodeRuntime({
    config,
    instances: inst,
    primaries,
    clock,
    transports,
    addresses: new FakeAddressPort([
      { dev: "eth0", address: ip, prefix: 24, family: "ipv4", label: null, hacore: false },
    ]),
    announcer: new RecordingAnnouncer(clock),
    vmacs: null,
    notify: null,
    trackers: new TrackerHub({ probes: new FakeTrackProbes(), logger }),
    checks: new CheckService({ clock, wake: () => {} }),
    log: logger,
    rateLog: makeRateLog(logger, new RateLimiter(10_000), () => clock.nowMs()),
    counters,
    retryMs: 1000,
    wallOffsetMs: 0,
    nowMs: clock.nowMs(),
    enqueue,
  });
  side.rt = rt;
  rt.openTransports();
  await rt.start((work) => work());
  return side;
}

/** One loop turn of `side` at its next deadline. */
export async function turn(side: Side): Promise<void> {
  const due = side.rt.nextDeadlineMs();
  if (due !== null) side.clock.setNow(due);
  await side.rt.advance();
  side.rt.nextDeadlineMs();
}

export const RECV: RecvMsgResult = {
  n: 0,
  flags: 0,
  from: {
    family: AF_PACKET,
    protocol: 0x0800,
    ifindex: 2,
    hatype: 1,
    pkttype: PACKET_MULTICAST,
    addr: MASTER_MAC,
  },
  cmsgs: [],
};

/** Runs `fn` and returns what the heap grew by, or null when a GC ran meanwhile. */
async function heapGrowth(fn: () => Promise<void>): Promise<number | null> {
  const before = Deno.memoryUsage().heapUsed;
  await fn();
  const grew = Deno.memoryUsage().heapUsed - before;
  return grew >= 0 ? grew : null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)];
}

interface Figures {
  readonly usPerAdvert: number;
  readonly bytesPerAdvert: number;
}

/**
 * Times `run(rounds)` (`rounds` × `perRound` adverts) `repeat` times after a warm-up;
 * then weighs the heap's growth over batches small enough (about 200 adverts) that
 * most see no GC.
 */
async function measure(
  repeat: number,
  rounds: number,
  perRound: number,
  run: (rounds: number) => Promise<void>,
): Promise<Figures> {
  for (let i = 0; i < 3; i++) await run(rounds); // warm-up: the JIT, the caches
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    await run(rounds);
    times.push(((performance.now() - t0) * 1000) / (rounds * perRound));
  }
  const small = Math.max(1, Math.round(200 / perRound));
  const bytes: number[] = [];
  for (let i = 0; i < 200; i++) {
    const grew = await heapGrowth(() => run(small));
    if (grew !== null) bytes.push(grew / (small * perRound));
  }
  return { usPerAdvert: median(times), bytesPerAdvert: median(bytes) };
}

async function bench(instances: number, rounds: number, repeat: number) {
  const master = await makeSide(instances, 150, MASTER_IP);
  const backup = await makeSide(instances, 100, BACKUP_IP);
  // The master takes over (nobody else is heard) and the backup hears it.
  for (let t = 0; t < 400; t++) {
    await turn(master);
    for (const f of master.sent.splice(0)) feed(backup, f);
    backup.clock.setNow(master.clock.nowMs());
    await backup.rt.advance();
  }
  const states = (s: Side) => s.rt.table.live.map((i) => s.rt.table.routerOf(i).state);
  if (!states(master).every((s) => s === "master")) throw new Error("the master is not master");
  if (!states(backup).every((s) => s === "backup")) throw new Error("the backup is not backup");

  // The send path: the master's turns until it sent `rounds` adverts per instance.
  master.keep = false;
  const send = await measure(repeat, rounds, instances, async (rounds) => {
    const until = master.sentCount + rounds * instances;
    while (master.sentCount < until) await turn(master);
  });
  master.keep = true;

  // The receive path: one framed advert per instance, read back and handled.
  const frames = new Map<number, Uint8Array>();
  await turn(master);
  for (const f of master.sent.splice(0)) frames.set(f[20 + 1], f);
  const batch = [...frames.values()];
  const buf = new Uint8Array(65536);
  const receive = await measure(repeat, rounds, instances, async (rounds) => {
    for (let r = 0; r < rounds; r++) {
      backup.clock.setNow(backup.clock.nowMs() + INTERVAL_MS);
      for (const f of batch) {
        buf.set(f);
        RECV.n = f.length;
        const p = parseLinkFrame("ipv4", GROUP, buf, RECV);
        if (p === null || typeof p === "string") throw new Error("frame refused");
        backup.deliver(p);
      }
      await backup.rt.advance();
      backup.rt.nextDeadlineMs();
    }
  });
  if (!states(backup).every((s) => s === "backup")) throw new Error("the backup took over");
  return { send, receive };
}

function feed(side: Side, frame: Uint8Array) {
  const buf = new Uint8Array(frame);
  RECV.n = buf.length;
  const p = parseLinkFrame("ipv4", GROUP, buf, RECV);
  if (p !== null && typeof p !== "string") side.deliver(p);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      instances: { type: "string", multiple: true },
      rounds: { type: "string" },
      repeat: { type: "string" },
    },
  });
  const sizes = (values.instances ?? ["1", "50"]).map(Number);
  const rounds = Number(values.rounds ?? 2000);
  const repeat = Number(values.repeat ?? 7);
  console.log(
    `packet cost: VRRPv3, IPv4, advert_int ${INTERVAL_MS / 1000} s; median of ${repeat} runs ` +
      `of ${rounds} adverts per instance (Deno ${Deno.version.deno})`,
  );
  console.log("instances  path     µs/advert  bytes/advert");
  for (const n of sizes) {
    const r = await bench(n, Math.max(20, Math.round(rounds / Math.sqrt(n))), repeat);
    for (const [path, f] of [["send", r.send], ["receive", r.receive]] as const) {
      console.log(
        `${String(n).padStart(9)}  ${path.padEnd(7)}  ${f.usPerAdvert.toFixed(2).padStart(9)}  ${
          f.bytesPerAdvert.toFixed(0).padStart(12)
        }`,
      );
    }
  }
}

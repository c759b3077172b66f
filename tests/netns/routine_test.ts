/**
 * A Backup's routine adverts on the real kernel: once a transport is told which adverts
 * are routine, such an advert does not wake the loop (it waits for the next wake, and
 * carries its receive time), while anything else still does, promptly, bringing the
 * routine ones queued before it along in order.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ReceivedPacket, RoutineAdvert } from "../../lib/sys/ports.ts";
import { Reactor } from "../../lib/sys/reactor.ts";
import {
  DOORBELL_MIN_ROUTINE,
  routineBell,
  SystemTransportFactory,
} from "../../lib/sys/transport.ts";
import { encodeAdvert, VRRP_GROUP_IPV4, VRRP_GROUP_IPV6 } from "../../lib/vrrp/packet.ts";
import { inNetns, ipNs, type Lab, netnsTest, withLab } from "./helpers.ts";

const WAIT_MS = 5000;
/** How long a routine advert is seen not to be delivered without a wake. */
const QUIET_MS = 300;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + WAIT_MS;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

interface FamilyCase {
  readonly family: "ipv4" | "ipv6";
  readonly group: string;
  readonly a: string;
  readonly b: string;
  readonly other: string;
  readonly prefix: number;
}

const CASES: readonly FamilyCase[] = [
  {
    family: "ipv4",
    group: VRRP_GROUP_IPV4,
    a: "192.0.2.1",
    b: "192.0.2.2",
    other: "192.0.2.3",
    prefix: 24,
  },
  {
    family: "ipv6",
    group: VRRP_GROUP_IPV6,
    a: "2001:db8::1",
    b: "2001:db8::2",
    other: "2001:db8::3",
    prefix: 64,
  },
];

function advert(c: FamilyCase, src: string, priority: number): Uint8Array {
  return encodeAdvert(
    {
      version: 3,
      vrid: 7,
      priority,
      intervalMs: 10,
      addresses: [c.family === "ipv4" ? "198.51.100.7" : "2001:db8:100::7"],
      authType: 0,
      authData: new Uint8Array(0),
    },
    { family: c.family, src, dst: c.group },
    "pseudo-header",
  );
}

async function pairLab(lab: Lab, c: FamilyCase) {
  const nsA = await lab.netns();
  const nsB = await lab.netns();
  const [a, b] = await lab.veth(nsA, nsB);
  const family = c.family === "ipv4" ? [] : ["nodad"];
  await ipNs(nsA, "addr", "add", `${c.a}/${c.prefix}`, "dev", a, ...family);
  await ipNs(nsA, "addr", "add", `${c.other}/${c.prefix}`, "dev", a, ...family);
  await ipNs(nsB, "addr", "add", `${c.b}/${c.prefix}`, "dev", b, ...family);
  return { nsA, nsB, a, b };
}

/**
 * On a lab pair: B's transport on a reactor of its own, and A's to send from on another
 * (the sender's packet socket sees what it sends, and that wake would read B's sockets).
 * B uses the doorbell from one routine advert on, or as the factory does by default.
 */
async function openPair(
  lab: Lab,
  c: FamilyCase,
  onPacket: (p: ReceivedPacket, reactor: Reactor) => void,
  doorbell: "from one" | "default" = "from one",
) {
  const { nsA, nsB, a, b } = await pairLab(lab, c);
  const reactor = new Reactor();
  const factory = new SystemTransportFactory(
    doorbell === "default" ? { reactor } : { reactor, doorbellMin: 1 },
  );
  const sender = new SystemTransportFactory({ reactor: new Reactor() });
  const req = { family: c.family, group: c.group };
  const tA = inNetns(nsA, () => sender.open({ interface: a, ...req }, () => {}));
  const tB = inNetns(
    nsB,
    () => factory.open({ interface: b, ...req }, (p) => onPacket(p, reactor)),
  );
  const close = async () => {
    await factory.close();
    await sender.close();
    await reactor.close();
  };
  return { reactor, factory, tA, tB, close };
}

interface Got {
  readonly p: ReceivedPacket;
  /** When the callback ran (the reactor's clock). */
  readonly readAtMs: number;
}

for (const c of CASES) {
  netnsTest(
    `${c.family}: a routine advert waits for the next wake with its receive time; anything else wakes the loop`,
    async () => {
      await withLab(async (lab) => {
        const got: Got[] = [];
        const { reactor, tA, tB, close } = await openPair(
          lab,
          c,
          (p, r) => got.push({ p, readAtMs: r.nowMs() }),
        );
        const routine = advert(c, c.a, 150);
        const send = (bytes: Uint8Array, src = c.a) => tA.send(bytes, c.group, src);
        try {
          send(routine);
          await waitFor(() => got.length === 1, "the first advert, before any routine is set");
          assert.ok(got[0].p.atMs !== undefined, "a packet socket stamps what it receives");

          assert.ok(tB.expectRoutine, "the system transport takes routine adverts");
          tB.expectRoutine([{ src: c.a, head: routine.slice(0, 6) }]);
          // The switch itself wakes the loop (its poll set changed): let that wake pass.
          await sleep(50);
          const sentAt = reactor.nowMs();
          send(routine);
          await sleep(QUIET_MS);
          assert.equal(got.length, 1, "a routine advert wakes nobody");

          // Any wake reads it first: here a timer's.
          reactor.at(reactor.nowMs() + 1, () => {});
          await waitFor(() => got.length === 2, "the routine advert, on the timer's wake");
          const late = got[1];
          assert.deepEqual(late.p.bytes, routine);
          assert.ok(late.readAtMs - sentAt >= QUIET_MS, "read on the later wake");
          const ageMs = late.readAtMs - late.p.atMs!;
          assert.ok(
            ageMs >= QUIET_MS - 5 && late.p.atMs! >= sentAt - 1,
            `judged from its arrival (${(late.p.atMs! - sentAt).toFixed(2)} ms after the ` +
              `send), not from its read (${ageMs.toFixed(1)} ms later)`,
          );

          // A priority 0 from the same master rings: it comes with the routine one before it.
          send(routine);
          const release = advert(c, c.a, 0);
          send(release);
          await waitFor(() => got.length === 4, "a release and the routine advert before it");
          assert.deepEqual(got.slice(2).map((g) => g.p.bytes[2]), [150, 0], "in arrival order");

          // Another sender with the routine bytes rings as well.
          send(advert(c, c.other, 150), c.other);
          await waitFor(() => got.length === 5, "the same advert from another address");
          assert.equal(got[4].p.src, c.other);

          // Back to every packet waking the loop.
          tB.expectRoutine([]);
          send(routine);
          await waitFor(() => got.length === 6, "a routine advert once none is expected");
        } finally {
          await close();
        }
      });
    },
  );
}

for (const c of CASES) {
  netnsTest(
    `${c.family}: identical routine adverts read in one drain come as one, counted, with the last one's arrival, before what rang`,
    async () => {
      await withLab(async (lab) => {
        const got: ReceivedPacket[] = [];
        const { reactor, factory, tA, tB, close } = await openPair(lab, c, (p) => got.push(p));
        const high = advert(c, c.a, 150);
        const low = advert(c, c.a, 140);
        const send = (bytes: Uint8Array) => tA.send(bytes, c.group, c.a);
        try {
          send(high);
          await waitFor(() => got.length === 1, "the first advert");
          tB.expectRoutine!([{ src: c.a, head: high.slice(0, 6) }]);
          await sleep(50);
          // Three routine adverts wake nobody; the fourth, another priority, rings.
          const sentAt: number[] = [];
          for (const bytes of [high, high, high]) {
            sentAt.push(reactor.nowMs());
            send(bytes);
            await sleep(20);
          }
          assert.equal(got.length, 1, "routine adverts wake nobody");
          send(low);
          await waitFor(() => got.length === 3, "the run, then the advert that rang");
          assert.deepEqual(got.slice(1).map((p) => p.bytes[2]), [150, 140], "in arrival order");
          assert.deepEqual(got.slice(1).map((p) => p.repeats ?? 1), [3, 1]);
          // The run is judged from its last advert, sent 40 ms after its first.
          assert.ok(
            got[1].atMs! >= sentAt[2] - 1 && got[1].atMs! <= got[2].atMs!,
            "the run's arrival",
          );
          // Two more, read on a timer's wake: a run of its own.
          send(high);
          await sleep(20);
          const lastSent = reactor.nowMs();
          send(high);
          await sleep(20);
          reactor.at(reactor.nowMs() + 1, () => {});
          await waitFor(() => got.length === 4, "the second run, on the timer's wake");
          assert.equal(got[3].repeats, 2);
          assert.ok(got[3].atMs! >= lastSent - 1, "judged from its last advert");
          assert.equal(factory.stats().received, 7, "every advert read is counted");
        } finally {
          await close();
        }
      });
    },
  );
}

for (const c of CASES) {
  netnsTest(
    `${c.family}: by default one routine advert still wakes the loop; the doorbell takes over from ${DOORBELL_MIN_ROUTINE}`,
    async () => {
      await withLab(async (lab) => {
        const got: ReceivedPacket[] = [];
        const { tA, tB, close } = await openPair(lab, c, (p) => got.push(p), "default");
        const routine = advert(c, c.a, 150);
        const other = advert(c, c.other, 150);
        const send = (bytes: Uint8Array, src = c.a) => tA.send(bytes, c.group, src);
        try {
          send(routine);
          await waitFor(() => got.length === 1, "the first advert");
          tB.expectRoutine!([{ src: c.a, head: routine.slice(0, 6) }]);
          await sleep(50);
          send(routine);
          await waitFor(() => got.length === 2, "a lone routine advert, on its own wake");

          tB.expectRoutine!([
            { src: c.a, head: routine.slice(0, 6) },
            { src: c.other, head: other.slice(0, 6) },
          ]);
          await sleep(50);
          send(routine);
          await sleep(QUIET_MS);
          assert.equal(got.length, 2, "with two routine adverts, one wakes nobody");
          send(advert(c, c.a, 0));
          await waitFor(() => got.length === 4, "a release rings, the routine one before it");
          assert.deepEqual(got.slice(2).map((p) => p.bytes[2]), [150, 0], "in arrival order");

          // Back to one: every advert wakes the loop again.
          tB.expectRoutine!([{ src: c.a, head: routine.slice(0, 6) }]);
          await sleep(50);
          send(routine);
          await waitFor(() => got.length === 5, "a lone routine advert once more");
        } finally {
          await close();
        }
      });
    },
  );
}

Deno.test("routineBell: 255 routine adverts of either family fit the kernel's 4,096 instructions", () => {
  const head = Uint8Array.of(0x31, 1, 100, 1, 0, 1);
  for (const family of ["ipv4", "ipv6"] as const) {
    const src = family === "ipv4" ? "192.0.2.1" : "2001:db8::1";
    const routine: RoutineAdvert[] = Array.from({ length: 255 }, () => ({ src, head }));
    const prog = routineBell(family, routine);
    assert.ok(prog.length <= 4096, `${family}: ${prog.length} instructions`);
    for (const insn of prog) assert.ok(insn.jt <= 255 && insn.jf <= 255, "8-bit jumps");
  }
});

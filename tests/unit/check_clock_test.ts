/**
 * The checks' turn clock: one reading of the clock per turn (each is a syscall in the
 * UML guest), a fresh one when asked, and a new one once the turn is over.
 */
import assert from "node:assert/strict";
import { TurnClock } from "../../lib/check/clock.ts";

/** A manual clock that counts its readings. */
function countingClock(): { nowMs(): number; t: number; reads: number } {
  const c = {
    t: 100,
    reads: 0,
    nowMs() {
      c.reads++;
      return c.t;
    },
  };
  return c;
}

Deno.test("turn clock: reads the clock once per turn, however often asked", () => {
  const src = countingClock();
  const clock = new TurnClock(src);
  assert.equal(clock.now(), 100);
  src.t = 150;
  assert.equal(clock.now(), 100, "the turn's reading");
  assert.equal(clock.now(), 100);
  assert.equal(src.reads, 1);
});

Deno.test("turn clock: a fresh reading is what the rest of the turn sees", () => {
  const src = countingClock();
  const clock = new TurnClock(src);
  clock.now();
  src.t = 170;
  assert.equal(clock.fresh(), 170);
  assert.equal(clock.now(), 170);
  assert.equal(src.reads, 2);
});

Deno.test("turn clock: once the turn's microtasks have run, the clock is read again", async () => {
  const src = countingClock();
  const clock = new TurnClock(src);
  assert.equal(clock.now(), 100);
  src.t = 200;
  await null;
  assert.equal(clock.now(), 200);
  src.t = 300;
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(clock.now(), 300);
  assert.equal(src.reads, 3);
});

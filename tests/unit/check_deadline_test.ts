/**
 * A check run's time budget: a Deadline keeping its own timer, and one adopting a
 * CheckBudget kept by its owner (the scheduler), with no timer or controller of its own.
 */
import assert from "node:assert/strict";
import { CANCELLED, CheckBudget, Deadline, TIMED_OUT } from "../../lib/check/deadline.ts";

Deno.test("deadline: on a plain signal it keeps its own timer and says it timed out", async () => {
  const parent = new AbortController();
  const d = new Deadline(parent.signal, 30);
  assert.notEqual(d.signal, parent.signal);
  await d.done();
  assert.equal(d.expired, true);
  assert.equal(d.timedOut, true);
  assert.equal(d.signal.reason, TIMED_OUT);
  assert.equal(d.reason(), "timed out after 30 ms");
  assert.equal(parent.signal.aborted, false, "the caller's signal is left alone");
  d.dispose();
});

Deno.test("deadline: the caller's abort ends it at once as 'aborted', and clears its timer", () => {
  const parent = new AbortController();
  const d = new Deadline(parent.signal, 60_000);
  parent.abort();
  assert.equal(d.expired, true);
  assert.equal(d.timedOut, false);
  assert.equal(d.signal.reason, CANCELLED);
  assert.equal(d.reason(), "aborted");
  // No dispose: the abort already cleared the timer (the sanitizers would see it).
});

Deno.test("deadline: adopts a CheckBudget with the same timeout: same signal, no timer", () => {
  const b = new CheckBudget(500);
  const d = new Deadline(b.signal, 500);
  assert.equal(d.signal, b.signal);
  assert.equal(d.expired, false);
  assert.ok(Math.abs(b.expiresAt - b.startedAt - 500) < 1e-6);
  b.expire();
  assert.equal(d.expired, true);
  assert.equal(d.timedOut, true);
  assert.equal(d.reason(), "timed out after 500 ms");
  assert.equal(b.signal.reason, TIMED_OUT);
  assert.equal(b.settled, true);
  d.dispose(); // nothing of its own to release
});

Deno.test("deadline: an adopted budget cancelled by its owner reads as 'aborted'", async () => {
  const b = new CheckBudget(500);
  const d = new Deadline(b.signal, 500);
  const done = d.done();
  b.cancel();
  await done;
  assert.equal(d.timedOut, false);
  assert.equal(d.reason(), "aborted");
  assert.equal(b.signal.reason, CANCELLED);
  b.expire(); // settled already: no second abort, the reason stays
  assert.equal(b.signal.reason, CANCELLED);
});

Deno.test("deadline: a settled budget is never aborted by expire()", () => {
  const b = new CheckBudget(10);
  b.settle();
  b.expire();
  b.cancel();
  assert.equal(b.signal.aborted, false);
});

Deno.test("deadline: a budget with another timeout is not adopted; its cancel still ends it", () => {
  const b = new CheckBudget(1000);
  const d = new Deadline(b.signal, 200);
  assert.notEqual(d.signal, b.signal, "a shorter budget of its own");
  b.cancel();
  assert.equal(d.expired, true);
  assert.equal(d.reason(), "aborted");
});

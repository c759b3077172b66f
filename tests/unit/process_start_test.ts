/**
 * The process's start time, the anchor of the first Master_Down deadline: read from
 * `/proc/self/stat` whatever its command name holds, and never after now.
 */
import assert from "node:assert/strict";
import { processStartedAtMs, statStartTicks } from "../../lib/sys/process_start.ts";

Deno.test("statStartTicks reads field 22 even when the command name holds spaces and parentheses", () => {
  const stat = "42 (a b) c) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 12345 1000 0";
  assert.equal(statStartTicks(stat), 12345);
});

Deno.test("statStartTicks is null for a line without the field", () => {
  assert.equal(statStartTicks("42 (deno) S 1 42"), null);
  assert.equal(statStartTicks("garbage"), null);
});

Deno.test("processStartedAtMs puts this process's start before now, within its lifetime", () => {
  const now = performance.now();
  const at = processStartedAtMs(now);
  assert.notEqual(at, null);
  assert.ok(at! <= now, `${at} after ${now}`);
  // performance.now() counts from the runtime's start, a little after the fork; the
  // tick truncation puts the estimate up to 10 ms earlier still.
  assert.ok(at! > -10_000 && at! < 20, `started at ${at} on performance.now()'s scale`);
});

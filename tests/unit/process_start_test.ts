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

Deno.test("processStartedAtMs puts this process's start before now, at one fixed moment", async () => {
  const first = processStartedAtMs();
  assert.notEqual(first, null);
  assert.ok(first! <= performance.now());
  await new Promise((r) => setTimeout(r, 60));
  // Read again later, the start is the same moment (not "now minus a constant"): the
  // clocks and units agree, and nothing slow sits between the two clocks' readings.
  const again = processStartedAtMs()!;
  assert.ok(Math.abs(again - first!) < 2, `${first} then ${again}`);
});

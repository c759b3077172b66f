/**
 * The logger: level filtering, the human and json formats, journald priorities, and
 * the rate limiter that keeps drop logs bounded.
 */
import assert from "node:assert/strict";
import {
  journaldFromEnv,
  LOG_LEVELS,
  Logger,
  type LoggerOptions,
  parseLogLevel,
  RateLimiter,
  suppressedNote,
  SYSLOG_PRIORITY,
} from "../../lib/log.ts";

const EPOCH = new Date("2026-11-21T22:59:06.400Z");

function capture(opts: LoggerOptions = {}): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = new Logger({ sink: (l) => lines.push(l), wallClock: () => EPOCH, ...opts });
  return { log, lines };
}

Deno.test("human format: ISO timestamp, level, message, then key=value fields", () => {
  const { log, lines } = capture();
  log.notice("VI_1: BACKUP -> MASTER (master-down-timer: no advert from 192.0.2.12 for 3609.4 ms)");
  log.warn("dropped", { reason: "checksum", from: "192.0.2.9", count: 3, text: "two words" });
  assert.deepStrictEqual(lines, [
    "2026-11-21T22:59:06.400Z notice VI_1: BACKUP -> MASTER (master-down-timer: no advert from 192.0.2.12 for 3609.4 ms)",
    `2026-11-21T22:59:06.400Z warn dropped reason=checksum from=192.0.2.9 count=3 text="two words"`,
  ]);
});

Deno.test("the level filters less severe records, and info is the default", () => {
  const { log, lines } = capture();
  log.debug("hidden");
  log.info("shown");
  assert.deepStrictEqual(lines.map((l) => l.split(" ")[1]), ["info"]);

  const warnOnly = capture({ level: "warn" });
  for (const level of LOG_LEVELS) warnOnly.log.log(level, level);
  assert.deepStrictEqual(warnOnly.lines.map((l) => l.split(" ")[2]), ["warn", "error"]);
  assert.equal(warnOnly.log.enabled("notice"), false);
  assert.equal(warnOnly.log.enabled("error"), true);
});

Deno.test("json format: one object per line with ts, level, msg and the fields", () => {
  const { log, lines } = capture({ format: "json" });
  log.error("cannot add\n192.0.2.100", { errno: "EPERM", held: false, level: "not overwritten" });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0].includes("\n"));
  assert.deepStrictEqual(JSON.parse(lines[0]), {
    ts: "2026-11-21T22:59:06.400Z",
    level: "error",
    msg: "cannot add\n192.0.2.100",
    errno: "EPERM",
    held: false,
  });
});

Deno.test("journald: <N> syslog priority instead of the timestamp", () => {
  const { log, lines } = capture({ journald: true, level: "debug" });
  for (const level of LOG_LEVELS) log.log(level, "x");
  assert.deepStrictEqual(lines, [
    "<7>debug x",
    "<6>info x",
    "<5>notice x",
    "<4>warn x",
    "<3>error x",
  ]);
  const json = capture({ journald: true, format: "json" });
  json.log.warn("y");
  assert.deepStrictEqual(json.lines, [`<${SYSLOG_PRIORITY.warn}>{"level":"warn","msg":"y"}`]);
});

Deno.test("a human line never spans lines, so journald and grep see one record", () => {
  const { log, lines } = capture();
  log.info("a\nb\r\nc");
  assert.deepStrictEqual(lines, ["2026-11-21T22:59:06.400Z info a b c"]);
});

Deno.test("a throwing sink or clock never throws out of the logger", () => {
  const bad = new Logger({
    sink: () => {
      throw new Error("EPIPE");
    },
  });
  bad.error("lost, quietly");
  const lines: string[] = [];
  const badClock = new Logger({
    sink: (l) => lines.push(l),
    wallClock: () => {
      throw new Error("no clock");
    },
  });
  badClock.warn("still logged");
  assert.equal(lines.length, 1);
  assert.match(lines[0], /still logged/);
});

Deno.test("parseLogLevel accepts the names and the syslog spellings", () => {
  assert.equal(parseLogLevel("DEBUG"), "debug");
  assert.equal(parseLogLevel("warning"), "warn");
  assert.equal(parseLogLevel("err"), "error");
  assert.equal(parseLogLevel("loud"), null);
});

Deno.test("journaldFromEnv follows JOURNAL_STREAM", () => {
  const old = Deno.env.get("JOURNAL_STREAM");
  try {
    Deno.env.set("JOURNAL_STREAM", "8:12345");
    assert.equal(journaldFromEnv(), true);
    Deno.env.delete("JOURNAL_STREAM");
    assert.equal(journaldFromEnv(), false);
  } finally {
    if (old !== undefined) Deno.env.set("JOURNAL_STREAM", old);
  }
});

Deno.test("rate limiter: one line per key per window, then the suppressed count", () => {
  const rl = new RateLimiter(10_000);
  assert.deepStrictEqual(rl.check("VI_1/checksum", 0), { allow: true, suppressed: 0 });
  for (let i = 1; i <= 500; i++) {
    assert.deepStrictEqual(rl.check("VI_1/checksum", i), { allow: false });
  }
  // Another key has its own budget.
  assert.deepStrictEqual(rl.check("VI_1/ttl", 5), { allow: true, suppressed: 0 });
  assert.equal(rl.pending("VI_1/checksum"), 500);
  assert.deepStrictEqual(rl.check("VI_1/checksum", 9_999.9), { allow: false });
  assert.deepStrictEqual(rl.check("VI_1/checksum", 10_000), { allow: true, suppressed: 501 });
  assert.equal(rl.pending("VI_1/checksum"), 0);
  // The window restarts from the last printed line.
  assert.deepStrictEqual(rl.check("VI_1/checksum", 19_999), { allow: false });
  assert.deepStrictEqual(rl.check("VI_1/checksum", 20_000), { allow: true, suppressed: 1 });
});

Deno.test("suppressedNote", () => {
  assert.equal(suppressedNote(0), "");
  assert.equal(suppressedNote(7), " (7 more suppressed)");
});

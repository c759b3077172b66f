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
  RATE_OVERFLOW_KEY,
  RateLimiter,
  suppressedNote,
  suppressedSummaryLine,
  SYSLOG_PRIORITY,
  truncateText,
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

Deno.test("rate limiter sweep: a flood that stopped is owed one summary, then the key is forgotten", () => {
  const rl = new RateLimiter(10_000);
  rl.check("VI_1/foreign/192.0.2.9", 0);
  for (let i = 1; i <= 999; i++) rl.check("VI_1/foreign/192.0.2.9", i);
  rl.check("VI_1/ttl", 0);
  assert.deepStrictEqual(rl.sweep(9_999), [], "nothing is due inside the window");
  assert.deepStrictEqual(rl.sweep(10_000), [{ key: "VI_1/foreign/192.0.2.9", suppressed: 999 }]);
  // The quiet key is forgotten; the summarised one restarts its window and is owed nothing.
  assert.equal(rl.size, 1);
  assert.deepStrictEqual(rl.sweep(20_000), []);
  assert.equal(rl.size, 0);
  assert.deepStrictEqual(rl.check("VI_1/foreign/192.0.2.9", 20_001), {
    allow: true,
    suppressed: 0,
  });
});

Deno.test("rate limiter: beyond maxKeys new keys share one overflow budget", () => {
  const rl = new RateLimiter(10_000, 2);
  assert.deepStrictEqual(rl.check("a", 0), { allow: true, suppressed: 0 });
  assert.deepStrictEqual(rl.check("b", 0), { allow: true, suppressed: 0 });
  assert.equal(rl.keyFor("c"), "(other)");
  assert.equal(RATE_OVERFLOW_KEY, "(other)");
  // The limiter is full, so a third key may still print once: it is the overflow's key.
  assert.deepStrictEqual(rl.check("c", 1), { allow: true, suppressed: 0 });
  assert.equal(rl.keyFor("d"), "(other)");
  for (let i = 0; i < 1000; i++) {
    assert.deepStrictEqual(rl.check(`spoofed-${i}`, 2), { allow: false });
  }
  assert.equal(rl.size, 3);
  assert.equal(rl.pending(RATE_OVERFLOW_KEY), 1000);
  assert.equal(rl.keyFor("a"), "a", "known keys keep their own budget");
});

Deno.test("suppressedSummaryLine names the count, the window and the key", () => {
  assert.equal(
    suppressedSummaryLine({ key: "VI_1/foreign/192.0.2.9", suppressed: 3 }, 10_000),
    "3 similar lines suppressed in 10 s (VI_1/foreign/192.0.2.9)",
  );
  assert.equal(
    suppressedSummaryLine({ key: "k", suppressed: 1 }, 1000),
    "1 similar line suppressed in 1 s (k)",
  );
});

Deno.test("truncateText keeps short text and cuts long text to the limit plus its length", () => {
  assert.equal(truncateText("short", 80), "short");
  assert.equal(truncateText("x".repeat(80), 80), "x".repeat(80));
  const cut = truncateText("y".repeat(200_000));
  assert.equal(cut, `${"y".repeat(80)}… (200000 characters)`);
  assert.ok(cut.length < 120);
});

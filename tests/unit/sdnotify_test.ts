/**
 * systemd notify: what reaches a real AF_UNIX datagram socket (bound in a temp dir, or
 * in the abstract namespace) byte for byte, the MONOTONIC_USEC clock, the watchdog
 * variables, and the promises that matter to a daemon: a no-op outside systemd, and
 * never an exception, with a failure logged once per outage.
 */
import assert from "node:assert/strict";
import { Logger } from "../../lib/log.ts";
import {
  AF_UNIX,
  bindSocket,
  clockMonotonicUsec,
  closeFd,
  openSocket,
  recvFrom,
  SOCK_DGRAM,
  sockaddrUn,
} from "../../lib/sys/libc.ts";
import { formatNotify, parseWatchdogMs, SdNotify } from "../../lib/sys/sdnotify.ts";

/** A stand-in for systemd's notify socket: bound, non-blocking, drained on demand. */
class Listener {
  readonly fd: number;
  readonly address: string;
  constructor(address: string) {
    this.address = address;
    this.fd = openSocket(AF_UNIX, SOCK_DGRAM, 0);
    bindSocket(this.fd, sockaddrUn(address));
  }
  /** Every datagram queued so far, as text. A send is synchronous, so none is in flight. */
  drain(): string[] {
    const out: string[] = [];
    const buf = new Uint8Array(4096);
    for (;;) {
      const got = recvFrom(this.fd, buf);
      if (got === null) return out;
      out.push(new TextDecoder().decode(buf.subarray(0, got.n)));
    }
  }
  close(): void {
    closeFd(this.fd);
  }
}

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new Logger({ sink: (l) => lines.push(l) }), lines };
}

async function withPathListener(fn: (l: Listener, dir: string) => Promise<void> | void) {
  const dir = await Deno.makeTempDir({ prefix: "hacore-sdnotify-" });
  const l = new Listener(`${dir}/notify`);
  try {
    await fn(l, dir);
  } finally {
    l.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("sockaddrUn: a path is NUL-terminated; an @name is abstract, without a trailing NUL", () => {
  assert.deepEqual([...sockaddrUn("/a")], [AF_UNIX, 0, 0x2f, 0x61, 0]);
  assert.deepEqual([...sockaddrUn("@ab")], [AF_UNIX, 0, 0, 0x61, 0x62]);
  assert.equal(sockaddrUn("/" + "x".repeat(106)).length, 110);
  assert.throws(() => sockaddrUn("/" + "x".repeat(107)), RangeError);
  assert.throws(() => sockaddrUn("@"), RangeError);
});

Deno.test("READY=1, STATUS=, STOPPING=1 and WATCHDOG=1 arrive exactly, one datagram each", async () => {
  await withPathListener((l) => {
    const { logger, lines } = capture();
    const sd = new SdNotify({ env: { NOTIFY_SOCKET: l.address }, logger });
    assert.equal(sd.enabled, true);
    assert.equal(sd.socketPath, l.address);
    assert.equal(sd.ready(), true);
    assert.equal(sd.status("VI_1 master, VI_2 backup"), true);
    assert.equal(sd.ready("2 instances"), true);
    assert.equal(sd.watchdog(), true);
    assert.equal(sd.stopping(), true);
    assert.equal(sd.stopping("releasing"), true);
    assert.deepEqual(l.drain(), [
      "READY=1",
      "STATUS=VI_1 master, VI_2 backup",
      "READY=1\nSTATUS=2 instances",
      "WATCHDOG=1",
      "STOPPING=1",
      "STOPPING=1\nSTATUS=releasing",
    ]);
    assert.deepEqual(lines, []);
  });
});

Deno.test("RELOADING=1 carries MONOTONIC_USEC read from CLOCK_MONOTONIC, in microseconds", async () => {
  await withPathListener(async (l) => {
    const sd = new SdNotify({ env: { NOTIFY_SOCKET: l.address }, logger: capture().logger });
    const before = clockMonotonicUsec();
    assert.equal(sd.reloading(), true);
    const after = clockMonotonicUsec();
    assert.equal(sd.reloading("reloading /etc/hacore/hacore.toml"), true);
    const [first, second] = l.drain();
    const m = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(first);
    assert.ok(m, JSON.stringify(first));
    const usec = BigInt(m[1]);
    assert.ok(before <= usec && usec <= after, `${before} <= ${usec} <= ${after}`);
    assert.match(
      second,
      /^RELOADING=1\nMONOTONIC_USEC=\d+\nSTATUS=reloading \/etc\/hacore\/hacore.toml$/,
    );
    // The unit is µs: 50 ms of sleep moves the clock by about 50 000.
    const t0 = clockMonotonicUsec();
    await sleep(50);
    const elapsed = Number(clockMonotonicUsec() - t0);
    assert.ok(elapsed >= 45_000 && elapsed < 5_000_000, `elapsed ${elapsed} µs`);
  });
});

Deno.test("an abstract-namespace @name socket works", () => {
  const name = `@hacore-test-${crypto.randomUUID()}`;
  const l = new Listener(name);
  try {
    const sd = new SdNotify({ env: { NOTIFY_SOCKET: name }, logger: capture().logger });
    assert.equal(sd.ready("abstract"), true);
    assert.deepEqual(l.drain(), ["READY=1\nSTATUS=abstract"]);
  } finally {
    l.close();
  }
});

Deno.test("a status with line breaks stays one STATUS line", async () => {
  assert.equal(formatNotify([["STATUS", "a\nb\r\nc\rd"]]), "STATUS=a b c d");
  await withPathListener((l) => {
    new SdNotify({ env: { NOTIFY_SOCKET: l.address } }).status("two\nlines");
    assert.deepEqual(l.drain(), ["STATUS=two lines"]);
  });
});

Deno.test("no NOTIFY_SOCKET: every call is a silent no-op", () => {
  const { logger, lines } = capture();
  for (const env of [{}, { NOTIFY_SOCKET: "" }, { WATCHDOG_USEC: "1000000" }]) {
    const sd = new SdNotify({ env, logger });
    assert.equal(sd.enabled, false);
    assert.equal(sd.socketPath, null);
    assert.equal(sd.ready("x"), false);
    assert.equal(sd.reloading(), false);
    assert.equal(sd.stopping(), false);
    assert.equal(sd.status("x"), false);
    assert.equal(sd.watchdog(), false);
    assert.equal(sd.watchdogIntervalMs(), null, "nowhere to ping, so no watchdog");
    sd.startWatchdog(() => true)(); // a no-op stopper, no timer left behind
  }
  assert.deepEqual(lines, []);
});

Deno.test("an unsupported NOTIFY_SOCKET (vsock:, relative) disables notify with one warning", () => {
  for (const raw of ["vsock:2:1234", "run/notify", "@"]) {
    const { logger, lines } = capture();
    const sd = new SdNotify({ env: { NOTIFY_SOCKET: raw }, logger });
    assert.equal(sd.enabled, false, raw);
    assert.equal(sd.ready(), false);
    assert.equal(lines.length, 1, raw);
    assert.match(lines[0], /NOTIFY_SOCKET=.*not notifying systemd/);
  }
});

Deno.test("a failing send never throws and is logged once per outage", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hacore-sdnotify-" });
  const path = `${dir}/notify`;
  const { logger, lines } = capture();
  try {
    const sd = new SdNotify({ env: { NOTIFY_SOCKET: path }, logger });
    assert.equal(sd.ready(), false);
    assert.equal(sd.watchdog(), false);
    assert.equal(sd.reloading(), false);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /systemd notify \(READY=1\) to .*notify failed: .*ENOENT/);

    const l = new Listener(path); // systemd came back
    assert.equal(sd.watchdog(), true);
    assert.deepEqual(l.drain(), ["WATCHDOG=1"]);
    l.close();
    await Deno.remove(path);

    assert.equal(sd.stopping(), false); // a second outage is logged again
    assert.equal(sd.watchdog(), false);
    assert.equal(lines.length, 2);
    assert.match(lines[1], /STOPPING=1/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a NOTIFY_SOCKET too long for sun_path fails softly", () => {
  const { logger, lines } = capture();
  const sd = new SdNotify({ env: { NOTIFY_SOCKET: "/" + "x".repeat(200) }, logger });
  assert.equal(sd.ready(), false);
  assert.equal(sd.ready(), false);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /AF_UNIX address must be/);
});

Deno.test("parseWatchdogMs: WATCHDOG_USEC in ms, only for our pid, malformed means none", () => {
  assert.equal(parseWatchdogMs({ WATCHDOG_USEC: "10000000" }, 42), 10_000);
  assert.equal(parseWatchdogMs({ WATCHDOG_USEC: "10000000", WATCHDOG_PID: "42" }, 42), 10_000);
  assert.equal(parseWatchdogMs({ WATCHDOG_USEC: "1500" }, 42), 1.5);
  assert.equal(parseWatchdogMs({ WATCHDOG_USEC: "10000000", WATCHDOG_PID: "41" }, 42), null);
  assert.equal(parseWatchdogMs({ WATCHDOG_USEC: "10000000", WATCHDOG_PID: "x" }, 42), null);
  assert.equal(parseWatchdogMs({ WATCHDOG_USEC: "10000000", WATCHDOG_PID: "" }, 42), 10_000);
  for (const bad of ["", "0", "-5", "abc", "10s", "1e6", " 100", "99999999999999999999"]) {
    assert.equal(parseWatchdogMs({ WATCHDOG_USEC: bad }, 42), null, JSON.stringify(bad));
  }
  assert.equal(parseWatchdogMs({}, 42), null);
});

Deno.test("watchdogIntervalMs: from the environment, checked against our pid", () => {
  const env = { NOTIFY_SOCKET: "@x", WATCHDOG_USEC: "10000000", WATCHDOG_PID: "7" };
  assert.equal(new SdNotify({ env, pid: 7 }).watchdogIntervalMs(), 10_000);
  assert.equal(new SdNotify({ env, pid: 8 }).watchdogIntervalMs(), null);
  assert.equal(
    new SdNotify({ env: { ...env, WATCHDOG_PID: String(Deno.pid) } }).watchdogIntervalMs(),
    10_000,
  );
});

Deno.test("startWatchdog pings every half interval while live, not while not, until stopped", async () => {
  await withPathListener(async (l) => {
    const sd = new SdNotify({
      env: { NOTIFY_SOCKET: l.address, WATCHDOG_USEC: "40000" }, // 40 ms: pings every 20
      logger: capture().logger,
    });
    let live = true;
    const stop = sd.startWatchdog(() => live);
    try {
      await sleep(130);
      const pings = l.drain();
      // About 6; a loaded 2-core CI machine may run timers late, never early.
      assert.ok(pings.length >= 2 && pings.length <= 7, `${pings.length} pings`);
      assert.ok(pings.every((p) => p === "WATCHDOG=1"));
      live = false;
      await sleep(70);
      assert.deepEqual(l.drain(), [], "a wedged loop must not be vouched for");
      live = true;
      await sleep(70);
      assert.ok(l.drain().length >= 1);
    } finally {
      stop();
    }
    await sleep(50);
    assert.deepEqual(l.drain(), [], "stopped means stopped");
  });
});

Deno.test("reading the process environment, optionally unsetting it for children", () => {
  const names = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];
  const saved = names.map((k) => [k, Deno.env.get(k)] as const);
  try {
    Deno.env.set("NOTIFY_SOCKET", "@hacore-env-test");
    Deno.env.set("WATCHDOG_USEC", "2000000");
    Deno.env.set("WATCHDOG_PID", String(Deno.pid));
    const kept = new SdNotify();
    assert.equal(kept.socketPath, "@hacore-env-test");
    assert.equal(kept.watchdogIntervalMs(), 2000);
    assert.equal(Deno.env.get("NOTIFY_SOCKET"), "@hacore-env-test");

    const unset = new SdNotify({ unsetEnvironment: true });
    assert.equal(unset.socketPath, "@hacore-env-test");
    assert.equal(unset.watchdogIntervalMs(), 2000);
    assert.equal(Deno.env.get("NOTIFY_SOCKET"), undefined);
    assert.equal(Deno.env.get("WATCHDOG_USEC"), undefined);
    assert.equal(Deno.env.get("WATCHDOG_PID"), undefined);
  } finally {
    // Put back whatever the test runner had (it may itself run under systemd).
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
});

Deno.test("systemd's own systemd-notify reaches the same @name and path we address", async () => {
  // Interop on the address encoding: systemd's client and ours must agree on what a
  // NOTIFY_SOCKET value names (abstract: no trailing NUL; path: NUL-terminated).
  const dir = await Deno.makeTempDir({ prefix: "hacore-sdnotify-" });
  try {
    for (const address of [`@hacore-interop-${crypto.randomUUID()}`, `${dir}/notify`]) {
      const l = new Listener(address);
      try {
        let out: Deno.CommandOutput;
        try {
          out = await new Deno.Command("systemd-notify", {
            // --no-block: no BARRIER=1 round trip, which needs a real systemd to answer.
            args: ["--no-block", "--ready", "--status=from systemd"],
            env: { NOTIFY_SOCKET: address },
          }).output();
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) {
            console.log("skipped: systemd-notify is not installed (apt-get install systemd)");
            return;
          }
          throw e;
        }
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        assert.deepEqual(l.drain(), ["READY=1\nSTATUS=from systemd"]);
        new SdNotify({ env: { NOTIFY_SOCKET: address } }).ready("from hacore");
        assert.deepEqual(l.drain(), ["READY=1\nSTATUS=from hacore"]);
      } finally {
        l.close();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

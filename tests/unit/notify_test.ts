/**
 * Notify hooks with real child processes (tiny shell scripts in a root-owned 0700
 * directory) and the notify FIFO with real pipes: order per instance, parallelism
 * across instances, keepalived's argument lists, the exact environment, timeouts that
 * kill, a caller that is never delayed, the queue cap, and a FIFO reader that can be
 * missing, slow or stuck without ever blocking the daemon.
 */
import assert from "node:assert/strict";
import type { NotifyConfig } from "../../lib/config/schema.ts";
import { EventStream, formatEventLine, PIPE_BUF } from "../../lib/daemon/event_stream.ts";
import {
  type HookExit,
  hookJobs,
  type HookProcess,
  type HookSpawnRequest,
  Notifier,
  type NotifierOptions,
} from "../../lib/daemon/notify.ts";
import { type Clock, type NotifyEvent, systemClock } from "../../lib/daemon/ports.ts";
import { SCRIPT_PATH, type ScriptVerdict } from "../../lib/sys/script_security.ts";
import { Logger } from "../../lib/log.ts";
import { closeFd, libc, O_CLOEXEC, O_NONBLOCK, O_RDONLY } from "../../lib/sys/libc.ts";

const IS_ROOT = Deno.uid() === 0;
const NO_HOOKS: NotifyConfig = {
  master: null,
  backup: null,
  fault: null,
  stop: null,
  generic: null,
};
const AT = new Date(Date.UTC(2026, 10, 21, 22, 59, 3, 414));

function event(over: Partial<NotifyEvent> = {}): NotifyEvent {
  return {
    target: "INSTANCE",
    name: "VI_1",
    state: "MASTER",
    previous: "BACKUP",
    priority: 150,
    reason: "master-down-timer",
    detail: "no advert for 3.6 s",
    masterIp: "192.0.2.11",
    at: AT,
    hooks: NO_HOOKS,
    ...over,
  };
}

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return {
    logger: new Logger({ level: "debug", sink: (l) => lines.push(l), wallClock: () => AT }),
    lines,
  };
}

/**
 * A directory for hook scripts that passes script security: under /run (root-owned,
 * 0755) rather than /tmp (1777), mode 0700. Without root, under the usual temp dir and
 * notifiers are built with allowInsecure.
 */
async function hookDir(): Promise<string> {
  const dir = await Deno.makeTempDir(IS_ROOT ? { dir: "/run", prefix: "hacore-notify-" } : {});
  await Deno.chmod(dir, 0o700);
  return dir;
}

async function writeScript(dir: string, name: string, body: string): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`);
  await Deno.chmod(path, 0o700);
  return path;
}

function notifier(opts: Partial<NotifierOptions> & { logger: Logger }): Notifier {
  return new Notifier({ timeoutMs: 10_000, allowInsecure: !IS_ROOT, fifoPath: null, ...opts });
}

/** Runs `fn` with a fresh hook directory, removed afterwards. */
function withDir(name: string, fn: (dir: string) => Promise<void> | void) {
  Deno.test(name, async () => {
    const dir = await hookDir();
    try {
      await fn(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/** True when the process is gone (or a zombie nobody reaped: it runs nothing). */
function processGone(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

// ---------------------------------------------------------------------------------------
// Hook runs
// ---------------------------------------------------------------------------------------

withDir("a burst of 5 transitions runs its hooks one at a time, in order", async (dir) => {
  const log = `${dir}/order.log`;
  const hook = await writeScript(
    dir,
    "order.sh",
    `echo "start $HACORE_DETAIL $1" >> ${log}\nsleep 0.05\necho "end $HACORE_DETAIL $1" >> ${log}`,
  );
  const hooks: NotifyConfig = {
    master: `${hook} master`,
    backup: `${hook} backup`,
    fault: `${hook} fault`,
    stop: null,
    generic: `${hook} generic`,
  };
  const { logger } = capture();
  const n = notifier({ logger });
  const states = ["MASTER", "BACKUP", "MASTER", "FAULT", "BACKUP"] as const;
  states.forEach((state, i) => n.notify(event({ state, detail: `t${i}`, hooks })));
  await n.settled();
  await n.close();
  const expected = states.flatMap((s, i) =>
    [s.toLowerCase(), "generic"].flatMap((arg) => [`start t${i} ${arg}`, `end t${i} ${arg}`])
  );
  assert.deepEqual((await Deno.readTextFile(log)).trim().split("\n"), expected);
  assert.equal(n.recent("VI_1").length, 10);
});

withDir("hooks of different instances run at the same time", async (dir) => {
  const log = `${dir}/par.log`;
  const hook = await writeScript(
    dir,
    "par.sh",
    `echo "start $HACORE_NAME" >> ${log}\nsleep 0.3\necho "end $HACORE_NAME" >> ${log}`,
  );
  const { logger } = capture();
  const n = notifier({ logger });
  const t0 = performance.now();
  for (const name of ["VI_1", "VI_2", "VI_3"]) {
    n.notify(event({ name, hooks: { ...NO_HOOKS, master: hook } }));
  }
  await n.settled();
  const took = performance.now() - t0;
  await n.close();
  const lines = (await Deno.readTextFile(log)).trim().split("\n");
  // All three started before any ended: they overlapped.
  assert.deepEqual(lines.slice(0, 3).map((l) => l.split(" ")[0]), ["start", "start", "start"]);
  assert.ok(took < 800, `3 x 300 ms hooks took ${took} ms: not in parallel`);
});

withDir(
  "arguments are keepalived's: notify_* as written, notify + TYPE NAME STATE PRIO",
  async (dir) => {
    const hook = await writeScript(
      dir,
      "args.sh",
      `out=${dir}/args.log\necho "$0" >> $out\nfor a in "$@"; do echo "[$a]" >> $out; done\necho -- >> $out`,
    );
    const { logger } = capture();
    const n = notifier({ logger });
    const hooks: NotifyConfig = {
      master: `${hook} master "two words" 'x y'`,
      backup: null,
      fault: null,
      stop: `${hook} stop`,
      generic: `${hook} generic`,
    };
    n.notify(event({ state: "MASTER", priority: 150, hooks }));
    n.notify(event({ state: "STOP", priority: 0, hooks }));
    await n.settled(); // the group has a queue of its own and would run alongside
    n.notify(event({ target: "GROUP", name: "SG_1", state: "BACKUP", priority: 100, hooks }));
    await n.settled();
    n.notify(event({ state: "FAULT", priority: 120, hooks: { ...NO_HOOKS, generic: hook } }));
    await n.settled();
    await n.close();
    const blocks = (await Deno.readTextFile(`${dir}/args.log`)).split("--\n").filter((b) => b);
    assert.deepEqual(blocks.map((b) => b.trim().split("\n")), [
      [hook, "[master]", "[two words]", "[x y]"],
      [hook, "[generic]", "[INSTANCE]", "[VI_1]", "[MASTER]", "[150]"],
      [hook, "[stop]"],
      [hook, "[generic]", "[INSTANCE]", "[VI_1]", "[STOP]", "[0]"],
      // keepalived sends priority 0 for a group.
      [hook, "[generic]", "[GROUP]", "[SG_1]", "[BACKUP]", "[0]"],
      [hook, "[INSTANCE]", "[VI_1]", "[FAULT]", "[120]"],
    ]);
  },
);

Deno.test("hookJobs: the state's own hook first, then the generic one", () => {
  const hooks: NotifyConfig = {
    master: "/m",
    backup: "/b",
    fault: "/f",
    stop: "/s",
    generic: "/g a",
  };
  for (
    const [state, own] of [["MASTER", "notify_master"], ["BACKUP", "notify_backup"], [
      "FAULT",
      "notify_fault",
    ], ["STOP", "notify_stop"]] as const
  ) {
    assert.deepEqual(hookJobs(event({ state, hooks })).map((j) => j.hook), [own, "notify"]);
  }
  assert.deepEqual(hookJobs(event({ hooks: NO_HOOKS })), []);
  assert.deepEqual(hookJobs(event({ state: "BACKUP", hooks: { ...NO_HOOKS, master: "/m" } })), []);
});

withDir("the environment is exactly the HACORE_* variables and a fixed PATH", async (dir) => {
  // /proc/$$/environ is what execve handed the script, before the shell adds anything.
  const hook = await writeScript(dir, "env.sh", `cat /proc/$$/environ > ${dir}/env.$HACORE_STATE`);
  const { logger } = capture();
  const n = notifier({ logger });
  n.notify(event({ hooks: { ...NO_HOOKS, master: hook } }));
  n.notify(event({
    state: "BACKUP",
    previous: "INIT",
    priority: 100,
    reason: "startup",
    detail: "line one\nline two",
    masterIp: null,
    hooks: { ...NO_HOOKS, backup: hook },
  }));
  await n.settled();
  await n.close();
  const read = async (s: string) =>
    Object.fromEntries(
      (await Deno.readTextFile(`${dir}/env.${s}`)).split("\0").filter((l) => l).map((l) => {
        const i = l.indexOf("=");
        return [l.slice(0, i), l.slice(i + 1)];
      }),
    );
  assert.deepEqual(await read("MASTER"), {
    HACORE_TYPE: "INSTANCE",
    HACORE_NAME: "VI_1",
    HACORE_STATE: "MASTER",
    HACORE_PREVIOUS_STATE: "BACKUP",
    HACORE_PRIORITY: "150",
    HACORE_REASON: "master-down-timer",
    HACORE_DETAIL: "no advert for 3.6 s",
    HACORE_MASTER_IP: "192.0.2.11",
    HACORE_TIME: "2026-11-21T22:59:03.414Z",
    PATH: SCRIPT_PATH,
  });
  assert.deepEqual(await read("BACKUP"), {
    HACORE_TYPE: "INSTANCE",
    HACORE_NAME: "VI_1",
    HACORE_STATE: "BACKUP",
    HACORE_PREVIOUS_STATE: "INIT",
    HACORE_PRIORITY: "100",
    HACORE_REASON: "startup",
    HACORE_DETAIL: "line one\nline two",
    HACORE_MASTER_IP: "",
    HACORE_TIME: "2026-11-21T22:59:03.414Z",
    PATH: SCRIPT_PATH,
  });
});

withDir("a hook past its timeout is killed (with what it started) and recorded", async (dir) => {
  const pids = `${dir}/pids`;
  const hook = await writeScript(dir, "slow.sh", `sleep 60 &\necho "$$ $!" > ${pids}\nwait`);
  const { logger, lines } = capture();
  const n = notifier({ logger, timeoutMs: 200 });
  const t0 = performance.now();
  n.notify(event({ hooks: { ...NO_HOOKS, master: hook } }));
  await n.settled();
  const took = performance.now() - t0;
  await n.close();
  const [run] = n.recent("VI_1");
  assert.equal(run.timedOut, true);
  assert.equal(run.signal, "SIGTERM");
  assert.equal(run.exitCode, null);
  assert.equal(run.error, null);
  assert.ok(run.durationMs >= 190 && run.durationMs < 1000, `durationMs ${run.durationMs}`);
  assert.ok(took < 1500, `took ${took} ms`);
  const [shPid, sleepPid] = (await Deno.readTextFile(pids)).trim().split(" ").map(Number);
  assert.ok(processGone(shPid), "the hook still runs");
  assert.ok(processGone(sleepPid), "the sleep it started still runs");
  assert.ok(lines.some((l) => l.includes("warn VI_1: notify_master timed out after 200 ms")));
});

withDir("a hook that ignores SIGTERM gets SIGKILL after the grace", async (dir) => {
  const hook = await writeScript(dir, "stubborn.sh", `trap '' TERM\nwhile :; do sleep 0.05; done`);
  const { logger } = capture();
  const n = notifier({ logger, timeoutMs: 100, killGraceMs: 200 });
  n.notify(event({ hooks: { ...NO_HOOKS, master: hook } }));
  await n.settled();
  await n.close();
  const [run] = n.recent("VI_1");
  assert.equal(run.timedOut, true);
  assert.equal(run.signal, "SIGKILL");
  assert.ok(run.durationMs >= 290 && run.durationMs < 1500, `durationMs ${run.durationMs}`);
});

withDir("notify() returns in well under 1 ms while a hook runs", async (dir) => {
  const hook = await writeScript(dir, "busy.sh", "sleep 0.3");
  const { logger, lines } = capture();
  const n = notifier({ logger, timeoutMs: 2000 });
  n.notify(event({ hooks: { ...NO_HOOKS, master: hook } })); // starts the hook
  const times: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    n.notify(event({ detail: `#${i}`, hooks: { ...NO_HOOKS, master: hook } }));
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  assert.ok(times[25] < 1, `median notify() ${times[25]} ms`);
  assert.ok(times[49] < 5, `slowest notify() ${times[49]} ms`);
  // close() drops the 50 pending ones, waits for the running one, starts nothing more.
  await n.close();
  assert.equal(n.recent("VI_1").length, 1);
  assert.ok(
    lines.some((l) => l.includes("VI_1: shutting down; dropped 50 pending notify event(s)")),
  );
});

withDir("recent() keeps results and durations; logs say how each went", async (dir) => {
  const ok = await writeScript(dir, "ok.sh", "sleep 0.05");
  const bad = await writeScript(
    dir,
    "bad.sh",
    "echo out\necho boom >&2\necho 'last words' >&2\nexit 3",
  );
  const { logger, lines } = capture();
  const n = notifier({ logger, historyLimit: 3, wallClock: () => AT });
  n.notify(event({ hooks: { ...NO_HOOKS, master: ok, generic: `${bad} x` } }));
  await n.settled();
  const runs = n.recent("VI_1");
  assert.equal(runs.length, 2);
  const [a, b] = runs;
  assert.deepEqual({ ...a, durationMs: 0, startedAt: "" }, {
    hook: "notify_master",
    target: "INSTANCE",
    name: "VI_1",
    state: "MASTER",
    command: ok,
    startedAt: "",
    durationMs: 0,
    exitCode: 0,
    signal: null,
    timedOut: false,
    error: null,
  });
  assert.ok(a.durationMs >= 45 && a.durationMs < 2000, `durationMs ${a.durationMs}`);
  assert.equal(a.startedAt, AT.toISOString());
  assert.equal(b.hook, "notify");
  assert.equal(b.command, `${bad} x`);
  assert.equal(b.exitCode, 3);
  assert.equal(b.signal, null);
  assert.match(
    lines.find((l) => l.includes("notify_master exited"))!,
    /info VI_1: notify_master exited 0 in \d+ ms$/,
  );
  assert.match(
    lines.find((l) => l.includes("notify exited"))!,
    /warn VI_1: notify exited 3 in \d+ ms: last words$/,
  );
  // History is bounded, oldest dropped first.
  n.notify(event({ state: "BACKUP", hooks: { ...NO_HOOKS, backup: ok, generic: ok } }));
  await n.settled();
  await n.close();
  assert.deepEqual(n.recent("VI_1").map((r) => r.hook), ["notify", "notify_backup", "notify"]);
  assert.deepEqual(n.recent("VI_9"), []);
});

withDir(
  "a hook that floods stderr is drained (never blocks) and its last line reported",
  async (dir) => {
    const hook = await writeScript(
      dir,
      "flood.sh",
      `i=0\nwhile [ $i -lt 2000 ]; do echo "noise line $i ................................" >&2; i=$((i+1)); done\necho "the end" >&2\nexit 1`,
    );
    const { logger, lines } = capture();
    const n = notifier({ logger, timeoutMs: 5000 });
    n.notify(event({ hooks: { ...NO_HOOKS, master: hook } }));
    await n.settled();
    await n.close();
    assert.equal(n.recent("VI_1")[0].timedOut, false);
    assert.match(lines.find((l) => l.includes("notify_master exited 1"))!, /: the end$/);
  },
);

withDir("a hook leaving a background child holding its stdout still completes", async (dir) => {
  const pidFile = `${dir}/bg.pid`;
  const hook = await writeScript(dir, "bg.sh", `sleep 5 &\necho $! > ${pidFile}\nexit 0`);
  const { logger } = capture();
  const n = notifier({ logger, timeoutMs: 3000 });
  const t0 = performance.now();
  n.notify(event({ hooks: { ...NO_HOOKS, master: hook } }));
  await n.settled();
  await n.close();
  const took = performance.now() - t0;
  const pid = Number((await Deno.readTextFile(pidFile)).trim());
  try {
    Deno.kill(pid, "SIGKILL");
  } catch { /* gone */ }
  assert.equal(n.recent("VI_1")[0].exitCode, 0);
  assert.ok(took < 1000, `took ${took} ms: waited for the background child`);
});

withDir(
  "close() waits for the running hook up to its timeout and leaves nothing running",
  async (dir) => {
    const pidFile = `${dir}/pid`;
    const hook = await writeScript(dir, "long.sh", `echo $$ > ${pidFile}\nexec sleep 60`);
    const { logger } = capture();
    const n = notifier({ logger, timeoutMs: 300 });
    n.notify(event({ hooks: { ...NO_HOOKS, master: hook } }));
    await new Promise((r) => setTimeout(r, 50));
    await n.close();
    const pid = Number((await Deno.readTextFile(pidFile)).trim());
    assert.ok(processGone(pid), "the hook survived close()");
    assert.equal(n.recent("VI_1")[0].timedOut, true);
    // Later events are ignored: nothing starts after close().
    n.notify(event({ hooks: { ...NO_HOOKS, master: hook } }));
    await n.settled();
    assert.equal(n.recent("VI_1").length, 1);
  },
);

withDir("a refused script is recorded with its error and not run", async (dir) => {
  const { logger, lines } = capture();
  const n = notifier({ logger });
  n.notify(event({ hooks: { ...NO_HOOKS, master: `${dir}/missing.sh arg` } }));
  await n.settled();
  await n.close();
  const [run] = n.recent("VI_1");
  assert.equal(run.error, `notify_master: ${dir}/missing.sh does not exist`);
  assert.equal(run.exitCode, null);
  assert.equal(run.durationMs, 0);
  assert.ok(
    lines.some((l) =>
      l.endsWith(
        `warn VI_1: notify_master not run: notify_master: ${dir}/missing.sh does not exist`,
      )
    ),
  );
});

Deno.test({
  name: "an insecure script is refused, or run with one warning when allowed",
  ignore: !IS_ROOT,
  fn: async () => {
    const base = await hookDir();
    try {
      await Deno.mkdir(`${base}/tmp`);
      await Deno.chmod(`${base}/tmp`, 0o1777);
      const hook = await writeScript(`${base}/tmp`, "x.sh", "exit 0");
      const hooks = { ...NO_HOOKS, master: hook };
      const strict = capture();
      const n1 = notifier({ logger: strict.logger, allowInsecure: false });
      n1.notify(event({ hooks }));
      await n1.settled();
      await n1.close();
      assert.match(n1.recent("VI_1")[0].error ?? "", /writable by all users \(mode 1777\)/);

      const lax = capture();
      const n2 = notifier({ logger: lax.logger, allowInsecure: true });
      for (let i = 0; i < 3; i++) n2.notify(event({ hooks }));
      await n2.settled();
      await n2.close();
      assert.deepEqual(n2.recent("VI_1").map((r) => r.exitCode), [0, 0, 0]);
      const warnings = lax.lines.filter((l) => l.includes("running it anyway"));
      assert.equal(warnings.length, 1);
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------------------------------
// With a fake spawner: queue cap and the verdict cache
// ---------------------------------------------------------------------------------------

/** A spawner whose processes exit when the test says so. */
function fakeSpawner() {
  const started: { req: HookSpawnRequest; finish: (exit?: HookExit) => void }[] = [];
  const spawn = (req: HookSpawnRequest): HookProcess => {
    let finish!: (exit?: HookExit) => void;
    const exit = new Promise<HookExit>((resolve) => {
      finish = (e = { exitCode: 0, signal: null }) => resolve(e);
    });
    started.push({ req, finish });
    return {
      pid: 1000 + started.length,
      exit,
      output: exit.then(() => ({ stdout: "", stderr: "" })),
      kill: (signal) => finish({ exitCode: null, signal }),
    };
  };
  return { started, spawn };
}

const passAll = (commandLine: string): ScriptVerdict => ({
  ok: true,
  path: commandLine.split(" ")[0],
  argv: commandLine.split(" "),
  warning: null,
});

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 0));
  assert.ok(cond(), what);
}

Deno.test("a queue over 100 pending events drops the oldest pending, with one warning", async () => {
  const { started, spawn } = fakeSpawner();
  const { logger, lines } = capture();
  const n = notifier({ logger, spawn, checkScript: passAll, historyLimit: 1000 });
  const hooks = { ...NO_HOOKS, master: "/h", backup: "/h", fault: "/h" };
  const states = ["MASTER", "BACKUP", "FAULT"] as const;
  for (let i = 0; i <= 105; i++) n.notify(event({ state: states[i % 3], detail: `#${i}`, hooks }));
  assert.equal(n.stats.queueDropped, 5); // #0 runs; #1..#105 wait; #1..#5 go
  assert.equal(lines.filter((l) => l.includes("notify queue full")).length, 1);
  assert.ok(
    lines.some((l) =>
      l.includes("warn VI_1: notify queue full (100 pending); dropped the oldest (BACKUP)")
    ),
  );
  // Finish every run as it starts.
  let finished = 0;
  while (finished < 101) {
    await until(() => started.length > finished, `run ${finished} did not start`);
    started[finished++].finish();
  }
  await n.settled();
  await n.close();
  const details = started.map((s) => s.req.env.HACORE_DETAIL);
  assert.deepEqual(details, ["#0", ...Array.from({ length: 100 }, (_, i) => `#${i + 6}`)]);
  assert.equal(n.recent("VI_1").length, 101);
});

Deno.test("a script's verdict is cached for 30 s, then checked again", async () => {
  let now = 0;
  const clock: Clock = {
    nowMs: () => now,
    sleepUntil: (at, signal) => systemClock.sleepUntil(systemClock.nowMs() + (at - now), signal),
  };
  const { started, spawn } = fakeSpawner();
  let checks = 0;
  const check = (c: string) => {
    checks++;
    return passAll(c);
  };
  const { logger } = capture();
  const n = notifier({ logger, spawn, checkScript: check, clock });
  const run = async () => {
    const before = started.length;
    n.notify(event({ hooks: { ...NO_HOOKS, master: "/h" } }));
    await until(() => started.length > before, "did not start");
    started.at(-1)!.finish();
    await n.settled();
  };
  await run();
  now = 29_999;
  await run();
  assert.equal(checks, 1);
  now = 30_000;
  await run();
  assert.equal(checks, 2);
  await n.close();
});

// ---------------------------------------------------------------------------------------
// Event stream
// ---------------------------------------------------------------------------------------

/** Opens the read end of a FIFO without blocking, as a test reader. */
function openReader(path: string): number {
  const fd = libc().open(
    new TextEncoder().encode(path + "\0"),
    O_RDONLY | O_NONBLOCK | O_CLOEXEC,
    0,
  );
  assert.ok(fd >= 0, `cannot open ${path} for reading`);
  return fd;
}

/** Everything readable now. */
function drain(fd: number): string {
  const buf = new Uint8Array(65536);
  let text = "";
  const dec = new TextDecoder();
  while (true) {
    const n = Number(libc().read(fd, buf, BigInt(buf.length)));
    if (n <= 0) break;
    text += dec.decode(buf.subarray(0, n), { stream: true });
  }
  return text;
}

withDir(
  "notify_fifo: a missing path becomes a FIFO (0600); lines reach a reader in order",
  async (dir) => {
    const path = `${dir}/events`;
    const { logger } = capture();
    const n = notifier({ logger, fifoPath: path });
    const st = Deno.statSync(path);
    assert.equal(st.isFifo, true);
    assert.equal((st.mode ?? 0) & 0o777, 0o600);
    const fd = openReader(path);
    try {
      for (let i = 0; i < 50; i++) {
        n.notify(
          event({
            detail: `#${i}`,
            state: i % 2 ? "BACKUP" : "MASTER",
            masterIp: i % 2 ? null : "192.0.2.11",
          }),
        );
      }
      const lines = drain(fd).split("\n");
      assert.equal(lines.pop(), ""); // ends with a newline
      assert.equal(lines.length, 50);
      lines.forEach((l, i) => {
        const o = JSON.parse(l);
        assert.deepEqual(Object.keys(o), [
          "time",
          "type",
          "name",
          "state",
          "previous",
          "priority",
          "reason",
          "detail",
          "masterIp",
        ]);
        assert.equal(o.detail, `#${i}`);
        assert.equal(o.masterIp, i % 2 ? null : "192.0.2.11");
      });
      assert.deepEqual(JSON.parse(lines[0]), {
        time: "2026-11-21T22:59:03.414Z",
        type: "INSTANCE",
        name: "VI_1",
        state: "MASTER",
        previous: "BACKUP",
        priority: 150,
        reason: "master-down-timer",
        detail: "#0",
        masterIp: "192.0.2.11",
      });
      assert.deepEqual(n.stats.stream, { written: 50, dropped: 0 });
    } finally {
      closeFd(fd);
      await n.close();
    }
  },
);

withDir(
  "notify_fifo: without a reader events are dropped and counted, never waited for",
  (dir) => {
    const path = `${dir}/events`;
    const { logger, lines } = capture();
    const stream = new EventStream({ path, logger });
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) assert.equal(stream.write(event({ detail: `#${i}` })), false);
    assert.ok(performance.now() - t0 < 200, "writes without a reader took long");
    assert.deepEqual(stream.stats, { written: 0, dropped: 20 });
    assert.equal(lines.filter((l) => l.includes("no reader; dropping events")).length, 1);
    // A reader appears: the next event goes through, and the outage is summed up.
    const fd = openReader(path);
    try {
      assert.equal(stream.write(event({ detail: "#20" })), true);
      assert.equal(JSON.parse(drain(fd)).detail, "#20");
      assert.ok(lines.some((l) => l.includes("writing again; 20 event(s) were dropped")));
    } finally {
      closeFd(fd);
    }
    // The reader leaves: EPIPE, dropped, and the daemon lives on.
    assert.equal(stream.write(event({ detail: "#21" })), false);
    assert.equal(stream.write(event({ detail: "#22" })), false);
    assert.deepEqual(stream.stats, { written: 1, dropped: 22 });
    stream.close();
  },
);

withDir(
  "notify_fifo: a stalled reader fills the pipe; further events drop without blocking",
  (dir) => {
    const path = `${dir}/events`;
    const { logger } = capture();
    const stream = new EventStream({ path, logger });
    const fd = openReader(path); // never reads until the end
    try {
      const t0 = performance.now();
      let sent = 0;
      for (
        let i = 0;
        i < 2000;
        i++
      ) if (stream.write(event({ detail: `#${i} ${"x".repeat(200)}` }))) sent++;
      assert.ok(performance.now() - t0 < 2000, "writing to a full pipe blocked");
      const { written, dropped } = stream.stats;
      assert.equal(written, sent);
      assert.ok(dropped > 0 && written + dropped === 2000, `written ${written} dropped ${dropped}`);
      // What did get through is whole lines, in order.
      const lines = drain(fd).split("\n").filter((l) => l);
      assert.equal(lines.length, written);
      lines.forEach((l, i) => assert.equal(JSON.parse(l).detail.split(" ")[0], `#${i}`));
    } finally {
      closeFd(fd);
      stream.close();
    }
  },
);

withDir("notify_fifo: a regular file is appended to", async (dir) => {
  const path = `${dir}/events.jsonl`;
  await Deno.writeTextFile(path, "existing\n");
  const { logger } = capture();
  const n = notifier({ logger, fifoPath: path });
  n.notify(event({ detail: "a" }));
  n.notify(event({ detail: "b", target: "GROUP", name: "SG" }));
  await n.close();
  const lines = (await Deno.readTextFile(path)).trim().split("\n");
  assert.equal(lines[0], "existing");
  assert.deepEqual(lines.slice(1).map((l) => JSON.parse(l).detail), ["a", "b"]);
  assert.equal(JSON.parse(lines[2]).type, "GROUP");
});

Deno.test("event lines never exceed PIPE_BUF: an over-long detail is cut", () => {
  const short = formatEventLine(event());
  assert.ok(short.endsWith("\n"));
  for (
    const detail of ["x".repeat(10_000), "é".repeat(5000), '"\\'.repeat(3000), "😀".repeat(3000)]
  ) {
    const line = formatEventLine(event({ detail }));
    const bytes = new TextEncoder().encode(line).length;
    assert.ok(bytes <= PIPE_BUF, `${bytes} bytes`);
    assert.ok(bytes > PIPE_BUF - 16, `cut too much: ${bytes} bytes`);
    const o = JSON.parse(line);
    assert.ok(o.detail.endsWith("…"));
    assert.ok(detail.startsWith(o.detail.slice(0, -1)));
  }
});

withDir(
  "LVS events: the command runs with exactly its written arguments and the RS/VS environment; the stream gets one JSON line with keepalived's text",
  async (dir) => {
    const out = `${dir}/rs.out`;
    const hook = await writeScript(
      dir,
      "rs.sh",
      `echo "$* $HACORE_TYPE $HACORE_NAME $HACORE_REAL_SERVER $HACORE_STATE" >> ${out}`,
    );
    const events = `${dir}/events.log`;
    await Deno.writeTextFile(events, "");
    const { logger } = capture();
    const n = notifier({ logger, fifoPath: events, wallClock: () => AT });
    n.notifyLvs({
      kind: "real_server",
      virtualServer: "web",
      realServer: "web/192.0.2.11:80",
      up: false,
      hook: "notify_down",
      command: `${hook} down now`,
      fifoLine: "RS [192.0.2.11]:tcp:80 [192.0.2.100]:tcp:80 DOWN",
    });
    n.notifyLvs({
      kind: "quorum",
      virtualServer: "web",
      realServer: null,
      up: false,
      hook: "quorum_down",
      command: null,
      fifoLine: "VS [192.0.2.100]:tcp:80 DOWN",
    });
    await n.settled();
    await n.close();
    assert.equal(await Deno.readTextFile(out), "down now RS web web/192.0.2.11:80 DOWN\n");
    const lines = (await Deno.readTextFile(events)).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines, [
      {
        time: AT.toISOString(),
        type: "RS",
        name: "web/192.0.2.11:80",
        virtualServer: "web",
        state: "DOWN",
        line: "RS [192.0.2.11]:tcp:80 [192.0.2.100]:tcp:80 DOWN",
      },
      {
        time: AT.toISOString(),
        type: "VS",
        name: "web",
        virtualServer: "web",
        state: "DOWN",
        line: "VS [192.0.2.100]:tcp:80 DOWN",
      },
    ]);
  },
);

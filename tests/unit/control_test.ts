/**
 * The control socket end to end on a real unix socket, against a fake daemon: the
 * protocol's validation table, every command's round trip, what hostile or broken
 * clients get (malformed, huge, slow, too many), how the socket file is made, found
 * stale, refused when live and removed, and the CLI commands run in-process with their
 * exit codes.
 */
import assert from "node:assert/strict";
import { configOf } from "../fakes/config.ts";
import { type CliIo, runStatus } from "../../lib/cli/status.ts";
import { type Config, loadConfig } from "../../lib/config/mod.ts";
import { runVerb, type Verb } from "../../lib/cli/verbs.ts";
import type {
  DaemonControl,
  InstanceDetail,
  OperatorResult,
  ReloadOutcome,
} from "../../lib/control/api.ts";
import {
  call,
  ControlClientError,
  ControlReplyError,
  makeRequest,
  request,
} from "../../lib/control/client.ts";
import {
  type ControlErrorCode,
  type ControlReply,
  parseReply,
  parseRequest,
} from "../../lib/control/protocol.ts";
import {
  type ControlServer,
  ControlServerError,
  type ControlServerOptions,
  startControlServer,
} from "../../lib/control/server.ts";
import type { DaemonStatus, InstanceStatus } from "../../lib/daemon/daemon.ts";
import { Logger } from "../../lib/log.ts";
import {
  AF_UNIX,
  bindSocket,
  closeFd,
  openSocket,
  SOCK_STREAM,
  sockaddrUn,
} from "../../lib/sys/libc.ts";

/** The config file the control tests load from, as a daemon would name it in status. */
const CONFIG_FILE = "/etc/hacore/hacore.toml";

// ---------------------------------------------------------------------------------------
// Protocol validation

Deno.test("protocol: valid requests of every command parse to typed requests", () => {
  const ok: [string, unknown][] = [
    ['{"v":1,"cmd":"status"}', { v: 1, cmd: "status" }],
    ['{"v":1,"cmd":"ping","id":"a-1"}', { v: 1, id: "a-1", cmd: "ping" }],
    ['{"v":1,"cmd":"reload"}', { v: 1, cmd: "reload" }],
    ['{"v":1,"cmd":"config"}', { v: 1, cmd: "config" }],
    ['{"v":1,"cmd":"detail","instance":"VI_1"}', { v: 1, cmd: "detail", instance: "VI_1" }],
    ['{"v":1,"cmd":"demote","instance":"VI_1"}', { v: 1, cmd: "demote", instance: "VI_1" }],
    [
      '{"v":1,"cmd":"demote","instance":"VI_1","priority":1}',
      { v: 1, cmd: "demote", instance: "VI_1", priority: 1 },
    ],
    [
      '{"v":1,"cmd":"promote","instance":"VI_1","priority":254}',
      { v: 1, cmd: "promote", instance: "VI_1", priority: 254 },
    ],
    ['{"v":1,"cmd":"resume","instance":"VI_1"}', { v: 1, cmd: "resume", instance: "VI_1" }],
    ['{"v":1,"cmd":"maintenance","on":true}', { v: 1, cmd: "maintenance", on: true }],
    [' {"cmd":"maintenance","on":false,"v":1}\r', { v: 1, cmd: "maintenance", on: false }],
  ];
  for (const [line, want] of ok) {
    const r = parseRequest(line);
    assert.ok(r.ok, `${line}: ${JSON.stringify(r)}`);
    assert.deepStrictEqual(r.request, want);
  }
});

Deno.test("protocol: every bad request gets one error code and a message naming the field", () => {
  const bad: [string, ControlErrorCode, RegExp][] = [
    ["status", "bad-request", /^not JSON/],
    ["", "bad-request", /^not JSON/],
    ["[1,2]", "bad-request", /must be a JSON object, got an array/],
    ["null", "bad-request", /must be a JSON object, got null/],
    ["{}", "bad-request", /missing "v"/],
    ['{"v":"1","cmd":"status"}', "bad-request", /"v" must be a number, got "1"/],
    ['{"v":2,"cmd":"status"}', "unsupported-version", /version 2 is not supported.*speaks 1/],
    ['{"v":1}', "bad-request", /missing "cmd"; commands: status, detail/],
    ['{"v":1,"cmd":7}', "bad-request", /"cmd" must be a string, got 7/],
    ['{"v":1,"cmd":"stats"}', "unknown-command", /unknown command "stats"; commands: /],
    ['{"v":1,"cmd":"status","instance":"VI_1"}', "bad-request", /unknown field "instance"/],
    ['{"v":1,"cmd":"config","instance":"VI_1"}', "bad-request", /unknown field "instance"/],
    [
      '{"v":1,"cmd":"demote","instance":"VI_1","priorty":1}',
      "bad-request",
      /"priorty".*"priority"/,
    ],
    ['{"v":1,"cmd":"demote"}', "bad-request", /"demote" needs "instance"/],
    ['{"v":1,"cmd":"detail","instance":""}', "bad-request", /"instance" must be a non-empty/],
    ['{"v":1,"cmd":"resume","instance":5}', "bad-request", /"instance" must be .* got 5/],
    [`{"v":1,"cmd":"detail","instance":"${"x".repeat(300)}"}`, "bad-request", /at most 256/],
    ['{"v":1,"cmd":"demote","instance":"a","priority":0}', "bad-request", /1\.\.254, got 0/],
    ['{"v":1,"cmd":"promote","instance":"a","priority":255}', "bad-request", /got 255/],
    ['{"v":1,"cmd":"demote","instance":"a","priority":1.5}', "bad-request", /got 1\.5/],
    ['{"v":1,"cmd":"demote","instance":"a","priority":"9"}', "bad-request", /got "9"/],
    ['{"v":1,"cmd":"maintenance"}', "bad-request", /needs "on": true or false/],
    ['{"v":1,"cmd":"maintenance","on":"yes"}', "bad-request", /"on" must be true or false/],
    ['{"v":1,"cmd":"status","id":5}', "bad-request", /"id" must be a string/],
    [`{"v":1,"cmd":"status","id":"${"i".repeat(129)}"}`, "bad-request", /129 characters/],
  ];
  for (const [line, code, message] of bad) {
    const r = parseRequest(line);
    assert.ok(!r.ok, `${line} should be refused`);
    assert.equal(r.error.code, code, line);
    assert.match(r.error.message, message, line);
  }
});

Deno.test("protocol: an error keeps the request's id when it had a usable one", () => {
  const r = parseRequest('{"v":9,"id":"q7","cmd":"status"}');
  assert.ok(!r.ok);
  assert.equal(r.id, "q7");
  const r2 = parseRequest('{"v":1,"id":3,"cmd":"status"}');
  assert.ok(!r2.ok);
  assert.equal(r2.id, undefined);
});

Deno.test("protocol: reply envelopes are checked; an unknown error code survives as internal", () => {
  assert.deepStrictEqual(parseReply('{"v":1,"id":"a","ok":true,"result":{"pong":true}}'), {
    v: 1,
    id: "a",
    ok: true,
    result: { pong: true },
  });
  assert.deepStrictEqual(
    parseReply('{"v":1,"ok":false,"error":{"code":"on-fire","message":"hot"}}'),
    { v: 1, ok: false, error: { code: "internal", message: "hot" } },
  );
  for (const bad of ["nope", "[]", '{"ok":true}', '{"v":1,"ok":true}', '{"v":1,"ok":false}']) {
    assert.equal(typeof parseReply(bad), "string", bad);
  }
});

// ---------------------------------------------------------------------------------------
// A fake daemon

function instance(name: string, state: InstanceStatus["state"]): InstanceStatus {
  const view = {
    name,
    interface: "eth0",
    vrid: 51,
    version: 3,
    family: "ipv4",
    state,
    sinceMs: 1000,
    inStateMs: 4000,
    priority: { base: 150, effective: 150 },
    faults: [],
    lastMaster: null,
    advertIntervalMs: 100,
    masterAdvertIntervalMs: 100,
    transport: "multicast",
    holdingVips: state === "master",
    vips: [{
      address: "192.0.2.100",
      prefix: 24,
      dev: "eth0",
      excluded: false,
      held: state === "master",
    }],
    lastTransition: null,
    counters: {},
    override: null,
    maintenance: false,
  } as const;
  return view as unknown as InstanceStatus;
}

/**
 * A config using every kind of field there is (trackers, auth, excluded VIPs with label
 * and scope, a numeric release_hold, notify hooks, unicast, a sync group, global
 * listeners), so a field that JSON cannot carry would show in the round trip.
 */
const EVERY_FIELD = `[global]
router_id = "a"
vrrp_version = 3
metrics_listen = "127.0.0.1:9650"
notify_fifo = "/run/hacore/events"

[vrrp_script.chk]
script = "/usr/local/bin/chk"
weight = -20

[vrrp_track_file.maint]
file = "/etc/hacore/maint"

[vrrp_track_process.nginx]
process = "nginx"
full_command = true

[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
version = 2
priority = 150
nopreempt = true
release_hold = 0.5
authentication = { auth_type = "PASS", auth_pass = "s3cr3t" }
unicast_src_ip = "192.0.2.11"
unicast_peer = ["192.0.2.12"]
virtual_ipaddress = ["192.0.2.100/24"]
virtual_ipaddress_excluded = [{ address = "192.0.2.200", label = "eth0:x", scope = "link" }, "2001:db8::1/64"]
track_script = ["chk"]
track_file = [{ name = "maint", weight = -5 }]
track_process = ["nginx"]
track_interface = ["eth1"]
notify_master = "/etc/hacore/notify.sh master"
notify = "/etc/hacore/notify.sh"

[vrrp_instance.VI_2]
interface = "eth0"
virtual_router_id = 52
virtual_ipaddress = ["fe80::100", "2001:db8::100/64"]
version = 3

[vrrp_sync_group.G]
group = ["VI_1"]
notify_backup = "/etc/hacore/notify.sh backup"
`;

class FakeDaemon implements DaemonControl {
  calls: string[] = [];
  statusCalls = 0;
  failStatus = false;
  reloadOutcome: ReloadOutcome = { ok: true, errors: [], changes: ["VI_2: added"] };
  /** When set, reload waits for this before answering. */
  reloadGate: Promise<void> | null = null;
  snapshot = {
    phase: "running",
    nowMs: 5000,
    instances: [instance("VI_1", "master"), instance("VI_2", "backup")],
    counters: {},
    conflicts: [],
    maintenance: false,
    configFile: "/etc/hacore/hacore.toml",
    startedAtWall: "2026-11-21T22:00:00.000Z",
    version: "0.1.0",
  } as unknown as DaemonStatus;

  status(): DaemonStatus {
    this.statusCalls++;
    if (this.failStatus) throw new Error("snapshot exploded");
    return this.snapshot;
  }
  detail(name: string): InstanceDetail | null {
    const summary = this.snapshot.instances.find((i) => i.name === name);
    if (!summary) return null;
    return { summary, history: [], counters: { masterTransitions: 1 }, override: null, hooks: [] };
  }
  demote(name: string, priority?: number): OperatorResult {
    this.calls.push(`demote ${name} ${priority ?? "default"}`);
    return { ok: true, message: `${name}: demoted to priority ${priority ?? 1}` };
  }
  promote(name: string, priority?: number): OperatorResult {
    this.calls.push(`promote ${name} ${priority ?? "default"}`);
    return { ok: true, message: `${name}: promoted to priority ${priority ?? 254}` };
  }
  resume(name: string): OperatorResult {
    this.calls.push(`resume ${name}`);
    return name === "VI_2"
      ? { ok: false, error: `${name} has no override to resume from` }
      : { ok: true, message: `${name}: back to priority 150` };
  }
  maintenance(on: boolean): OperatorResult {
    this.calls.push(`maintenance ${on}`);
    return { ok: true, message: `maintenance ${on ? "on" : "off"}` };
  }
  async reload(): Promise<ReloadOutcome> {
    this.calls.push("reload");
    if (this.reloadGate) await this.reloadGate;
    return this.reloadOutcome;
  }
  running: Config = configOf(EVERY_FIELD, CONFIG_FILE);
  config(): Config {
    return this.running;
  }
  isLive(): boolean {
    return true;
  }
}

interface Rig {
  dir: string;
  path: string;
  daemon: FakeDaemon;
  server: ControlServer;
  logs: string[];
}

async function withServer(
  fn: (rig: Rig) => Promise<void>,
  opts: Partial<ControlServerOptions> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hacore-control-" });
  const path = `${dir}/run/hacore.sock`;
  const daemon = new FakeDaemon();
  const logs: string[] = [];
  const logger = new Logger({ level: "debug", sink: (l) => logs.push(l) });
  const server = startControlServer({ path, control: daemon, logger, ...opts });
  try {
    await fn({ dir, path, daemon, server, logs });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A raw connection that reads reply lines. */
class Raw {
  readonly conn: Deno.UnixConn;
  #buf = "";
  #dec = new TextDecoder();

  constructor(conn: Deno.UnixConn) {
    this.conn = conn;
  }

  static async open(path: string): Promise<Raw> {
    return new Raw(await Deno.connect({ transport: "unix", path }));
  }

  async send(text: string): Promise<void> {
    const b = new TextEncoder().encode(text);
    let off = 0;
    while (off < b.length) off += await this.conn.write(b.subarray(off));
  }

  /** The next line, or null at end of stream (or a reset after the last line). */
  async line(): Promise<string | null> {
    const chunk = new Uint8Array(65536);
    for (;;) {
      const nl = this.#buf.indexOf("\n");
      if (nl >= 0) {
        const l = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        return l;
      }
      let n: number | null;
      try {
        n = await this.conn.read(chunk);
      } catch (e) {
        if (e instanceof Deno.errors.ConnectionReset) return null;
        throw e;
      }
      if (n === null) return null;
      this.#buf += this.#dec.decode(chunk.subarray(0, n));
    }
  }

  async reply(): Promise<ControlReply> {
    const l = await this.line();
    assert.ok(l !== null, "expected a reply line, got end of stream");
    const r = parseReply(l);
    assert.ok(typeof r !== "string", r as string);
    return r;
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

// ---------------------------------------------------------------------------------------
// Round trips

Deno.test("server: ping, status and detail round trip; an unknown instance names the known ones", async () => {
  await withServer(async ({ path, daemon }) => {
    assert.deepStrictEqual(await call(path, { v: 1, cmd: "ping" }), { pong: true, protocol: 1 });
    const status = await call(path, { v: 1, cmd: "status", id: "s1" });
    assert.deepStrictEqual(status, JSON.parse(JSON.stringify(daemon.snapshot)));
    const d = await call(path, { v: 1, cmd: "detail", instance: "VI_2" });
    assert.equal(d.summary.name, "VI_2");
    const r = await request(path, { v: 1, id: "x", cmd: "detail", instance: "VI_9" });
    assert.deepStrictEqual(r, {
      v: 1,
      id: "x",
      ok: false,
      error: { code: "no-such-instance", message: 'no instance "VI_9"; instances: VI_1, VI_2' },
    });
  });
});

Deno.test("config: every example and a config of every field survive JSON unchanged", async () => {
  const examples = new URL("../../examples/", import.meta.url);
  const configs: Config[] = [configOf(EVERY_FIELD, CONFIG_FILE)];
  for await (const e of Deno.readDir(examples)) {
    if (!e.name.endsWith(".toml")) continue;
    const r = await loadConfig(new URL(e.name, examples).pathname);
    assert.ok(r.ok, e.name);
    configs.push(r.config);
  }
  assert.ok(configs.length >= 8, "the examples were found");
  for (const c of configs) assert.deepStrictEqual(JSON.parse(JSON.stringify(c)), c, c.file);
});

Deno.test("server: config round trip: the daemon's running config, unchanged, not logged as an action", async () => {
  await withServer(async ({ path, daemon, logs }) => {
    const got = await call(path, makeRequest({ cmd: "config" }));
    assert.deepStrictEqual(got, daemon.running);
    assert.equal(got.instances[0].auth?.pass, "s3cr3t", "the diff needs it; the socket is root's");
    const r = await request(path, { v: 1, id: "c", cmd: "config" });
    assert.deepStrictEqual(r, { v: 1, id: "c", ok: true, result: got });
    assert.ok(!logs.some((l) => / control: config/.test(l)), logs.join("\n"));
  });
});

Deno.test("server: the verbs reach the daemon with their arguments; a declined verb is refused", async () => {
  await withServer(async ({ path, daemon, logs }) => {
    assert.deepStrictEqual(await call(path, { v: 1, cmd: "demote", instance: "VI_1" }), {
      message: "VI_1: demoted to priority 1",
    });
    await call(path, { v: 1, cmd: "demote", instance: "VI_1", priority: 20 });
    await call(path, { v: 1, cmd: "promote", instance: "VI_2", priority: 200 });
    await call(path, { v: 1, cmd: "resume", instance: "VI_1" });
    await call(path, { v: 1, cmd: "maintenance", on: true });
    const refused = await request(path, { v: 1, cmd: "resume", instance: "VI_2" });
    assert.deepStrictEqual(refused.ok ? null : refused.error, {
      code: "refused",
      message: "VI_2 has no override to resume from",
    });
    const missing = await request(path, { v: 1, cmd: "demote", instance: "nope" });
    assert.equal(missing.ok ? null : missing.error.code, "no-such-instance");
    assert.deepStrictEqual(daemon.calls, [
      "demote VI_1 default",
      "demote VI_1 20",
      "promote VI_2 200",
      "resume VI_1",
      "maintenance true",
      "resume VI_2",
    ]);
    // Every operator action is in the daemon's log with who asked.
    assert.ok(logs.some((l) => /notice control: demote VI_1 to 20 by pid \d+ \(uid \d+\)/.test(l)));
  });
});

Deno.test("server: reload answers with the outcome, refused or applied, and does not block others", async () => {
  await withServer(async ({ path, daemon }) => {
    let open!: () => void;
    daemon.reloadGate = new Promise<void>((r) => (open = r));
    const pending = call(path, { v: 1, cmd: "reload" }, { timeoutMs: 5000 });
    // While the reload is in flight, another client is answered.
    assert.deepStrictEqual(await call(path, { v: 1, cmd: "ping" }), { pong: true, protocol: 1 });
    open();
    assert.deepStrictEqual(await pending, { ok: true, errors: [], changes: ["VI_2: added"] });
    daemon.reloadGate = null;
    daemon.reloadOutcome = { ok: false, errors: ["a.toml:3: bad"], changes: [] };
    assert.deepStrictEqual(await call(path, { v: 1, cmd: "reload" }), daemon.reloadOutcome);
  });
});

Deno.test("server: several requests on one connection are answered in order, even pipelined", async () => {
  await withServer(async ({ path }) => {
    const raw = await Raw.open(path);
    try {
      await raw.send(
        '{"v":1,"id":"1","cmd":"ping"}\n{"v":1,"id":"2","cmd":"reload"}\n' +
          '{"v":1,"id":"3","cmd":"detail","instance":"VI_1"}\n\n{"v":1,"id":"4","cmd":"ping"}\n',
      );
      const ids = [];
      for (let i = 0; i < 4; i++) ids.push((await raw.reply()).id);
      assert.deepStrictEqual(ids, ["1", "2", "3", "4"]);
      // And the connection stays usable afterwards.
      await raw.send('{"v":1,"id":"5","cmd":"ping"}\n');
      assert.equal((await raw.reply()).id, "5");
    } finally {
      raw.close();
    }
  });
});

Deno.test("server: malformed JSON, a wrong version or an unknown command get an error, and the connection lives on", async () => {
  await withServer(async ({ path }) => {
    const raw = await Raw.open(path);
    try {
      const expect = async (line: string, code: ControlErrorCode) => {
        await raw.send(`${line}\n`);
        const r = await raw.reply();
        assert.ok(!r.ok, line);
        assert.equal(r.error.code, code, line);
      };
      await expect("{not json", "bad-request");
      await expect('{"v":2,"id":"old","cmd":"status"}', "unsupported-version");
      await expect('{"v":1,"cmd":"rm -rf"}', "unknown-command");
      await expect('{"v":1,"cmd":"demote","instance":"VI_1","priority":0}', "bad-request");
      await raw.send('{"v":1,"cmd":"ping"}\n');
      assert.ok((await raw.reply()).ok);
    } finally {
      raw.close();
    }
  });
});

Deno.test("server: a daemon bug in one request is an internal error reply, not a dead socket", async () => {
  await withServer(async ({ path, daemon, logs }) => {
    daemon.failStatus = true;
    const r = await request(path, { v: 1, cmd: "status" });
    assert.deepStrictEqual(r.ok ? null : r.error, {
      code: "internal",
      message: 'the daemon failed to answer "status": snapshot exploded',
    });
    assert.ok(logs.some((l) => l.includes('error control socket: "status" failed')));
    daemon.failStatus = false;
    assert.ok((await request(path, { v: 1, cmd: "status" })).ok);
  });
});

Deno.test("server: a request whose sender half-closed is still answered", async () => {
  await withServer(async ({ path }) => {
    const raw = await Raw.open(path);
    try {
      // No newline: the end of the stream ends the line (printf ... | nc -U works).
      await raw.send('{"v":1,"id":"last","cmd":"ping"}');
      await raw.conn.closeWrite();
      assert.equal((await raw.reply()).id, "last");
      assert.equal(await raw.line(), null);
    } finally {
      raw.close();
    }
  });
});

// ---------------------------------------------------------------------------------------
// Hostile clients

Deno.test("server: a 1 MiB line without a newline gets too-large and a disconnect", async () => {
  await withServer(async ({ path, server }) => {
    const raw = await Raw.open(path);
    try {
      const big = new Uint8Array(1024 * 1024).fill(0x61);
      // The server stops reading after 64 KiB and closes: the write fails part way.
      await raw.send(new TextDecoder().decode(big)).catch(() => {});
      const r = await raw.reply();
      assert.deepStrictEqual(r.ok ? null : r.error.code, "too-large");
      assert.equal(await raw.line(), null, "then the connection is closed");
    } finally {
      raw.close();
    }
    // The server is fine and the connection is gone from its books.
    assert.ok((await request(path, { v: 1, cmd: "ping" })).ok);
    const until = performance.now() + 1000;
    while (server.clientCount > 0 && performance.now() < until) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(server.clientCount, 0);
  }, { maxRequestBytes: 64 * 1024 });
});

Deno.test("server: slowloris: 31 idle clients cannot stop a 32nd being answered; the 33rd is refused; idle ones time out", async () => {
  const TIMEOUT = 400;
  await withServer(async ({ path, server }) => {
    // The JS thread must keep turning while all this goes on.
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const idle: Raw[] = [];
    try {
      for (let i = 0; i < 31; i++) {
        const r = await Raw.open(path);
        // Half of them dribble half a request, the classic slowloris.
        if (i % 2 === 0) await r.send('{"v":1,"cmd":');
        idle.push(r);
      }
      const t0 = performance.now();
      const active = await Raw.open(path);
      await active.send('{"v":1,"cmd":"status"}\n');
      const answered = await active.reply();
      const took = performance.now() - t0;
      assert.ok(answered.ok, "the 32nd client is answered");
      assert.ok(took < TIMEOUT / 2, `answered in ${took.toFixed(1)} ms despite 31 idle clients`);
      assert.equal(server.clientCount, 32);

      const extra = await Raw.open(path);
      const refused = await extra.reply();
      assert.deepStrictEqual(refused.ok ? null : refused.error.code, "refused");
      assert.match(refused.ok ? "" : refused.error.message, /too many control connections \(32\)/);
      assert.equal(await extra.line(), null);
      extra.close();

      // Idle ones get a timeout reply and are disconnected.
      for (const [i, r] of idle.entries()) {
        const t = await r.reply();
        assert.equal(t.ok ? null : t.error.code, "timeout", `idle client ${i}`);
        assert.equal(await r.line(), null);
      }
      active.close();
      // Now there is room again.
      assert.ok((await request(path, { v: 1, cmd: "ping" })).ok);
      assert.ok(ticks >= 10, `the event loop kept turning (${ticks} ticks)`);
    } finally {
      clearInterval(ticker);
      for (const r of idle) r.close();
    }
  }, { readTimeoutMs: TIMEOUT, maxClients: 32 });
});

Deno.test("server: the read timeout counts from the last answer, so a slow but steady client is served", async () => {
  const TIMEOUT = 300;
  await withServer(async ({ path }) => {
    const raw = await Raw.open(path);
    try {
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, TIMEOUT * 0.6));
        await raw.send(`{"v":1,"id":"${i}","cmd":"ping"}\n`);
        const r = await raw.reply();
        assert.ok(r.ok, `request ${i} at ${(TIMEOUT * 0.6 * (i + 1)).toFixed(0)} ms`);
      }
      const t = await raw.reply();
      assert.equal(t.ok ? null : t.error.code, "timeout");
    } finally {
      raw.close();
    }
  }, { readTimeoutMs: TIMEOUT });
});

Deno.test("server: a peer whose uid is not allowed is refused before anything is read", async () => {
  await withServer(async ({ path, daemon, logs }) => {
    const r = await request(path, { v: 1, cmd: "maintenance", on: true });
    assert.ok(!r.ok);
    assert.equal(r.error.code, "refused");
    assert.match(r.error.message, /only root may use hacore's control socket \(you are uid \d+\)/);
    assert.deepStrictEqual(daemon.calls, []);
    assert.ok(logs.some((l) => /warn control socket: refused a connection from uid \d+/.test(l)));
  }, { allowedUids: [4242] });
});

// ---------------------------------------------------------------------------------------
// The socket file

/**
 * A socket file nobody accepts on, as a daemon killed with -9 leaves it. (Deno's own
 * listener removes its file on close, so it cannot make one.)
 */
function staleSocket(path: string): void {
  const fd = openSocket(AF_UNIX, SOCK_STREAM, 0);
  try {
    bindSocket(fd, sockaddrUn(path));
  } finally {
    closeFd(fd);
  }
}

Deno.test("socket file: made in a new 0755 directory, mode 0600, removed by close()", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hacore-control-" });
  try {
    const path = `${dir}/a/b/hacore.sock`;
    const server = startControlServer({
      path,
      control: new FakeDaemon(),
      logger: new Logger({ sink: () => {} }),
    });
    const info = await Deno.lstat(path);
    assert.ok(info.isSocket);
    assert.equal(info.mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/a/b`)).mode! & 0o777, 0o755);
    if (Deno.uid() === 0) assert.equal(info.uid, 0);
    await server.close();
    await server.close(); // idempotent
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
    await assert.rejects(
      request(path, { v: 1, cmd: "ping" }),
      (e) => e instanceof ControlClientError && e.kind === "no-daemon",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("socket file: a stale socket is replaced; a live one is never stolen; a non-socket is left alone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hacore-control-" });
  const logs: string[] = [];
  const logger = new Logger({ sink: (l) => logs.push(l) });
  const control = new FakeDaemon();
  try {
    // Stale: a socket file nobody accepts on (a daemon that was killed -9).
    const stale = `${dir}/stale.sock`;
    staleSocket(stale);
    assert.ok((await Deno.lstat(stale)).isSocket);
    const s1 = startControlServer({ path: stale, control, logger });
    assert.ok(logs.some((l) => l.includes(`removed a stale ${stale}`)));
    assert.ok((await request(stale, { v: 1, cmd: "ping" })).ok);

    // Live: our own server, and another program's listener.
    assert.throws(
      () => startControlServer({ path: stale, control, logger }),
      (e) =>
        e instanceof ControlServerError && e.message === `another hacore is listening on ${stale}`,
    );
    assert.ok((await request(stale, { v: 1, cmd: "ping" })).ok, "the first one still answers");
    await s1.close();

    const foreign = `${dir}/foreign.sock`;
    const listener = Deno.listen({ transport: "unix", path: foreign });
    try {
      assert.throws(
        () => startControlServer({ path: foreign, control, logger }),
        /another hacore is listening on/,
      );
      assert.ok((await Deno.lstat(foreign)).isSocket, "its file is still there");
    } finally {
      listener.close();
    }

    // Not a socket: refuse, touch nothing.
    const file = `${dir}/notes.txt`;
    await Deno.writeTextFile(file, "keep me");
    assert.throws(
      () => startControlServer({ path: file, control, logger }),
      /exists and is not a socket; not replacing it/,
    );
    assert.equal(await Deno.readTextFile(file), "keep me");
    assert.throws(
      () => startControlServer({ path: "relative.sock", control, logger }),
      /must be absolute/,
    );
    assert.throws(
      () => startControlServer({ path: `${dir}/${"x".repeat(120)}.sock`, control, logger }),
      /1\.\.107 bytes/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("socket file: close() leaves a socket that is no longer ours in place", async () => {
  await withServer(async ({ path, server }) => {
    // Someone replaced the file (a second daemon started by hand after removing ours).
    await Deno.remove(path);
    const other = Deno.listen({ transport: "unix", path });
    try {
      await server.close();
      assert.ok((await Deno.lstat(path)).isSocket, "the other daemon's socket survives");
    } finally {
      other.close();
    }
  });
});

// ---------------------------------------------------------------------------------------
// The CLI, in-process

interface Captured {
  io: CliIo;
  out: () => string;
  err: () => string;
}

function capture(
  opts: { isTty?: boolean; env?: Record<string, string>; interrupt?: AbortSignal } = {},
): Captured {
  let out = "";
  let err = "";
  const io: CliIo = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    isTty: opts.isTty ?? false,
    columns: opts.isTty ? 100 : null,
    env: opts.env ?? { LANG: "C.UTF-8" },
    sleep: (ms, signal) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(done, ms);
        function done() {
          clearTimeout(t);
          signal.removeEventListener("abort", done);
          resolve();
        }
        signal.addEventListener("abort", done);
      }),
    interrupt: opts.interrupt ?? new AbortController().signal,
  };
  return { io, out: () => out, err: () => err };
}

Deno.test("cli status: the table, --json unmodified, NAME in full, without colour or cursor codes off a TTY", async () => {
  await withServer(async ({ path, daemon }) => {
    let c = capture();
    assert.equal(await runStatus(["--socket", path], c.io), 0);
    assert.match(c.out(), /^hacore 0\.1\.0 · running/);
    assert.match(c.out(), /^VI_1 +eth0 +51 +v3 +MASTER 4\.0s +150 +self +100ms$/m);
    assert.match(c.out(), /^ {2}vips {3}✓ 192\.0\.2\.100\/24$/m);
    assert.ok(!c.out().includes("\x1b"), "no escape codes off a terminal");

    c = capture();
    assert.equal(await runStatus(["--socket", path, "--json"], c.io), 0);
    assert.deepStrictEqual(JSON.parse(c.out()), JSON.parse(JSON.stringify(daemon.snapshot)));

    c = capture();
    assert.equal(await runStatus(["VI_2", "--socket", path, "--ascii"], c.io), 0);
    assert.match(c.out(), /^VI_2: BACKUP for 4\.0s$/m);
    assert.match(c.out(), /^ {2}vrrpv3StatisticsMasterTransitions {2}1 {2}masterTransitions$/m);
    assert.match(c.out(), /^ {2}vips {9}- 192\.0\.2\.100\/24 dev eth0$/m);

    c = capture({ isTty: true, env: { LANG: "en_US.UTF-8" } });
    assert.equal(await runStatus(["--socket", path], c.io), 0);
    assert.ok(c.out().includes("\x1b[32m"), "colour on a terminal");
    c = capture({ isTty: true, env: { LANG: "en_US.UTF-8", NO_COLOR: "1" } });
    assert.equal(await runStatus(["--socket", path], c.io), 0);
    assert.ok(!c.out().includes("\x1b"), "NO_COLOR wins");
  });
});

Deno.test("cli status: NAME of a dual-stack instance shows both halves; NAME@v6 only its own", async () => {
  await withServer(async ({ path, daemon }) => {
    daemon.snapshot = {
      ...daemon.snapshot,
      instances: [instance("web", "master"), instance("web@v6", "master")],
    };
    let c = capture();
    assert.equal(await runStatus(["web", "--socket", path, "--ascii"], c.io), 0);
    assert.match(c.out(), /^web: MASTER for 4\.0s$/m);
    assert.match(c.out(), /^web@v6: MASTER for 4\.0s$/m);
    c = capture();
    assert.equal(await runStatus(["web@v6", "--socket", path, "--ascii"], c.io), 0);
    assert.ok(!/^web: /m.test(c.out()), c.out());
    c = capture();
    assert.equal(await runStatus(["VI_1", "--socket", path, "--ascii"], c.io), 1);
    c = capture();
    assert.equal(await runStatus(["web", "--socket", path, "--json"], c.io), 0);
    assert.equal(JSON.parse(c.out()).summary.name, "web");
  });
});

Deno.test("cli status: exit 3 when nothing listens, 1 for an unknown instance, 2 for bad usage, 4 when refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hacore-control-" });
  try {
    const nowhere = `${dir}/none.sock`;
    let c = capture();
    assert.equal(await runStatus(["--socket", nowhere], c.io), 3);
    assert.equal(c.err(), `hacore status: hacore is not running (no daemon at ${nowhere})\n`);
    // A stale socket file is "not running" too.
    staleSocket(nowhere);
    c = capture();
    assert.equal(await runStatus(["--socket", nowhere], c.io), 3);
    for (
      const args of [["a", "b"], ["--watch=x"], ["--watch", "0.01"], ["--bogus"], [
        "--timeout",
        "0",
      ], [
        "--socket",
        "/a",
        "--config",
        "/b",
      ]]
    ) {
      c = capture();
      assert.equal(await runStatus(args, c.io), 2, args.join(" "));
      assert.match(c.err(), /usage: hacore status/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await withServer(async ({ path }) => {
    const c = capture();
    assert.equal(await runStatus(["VI_9", "--socket", path], c.io), 1);
    assert.equal(c.err(), 'hacore status: no instance "VI_9"; instances: VI_1, VI_2\n');
  });
  await withServer(async ({ path }) => {
    const c = capture();
    assert.equal(await runStatus(["--socket", path], c.io), 4);
    assert.match(c.err(), /^hacore status: refused: permission denied: only root may use/);
  }, { allowedUids: [4242] });
});

Deno.test("cli status --config FILE: the socket comes from global.control_socket, even in a config with errors", async () => {
  await withServer(async ({ dir, path }) => {
    const good = `${dir}/good.toml`;
    await Deno.writeTextFile(
      good,
      `[global]\ncontrol_socket = "${path}"\n\n[vrrp_instance.VI_1]\ninterface = "eth0"\n` +
        `virtual_router_id = 51\nvirtual_ipaddress = ["192.0.2.100/24"]\n`,
    );
    let c = capture();
    assert.equal(await runStatus(["--config", good, "--json"], c.io), 0, c.err());
    const broken = `${dir}/broken.toml`;
    await Deno.writeTextFile(broken, `[global]\ncontrol_socket = "${path}"\nnope = 1\n`);
    c = capture();
    assert.equal(await runStatus(["--config", broken, "--json"], c.io), 0, c.err());
    c = capture();
    assert.equal(await runStatus(["--config", `${dir}/missing.toml`], c.io), 1);
    assert.match(c.err(), /cannot read .*missing\.toml/);
  });
});

Deno.test("cli status --watch: off a terminal, snapshots separated by a blank line until interrupted", async () => {
  await withServer(async ({ path, daemon }) => {
    const stop = new AbortController();
    const c = capture({ interrupt: stop.signal });
    const watching = runStatus(["--socket", path, "--watch", "0.1"], c.io);
    while (daemon.statusCalls < 3) await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    assert.equal(await watching, 0);
    const frames = c.out().split("\n\n");
    assert.ok(frames.length >= 3, c.out());
    assert.ok(frames.every((f) => f.startsWith("hacore 0.1.0")), c.out());
    assert.ok(!c.out().includes("\x1b"), "no cursor codes off a terminal");

    const stop2 = new AbortController();
    const t = capture({ isTty: true, interrupt: stop2.signal });
    const w2 = runStatus(["--socket", path, "--watch"], t.io);
    while (!t.out().includes("VI_2")) await new Promise((r) => setTimeout(r, 20));
    stop2.abort();
    assert.equal(await w2, 0);
    assert.ok(t.out().startsWith("\x1b[H\x1b[2Jevery 2s: hacore status"), t.out());
  });
});

async function verb(v: Verb, args: string[], path?: string): Promise<[number, string, string]> {
  const c = capture();
  const code = await runVerb(v, path ? [...args, "--socket", path] : args, c.io);
  return [code, c.out(), c.err()];
}

Deno.test("cli verbs: demote, promote, resume, maintenance print the daemon's answer; usage errors exit 2", async () => {
  await withServer(async ({ path, daemon }) => {
    assert.deepStrictEqual(await verb("demote", ["VI_1"], path), [
      0,
      "VI_1: demoted to priority 1\n",
      "",
    ]);
    assert.equal((await verb("promote", ["VI_2", "--priority", "200"], path))[0], 0);
    assert.equal((await verb("resume", ["VI_1"], path))[0], 0);
    assert.equal((await verb("maintenance", ["on"], path))[0], 0);
    assert.equal((await verb("maintenance", ["off"], path))[0], 0);
    assert.deepStrictEqual(daemon.calls, [
      "demote VI_1 default",
      "promote VI_2 200",
      "resume VI_1",
      "maintenance true",
      "maintenance false",
    ]);
    const [code, , err] = await verb("resume", ["VI_2"], path);
    assert.equal(code, 4);
    assert.equal(err, "hacore resume: refused: VI_2 has no override to resume from\n");
    assert.equal((await verb("demote", ["VI_9"], path))[0], 1);

    for (
      const [v, args] of [
        ["demote", []],
        ["demote", ["VI_1", "--priority", "0"]],
        ["demote", ["VI_1", "--priority", "255"]],
        ["promote", ["VI_1", "--priority", "x"]],
        ["resume", ["VI_1", "VI_2"]],
        ["resume", ["VI_1", "--priority", "3"]],
        ["maintenance", ["maybe"]],
        ["maintenance", []],
        ["reload", ["extra"]],
      ] as [Verb, string[]][]
    ) {
      const [c, , e] = await verb(v, args, path);
      assert.equal(c, 2, `${v} ${args.join(" ")}: ${e}`);
      assert.match(e, new RegExp(`usage: hacore ${v}`));
    }
    assert.equal(daemon.calls.length, 6, "no bad usage reached the daemon");
  });
});

Deno.test("cli reload: prints each change, or the config errors and exits 1 when refused", async () => {
  await withServer(async ({ path, daemon }) => {
    daemon.reloadOutcome = {
      ok: true,
      errors: [],
      changes: ["VI_2: added 192.0.2.101/24", "VI_3: removed"],
    };
    assert.deepStrictEqual(await verb("reload", [], path), [
      0,
      "reload: applied 2 change(s)\n  VI_2: added 192.0.2.101/24\n  VI_3: removed\n",
      "",
    ]);
    daemon.reloadOutcome = { ok: true, errors: [], changes: [] };
    assert.equal((await verb("reload", [], path))[1], "reload: applied, no changes\n");
    daemon.reloadOutcome = {
      ok: false,
      errors: ["/etc/hacore/hacore.toml:4: vrrp_instance.VI_1.priority: expected 1..255"],
      changes: [],
    };
    const [code, out, err] = await verb("reload", [], path);
    assert.equal(code, 1);
    assert.equal(out, "");
    assert.equal(
      err,
      "hacore reload: refused, the running configuration is unchanged; 1 error(s):\n" +
        "  /etc/hacore/hacore.toml:4: vrrp_instance.VI_1.priority: expected 1..255\n",
    );
  });
  const dir = await Deno.makeTempDir({ prefix: "hacore-control-" });
  try {
    const [code, , err] = await verb("reload", [], `${dir}/none.sock`);
    assert.equal(code, 3);
    assert.match(err, /hacore is not running \(no daemon at .*none\.sock\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client: errors are sorted into no daemon, protocol and timeout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hacore-control-" });
  try {
    // Something that is not hacore: accepts and answers garbage.
    const path = `${dir}/junk.sock`;
    const listener = Deno.listen({ transport: "unix", path });
    const serving = (async () => {
      for await (const conn of listener) {
        const buf = new Uint8Array(1024);
        await conn.read(buf);
        const line = new TextDecoder().decode(buf);
        if (line.includes('"ping"')) await conn.write(new TextEncoder().encode("HTTP/1.0 400\n"));
        // "status": say nothing until the client gives up and hangs up.
        else await conn.read(buf).catch(() => null);
        conn.close();
      }
    })();
    await assert.rejects(
      request(path, { v: 1, cmd: "ping" }),
      (e) => e instanceof ControlClientError && e.kind === "protocol" && /not JSON/.test(e.message),
    );
    const t0 = performance.now();
    await assert.rejects(
      request(path, { v: 1, cmd: "status" }, { timeoutMs: 150 }),
      (e) => e instanceof ControlClientError && e.kind === "timeout",
    );
    assert.ok(performance.now() - t0 < 1000);
    listener.close();
    await serving.catch(() => {});
    await assert.rejects(
      call(`${dir}/nothing.sock`, { v: 1, cmd: "ping" }),
      (e) => e instanceof ControlClientError && e.kind === "no-daemon",
    );
    assert.ok(new ControlReplyError("refused", "x") instanceof Error);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * LVS operations beyond keepalived, on the runtime over the fake kernel table and the
 * manual clock: drains (operator, deadline, UDP, maintenance file, removed by a reload),
 * an identity change added before the old service drains, ownership (adopted, foreign,
 * stale-owned), `check --plan` equal to what the reload then applies, keep-lvs restart
 * with zero operations, slow start.
 */
import assert from "node:assert/strict";
import { configOf } from "../fakes/config.ts";
import { type Config, parseConfig } from "../../lib/config/mod.ts";
import { planCommand, runningLvs } from "../../lib/cli/check_plan.ts";
import { readOwnership, writeOwnership } from "../../lib/lvs/ownership.ts";
import { serviceKey } from "../../lib/lvs/plan.ts";
import { parseEndpoint } from "../../lib/lvs/drain.ts";
import { validateRequest } from "../../lib/control/protocol.ts";
import type { DaemonStatus } from "../../lib/control/status.ts";
import { drainText, renderStatus } from "../../lib/cli/format.ts";
import { slowStartNextMs, slowStartWeight } from "../../lib/lvs/slow_start.ts";
import type { IpvsPort } from "../../lib/sys/ports.ts";
import {
  AF_INET,
  IP_VS_CONN_F_DROUTE,
  IP_VS_CONN_F_MASQ,
  IPPROTO_TCP,
  IPPROTO_UDP,
  type IpvsDest,
  type IpvsService,
} from "../../lib/sys/netlink/ipvs_types.ts";
import { FakeIpvs } from "../fakes/ipvs.ts";
import { LvsHarness } from "../fakes/lvs_runtime.ts";

type Key = Pick<IpvsService, "af" | "protocol" | "address" | "port" | "fwmark">;
const WEB: Key = {
  af: AF_INET,
  protocol: IPPROTO_TCP,
  address: "192.0.2.100",
  port: 80,
  fwmark: 0,
};
const RS11 = { address: "192.0.2.11", port: 80 };
const RS12 = { address: "192.0.2.12", port: 80 };

/** `web` on 192.0.2.100:80 (DR), real servers .11 (weight 1) and .12 (weight 2), no checks. */
function web(opts: { vs?: string; rs?: string; servers?: number[]; top?: string } = {}): string {
  const rs = (n: number) =>
    `[[virtual_server.web.real_server]]\naddress = "192.0.2.1${n}"\nweight = ${n}\n${
      opts.rs ?? ""
    }\n`;
  return `${opts.top ?? ""}
[virtual_server.web]
address = "192.0.2.100"
port = 80
lb_kind = "DR"
delay_loop = 1
retry = 0
warmup = 0
${opts.vs ?? ""}
${(opts.servers ?? [1, 2]).map(rs).join("")}`;
}

/** The runtime over the fake kernel, with web's lookups. */
class Rt extends LvsHarness {
  constructor(
    config: Config,
    ipvs = new FakeIpvs(),
    opts: { stateFile?: string; keepOnStop?: boolean } = {},
  ) {
    super(config, { ...opts, ipvs, logLevel: "debug" });
  }

  /** "address:weight" of web's destinations, in address order. */
  dests(service: Key = WEB): string[] {
    const e = this.ipvs.table().find((x) => serviceKey(x.service) === serviceKey(service));
    return (e?.dests ?? []).map((d) => `${d.address}:${d.weight}`).sort();
  }

  conns(dest: { address: string; port: number }, active: number, service: Key = WEB): void {
    this.ipvs.setCounters(service, dest, { activeConns: active, inactConns: 0 });
  }
}

Deno.test("drain: weight 0 at once, removed once the kernel counts no connection, kept out until undrain", async () => {
  const t = new Rt(configOf(web()));
  t.conns(RS12, 2);
  await t.start();
  const r = t.rt.drain("web", "192.0.2.12:80", null);
  assert.equal(r.ok, true);
  await t.to(1);
  assert.equal(t.ipvs.calls.at(-1), "editDest 2 6 192.0.2.100 80 192.0.2.12 80 w0");
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:0"]);
  const d = t.rt.status(1).virtualServers[0].realServers[1].drain;
  assert.equal(d?.state, "draining");
  assert.equal(d?.connections, 2);
  assert.equal(d?.reason, "operator");
  assert.equal(d?.timeLeftMs, 300_000 - 1);
  await t.to(2000);
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:0"], "still has connections");
  t.conns(RS12, 0);
  await t.to(2400); // the drain's dumps come every 300 ms
  assert.deepEqual(t.dests(), ["192.0.2.11:1"]);
  assert.equal(t.ipvs.calls.at(-1), "delDest 2 6 192.0.2.100 80 192.0.2.12 80 w0");
  assert.equal(t.rt.status(2400).counters.drainsCompleted, 1);
  assert.equal(t.rt.status(2400).virtualServers[0].realServers[1].drain?.state, "drained");
  await t.to(20_000);
  assert.deepEqual(t.dests(), ["192.0.2.11:1"], "not put back by the periodic sync");
  assert.equal(t.rt.undrain("web", "192.0.2.12:80").ok, true);
  await t.to(20_001);
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"]);
  assert.equal(t.rt.status(20_001).virtualServers[0].realServers[1].drain, null);
  await t.stop();
});

Deno.test("drain: a passing check does not put a drained server back", async () => {
  const t = new Rt(configOf(web({ rs: '[[virtual_server.web.real_server.check]]\ntype = "tcp"' })));
  t.alive.set("192.0.2.12", false);
  await t.start();
  await t.to(100);
  assert.deepEqual(t.dests(), ["192.0.2.11:1"], "its check failed: cut");
  t.rt.drain("web", "192.0.2.12:80", null);
  t.alive.set("192.0.2.12", true);
  await t.to(5000);
  assert.ok(t.lines.some((l) => l.includes("real server 192.0.2.12:80 up")));
  assert.deepEqual(t.dests(), ["192.0.2.11:1"]);
  t.rt.undrain("web", "192.0.2.12:80");
  await t.to(5001);
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"]);
  await t.stop();
});

Deno.test("drain: the deadline removes a server whose connections never end", async () => {
  const t = new Rt(configOf(web()));
  t.conns(RS12, 3);
  await t.start();
  t.rt.drain("web", "192.0.2.12", 2000);
  await t.to(1999);
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:0"]);
  await t.to(2000);
  assert.deepEqual(t.dests(), ["192.0.2.11:1"]);
  const s = t.rt.status(2000);
  assert.equal(s.counters.drainsDeadlineHit, 1);
  assert.equal(s.counters.drainsCompleted, 0);
  await t.stop();
});

Deno.test("drain: a UDP server is removed at once (no connection end to wait for)", async () => {
  const t = new Rt(configOf(web({ vs: 'protocol = "udp"' })));
  const udp: Key = { ...WEB, protocol: IPPROTO_UDP };
  t.conns(RS12, 5, udp);
  await t.start();
  const mark = t.ipvs.calls.length;
  t.rt.drain("web", "192.0.2.12:80", null);
  await t.to(1);
  assert.deepEqual(t.ipvs.calls.slice(mark), ["delDest 2 17 192.0.2.100 80 192.0.2.12 80 w2"]);
  await t.stop();
});

Deno.test("drain: unknown virtual or real servers are refused with the names there are", () => {
  const t = new Rt(configOf(web()));
  const a = t.rt.drain("nope", "192.0.2.12:80", null);
  assert.equal(a.ok, false);
  assert.match(!a.ok ? a.error : "", /virtual servers: web/);
  const b = t.rt.drain("web", "192.0.2.99:80", null);
  assert.match(!b.ok ? b.error : "", /real servers: 192.0.2.11:80, 192.0.2.12:80/);
  const c = t.rt.undrain("web", "192.0.2.12:80");
  assert.match(!c.ok ? c.error : "", /not drained/);
});

Deno.test("maintenance file: IP:PORT in the directory drains that server; removing the file puts it back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const t = new Rt(configOf(web({ top: `[lvs]\nmaintenance_dir = "${dir}"\n` })));
    await t.start();
    t.conns(RS11, 1);
    await Deno.writeTextFile(`${dir}/192.0.2.11:80`, "");
    await t.to(1000);
    // The maintenance read sees the file; the plan uses the counters of the last dump (none yet).
    await t.to(5000);
    assert.deepEqual(t.dests(), ["192.0.2.11:0", "192.0.2.12:2"], "draining: it has a connection");
    assert.equal(t.rt.status(5000).virtualServers[0].realServers[0].drain?.reason, "maintenance");
    t.conns(RS11, 0);
    await t.to(5400);
    assert.deepEqual(t.dests(), ["192.0.2.12:2"]);
    await Deno.remove(`${dir}/192.0.2.11:80`);
    await t.to(6500);
    assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"]);
    await t.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reload: a real server removed from the config drains (weight 0) instead of being cut, then goes", async () => {
  const t = new Rt(configOf(web()));
  t.conns(RS12, 1);
  await t.start();
  const mark = t.ipvs.calls.length;
  t.rt.reload(configOf(web({ servers: [1] })), null);
  await t.to(1);
  assert.deepEqual(t.ipvs.calls.slice(mark), ["editDest 2 6 192.0.2.100 80 192.0.2.12 80 w0"]);
  assert.equal(t.rt.status(1).drains?.[0].reason, "removed");
  t.conns(RS12, 0);
  await t.to(400);
  assert.deepEqual(t.ipvs.calls.slice(mark + 1), ["delDest 2 6 192.0.2.100 80 192.0.2.12 80 w0"]);
  await t.stop();
});

Deno.test("reload: weight, scheduler and method changes are edits in place, never delete + add", async () => {
  const t = new Rt(configOf(web()));
  await t.start();
  const mark = t.ipvs.calls.length;
  const next = web({ vs: 'lb_algo = "rr"' }).replace("weight = 2", "weight = 5")
    .replace('lb_kind = "DR"', 'lb_kind = "NAT"');
  t.rt.reload(configOf(next), null);
  await t.to(1);
  const calls = t.ipvs.calls.slice(mark);
  assert.deepEqual(calls, [
    "editService 2 6 192.0.2.100 80",
    "editDest 2 6 192.0.2.100 80 192.0.2.11 80 w1",
    "editDest 2 6 192.0.2.100 80 192.0.2.12 80 w5",
  ]);
  assert.equal(t.ipvs.dest(WEB, "192.0.2.11", 80)?.forward, IP_VS_CONN_F_MASQ);
  await t.stop();
});

Deno.test("reload: a service's identity change adds the new service first, then drains and removes the old", async () => {
  const t = new Rt(configOf(web()));
  t.conns(RS11, 1);
  await t.start();
  const mark = t.ipvs.calls.length;
  t.rt.reload(configOf(web().replace("port = 80", "port = 8080")), null);
  await t.to(1);
  assert.deepEqual(t.ipvs.calls.slice(mark), [
    "addService 2 6 192.0.2.100 8080",
    // A real server without a port of its own follows its virtual server's.
    "addDest 2 6 192.0.2.100 8080 192.0.2.11 8080 w1",
    "addDest 2 6 192.0.2.100 8080 192.0.2.12 8080 w2",
    "editDest 2 6 192.0.2.100 80 192.0.2.11 80 w0",
    "editDest 2 6 192.0.2.100 80 192.0.2.12 80 w0",
  ]);
  assert.equal(t.rt.status(1).drains?.[0].entry, "tcp 192.0.2.100:80");
  t.conns(RS11, 0);
  await t.to(400);
  assert.deepEqual(t.ipvs.calls.slice(mark + 5), ["delService 2 6 192.0.2.100 80"]);
  await t.stop();
});

function dest(address: string, weight: number): IpvsDest {
  return {
    af: AF_INET,
    address,
    port: 80,
    forward: IP_VS_CONN_F_DROUTE,
    weight,
    uThreshold: 0,
    lThreshold: 0,
  } as IpvsDest;
}

function service(address: string, port = 80): IpvsService {
  return {
    af: AF_INET,
    protocol: IPPROTO_TCP,
    address,
    port,
    fwmark: 0,
    scheduler: "wlc",
    flags: 0,
    timeoutS: 0,
    netmask: 32,
    persistenceEngine: null,
  } as IpvsService;
}

Deno.test("ownership: the config's services are adopted, stale owned ones removed, foreign ones left alone and listed", async () => {
  const dir = await Deno.makeTempDir();
  const state = `${dir}/hacore.lvs.json`;
  try {
    const ipvs = new FakeIpvs();
    ipvs.seed({
      service: service("192.0.2.100"),
      dests: [dest("192.0.2.11", 1), dest("192.0.2.12", 2)],
    });
    ipvs.seed({ service: service("192.0.2.200"), dests: [dest("192.0.2.21", 1)] }); // ours, dropped
    ipvs.seed({ service: service("198.51.100.1"), dests: [dest("198.51.100.9", 1)] }); // foreign
    await writeOwnership(state, [
      serviceKey(service("192.0.2.100")),
      serviceKey(service("192.0.2.200")),
    ]);
    const t = new Rt(configOf(web()), ipvs, { stateFile: state });
    await t.start();
    assert.deepEqual(
      ipvs.calls,
      ["delService 2 6 192.0.2.200 80"],
      "adopted, no add; stale removed",
    );
    const s = t.rt.status(0);
    assert.deepEqual(s.foreign, ["tcp 198.51.100.1:80"]);
    assert.deepEqual([...await readOwnership(state)], [serviceKey(service("192.0.2.100"))]);
    await t.stop();
    assert.deepEqual(ipvs.table().map((e) => e.service.address), ["198.51.100.1"], "never flushed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("drift: a hand-deleted destination is restored, counted and listed in status", async () => {
  const t = new Rt(configOf(web()));
  await t.start();
  t.ipvs.handDeleteDest(WEB as IpvsService, RS11);
  await t.to(5000);
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"]);
  const s = t.rt.status(5000);
  assert.equal(s.counters.driftRepairs, 1);
  assert.deepEqual(s.drift, [{
    atMs: 5000,
    repair: "addDest 192.0.2.100:80 -> 192.0.2.11:80 weight 1",
  }]);
  assert.ok(t.lines.some((l) => l.includes("drifted")));
  await t.stop();
});

/** The fake kernel, read-only: a mutation through it fails the test. */
function readOnly(ipvs: FakeIpvs): IpvsPort {
  return new Proxy(ipvs, {
    get(target, prop) {
      if (prop === "close") return () => Promise.resolve();
      if (typeof prop === "string" && /^(add|edit|del|set|start|stop|zero)/.test(prop)) {
        return () => Promise.reject(new Error(`check --plan called ${prop}`));
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as IpvsPort;
}

const PLAN_VERB: Record<string, RegExp> = {
  addService: /^add service /,
  editService: /^edit service /,
  delService: /^delete service /,
  addDest: /^add dest /,
  editDest: /^(edit|drain) dest /,
  delDest: /^delete dest /,
};

Deno.test("check --plan prints, in order, the operations the reload then applies, and changes nothing", async () => {
  const dir = await Deno.makeTempDir();
  const state = `${dir}/hacore.lvs.json`;
  try {
    const t = new Rt(configOf(web()), new FakeIpvs(), { stateFile: state });
    t.conns(RS12, 4);
    await t.start();
    const next = configOf(
      web({ servers: [1, 3] }).replace('lb_kind = "DR"', 'lb_kind = "DR"\nlb_algo = "rr"') +
        `[virtual_server.dns]\naddress = "192.0.2.101"\nport = 53\nprotocol = "udp"\n` +
        `[[virtual_server.dns.real_server]]\naddress = "192.0.2.31"\n`,
    );
    const out: string[] = [];
    const before = t.ipvs.calls.length;
    const code = await planCommand(next, state, "/nonexistent", {
      openIpvs: () => Promise.resolve(readOnly(t.ipvs)),
      daemonStatus: () => Promise.resolve({ lvs: t.rt.status(0) } as never),
      out: (l) => out.push(l),
      err: (l) => out.push(`ERR ${l}`),
    });
    assert.equal(code, 0, out.join("\n"));
    assert.equal(t.ipvs.calls.length, before, "the plan changed nothing");
    const lines = out.slice(1).map((l) => l.trim());
    t.rt.reload(next, null);
    await t.to(1);
    const applied = t.ipvs.calls.slice(before);
    assert.equal(lines.length, applied.length, `${lines.join("\n")}\n--\n${applied.join("\n")}`);
    applied.forEach((call, i) => {
      const [op, , , addr, port, daddr, dport] = call.split(" ");
      assert.match(lines[i], PLAN_VERB[op], `${lines[i]} vs ${call}`);
      assert.ok(lines[i].includes(`${addr}:${port}`), `${lines[i]} vs ${call}`);
      if (daddr !== undefined && !daddr.startsWith("w")) {
        assert.ok(lines[i].includes(`-> ${daddr}:${dport}`), `${lines[i]} vs ${call}`);
      }
    });
    assert.ok(
      lines.some((l) =>
        l.startsWith("drain dest tcp 192.0.2.100:80 -> 192.0.2.12:80 (4 connections")
      ),
    );
    await t.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check --plan: where IPVS cannot be opened, a clear message and exit 1", async () => {
  const out: string[] = [];
  const code = await planCommand(configOf(web()), "/nonexistent/x.lvs.json", "/nonexistent", {
    openIpvs: () => Promise.reject(new Error("the kernel has no IPVS")),
    daemonStatus: () => Promise.resolve(null),
    out: (l) => out.push(l),
    err: (l) => out.push(l),
  });
  assert.equal(code, 1);
  assert.match(out.join("\n"), /cannot read the kernel's IPVS table.*no IPVS/);
});

Deno.test("check --plan takes a running daemon's verdicts and drains: a down server is not planned back", async () => {
  const t = new Rt(configOf(web({ rs: '[[virtual_server.web.real_server.check]]\ntype = "tcp"' })));
  t.alive.set("192.0.2.11", false);
  await t.start();
  await t.to(100);
  t.rt.drain("web", "192.0.2.12:80", null);
  await t.to(200);
  assert.deepEqual(t.dests(), []);
  const running = runningLvs(t.rt.status(200), t.config);
  assert.deepEqual([...running.health.entries()], [
    ["web/192.0.2.11:80", { up: false }],
    ["web/192.0.2.12:80", { up: true }],
  ]);
  assert.deepEqual([...running.heldServers.keys()], ["web/192.0.2.12:80"]);
  await t.stop();
});

Deno.test("keep-lvs: stop leaves the table and the ownership file; the next start adopts it with no operation", async () => {
  const dir = await Deno.makeTempDir();
  const state = `${dir}/hacore.lvs.json`;
  try {
    const ipvs = new FakeIpvs();
    const a = new Rt(configOf(web({ top: "[lvs]\nkeep_on_stop = true\n" })), ipvs, {
      stateFile: state,
    });
    await a.start();
    const table = ipvs.table();
    await a.stop();
    assert.deepEqual(ipvs.table(), table, "left in place");
    assert.deepEqual([...await readOwnership(state)], [serviceKey(WEB)]);
    ipvs.closed = false; // the kernel outlives the socket; a new run opens a new one
    const calls = ipvs.calls.length;
    const dumps = ipvs.dumps;
    const b = new Rt(configOf(web()), ipvs, { stateFile: state, keepOnStop: true });
    await b.start();
    assert.equal(ipvs.calls.length, calls, "no operation");
    assert.equal(ipvs.dumps, dumps + 1, "but a dump");
    await b.stop();
    assert.deepEqual(ipvs.table(), table);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("slow start: a recovering server's weight ramps from 1 to its weight in steps, as deadlines", async () => {
  const t = new Rt(
    configOf(
      web({ rs: 'slow_start = 10\n[[virtual_server.web.real_server.check]]\ntype = "tcp"' })
        .replace("weight = 2", "weight = 11"),
    ),
  );
  t.alive.set("192.0.2.12", false);
  await t.start();
  await t.to(100);
  assert.deepEqual(t.dests(), ["192.0.2.11:1"]);
  t.alive.set("192.0.2.12", true);
  await t.to(1000); // the next check passes at 1000
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:1"], "starts at 1");
  const weights: number[] = [];
  for (let ms = 2000; ms <= 12_000; ms += 1000) {
    await t.to(ms);
    weights.push(t.ipvs.dest(WEB, "192.0.2.12", 80)!.weight);
  }
  assert.deepEqual(weights, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 11]);
  assert.equal(t.rt.nextDeadlineMs(), 15_000, "ramp done: only the periodic dump is due");
  await t.stop();
});

Deno.test("slowStartWeight: 1 at the start, whole steps of a tenth (at least 1 s), the weight at the end, never 0", () => {
  const cases: [number, number, number, number][] = [
    // weight, elapsedMs, durationMs, expected
    [100, 0, 10_000, 1],
    [100, 999, 10_000, 1],
    [100, 1000, 10_000, 10],
    [100, 5000, 10_000, 50],
    [100, 9999, 10_000, 90],
    [100, 10_000, 10_000, 100],
    [100, 60_000, 10_000, 100],
    [3, 0, 60_000, 1],
    [3, 30_000, 60_000, 2],
    [1, 0, 10_000, 1],
    [0, 0, 10_000, 0], // weight 0 in the config: no new connections, ramp or not
    [50, 1000, 0, 50], // no slow start
    [10, 999, 5000, 1], // 5 s: steps of 1 s (not 0.5 s)
    [10, 1500, 5000, 2],
    [10, 2000, 5000, 4],
  ];
  for (const [w, e, d, want] of cases) {
    assert.equal(slowStartWeight(w, e, d), want, `slowStartWeight(${w}, ${e}, ${d})`);
  }
  assert.equal(slowStartNextMs(1000, 1000, 10_000), 2000);
  assert.equal(slowStartNextMs(1000, 10_500, 10_000), 11_000);
  assert.equal(slowStartNextMs(1000, 11_000, 10_000), null);
});

Deno.test("config: [lvs] keep_on_stop, drain_deadline and maintenance_dir, with defaults; slow_start per server or virtual server", () => {
  const d = configOf(web());
  assert.deepEqual(d.lvs, {
    keepOnStop: false,
    drainDeadlineMs: 300_000,
    maintenanceDir: "/run/hacore/maintenance",
  });
  const c = configOf(
    web({
      top: '[lvs]\nkeep_on_stop = true\ndrain_deadline = 30\nmaintenance_dir = ""\n',
      vs: "slow_start = 20",
    }).replace("weight = 2", "weight = 2\nslow_start = 5"),
  );
  assert.deepEqual(c.lvs, { keepOnStop: true, drainDeadlineMs: 30_000, maintenanceDir: null });
  assert.deepEqual(c.virtualServers[0].realServers.map((r) => r.slowStartMs), [20_000, 5_000]);
  const bad = parseConfig('[lvs]\nmaintenance_dir = "relative"\nkeep = 1\n', "a.toml");
  assert.equal(bad.ok, false);
  const messages = !bad.ok ? bad.errors.map((e) => `${e.path}: ${e.message}`).join("\n") : "";
  assert.match(messages, /lvs.maintenance_dir: expected an absolute path/);
  assert.match(messages, /keep/);
});

Deno.test("control: drain and undrain requests are validated (names, deadline range)", () => {
  const ok = validateRequest({
    v: 1,
    cmd: "drain",
    virtualServer: "web",
    realServer: "192.0.2.12:80",
    deadline: 30,
  });
  assert.deepEqual(ok.ok && ok.request, {
    v: 1,
    cmd: "drain",
    virtualServer: "web",
    realServer: "192.0.2.12:80",
    deadline: 30,
  });
  assert.equal(validateRequest({ v: 1, cmd: "drain", virtualServer: "web" }).ok, false);
  assert.equal(
    validateRequest({ v: 1, cmd: "drain", virtualServer: "web", realServer: "x", deadline: -1 })
      .ok,
    false,
  );
  assert.equal(
    validateRequest({ v: 1, cmd: "undrain", virtualServer: "web", realServer: "x", deadline: 1 })
      .ok,
    false,
    "undrain takes no deadline",
  );
});

Deno.test("parseEndpoint: IP:PORT and [V6]:PORT, canonical; anything else is not a server", () => {
  assert.deepEqual(parseEndpoint("192.0.2.11:80"), { address: "192.0.2.11", port: 80 });
  assert.deepEqual(parseEndpoint("[2001:db8::0011]:443"), { address: "2001:db8::11", port: 443 });
  for (const bad of ["192.0.2.11", "2001:db8::1:80", "192.0.2.11:0", "x:80", ".keep", "a:b:c"]) {
    assert.equal(parseEndpoint(bad), null, bad);
  }
});

Deno.test("drain: while dumps fail, the drain's polling keeps its pace (no tight loop)", async () => {
  const t = new Rt(configOf(web()));
  await t.start();
  t.conns(RS12, 1);
  await t.to(5000); // a dump that sees the connection
  t.rt.drain("web", "192.0.2.12:80", null);
  t.ipvs.dumpFailure = "ENOBUFS";
  await t.to(5001);
  const dumps = t.ipvs.dumps;
  await t.to(8001);
  // One try per 300 ms poll at most (the failed-dump retry is paced too).
  assert.ok(t.ipvs.dumps - dumps <= 11, `${t.ipvs.dumps - dumps} dumps in 3 s`);
  assert.ok(t.rt.nextDeadlineMs()! > t.clock.nowMs());
  t.ipvs.dumpFailure = null;
  t.conns(RS12, 0);
  await t.to(9000);
  assert.deepEqual(t.dests(), ["192.0.2.11:1"]);
  await t.stop();
});

Deno.test("status text: a drain shows its connections and time left; removed entries and foreign services are listed", async () => {
  const t = new Rt(configOf(web()));
  t.ipvs.seed({ service: service("198.51.100.1"), dests: [] });
  await t.start();
  t.conns(RS12, 3);
  await t.to(5000);
  t.rt.drain("web", "192.0.2.12:80", 60_000);
  await t.to(5001);
  const text = renderStatus(
    {
      phase: "running",
      nowMs: 15_001,
      instances: [],
      counters: {},
      conflicts: [],
      maintenance: false,
      configFile: "lvs.toml",
      startedAtWall: "2026-01-01T00:00:00.000Z",
      version: "test",
      lvs: t.rt.status(15_001),
    } satisfies DaemonStatus,
    { unicode: false },
  );
  assert.match(text, /192\.0\.2\.12:80 .*draining \(operator\): 3 conns left, 50 s left/);
  assert.match(text, /tcp 198\.51\.100\.1:80 {2}foreign/);
  assert.equal(
    drainText({
      entry: "x",
      state: "drained",
      reason: "maintenance",
      connections: 0,
      timeLeftMs: null,
    }),
    "drained (maintenance)",
  );
  await t.stop();
});

Deno.test("drain: a drained server no longer counts for quorum; the sorry server stands in, and leaves at undrain", async () => {
  const t = new Rt(
    configOf(
      web({
        vs: 'quorum = 3\n[virtual_server.web.sorry_server]\naddress = "192.0.2.99"\nport = 80',
      }),
    ),
  );
  await t.start();
  assert.equal(t.rt.status(0).virtualServers[0].quorumUp, true);
  t.rt.drain("web", "192.0.2.12:80", null);
  await t.to(1);
  const vs = t.rt.status(1).virtualServers[0];
  assert.equal(vs.quorumUp, false);
  assert.equal(vs.liveWeight, 1);
  assert.deepEqual(t.dests(), ["192.0.2.99:1"]);
  assert.ok(t.lines.some((l) => l.includes("web: quorum lost")));
  t.rt.undrain("web", "192.0.2.12:80");
  await t.to(2);
  assert.equal(t.rt.status(2).virtualServers[0].quorumUp, true);
  assert.deepEqual(t.dests(), ["192.0.2.11:1", "192.0.2.12:2"]);
  await t.stop();
});

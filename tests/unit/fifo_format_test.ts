/**
 * `notify_fifo_format = "keepalived"`: the notify FIFO carries keepalived's own text
 * lines, so a reader written for keepalived's `notify_fifo` keeps working; a
 * keepalived.conf's `notify_fifo` gets that format.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/mod.ts";
import { parseKeepalived } from "../../lib/config/keepalived/mod.ts";
import { EventStream, formatKeepalivedLine } from "../../lib/daemon/event_stream.ts";
import { hookJobs, Notifier } from "../../lib/daemon/notify.ts";
import type { NotifyEvent } from "../../lib/daemon/ports.ts";
import { Logger } from "../../lib/log.ts";

const AT = new Date(Date.UTC(2026, 10, 21, 22, 59, 3, 414));

function event(over: Partial<NotifyEvent> = {}): NotifyEvent {
  return {
    target: "INSTANCE",
    name: "VI_1",
    state: "MASTER",
    previous: "BACKUP",
    priority: 100,
    reason: "master-down-timer",
    detail: "no advert for 3.6 s",
    masterIp: "192.0.2.11",
    at: AT,
    hooks: { master: null, backup: null, fault: null, stop: null, generic: null },
    ...over,
  };
}

Deno.test("keepalived's FIFO lines: INSTANCE with its priority, GROUP without", () => {
  assert.equal(formatKeepalivedLine(event()), 'INSTANCE "VI_1" MASTER 100\n');
  assert.equal(
    formatKeepalivedLine(event({ target: "GROUP", name: "G1", state: "FAULT" })),
    'GROUP "G1" FAULT\n',
  );
  assert.equal(
    formatKeepalivedLine(event({ state: "STOP", priority: 0 })),
    'INSTANCE "VI_1" STOP 0\n',
  );
});

Deno.test("an event stream in keepalived's format writes its lines, LVS ones as keepalived words them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/events.log`;
    await Deno.writeTextFile(path, "");
    const stream = new EventStream({
      path,
      logger: new Logger({ sink: () => {} }),
      format: "keepalived",
    });
    assert.ok(stream.write(event()));
    assert.ok(stream.writeLvs({
      kind: "real_server",
      virtualServer: "web",
      realServer: "web/192.0.2.21:80",
      up: false,
      fifoLine: "RS [192.0.2.21]:tcp:80 [192.0.2.100]:tcp:80 DOWN",
    }, AT));
    stream.close();
    assert.equal(
      await Deno.readTextFile(path),
      'INSTANCE "VI_1" MASTER 100\nRS [192.0.2.21]:tcp:80 [192.0.2.100]:tcp:80 DOWN\n',
    );
    const json = new EventStream({ path, logger: new Logger({ sink: () => {} }) });
    json.write(event());
    json.close();
    const last = (await Deno.readTextFile(path)).trim().split("\n").at(-1)!;
    assert.equal(JSON.parse(last).state, "MASTER", "JSON lines stay the default");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("notify_fifo_format: TOML takes json or keepalived; a keepalived.conf's notify_fifo is read with keepalived's", () => {
  const toml = (v: string) =>
    parseConfig(
      `[global]\nnotify_fifo = "/run/hacore.fifo"\nnotify_fifo_format = ${v}\n[vrrp_instance.VI_1]\ninterface = "eth0"\nvirtual_router_id = 1\nvirtual_ipaddress = ["192.0.2.1/24"]\n`,
      "a.toml",
    );
  const k = toml('"keepalived"');
  assert.ok(k.ok);
  assert.equal(k.config.global.notifyFifoFormat, "keepalived");
  const bad = toml('"text"');
  assert.ok(!bad.ok);
  assert.match(bad.errors[0].message, /"json".*"keepalived"/);
  const ka = parseKeepalived(
    "global_defs {\n notify_fifo /run/ka.fifo\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  192.0.2.1/24\n }\n}\n",
    "k.conf",
    { configId: "x" },
  );
  assert.ok(ka.ok);
  assert.equal(ka.config.global.notifyFifoFormat, "keepalived");
});

Deno.test("a lower-priority advert runs notify_master_rx_lower_pri only, and writes no FIFO line", async () => {
  const hooks = {
    master: "/bin/up",
    backup: null,
    fault: null,
    stop: null,
    generic: "/bin/n",
    masterRxLowerPri: "/bin/lower",
  };
  const lower = event({ hooks, lowerPriority: true });
  assert.deepEqual(hookJobs(lower), [
    { hook: "notify_master_rx_lower_pri", command: "/bin/lower", extraArgs: [] },
  ]);
  assert.deepEqual(hookJobs({ ...lower, hooks: { ...hooks, masterRxLowerPri: null } }), []);
  assert.deepEqual(hookJobs({ ...lower, lowerPriority: false }).map((j) => j.hook), [
    "notify_master",
    "notify",
  ]);
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/events.log`;
    await Deno.writeTextFile(path, "");
    const n = new Notifier({
      timeoutMs: 1000,
      logger: new Logger({ sink: () => {} }),
      allowInsecure: true,
      fifoPath: path,
      spawn: () => {
        throw new Error("no hook runs here");
      },
    });
    n.notify({ ...lower, hooks: { ...hooks, masterRxLowerPri: null } });
    n.notify(event());
    await n.close();
    assert.equal(await Deno.readTextFile(path).then((t) => t.trim().split("\n").length), 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * `hacore run` refuses bad input before touching anything, and its pid file keeps a
 * second daemon off the same config while letting a crashed one's file be taken over.
 */
import assert from "node:assert/strict";
import { acquirePidFile, defaultPidFile } from "../../lib/cli/pidfile.ts";
import { removeLeftovers } from "../../lib/cli/run.ts";
import { parseConfig } from "../../lib/config/mod.ts";
import { Logger } from "../../lib/log.ts";
import { FakeAddressPort } from "../fakes/daemon.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function hacore(...args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("run: a config error exits 1 naming file, line and key, and creates no pid file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/bad.toml`;
    await Deno.writeTextFile(
      file,
      '[vrrp_instance.VI_1]\ninterface = "eth0"\nvirtual_router_id = 0\n',
    );
    const { code, stderr } = await hacore("run", file, "--pidfile", `${dir}/p.pid`);
    assert.equal(code, 1);
    assert.match(stderr, /bad\.toml:3: vrrp_instance\.VI_1\.virtual_router_id/);
    assert.match(stderr, /nothing was started/);
    await assert.rejects(Deno.stat(`${dir}/p.pid`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run: usage errors exit 2", async () => {
  assert.equal((await hacore("run")).code, 2);
  assert.equal((await hacore("run", "a.toml", "--log-level", "loud")).code, 2);
});

Deno.test("pid file: a live holder refuses a second daemon, release frees it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/x.pid`;
    // A live process that is not us holds it.
    const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
    try {
      await Deno.writeTextFile(path, `${child.pid}\n`);
      await assert.rejects(
        acquirePidFile(path),
        new RegExp(`another hacore \\(pid ${child.pid}\\)`),
      );
    } finally {
      child.kill("SIGKILL");
      await child.status;
    }
    // Its process is gone now: the stale file is taken over.
    const held = await acquirePidFile(path);
    assert.equal((await Deno.readTextFile(path)).trim(), String(Deno.pid));
    await held.release();
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pid file: garbage content is taken over; release leaves a file that is not ours", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/y.pid`;
    await Deno.writeTextFile(path, "not a pid");
    const held = await acquirePidFile(path);
    await Deno.writeTextFile(path, "12345\n"); // someone else's now
    await held.release();
    assert.equal(await Deno.readTextFile(path), "12345\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pid file: default path is per config file, stable, under /run/hacore", async () => {
  const a = await defaultPidFile("/etc/hacore/a.toml");
  assert.equal(a, await defaultPidFile("/etc/hacore/a.toml"));
  assert.notEqual(a, await defaultPidFile("/etc/other/a.toml"));
  assert.match(a, /^\/run\/hacore\/a-[0-9a-f]{8}\.pid$/);
});

Deno.test("removeLeftovers: an earlier run's addresses go, the operator's and an owner's stay", async () => {
  const port = new FakeAddressPort([
    { dev: "eth0", address: "192.0.2.11", prefix: 24, family: "ipv4", label: null, hacore: false },
    { dev: "eth0", address: "192.0.2.100", prefix: 24, family: "ipv4", label: null, hacore: true },
    {
      dev: "eth1",
      address: "2001:db8::100",
      prefix: 64,
      family: "ipv6",
      label: null,
      hacore: true,
    },
    { dev: "eth0", address: "192.0.2.200", prefix: 24, family: "ipv4", label: null, hacore: true },
  ]);
  const r = parseConfig(
    `[vrrp_instance.OWNER]
interface = "eth0"
virtual_router_id = 52
priority = 255
unicast_src_ip = "192.0.2.200"
virtual_ipaddress = ["192.0.2.200/24"]
`,
    "test.toml",
  );
  assert.ok(r.ok, r.ok ? "" : r.errors.map((e) => e.message).join("\n"));
  const lines: string[] = [];
  const log = new Logger({ sink: (l) => lines.push(l), wallClock: () => new Date(0) });
  assert.equal(await removeLeftovers(port, r.config, log), 2);
  assert.deepStrictEqual((await port.list()).map((a) => a.address).sort(), [
    "192.0.2.11",
    "192.0.2.200",
  ]);
  assert.ok(
    lines.some((l) => l.includes("removed 192.0.2.100/24 dev eth0, left by an earlier run")),
  );
});

Deno.test("removeLeftovers: a DR real server's VIPs on lo stay through a restart", async () => {
  const port = new FakeAddressPort([
    { dev: "lo", address: "192.0.2.100", prefix: 32, family: "ipv4", label: null, hacore: true },
    { dev: "lo", address: "192.0.2.101", prefix: 32, family: "ipv4", label: null, hacore: true },
  ]);
  const r = parseConfig(`[real_server_role]\nvips = ["192.0.2.100"]\n`, "rs.toml");
  assert.ok(r.ok, r.ok ? "" : r.errors.map((e) => e.message).join("\n"));
  const log = new Logger({ sink: () => {}, wallClock: () => new Date(0) });
  assert.equal(await removeLeftovers(port, r.config, log), 1);
  assert.deepStrictEqual((await port.list()).map((a) => a.address), ["192.0.2.100"]);
});

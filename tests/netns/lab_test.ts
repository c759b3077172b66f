/**
 * `hacore lab`: its pure parts (spec files, probe arithmetic, log parsing) without
 * privileges, and the command itself as a person runs it, as root: the whole story
 * prints, the numbers are within the protocol's bounds, and nothing it made survives,
 * neither at the end nor after a Ctrl-C in the middle.
 */

import assert from "node:assert/strict";
import { logMessage, parseTransition } from "../../lib/lab/hacore.ts";
import { labPrefix, runCmd, sweepStaleLabs } from "../../lib/lab/host.ts";
import { type ProbeResult, summarizeProbe } from "../../lib/lab/probe.ts";
import { LineProc } from "../../lib/lab/proc.ts";
import {
  defaultLabSpec,
  loadLabSpec,
  masterDownOf,
  worstMasterDownMs,
} from "../../lib/lab/spec.ts";
import { parseIpAddrJson } from "../../lib/lab/vip.ts";
import { masterDownIntervalMs } from "../../lib/vrrp/timing.ts";
import { hasCommand, leftoverNamespaces, netnsTest } from "./helpers.ts";
import { hacoreConfigToml } from "./peers.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

// ---------------------------------------------------------------------------------------
// Pure parts

Deno.test("the default lab is three VRRPv3 nodes at 100 ms with priorities 150/100/50", () => {
  const spec = defaultLabSpec();
  assert.equal(spec.vip, "192.0.2.100");
  assert.deepEqual(spec.nodes.map((n) => [n.name, n.address, n.config.instances[0].priority]), [
    ["node1", "192.0.2.11/24", 150],
    ["node2", "192.0.2.12/24", 100],
    ["node3", "192.0.2.13/24", 50],
  ]);
  for (const n of spec.nodes) {
    const vi = n.config.instances[0];
    assert.deepEqual([vi.version, vi.advertIntervalMs, vi.interface, vi.preempt], [
      3,
      100,
      "eth0",
      true,
    ]);
  }
  assert.equal(masterDownOf(spec.nodes[1]), masterDownIntervalMs(3, 100, 100));
  assert.equal(worstMasterDownMs(spec), masterDownIntervalMs(3, 50, 100));
});

async function withSpecDir(
  files: Record<string, string>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hacore-labspec-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const nodeToml = (name: string, priority: number) =>
  hacoreConfigToml({ routerId: name, priority, vips: ["192.0.2.100/24"] });

Deno.test("a lab spec names node configs relative to itself; vip defaults to the first VIP", async () => {
  await withSpecDir({
    "lab.toml": '[[node]]\nconfig = "a.toml"\n[[node]]\nname = "b"\nconfig = "b.toml"\n' +
      'address = "192.0.2.30/24"\n',
    "a.toml": nodeToml("a", 150),
    "b.toml": nodeToml("b", 100),
  }, async (dir) => {
    const r = await loadLabSpec(`${dir}/lab.toml`);
    assert.ok(r.ok, r.ok ? "" : r.errors.join("\n"));
    assert.equal(r.spec.vip, "192.0.2.100");
    assert.deepEqual(r.spec.nodes.map((n) => [n.name, n.address, n.configFile]), [
      ["node1", "192.0.2.11/24", `${dir}/a.toml`],
      ["b", "192.0.2.30/24", `${dir}/b.toml`],
    ]);
  });
});

Deno.test("a lab spec reports every problem at once, naming the file", async () => {
  await withSpecDir({
    "lab.toml": 'vipp = "x"\n[[node]]\nconfig = "a.toml"\ncolour = "red"\n' +
      '[[node]]\nconfig = "ens.toml"\naddress = "10.0.0.1/8"\n[[node]]\nconfig = "bad.toml"\n',
    "a.toml": nodeToml("a", 150),
    "ens.toml": nodeToml("b", 100).replace('"eth0"', '"ens3"'),
    "bad.toml": '[vrrp_instance.VI_1]\ninterface = "eth0"\nvirtual_router_id = 0\n',
  }, async (dir) => {
    const r = await loadLabSpec(`${dir}/lab.toml`);
    assert.equal(r.ok, false);
    const text = r.ok ? "" : r.errors.join("\n");
    assert.match(text, /unknown key "vipp"/);
    assert.match(text, /node 1: unknown key "colour"/);
    assert.match(text, /node 2: address must be in 192\.0\.2\.0\/24/);
    assert.match(text, /bad\.toml:3: vrrp_instance\.VI_1\.virtual_router_id/);
  });
  await withSpecDir({
    "one.toml": '[[node]]\nconfig = "a.toml"\n',
    "ens.toml": '[[node]]\nconfig = "a.toml"\n[[node]]\nconfig = "e.toml"\n',
    "a.toml": nodeToml("a", 150),
    "e.toml": nodeToml("b", 100).replace('"eth0"', '"ens3"'),
  }, async (dir) => {
    const one = await loadLabSpec(`${dir}/one.toml`);
    assert.deepEqual(one.ok ? [] : one.errors, [
      `${dir}/one.toml: expected 2 to 9 [[node]] tables`,
    ]);
    const ens = await loadLabSpec(`${dir}/ens.toml`);
    assert.match(
      ens.ok ? "" : ens.errors.join("\n"),
      /interface is "ens3"; in a lab node the only interface is "eth0"/,
    );
  });
});

Deno.test("summarizeProbe counts failures by start and recovery by completion", () => {
  const r = (n: number, t: number, ok: boolean, who?: string, ms = 1): ProbeResult =>
    ok ? { n, t, ok, who, ms } : { n, t, ok, error: "timeout", ms };
  const results = [
    r(1, 990, true, "a"),
    r(2, 1000, true, "a"),
    r(3, 1010, false, undefined, 200),
    r(4, 1020, false, undefined, 200),
    r(5, 1030, true, "b", 15), // started in the outage, answered once b announced itself
    r(6, 1040, true, "b"),
  ];
  const s = summarizeProbe(results, 1000, 1050);
  assert.deepEqual(s, {
    attempts: 5,
    failed: 2,
    firstFailureAfterMs: 10,
    lastFailureAfterMs: 20,
    recoveredAfterMs: 45,
    recoveredBy: "b",
    answeredBy: [{ who: "a", afterMs: 1 }, { who: "b", afterMs: 45 }],
    errors: { timeout: 2 },
  });
  assert.equal(summarizeProbe(results, 1035).failed, 0);
  assert.equal(summarizeProbe(results, 1035).recoveredAfterMs, null);
});

Deno.test("hacore's transition lines parse from the JSON and the human log format", () => {
  const json = '{"ts":"2026-11-21T23:30:06.851Z","level":"notice","msg":"VI_1: BACKUP -> MASTER ' +
    '(master-down-timer: no advert from 192.0.2.11 for 364.3 ms)"}';
  assert.deepEqual(parseTransition({ stream: "stderr", text: json, atMs: 0 }), {
    instance: "VI_1",
    from: "BACKUP",
    to: "MASTER",
    reason: "master-down-timer",
    detail: "no advert from 192.0.2.11 for 364.3 ms",
    atMs: Date.parse("2026-11-21T23:30:06.851Z"),
  });
  const human =
    "2026-11-21T23:30:06.851Z notice gw: MASTER -> INIT (shutdown: stopped while master)";
  assert.equal(parseTransition({ stream: "stderr", text: human, atMs: 5 })?.to, "INIT");
  assert.equal(
    parseTransition({ stream: "stderr", text: "VI_1: added 192.0.2.100/24", atMs: 0 }),
    null,
  );
  assert.deepEqual(logMessage("plain text"), { msg: "plain text", level: null, tsMs: null });
});

Deno.test("`ip -j addr` output maps interfaces to their addresses", () => {
  const out = JSON.stringify([
    { ifname: "lo", addr_info: [{ local: "127.0.0.1", prefixlen: 8 }] },
    {
      ifname: "eth0",
      addr_info: [{ local: "192.0.2.11", prefixlen: 24 }, { local: "192.0.2.100", prefixlen: 24 }],
    },
    { ifname: "eth1" },
  ]);
  assert.deepEqual([...parseIpAddrJson(out)], [
    ["lo", ["127.0.0.1/8"]],
    ["eth0", ["192.0.2.11/24", "192.0.2.100/24"]],
    ["eth1", []],
  ]);
  assert.deepEqual([...parseIpAddrJson("")], []);
});

// ---------------------------------------------------------------------------------------
// The command, as root

/** Namespaces of the lab process `pid` that still exist. */
async function labNamespaces(pid: number): Promise<string[]> {
  const out = await runCmd("ip", ["netns", "list"]);
  return out.stdout.split("\n").map((l) => l.split(" ")[0]).filter((n) =>
    n.startsWith(labPrefix(pid))
  );
}

/** Processes whose command line mentions `needle` (the lab's temp dir). */
async function processesMentioning(needle: string): Promise<string[]> {
  // Through grep, as Deno refuses to read /proc without --allow-all. The needle goes in
  // by the environment and stdin, so no command line of the search itself contains it.
  const out = await new Deno.Command("sh", {
    args: ["-c", 'printf "%s\\n" "$NEEDLE" | grep -a -l -s -F -f - /proc/[0-9]*/cmdline'],
    env: { NEEDLE: needle },
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.length > 0);
}

/**
 * Runs `hacore lab ARGS` as a child; `fn` gets its output as it comes. Whatever the
 * outcome, a lab still running is killed and its namespaces removed.
 */
async function withLabProcess(
  args: string[],
  fn: (p: LineProc) => Promise<void>,
): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "lab", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const p = new LineProc("hacore lab", child);
  try {
    await fn(p);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
    await child.status;
    // Its namespaces are stale now that it is gone: the lab's own sweep removes them.
    await sweepStaleLabs();
  }
}

function configDir(p: LineProc): string {
  const line = p.lines.find((l) => l.text.startsWith("configs, pid files: "));
  assert.ok(line, `the lab names its temp dir${p.tail()}`);
  return line.text.slice("configs, pid files: ".length).trim();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("`hacore lab` refuses to run without root, before making anything", async () => {
  // As root, a user namespace without a uid mapping makes this process "nobody".
  const asRoot = Deno.uid() === 0;
  if (asRoot && !hasCommand("unshare")) {
    console.warn("  skipped: needs unshare(1) to drop root");
    return;
  }
  const cmd = [Deno.execPath(), "run", "-A", MAIN, "lab"];
  const out = await new Deno.Command(asRoot ? "unshare" : cmd[0], {
    args: asRoot ? ["--user", ...cmd] : cmd.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 1, stderr);
  assert.match(stderr, /hacore lab: needs root/);
  assert.equal(new TextDecoder().decode(out.stdout), "");
});

netnsTest("`hacore lab` tells the whole failover story and leaves nothing behind", async () => {
  await withLabProcess([], async (p) => {
    const status = await p.exited(60_000);
    await p.drained();
    const out = p.lines.map((l) => l.text).join("\n");
    assert.equal(status.code, 0, out);
    for (
      const step of ["ELECTED: node1", "TAKEOVER: node2", "PREEMPTED: node1", "HANDOVER: node2"]
    ) {
      assert.ok(out.includes(step), `"${step}" in:\n${out}`);
    }
    const m = /kill -9: node2 in (\d+) ms, (\d+) failed connects/.exec(out);
    assert.ok(m, out);
    const takeover = Number(m[1]);
    const mdi = masterDownIntervalMs(3, 100, 100);
    assert.ok(takeover >= mdi - 130 && takeover <= mdi + 150, `takeover ${takeover} ms`);
    // The client was cut off for about the takeover time, probing every 10 ms.
    assert.ok(Number(m[2]) >= 1 && Number(m[2]) <= (mdi + 200) / 10, `${m[2]} failed`);
    // A priority-0 handover keeps the VIP until the new master is heard, yet a connect
    // racing the switch (SYN to the old master as it lets go) can still fail: a few, not
    // an outage.
    const term = /SIGTERM: node2 in (\d+) ms, (\d+) failed, node1 exited 0/.exec(out);
    assert.ok(term, out);
    assert.ok(Number(term[1]) <= 61 + 150 && Number(term[2]) <= 3, term[0]);
    console.log(`  ${out.split("\n").find((l) => l.startsWith("summary:"))}`);

    assert.deepEqual(await labNamespaces(p.pid), []);
    const dir = configDir(p);
    assert.equal(await exists(dir), false, `${dir} removed`);
    assert.deepEqual(await processesMentioning(dir), []);
  });
});

netnsTest(
  "`hacore lab FILE` runs a spec; with nopreempt the returning node stays backup",
  async () => {
    const nopreempt = (name: string, priority: number) =>
      hacoreConfigToml({ routerId: name, priority, vips: ["192.0.2.100/24"], preempt: false });
    await withSpecDir({
      "lab.toml":
        '[[node]]\nname = "a"\nconfig = "a.toml"\n[[node]]\nname = "b"\nconfig = "b.toml"\n',
      "a.toml": nopreempt("a", 150),
      "b.toml": nopreempt("b", 100),
    }, async (dir) => {
      await withLabProcess([`${dir}/lab.toml`], async (p) => {
        const status = await p.exited(60_000);
        await p.drained();
        const out = p.lines.map((l) => l.text).join("\n");
        assert.equal(status.code, 0, out);
        // Without preemption the first to time out keeps the VIP, whatever its
        // priority (RFC 5798 6.4.2): so who is elected depends on who started first.
        const first = /ELECTED: (a|b) /.exec(out)?.[1];
        assert.ok(first, out);
        const other = first === "a" ? "b" : "a";
        assert.match(out, new RegExp(`TAKEOVER: ${other} `));
        assert.match(out, new RegExp(`${first} is back as BACKUP; ${other} keeps the VIP`));
        assert.match(out, new RegExp(`HANDOVER: ${first} holds the VIP`));
        assert.match(out, new RegExp(`return: ${other} kept it`));
        assert.deepEqual(await labNamespaces(p.pid), []);
      });
    });
  },
);

netnsTest("`hacore lab` interrupted by SIGINT cleans up and exits 130", async () => {
  await withLabProcess([], async (p) => {
    await p.waitLine((l) => l.text.includes("ELECTED:"), 30_000, "the election");
    const dir = configDir(p);
    assert.ok((await labNamespaces(p.pid)).length >= 5, "the lab is up");
    p.child.kill("SIGINT");
    const status = await p.exited(10_000);
    assert.equal(status.code, 130, p.tail());
    assert.deepEqual(await labNamespaces(p.pid), []);
    assert.equal(await exists(dir), false);
    assert.deepEqual(await processesMentioning(dir), []);
  });
});

netnsTest("a namespace left by a killed lab is swept, with the processes inside it", async () => {
  // A pid that just exited stands for the killed lab.
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  const ns = `${labPrefix(gone.pid)}1`;
  await runCmd("ip", ["netns", "add", ns]);
  const sleeper = new Deno.Command("ip", {
    args: ["netns", "exec", ns, "sleep", "60"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    // Wait until the sleeper is inside, or the sweep could miss it.
    for (let i = 0; i < 200; i++) {
      if ((await runCmd("ip", ["netns", "pids", ns])).stdout.trim() !== "") break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const removed = await sweepStaleLabs();
    assert.ok(removed.includes(ns), `removed: ${removed}`);
    assert.equal((await sleeper.status).signal, "SIGKILL");
    assert.deepEqual(await labNamespaces(gone.pid), []);
  } finally {
    try {
      sleeper.kill("SIGKILL");
    } catch {
      // killed by the sweep
    }
    await sleeper.status;
    await runCmd("ip", ["netns", "del", ns]);
  }
});

// Last in the file: Deno runs a file's tests in order.
netnsTest("no namespace of this run is left behind", async () => {
  assert.deepEqual(await leftoverNamespaces(), []);
});

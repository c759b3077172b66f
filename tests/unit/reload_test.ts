/**
 * The reload diff as a table: (old config, new config) → the lines a reload logs and
 * returns, plus the structure the daemon applies (added, removed, replaced, changed,
 * unchanged). And `hacore check --diff OLD NEW`, which prints the same lines, and
 * `hacore check --diff FILE`, which asks a (fake) running daemon for its config.
 */
import assert from "node:assert/strict";
import { checkCommand } from "../../lib/cli/check.ts";
import { type Config, parseConfig } from "../../lib/config/mod.ts";
import type {
  DaemonControl,
  InstanceDetail,
  OperatorResult,
  ReloadOutcome,
} from "../../lib/control/api.ts";
import { startControlServer } from "../../lib/control/server.ts";
import type { DaemonStatus } from "../../lib/daemon/daemon.ts";
import { Logger } from "../../lib/log.ts";
import {
  type ConfigDiff,
  diffConfigs,
  diffLines,
  isEmptyDiff,
  startsInstances,
} from "../../lib/config/diff.ts";

interface Vi {
  vrid: number;
  priority?: number;
  iface?: string;
  vips: string[];
  /** Extra TOML lines for the instance. */
  extra?: string;
}

const BASE: Record<string, Vi> = {
  VI_1: { vrid: 51, priority: 150, vips: ["192.0.2.100/24", "192.0.2.102/24"] },
  VI_2: { vrid: 52, vips: ["192.0.2.110/24"] },
  VI_3: { vrid: 53, vips: ["192.0.2.120/24"] },
};

function text(instances: Record<string, Vi>, global = "vrrp_version = 3", tail = ""): string {
  const parts = [`[global]\n${global}\n`];
  for (const [name, vi] of Object.entries(instances)) {
    parts.push(`[vrrp_instance.${name}]
interface = "${vi.iface ?? "eth0"}"
virtual_router_id = ${vi.vrid}
priority = ${vi.priority ?? 100}
virtual_ipaddress = [${vi.vips.map((v) => `"${v}"`).join(", ")}]
${vi.extra ?? ""}
`);
  }
  parts.push(tail);
  return parts.join("\n");
}

function config(source: string, file = "hacore.toml"): Config {
  const r = parseConfig(source, file);
  if (!r.ok) throw new Error(JSON.stringify(r.errors, null, 2));
  return r.config;
}

/** BASE with some instances replaced (undefined removes one). */
function edit(over: Record<string, Partial<Vi> | undefined>): Record<string, Vi> {
  const out: Record<string, Vi> = {};
  for (const [name, vi] of Object.entries(BASE)) {
    if (name in over && over[name] === undefined) continue;
    out[name] = { ...vi, ...over[name] };
  }
  for (const [name, vi] of Object.entries(over)) {
    if (!(name in BASE) && vi !== undefined) out[name] = vi as Vi;
  }
  return out;
}

interface Row {
  name: string;
  old?: string;
  next: string;
  lines: string[];
  check?: (d: ConfigDiff) => void;
}

const rows: Row[] = [
  {
    name: "the same config changes nothing",
    next: text(BASE),
    lines: [],
    check: (d) => {
      assert.ok(isEmptyDiff(d));
      assert.deepEqual(d.unchanged, ["VI_1", "VI_2", "VI_3"]);
    },
  },
  {
    name: "one instance: a VIP added, another removed, the priority changed; the others untouched",
    next: text(edit({ VI_1: { priority: 160, vips: ["192.0.2.100/24", "192.0.2.101/24"] } })),
    lines: [
      "VI_1: added 192.0.2.101/24",
      "VI_1: removed 192.0.2.102/24",
      "VI_1: priority 150 -> 160",
    ],
    check: (d) => {
      assert.deepEqual(d.unchanged, ["VI_2", "VI_3"]);
      assert.equal(d.changed.length, 1);
      const c = d.changed[0];
      assert.deepEqual(c.vips.added.map((v) => v.address), ["192.0.2.101"]);
      assert.deepEqual(c.vips.removed.map((v) => v.address), ["192.0.2.102"]);
      assert.deepEqual(c.priority, { from: 150, to: 160 });
      assert.deepEqual(c.settings, []);
      assert.equal(c.vips.reordered, false);
    },
  },
  {
    name: "a new prefix on a kept VIP is a change of that VIP only",
    next: text(edit({ VI_1: { vips: ["192.0.2.100/25", "192.0.2.102/24"] } })),
    lines: ["VI_1: 192.0.2.100/24 -> 192.0.2.100/25"],
  },
  {
    name: "the same VIPs in another order: adverts list them in the new order",
    next: text(edit({ VI_1: { vips: ["192.0.2.102/24", "192.0.2.100/24"] } })),
    lines: ["VI_1: virtual_ipaddress reordered"],
  },
  {
    name: "excluded VIPs are diffed on their own",
    next: text(edit({ VI_2: { extra: `virtual_ipaddress_excluded = ["2001:db8::10/64"]` } })),
    lines: ["VI_2: added excluded 2001:db8::10/64"],
  },
  {
    name: "an added instance is summarised",
    next: text(edit({ VI_4: { vrid: 54, vips: ["192.0.2.130/24"] } })),
    lines: [
      "VI_4: added: eth0 vrid 54 v3 ipv4 prio 100 adv 1s preempt, 1 VIP (192.0.2.130/24), multicast",
    ],
    check: (d) => assert.deepEqual(d.added.map((i) => i.name), ["VI_4"]),
  },
  {
    name: "a removed instance releases",
    next: text(edit({ VI_3: undefined })),
    lines: ["VI_3: removed (released with priority 0 if master)"],
    check: (d) => {
      assert.deepEqual(d.removed.map((i) => i.name), ["VI_3"]);
      assert.deepEqual(d.unchanged, ["VI_1", "VI_2"]);
    },
  },
  {
    name: "a new VRID is another virtual router: replaced",
    next: text(edit({ VI_2: { vrid: 62 } })),
    lines: ["VI_2: replaced (virtual_router_id 52 -> 62): released and started again"],
    check: (d) => {
      assert.equal(d.replaced.length, 1);
      assert.equal(d.replaced[0].old.vrid, 52);
      assert.equal(d.replaced[0].next.vrid, 62);
      assert.equal(d.changed.length, 0);
    },
  },
  {
    name: "a new interface, or becoming the owner, is a replacement too",
    next: text(
      edit({
        VI_2: { iface: "eth1" },
        VI_3: { priority: 255, extra: `unicast_src_ip = "192.0.2.120"` },
      }),
    ),
    lines: [
      "VI_2: replaced (interface eth0 -> eth1): released and started again",
      "VI_3: replaced (now the address owner (255)): released and started again",
    ],
  },
  {
    name: "a new default version replaces every instance that inherits it",
    next: text(BASE, "vrrp_version = 2"),
    lines: [
      "VI_1: replaced (version 3 -> 2): released and started again",
      "VI_2: replaced (version 3 -> 2): released and started again",
      "VI_3: replaced (version 3 -> 2): released and started again",
      "global: vrrp_version 3 -> 2",
    ],
  },
  {
    name: "settings changed in place, one line each",
    next: text(edit({
      VI_2: {
        extra: `advert_int = 2
nopreempt = true
release_hold = 0
unicast_peer = ["192.0.2.12"]
notify_master = "/etc/hacore/master.sh"`,
      },
    })),
    lines: [
      "VI_2: advert_int 1s -> 2s",
      "VI_2: preempt on -> off (nopreempt)",
      "VI_2: release_hold auto -> 0ms",
      "VI_2: unicast_peer (none) -> 192.0.2.12",
      'VI_2: notify_master null -> "/etc/hacore/master.sh"',
    ],
    check: (d) => {
      assert.equal(d.changed[0].priority, null);
      assert.equal(d.changed[0].vips.added.length, 0);
    },
  },
  {
    name: "a password change is reported without the password",
    old: text(BASE, `vrrp_version = 2`).replace(
      "[vrrp_instance.VI_2]",
      `[vrrp_instance.VI_2]\nauthentication = { auth_type = "PASS", auth_pass = "old1" }`,
    ),
    next: text(BASE, `vrrp_version = 2`).replace(
      "[vrrp_instance.VI_2]",
      `[vrrp_instance.VI_2]\nauthentication = { auth_type = "PASS", auth_pass = "new2" }`,
    ),
    lines: ["VI_2: authentication changed (PASS -> PASS)"],
  },
  {
    name: "global: applied keys, and the ones read only at start say so",
    next: text(
      BASE,
      `vrrp_version = 3
vrrp_garp_master_delay = 2
checksum = "rfc9568"
control_socket = "/run/other.sock"`,
    ),
    lines: [
      "global: vrrp_garp_master_delay 5s -> 2s",
      "global: checksum auto -> rfc9568",
      "global: control_socket (none) -> /run/other.sock (takes effect at the next restart)",
    ],
    // Their GARP timing is the global one: reconfigured in place, said once, under global.
    check: (d) => assert.deepEqual(d.changed.map((c) => c.name), ["VI_1", "VI_2", "VI_3"]),
  },
  {
    name: "sync groups: added, and a changed membership",
    old: text(BASE, "vrrp_version = 3", `[vrrp_sync_group.g1]\ngroup = ["VI_1", "VI_2"]\n`),
    next: text(
      BASE,
      "vrrp_version = 3",
      `[vrrp_sync_group.g1]\ngroup = ["VI_1"]\n\n[vrrp_sync_group.g2]\ngroup = ["VI_2", "VI_3"]\n`,
    ),
    lines: [
      "sync group g2: added (VI_2, VI_3)",
      "sync group g1: members VI_1, VI_2 -> VI_1",
    ],
    check: (d) => assert.deepEqual(d.unchanged, ["VI_1", "VI_2", "VI_3"]),
  },
  {
    name: "trackers: added and removed sections are listed",
    next: text(
      BASE,
      "vrrp_version = 3",
      `[vrrp_track_file.maint]\nfile = "/etc/hacore/maint"\nweight = -100\n`,
    ),
    lines: ["vrrp_track_file.maint: added"],
  },
];

for (const row of rows) {
  Deno.test(`diff: ${row.name}`, () => {
    const [old, next] = [config(row.old ?? text(BASE)), config(row.next)];
    const d = diffConfigs(old, next);
    assert.deepEqual(diffLines(d), row.lines);
    assert.equal(isEmptyDiff(d), row.lines.length === 0);
    // What the daemon reads link states for: any instance to start.
    assert.equal(startsInstances(old, next), d.added.length + d.replaced.length > 0);
    row.check?.(d);
  });
}

Deno.test("diff: lines never contain a password", () => {
  const a = config(text({ VI_1: { vrid: 1, vips: ["192.0.2.1/24"], extra: "" } }, ""));
  const b = config(text({
    VI_1: {
      vrid: 1,
      vips: ["192.0.2.1/24"],
      extra: `authentication = { auth_type = "PASS", auth_pass = "s3cr3t" }`,
    },
  }, ""));
  const lines = diffLines(diffConfigs(a, b));
  assert.deepEqual(lines, ["VI_1: authentication changed (none -> PASS)"]);
  assert.ok(!lines.join("\n").includes("s3cr3t"));
});

// ---------------------------------------------------------------------------------
// hacore check --diff

async function captured(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    const code = await checkCommand(args);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

async function withFiles(
  texts: string[],
  fn: (files: string[]) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const files = texts.map((_, i) => `${dir}/c${i}.toml`);
    for (let i = 0; i < texts.length; i++) await Deno.writeTextFile(files[i], texts[i]);
    await fn(files);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("hacore check --diff OLD NEW prints what a reload would change, exit 0", async () => {
  const next = text(edit({ VI_1: { priority: 160, vips: ["192.0.2.100/24", "192.0.2.101/24"] } }));
  await withFiles([text(BASE), next], async ([a, b]) => {
    const r = await captured(["--diff", a, b]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, "");
    assert.deepEqual(r.out.split("\n"), [
      `ok: ${a} -> ${b}`,
      "  VI_1: added 192.0.2.101/24",
      "  VI_1: removed 192.0.2.102/24",
      "  VI_1: priority 150 -> 160",
    ]);
  });
});

Deno.test("hacore check --diff: identical files say no changes", async () => {
  await withFiles([text(BASE), text(BASE)], async ([a, b]) => {
    const r = await captured(["--diff", a, b]);
    assert.equal(r.code, 0);
    assert.deepEqual(r.out.split("\n"), [`ok: ${a} -> ${b}`, "  no changes"]);
  });
});

Deno.test("hacore check --diff: errors in either file as usual, both reported, exit 1", async () => {
  const bad = text(BASE).replace("virtual_router_id = 52", "virtual_router_id = 0");
  await withFiles([bad, bad], async ([a, b]) => {
    const r = await captured(["--diff", a, b]);
    assert.equal(r.code, 1);
    assert.equal(r.out, "");
    assert.match(r.err, new RegExp(`1 error\\(s\\) in ${a}`));
    assert.match(r.err, new RegExp(`1 error\\(s\\) in ${b}`));
    assert.match(r.err, /vrrp_instance\.VI_2\.virtual_router_id/);
  });
});

Deno.test("hacore check --diff: usage errors exit 2, and usage names every form", async () => {
  for (
    const [args, why] of [
      [["--diff", "a.toml", "b.toml", "c.toml"], /--diff expects FILE .* or OLD NEW/],
      [["--diff"], /--diff expects FILE .* or OLD NEW/],
      // The socket flags mean "ask the daemon": where it is not asked, they are refused.
      [["--diff", "a.toml", "b.toml", "--socket", "/s"], /go with --diff FILE, not OLD NEW/],
      [["a.toml", "--config", "/c.toml"], /go with --diff FILE/],
      [["--diff", "a.toml", "--timeout", "0"], /--timeout: expected milliseconds/],
      [["--diff", "a.toml", "--socket", "/s", "--config", "/c"], /--socket or --config, not both/],
    ] as [string[], RegExp][]
  ) {
    const r = await captured(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, why, args.join(" "));
    assert.match(r.err, /usage: hacore check FILE\n/);
  }
  const help = await captured(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /hacore check --diff FILE \[--socket PATH \| --config FILE\]/);
  assert.match(help.out, /hacore check --diff OLD NEW/);
});

// ---------------------------------------------------------------------------------
// hacore check --diff FILE: against the config a running daemon holds in memory

/** A daemon that only knows its config: all `check --diff FILE` may ask of it. */
class RunningConfig implements DaemonControl {
  asked = 0;
  constructor(readonly running: Config) {}
  config(): Config {
    this.asked++;
    return this.running;
  }
  status(): DaemonStatus {
    throw new Error("check --diff asks only for the config");
  }
  detail(): InstanceDetail | null {
    throw new Error("check --diff asks only for the config");
  }
  demote(): OperatorResult {
    throw new Error("check --diff changes nothing");
  }
  promote(): OperatorResult {
    throw new Error("check --diff changes nothing");
  }
  resume(): OperatorResult {
    throw new Error("check --diff changes nothing");
  }
  maintenance(): OperatorResult {
    throw new Error("check --diff changes nothing");
  }
  reload(): Promise<ReloadOutcome> {
    throw new Error("check --diff changes nothing");
  }
  isLive(): boolean {
    return true;
  }
}

/**
 * A control server on `DIR/hacore.sock` for a daemon running BASE from
 * /etc/hacore/hacore.toml (a path that does not exist here: what is compared is what
 * the daemon holds, never a file).
 */
async function withDaemon(
  fn: (rig: { dir: string; socket: string; daemon: RunningConfig }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hacore-check-" });
  const socket = `${dir}/hacore.sock`;
  const daemon = new RunningConfig(config(text(BASE), "/etc/hacore/hacore.toml"));
  const logger = new Logger({ level: "debug", sink: () => {} });
  const server = startControlServer({ path: socket, control: daemon, logger });
  try {
    await fn({ dir, socket, daemon });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** BASE edited as an operator would, with `control_socket` pointing at `socket`. */
function edited(socket: string, instances: Record<string, Vi> = BASE): string {
  return text(instances, `vrrp_version = 3\ncontrol_socket = "${socket}"`);
}

Deno.test("hacore check --diff FILE prints what a reload of the running daemon would change (socket from FILE)", async () => {
  await withDaemon(async ({ dir, socket, daemon }) => {
    const file = `${dir}/hacore.toml`;
    await Deno.writeTextFile(
      file,
      edited(socket, edit({ VI_1: { priority: 160, vips: ["192.0.2.100/24", "192.0.2.101/24"] } })),
    );
    const r = await captured(["--diff", file]);
    assert.equal(r.code, 0, r.err);
    // The fake daemon says it runs /etc/hacore/hacore.toml: a reload would not read FILE.
    assert.equal(
      r.err,
      `hacore check: note: the daemon runs /etc/hacore/hacore.toml, not ${file}; ` +
        "a reload would read /etc/hacore/hacore.toml",
    );
    assert.deepEqual(r.out.split("\n"), [
      `ok: /etc/hacore/hacore.toml (running) -> ${file}`,
      "  VI_1: added 192.0.2.101/24",
      "  VI_1: removed 192.0.2.102/24",
      "  VI_1: priority 150 -> 160",
      // The running daemon was started without it; FILE names the socket it was reached on.
      `  global: control_socket (none) -> ${socket} (takes effect at the next restart)`,
    ]);
    assert.equal(daemon.asked, 1);
  });
});

Deno.test("hacore check --diff FILE: the same config as running says no changes (--socket, --config)", async () => {
  await withDaemon(async ({ dir, socket }) => {
    const file = `${dir}/same.toml`;
    await Deno.writeTextFile(file, text(BASE));
    const r = await captured(["--diff", file, "--socket", socket]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(r.out.split("\n"), [
      `ok: /etc/hacore/hacore.toml (running) -> ${file}`,
      "  no changes",
    ]);
    // --config names another file whose control_socket leads to the daemon.
    const other = `${dir}/other.toml`;
    await Deno.writeTextFile(other, edited(socket));
    const c = await captured(["--diff", file, "--config", other, "--timeout", "5000"]);
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /^ {2}no changes$/m);
  });
});

Deno.test("hacore check --diff FILE: an invalid FILE prints its errors, exit 1, the daemon never asked", async () => {
  await withDaemon(async ({ dir, socket, daemon }) => {
    const file = `${dir}/bad.toml`;
    await Deno.writeTextFile(
      file,
      edited(socket).replace("virtual_router_id = 52", "virtual_router_id = 0"),
    );
    const r = await captured(["--diff", file]);
    assert.equal(r.code, 1);
    assert.equal(r.out, "");
    assert.match(r.err, /vrrp_instance\.VI_2\.virtual_router_id/);
    assert.match(r.err, new RegExp(`1 error\\(s\\) in ${file}$`));
    assert.equal(daemon.asked, 0);
  });
});

Deno.test("hacore check --diff FILE: no daemon exits 3 and points at --diff OLD NEW", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hacore-check-" });
  try {
    const socket = `${dir}/none.sock`;
    const file = `${dir}/hacore.toml`;
    await Deno.writeTextFile(file, edited(socket));
    for (const args of [["--diff", file], ["--diff", file, "--socket", socket]]) {
      const r = await captured(args);
      assert.equal(r.code, 3, args.join(" "));
      assert.equal(r.out, "");
      assert.equal(
        r.err,
        `hacore check: hacore is not running (no daemon at ${socket}); ` +
          "use --diff OLD NEW to compare two files",
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

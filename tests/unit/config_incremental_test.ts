import assert from "node:assert/strict";
import { tomlBlocks } from "../../lib/config/blocks.ts";
import {
  commonPrefix,
  commonSuffix,
  ConfigLoader,
  type LoadMode,
} from "../../lib/config/incremental.ts";
import { type LoadResult, parseConfig } from "../../lib/config/mod.ts";
import { createRng } from "../../lib/sim/rng.ts";

const FILE = "lb.toml";

function vs(name: string, port: number, reals: string[], extra = ""): string {
  const rs = reals.map((a, i) =>
    `[[virtual_server.${name}.real_server]]\naddress = "${a}"\nweight = ${i + 1}\n`
  );
  return `[virtual_server.${name}]\naddress = "192.0.2.100"\nport = ${port}\nlb_kind = "DR"\n` +
    `${extra}\n${rs.join("\n")}\n`;
}

const HEAD = '# hacore\n[global]\nrouter_id = "lb"\n\n';
const BASE = HEAD + vs("web", 80, ["10.0.0.1", "10.0.0.2"]) +
  vs("api", 8080, ["10.0.0.3"]) + vs("db", 5432, ["10.0.0.4", "10.0.0.5"]);

/** The loader's result for `next` after loading `first`, checked against a whole parse. */
function reload(first: string, next: string): { r: LoadResult; mode: LoadMode } {
  const loader = new ConfigLoader();
  assert.ok(loader.parse(first, FILE).ok, "the first text loads");
  const r = loader.parse(next, FILE);
  assert.deepStrictEqual(r, parseConfig(next, FILE));
  return { r, mode: loader.lastMode };
}

Deno.test("a one-weight edit re-reads one virtual server, and the result is a whole parse's", () => {
  const next = BASE.replace('address = "10.0.0.4"\nweight = 1', 'address = "10.0.0.4"\nweight = 7');
  assert.notEqual(next, BASE);
  assert.equal(reload(BASE, next).mode, "incremental");
});

Deno.test("the same text again returns the same frozen config", () => {
  const loader = new ConfigLoader();
  const a = loader.parse(BASE, FILE);
  const b = loader.parse(BASE, FILE);
  assert.equal(loader.lastMode, "unchanged");
  assert.ok(a.ok && b.ok && a.config === b.config);
});

Deno.test("a keepalived.conf whose bytes did not change is read again: an included file may have", () => {
  const dir = Deno.makeTempDirSync({ prefix: "hacore-incremental-" });
  try {
    const inst = (prio: number) =>
      `vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority ${prio}\n` +
      ` virtual_ipaddress {\n  192.0.2.100/24\n }\n}\n`;
    Deno.writeTextFileSync(`${dir}/keepalived.conf`, "include vrrp.conf\n");
    Deno.writeTextFileSync(`${dir}/vrrp.conf`, inst(100));
    const loader = new ConfigLoader();
    const first = loader.load(`${dir}/keepalived.conf`);
    assert.ok(first.ok, JSON.stringify(first));
    assert.equal(first.config.instances[0].priority, 100);
    Deno.writeTextFileSync(`${dir}/vrrp.conf`, inst(120));
    const next = loader.load(`${dir}/keepalived.conf`);
    assert.ok(next.ok, JSON.stringify(next));
    assert.equal(loader.lastMode, "full");
    assert.equal(next.config.instances[0].priority, 120);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("virtual servers that did not change keep their objects (the diff skips them)", () => {
  const loader = new ConfigLoader();
  const a = loader.parse(BASE, FILE);
  const b = loader.parse(BASE.replace("port = 8080", "port = 8081"), FILE);
  assert.equal(loader.lastMode, "incremental");
  assert.ok(a.ok && b.ok);
  assert.equal(a.config.virtualServers[0], b.config.virtualServers[0]);
  assert.notEqual(a.config.virtualServers[1], b.config.virtualServers[1]);
  assert.equal(
    b.config.virtualServers[1].target.kind === "address" &&
      b.config.virtualServers[1].target.port,
    8081,
  );
});

Deno.test("added, removed and renamed virtual servers keep file order", () => {
  const added = BASE.replace(
    "[virtual_server.api]",
    vs("cache", 6379, ["10.0.0.9"]) +
      "[virtual_server.api]",
  );
  assert.equal(reload(BASE, added).mode, "incremental");
  const removed = HEAD + vs("web", 80, ["10.0.0.1", "10.0.0.2"]) +
    vs("db", 5432, ["10.0.0.4", "10.0.0.5"]);
  assert.equal(reload(BASE, removed).mode, "incremental");
  assert.equal(
    reload(BASE, BASE.replaceAll("virtual_server.api", "virtual_server.api2")).mode,
    "incremental",
  );
  const end = BASE + vs("last", 9000, ["10.0.0.8"]);
  assert.equal(reload(BASE, end).mode, "incremental");
});

Deno.test("an error in the edited virtual server is reported as a whole parse reports it", () => {
  const { r, mode } = reload(BASE, BASE.replace("port = 8080", "port = 80800"));
  assert.equal(mode, "full");
  assert.ok(!r.ok && r.errors[0].line !== null);
});

Deno.test("a service another virtual server has is refused, with the whole parse's error", () => {
  const { r } = reload(BASE, BASE.replace("port = 8080", "port = 80"));
  assert.ok(!r.ok);
  assert.match(r.errors[0].message, /already serves/);
});

Deno.test("a name used elsewhere, a global edit and numeric names parse the whole file", () => {
  assert.equal(
    reload(BASE, BASE.replace("virtual_server.api]", "virtual_server.web]")).mode,
    "full",
  );
  assert.equal(reload(BASE, BASE.replace('router_id = "lb"', 'router_id = "lb2"')).mode, "full");
  const numeric = HEAD + vs("80", 80, ["10.0.0.1"]) + vs("81", 81, ["10.0.0.2"]);
  assert.equal(reload(numeric, numeric.replace("weight = 1", "weight = 2")).mode, "full");
});

Deno.test("a virtual server whose headers are split around another is re-read whole or not at all", () => {
  const split = HEAD + vs("web", 80, ["10.0.0.1"]) + vs("api", 8080, ["10.0.0.3"]) +
    '[[virtual_server.web.real_server]]\naddress = "10.0.0.2"\nweight = 3\n';
  assert.equal(reload(split, split.replace("weight = 3", "weight = 4")).mode, "full");
  assert.equal(reload(split, split.replace("port = 8080", "port = 8081")).mode, "incremental");
});

Deno.test("headers inside multi-line strings and arrays are text, not blocks", () => {
  // A line-ending backslash: the command is one line, its text two.
  const cmd = 'quorum_up = """echo \\\n[virtual_server.fake]"""\n';
  const tricky = HEAD + vs("web", 80, ["10.0.0.1"], cmd) + vs("api", 8080, ["10.0.0.3"]);
  const b = tomlBlocks(tricky);
  assert.ok(b !== null);
  assert.deepEqual(b.names, [null, null, "web", "api"]);
  assert.equal(reload(tricky, tricky.replace("fake", "fake2")).mode, "incremental");
  assert.equal(reload(tricky, tricky.replace(cmd, 'quorum_up = "x"\n')).mode, "incremental");
});

Deno.test("blocks: one per virtual server in a row; loose definitions and root keys flagged", () => {
  const b = tomlBlocks("[global]\nx = 1\n[virtual_server.web]\nport = 80\n")!;
  assert.deepEqual(b.starts, [0, 0, 15]);
  assert.deepEqual(b.names, [null, null, "web"]);
  assert.equal(b.looseVirtualServers, false);
  assert.equal(b.rootKeys, false);
  assert.equal(tomlBlocks("[virtual_server]\nweb = { port = 80 }\n")!.looseVirtualServers, true);
  assert.equal(tomlBlocks("virtual_server.web.port = 80\n")!.looseVirtualServers, true);
  assert.equal(tomlBlocks("# a comment\n\n[global]\n")!.rootKeys, false);
  assert.equal(tomlBlocks("x = 1\n[global]\n")!.rootKeys, true);
  const arr = tomlBlocks(
    '[a]\nx = [\n  ["b"],\n  # [c]\n  "]",\n]\n[virtual_server."w x".real_server]\n',
  )!;
  assert.deepEqual(arr.names, [null, null, "w x"]);
});

Deno.test("a keepalived.conf whose last load had a warning parses whole (more in config_incremental_keepalived_test.ts)", () => {
  // No protocol: keepalived's default (UDP), with a warning.
  const conf = "virtual_server 192.0.2.1 80 {\n  real_server 10.0.0.1 80 {\n    weight 1\n  }\n}\n";
  assert.equal(reload(conf, conf.replace("weight 1", "weight 2")).mode, "full");
});

/** Lines an edit may insert: valid, invalid, and lines that change the document's shape. */
const POOL = [
  "weight = 9",
  "weight = 0",
  "weight = -1",
  'address = "10.0.0.7"',
  "port = 81",
  "port = 8080",
  "[virtual_server.extra]",
  '[[virtual_server.web.real_server]]\naddress = "10.0.0.6"',
  '[[virtual_server.extra.real_server]]\naddress = "10.0.0.6"',
  '[virtual_server.db2]\naddress = "192.0.2.100"\nport = 9999',
  "[virtual_server]",
  "[global]",
  "# a comment [virtual_server.x]",
  'quorum_up = """',
  '"""',
  'lb_algo = "rr"',
  "",
  "bogus = 1",
];

/** Groups, checks with a multi-line array, comments with brackets: more shapes to edit. */
const RICH = HEAD + '[virtual_server_group.g]\naddresses = ["192.0.2.50-51:443"]\n\n' +
  vs("web", 80, ["10.0.0.1", "10.0.0.2"], "# [not a header]\n") +
  '[[virtual_server.web.real_server.check]]\ntype = "http"\nurl = "/[x]"\nstatus = [\n  200, # ok [\n  301,\n]\n\n' +
  '[virtual_server.grp]\ngroup = "g"\nlb_kind = "NAT"\n\n[[virtual_server.grp.real_server]]\naddress = "10.0.0.9"\nport = 8443\n\n' +
  vs("db", 5432, ["10.0.0.4", "10.0.0.5"]);

Deno.test("random edits: the loader always agrees with a whole parse", () => {
  const rng = createRng(11);
  let modes = { full: 0, incremental: 0, unchanged: 0 };
  for (let run = 0; run < 40; run++) {
    const loader = new ConfigLoader();
    let text = run % 2 === 0 ? BASE : RICH;
    loader.parse(text, FILE);
    for (let step = 0; step < 25; step++) {
      const lines = text.split("\n");
      const at = rng.int(0, lines.length - 1);
      const edit = rng.int(0, 3);
      if (edit === 0) lines.splice(at, 1);
      else if (edit === 1) lines.splice(at, 0, rng.pick(POOL));
      else if (edit === 2) lines[at] = rng.pick(POOL);
      else lines[at] = lines[at].replace(/\d+/, String(rng.int(1, 99)));
      const next = lines.join("\n");
      // A rehearsal between reloads must leave the loader as it was.
      if (step % 3 === 0) loader.rehearse();
      const got = loader.parse(next, FILE);
      modes = { ...modes, [loader.lastMode]: modes[loader.lastMode] + 1 };
      assert.deepStrictEqual(got, parseConfig(next, FILE), `run ${run} step ${step}:\n${next}`);
      // Keep editing from a text that loads, as an operator would after an error.
      if (got.ok || rng.chance(0.3)) text = next;
    }
  }
  // The test must exercise the shortcut, not only the fallback.
  assert.ok(modes.incremental > 50, JSON.stringify(modes));
});

Deno.test("files: reloads through the two buffers agree with a whole parse, a file that grows too", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/lb.toml`;
    const loader = new ConfigLoader();
    const texts = [
      BASE,
      BASE.replace("port = 8080", "port = 8081"),
      BASE.replace("port = 8080", "port = 8082"),
      // Bigger than both buffers: they grow.
      BASE + Array.from({ length: 40 }, (_, i) => vs(`v${i}`, 9000 + i, ["10.0.1.1"])).join(""),
      BASE,
      "\ufeff" + BASE, // a byte order mark: not ASCII, parsed whole
    ];
    const modes: LoadMode[] = [];
    for (const text of texts) {
      Deno.writeTextFileSync(file, text);
      assert.deepStrictEqual(loader.load(file), parseConfig(Deno.readTextFileSync(file), file));
      modes.push(loader.lastMode);
    }
    assert.deepEqual(modes, [
      "full",
      "incremental",
      "incremental",
      "incremental",
      "incremental",
      "full",
    ]);
    Deno.removeSync(file);
    const gone = loader.load(file);
    assert.ok(!gone.ok && gone.errors[0].message.startsWith("cannot read the file"));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("prepare after a start: the next reloads still re-read only what changed, and agree with a whole parse", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/lb.toml`;
    const texts = [
      BASE,
      BASE.replace("port = 8080", "port = 8081"),
      BASE + vs("late", 9100, ["10.0.1.1"]),
      BASE,
    ];
    for (const prepareAfter of [[0], [0, 1, 2], [1], []]) {
      const loader = new ConfigLoader();
      const modes: LoadMode[] = [];
      texts.forEach((text, i) => {
        Deno.writeTextFileSync(file, text);
        assert.deepStrictEqual(loader.load(file), parseConfig(text, file));
        modes.push(loader.lastMode);
        if (prepareAfter.includes(i)) loader.prepare();
      });
      assert.deepEqual(modes, ["full", "incremental", "incremental", "incremental"]);
    }
    // Nothing loaded yet: nothing to prepare.
    new ConfigLoader().prepare();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a rehearsal re-reads the last virtual server and changes nothing", () => {
  const loader = new ConfigLoader();
  assert.equal(loader.rehearse(), false, "nothing loaded yet");
  const first = loader.parse(BASE, FILE);
  assert.equal(loader.rehearse(), true);
  assert.equal(loader.lastMode, "full");
  // The same bytes still give the same frozen config, and an edit is still re-read alone.
  assert.equal(loader.parse(BASE, FILE), first);
  const next = BASE.replace("port = 5432", "port = 5433");
  assert.deepStrictEqual(loader.parse(next, FILE), parseConfig(next, FILE));
  assert.equal(loader.lastMode, "incremental");
  assert.equal(loader.rehearse(), true, "after a reload by parts too");
  // Nothing to re-read: no virtual server, or a file that reloads only whole.
  const vrrpOnly = new ConfigLoader();
  assert.ok(vrrpOnly.parse(HEAD, FILE).ok);
  assert.equal(vrrpOnly.rehearse(), false);
  const loose = new ConfigLoader();
  assert.ok(loose.parse(HEAD + "[virtual_server]\n" + vs("x", 80, ["10.0.0.1"]), FILE).ok);
  assert.equal(loose.rehearse(), false);
});

Deno.test("groups, checks and bracketed text: a checked server's edit is re-read alone", () => {
  assert.ok(parseConfig(RICH, FILE).ok, JSON.stringify(parseConfig(RICH, FILE)));
  assert.equal(reload(RICH, RICH.replace("301", "302")).mode, "incremental");
  assert.equal(reload(RICH, RICH.replace("port = 8443", "port = 8444")).mode, "incremental");
  assert.equal(reload(RICH, RICH.replace("192.0.2.50-51:443", "192.0.2.50-52:443")).mode, "full");
});

Deno.test("commonPrefix and commonSuffix agree with a byte-by-byte scan at every alignment", () => {
  const naivePrefix = (a: Uint8Array, b: Uint8Array) => {
    let i = 0;
    while (i < Math.min(a.length, b.length) && a[i] === b[i]) i++;
    return i;
  };
  const naiveSuffix = (a: Uint8Array, b: Uint8Array, max: number) => {
    let k = 0;
    while (k < max && a[a.length - 1 - k] === b[b.length - 1 - k]) k++;
    return k;
  };
  let seed = 1;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  const view = (len: number) => {
    const off = rnd(4);
    return new Uint8Array(len + 8).subarray(off, off + len);
  };
  for (let t = 0; t < 5000; t++) {
    const a = view(rnd(60));
    a.forEach((_, i) => (a[i] = rnd(3)));
    const b = view(Math.max(0, a.length + rnd(9) - 4));
    b.forEach((_, i) => (b[i] = i < a.length ? a[i] : rnd(3)));
    for (let k = 0; k < Math.min(a.length, b.length); k++) {
      if (rnd(2)) b[b.length - 1 - k] = a[a.length - 1 - k];
    }
    if (b.length > 0 && rnd(2)) b[rnd(b.length)] = rnd(3);
    const p = commonPrefix(a, b);
    assert.equal(p, naivePrefix(a, b), `prefix, case ${t}`);
    const max = Math.min(a.length, b.length) - p;
    assert.equal(commonSuffix(a, b, max), naiveSuffix(a, b, max), `suffix, case ${t}`);
  }
});

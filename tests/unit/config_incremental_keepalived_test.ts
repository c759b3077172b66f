import assert from "node:assert/strict";
import { ConfigLoader, type LoadMode } from "../../lib/config/incremental.ts";
import { type LoadOptions, type LoadResult, parseConfig } from "../../lib/config/mod.ts";
import { createRng, type Rng } from "../../lib/sim/rng.ts";

const FILE = "keepalived.conf";

/** One TCP virtual server (NAT) on 192.0.2.100:`port` with `reals` real servers (weights 1..n). */
function vs(port: number, reals: number, extra = ""): string {
  const rs = Array.from(
    { length: reals },
    (_, i) =>
      `  real_server 10.0.${port % 250}.${i + 1} ${port} {\n    weight ${i + 1}\n` +
      `    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n`,
  );
  return `virtual_server 192.0.2.100 ${port} {\n  delay_loop 5\n  lb_algo wrr\n  lb_kind NAT\n` +
    `  protocol TCP\n${extra}${rs.join("")}}\n\n`;
}

const HEAD = "# hacore lb\nglobal_defs {\n  router_id lb\n}\n\n";
const VRRP = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 100\n" +
  "  virtual_ipaddress {\n    192.0.2.100/24\n  }\n}\n\n";

/** A config of `n` virtual servers (ports 8000...), a VRRP instance in the middle. */
function conf(n: number, reals = 3): string {
  const servers = Array.from({ length: n }, (_, k) => vs(8000 + k, reals));
  const half = Math.floor(n / 2);
  return HEAD + servers.slice(0, half).join("") + VRRP + servers.slice(half).join("");
}

const BASE = conf(6);

/** The loader's result for `next` after loading `first`, checked against a whole parse. */
function reload(
  first: string,
  next: string,
  options: LoadOptions = {},
): { r: LoadResult; mode: LoadMode } {
  const loader = new ConfigLoader(options);
  const a = loader.parse(first, FILE);
  assert.ok(a.ok, JSON.stringify(a));
  const r = loader.parse(next, FILE);
  assert.deepStrictEqual(r, parseConfig(next, FILE, options));
  return { r, mode: loader.lastMode };
}

/** `text` with the `n`th (0-based) occurrence of `from` replaced by `to`. */
function replaceNth(text: string, from: string, to: string, n: number): string {
  let at = -1;
  for (let k = 0; k <= n; k++) {
    at = text.indexOf(from, at + 1);
    assert.ok(at >= 0, `occurrence ${n} of ${from}`);
  }
  return text.slice(0, at) + to + text.slice(at + from.length);
}

Deno.test("keepalived.conf: a one-weight edit of a big file re-reads one virtual server, as a whole parse reads it", () => {
  const big = conf(200, 10);
  const next = replaceNth(big, "weight 4\n", "weight 9\n", 150);
  const loader = new ConfigLoader();
  const a = loader.parse(big, FILE);
  const b = loader.parse(next, FILE);
  assert.equal(loader.lastMode, "incremental");
  assert.deepStrictEqual(b, parseConfig(next, FILE));
  assert.ok(a.ok && b.ok);
  const changed = b.config.virtualServers.filter((vs, k) => vs !== a.config.virtualServers[k]);
  assert.deepEqual(changed.map((vs) => vs.name), ["192.0.2.100:8150"]);
  assert.equal(changed[0].realServers[3].weight, 9);
  assert.ok(Object.isFrozen(b.config.virtualServers) && Object.isFrozen(changed[0]));
});

Deno.test("keepalived.conf: the same bytes again (no include read) give the same config", () => {
  const loader = new ConfigLoader();
  const a = loader.parse(BASE, FILE);
  const b = loader.parse(BASE, FILE);
  assert.equal(loader.lastMode, "unchanged");
  assert.ok(a.ok && b.ok && a.config === b.config);
});

Deno.test("keepalived.conf: edits after an edit keep agreeing with a whole parse", () => {
  const loader = new ConfigLoader();
  let text = BASE;
  loader.parse(text, FILE);
  for (
    const [from, to, n] of [["weight 2", "weight 7", 0], ["8001", "9001", 0], [
      "weight 7",
      "weight 8",
      0,
    ], ["lb_algo wrr", "lb_algo rr", 5]] as const
  ) {
    text = replaceNth(text, from, to, n);
    assert.deepStrictEqual(loader.parse(text, FILE), parseConfig(text, FILE));
    assert.equal(loader.lastMode, "incremental", `${from} -> ${to}`);
  }
});

Deno.test("keepalived.conf: virtual servers added, removed and renamed are re-read in file order", () => {
  const at = BASE.indexOf("virtual_server 192.0.2.100 8002");
  const added = BASE.slice(0, at) + vs(7000, 2) + BASE.slice(at);
  assert.equal(reload(BASE, added).mode, "incremental");
  assert.equal(reload(BASE, BASE.replace(vs(8001, 3), "")).mode, "incremental");
  assert.equal(
    reload(BASE, BASE.replace("192.0.2.100 8004", "192.0.2.100 8104")).mode,
    "incremental",
  );
  assert.equal(reload(BASE, BASE + vs(7001, 1)).mode, "incremental");
  // A real server added to a block, and a comment before a virtual server.
  const more = BASE.replace(
    "  protocol TCP\n",
    "  protocol TCP\n  real_server 10.9.9.9 8000 {\n  }\n",
  );
  assert.equal(reload(BASE, more).mode, "incremental");
  const noted = BASE.replace(
    "virtual_server 192.0.2.100 8005",
    "# moved\nvirtual_server 192.0.2.100 8005",
  );
  assert.equal(reload(BASE, noted).mode, "incremental");
});

Deno.test("keepalived.conf: an error in the edited virtual server has the whole parse's file and line", () => {
  const next = replaceNth(BASE, "weight 3", "weight lots", 4);
  const { r, mode } = reload(BASE, next);
  assert.equal(mode, "full");
  assert.ok(!r.ok);
  const line = next.slice(0, next.indexOf("weight lots")).split("\n").length;
  assert.deepEqual([r.errors[0].file, r.errors[0].line], [FILE, line]);
});

Deno.test("keepalived.conf: a name or service another virtual server has is the whole parse's error", () => {
  const twice = reload(BASE, BASE.replace("192.0.2.100 8004", "192.0.2.100 8000"));
  assert.equal(twice.mode, "full");
  assert.ok(!twice.r.ok && /defined twice/.test(twice.r.errors[0].message));
});

Deno.test("keepalived.conf: edits outside virtual servers, and text that means more than itself, parse the whole file", () => {
  const cases: [string, string][] = [
    ["a global edit", BASE.replace("router_id lb", "router_id lb2")],
    ["a VRRP edit", BASE.replace("priority 100", "priority 101")],
    ["the first statement's line", BASE.replace("global_defs {", "global_defs  {")],
    ["the text before the first statement", BASE.replace("# hacore lb", "# hacore lb!")],
    ["a conditional line", BASE.replace("  lb_algo wrr\n", "  @lb lb_algo rr\n")],
    ["a parameter", BASE.replace("delay_loop 5", "delay_loop ${D}")],
    [
      "a parameter definition",
      BASE.replace("\nvirtual_server 192.0.2.100 8002", "\n$D=5\nvirtual_server 192.0.2.100 8002"),
    ],
    [
      "a sequence",
      BASE.replace(
        "  protocol TCP\n",
        "  protocol TCP\n~SEQ(i, 1, 2) real_server 10.3.3.$i 8000\n",
      ),
    ],
    [
      "an include",
      BASE.replace("  protocol TCP\n", "  protocol TCP\ninclude /nonexistent/x.conf\n"),
    ],
    ["a joined line", BASE.replace("lb_kind NAT", "lb_kind \\\nNAT")],
    ["non-ASCII text", BASE.replace("delay_loop 5", "delay_loop 5 # café")],
    ["a virtual server group", BASE + "virtual_server_group g {\n  192.0.2.9 80\n}\n"],
    [
      "a warning (no protocol)",
      BASE.replace("protocol TCP\n  real_server 10.0.0.1", "real_server 10.0.0.1"),
    ],
  ];
  for (const [what, next] of cases) {
    assert.notEqual(next, BASE, what);
    assert.equal(reload(BASE, next).mode, "full", what);
  }
});

Deno.test("keepalived.conf: files that cannot be re-read by statements always parse whole", () => {
  const warned = BASE.replace("protocol TCP\n  real_server 10.0.0.1", "real_server 10.0.0.1");
  assert.equal(reload(warned, warned.replace("weight 2", "weight 5")).mode, "full");
  // A statement after a `}` on its line: its line is not a place to start reading.
  const joined = BASE.replace(
    "}\n\nvirtual_server 192.0.2.100 8001",
    "} virtual_server 192.0.2.100 8001",
  );
  assert.ok(parseConfig(joined, FILE).ok);
  assert.equal(reload(joined, replaceNth(joined, "weight 2", "weight 5", 4)).mode, "full");
  // Parameters with the host name's config id: the host name may change between loads.
  const param = "$D=5\n" + BASE.replace("delay_loop 5", "delay_loop $D");
  const edit = replaceNth(param, "weight 2", "weight 5", 3);
  assert.equal(reload(param, edit).mode, "full");
  assert.equal(reload(param, edit, { configId: "lb" }).mode, "incremental");
  const cond = BASE.replace("  router_id lb\n", "  @lb router_id lb\n");
  const condEdit = replaceNth(cond, "weight 2", "weight 5", 3);
  assert.equal(reload(cond, condEdit).mode, "full");
  assert.equal(reload(cond, condEdit, { configId: "lb" }).mode, "incremental");
});

Deno.test("keepalived.conf: an included file is read again, and the same bytes are not 'unchanged'", () => {
  const dir = Deno.makeTempDirSync({ prefix: "hacore-incremental-ka-" });
  try {
    const file = `${dir}/keepalived.conf`;
    const write = (port: number) => Deno.writeTextFileSync(`${dir}/more.conf`, vs(port, 1));
    const text = `${BASE}include more.conf\n`;
    Deno.writeTextFileSync(file, text);
    write(9000);
    const loader = new ConfigLoader();
    assert.ok(loader.load(file).ok);
    write(9001);
    assert.deepStrictEqual(loader.load(file), parseConfig(text, file));
    assert.equal(loader.lastMode, "full");
    const next = replaceNth(text, "weight 1", "weight 6", 2);
    Deno.writeTextFileSync(file, next);
    write(9002);
    assert.deepStrictEqual(loader.load(file), parseConfig(next, file));
    assert.equal(loader.lastMode, "full");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** A random line of `lines` that matches `re` (-1: none). */
function lineLike(rng: Rng, lines: string[], re: RegExp): number {
  const found = lines.flatMap((l, i) => re.test(l) ? [i] : []);
  return found.length === 0 ? -1 : rng.pick(found);
}

/**
 * One random single edit of `text`, what an operator might do to a keepalived.conf:
 * mostly valid ones (weights, ports, real servers, comments, other statements), and
 * some that break it or change its shape.
 */
function randomEdit(rng: Rng, text: string): string {
  const lines = text.split("\n");
  const any = rng.int(0, lines.length - 1);
  const kind = rng.int(0, 9);
  const at = kind === 0 || kind === 1
    ? lineLike(rng, lines, /^\s*weight \d+$/)
    : kind === 2
    ? lineLike(rng, lines, /^virtual_server /)
    : kind === 3
    ? lineLike(rng, lines, /^\s*protocol TCP$/)
    : any;
  if (at < 0) return text + "\n";
  switch (kind) {
    case 0:
    case 1: // a weight
      lines[at] = `    weight ${rng.int(0, 20)}`;
      break;
    case 2: // a virtual server's port (it is renamed)
      lines[at] = `virtual_server 192.0.2.100 ${rng.int(8000, 8012)} {`;
      break;
    case 3: // a real server added to a block
      lines.splice(at + 1, 0, `  real_server 10.7.7.${rng.int(1, 9)} ${rng.int(80, 90)} {`, "  }");
      break;
    case 4: // a comment edited or added, anywhere
      lines.splice(at, 0, rng.pick(["# note", "! note", "  # weight 5 }", "", '  # "{']));
      break;
    case 5: // a line removed
      lines.splice(at, 1);
      break;
    case 6: // a non-VS statement edited
      lines[at] = rng.pick(["  router_id lb9", "  priority 90", "  advert_int 2"]);
      break;
    case 7: // a whole virtual server added
      lines.splice(at, 0, vs(rng.int(7000, 7005), rng.int(0, 2)));
      break;
    case 8: // a brace or a keyword alone
      lines.splice(at, 0, rng.pick(["}", "{", "  weight 3", "  lb_algo rr", "  lb_algo bogus"]));
      break;
    default: // any number
      lines[at] = lines[at].replace(/\d+/, String(rng.int(0, 9000)));
  }
  return lines.join("\n");
}

Deno.test("keepalived.conf: random single edits: the loader always agrees with a whole parse", () => {
  const rng = createRng(12);
  const modes = { full: 0, incremental: 0, unchanged: 0 };
  const start = conf(8, 2);
  let rehearsals = 0;
  for (let run = 0; run < 30; run++) {
    const loader = new ConfigLoader();
    let text = start;
    loader.parse(text, FILE);
    let rehearsed = 0;
    for (let step = 0; step < 20; step++) {
      const next = randomEdit(rng, text);
      // A rehearsal between reloads must leave the loader as it was.
      if (step % 3 === 0 && loader.rehearse()) rehearsed++;
      const got = loader.parse(next, FILE);
      modes[loader.lastMode]++;
      assert.deepStrictEqual(got, parseConfig(next, FILE), `run ${run} step ${step}:\n${next}`);
      // Keep editing from a text that loads, as an operator would after an error.
      if (got.ok || rng.chance(0.3)) text = next;
    }
    rehearsals += rehearsed;
  }
  // The test must exercise the shortcut, not only the fallback.
  assert.ok(modes.incremental > 100, JSON.stringify(modes));
  assert.ok(rehearsals > 50, `${rehearsals} rehearsals re-read a virtual server`);
});

/**
 * More shapes: parameters and conditional lines (with a config id), a group, a fwmark
 * service, quoted braces, comments with braces and quotes, CRLF line ends.
 */
const RICH =
  "# lb\r\n$DELAY=5\r\nglobal_defs {\r\n  router_id lb\r\n  @lb vrrp_version 2\r\n}\r\n" +
  "virtual_server_group g {\r\n  192.0.2.50 443\r\n}\r\n" +
  'virtual_server group g {\r\n  lb_kind NAT\r\n  protocol TCP\r\n  quorum_up "echo { up }"\r\n' +
  "  real_server 10.0.9.1 443 {\r\n    weight 1 # } {\r\n  }\r\n}\r\n" +
  "virtual_server fwmark 7 {\r\n  lb_kind DR\r\n  real_server 10.0.9.2 {\r\n    weight 2\r\n    TCP_CHECK {\r\n      connect_port 80\r\n    }\r\n  }\r\n}\r\n" +
  conf(4, 2).replaceAll("\n", "\r\n").replace("delay_loop 5", "delay_loop $DELAY");

/** Lines a rich edit may insert: some that change what the lines after them mean. */
const RICH_POOL = [
  "  weight 4",
  "$DELAY=6",
  "@lb virtual_server fwmark 9 {",
  "@other }",
  "  lb_kind \\",
  '  quorum_down "{ x"',
  "  ! note {",
  "virtual_server 192.0.2.100 8001 {",
  "}",
  "  real_server 10.7.7.7 8003 {",
  "  delay_loop ${DELAY}",
  "~SEQ(i, 1, 2) # x",
];

Deno.test("keepalived.conf: random edits of a file with parameters, conditions, groups and CRLF agree with a whole parse", () => {
  const options = { configId: "lb" };
  const first = parseConfig(RICH, FILE, options);
  // A warning would make every reload whole.
  assert.ok(first.ok && first.warnings?.length === 0, JSON.stringify(first));
  const rng = createRng(13);
  const modes = { full: 0, incremental: 0, unchanged: 0 };
  for (let run = 0; run < 20; run++) {
    const loader = new ConfigLoader(options);
    let text = RICH;
    loader.parse(text, FILE);
    for (let step = 0; step < 20; step++) {
      let next = randomEdit(rng, text);
      if (rng.chance(0.3)) {
        const lines = next.split("\r\n");
        lines.splice(rng.int(0, lines.length - 1), 0, rng.pick(RICH_POOL));
        next = lines.join("\r\n");
      }
      const got = loader.parse(next, FILE);
      modes[loader.lastMode]++;
      assert.deepStrictEqual(got, parseConfig(next, FILE, options), `run ${run} step ${step}`);
      if (got.ok || rng.chance(0.3)) text = next;
    }
  }
  assert.ok(modes.incremental > 20, JSON.stringify(modes));
});

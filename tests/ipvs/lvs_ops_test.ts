/**
 * LVS operations against the real kernel, in the IPVS guest: hacore runs as a process in
 * a fresh director namespace (client ─ director ─ real server, NAT), and the table is read
 * back with ipvsadm. A drain waits for a live TCP connection and then removes the server;
 * a drain hits its deadline; a hand-deleted destination is restored and reported; a
 * foreign service is left alone; `check --plan` prints what the reload then applies;
 * `--keep-lvs` keeps the table through a restart that adopts it with no operation (and a
 * client's requests never fail); a real server removed by a reload keeps serving its live
 * connection at weight 0 until it ends.
 *
 * @module
 */

import assert from "node:assert/strict";
import { LineProc } from "../../lib/lab/proc.ts";
import { type Lab, run, runOk, withLab } from "../netns/helpers.ts";
import { ipvsTest } from "./guest.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const VIP = "10.61.0.100";
const RIP = "10.62.0.2";
const PORT = 8080;

/** `ipvsadm ARGS` inside `ns`. */
function ipvsadm(ns: string, ...args: string[]): Promise<string> {
  return runOk("ip", ["netns", "exec", ns, "ipvsadm", ...args]);
}

/** client (10.61.0.2) ─ director (10.61.0.1 + VIP, 10.62.0.1) ─ real server (RIP). */
async function topology(lab: Lab): Promise<{ client: string; director: string; rs: string }> {
  const client = await lab.netns();
  const director = await lab.netns();
  const rs = await lab.netns();
  const [c, d1] = await lab.veth(client, director);
  const [d2, r] = await lab.veth(director, rs);
  const ip = (ns: string, ...a: string[]) => runOk("ip", ["-n", ns, ...a]);
  await ip(client, "addr", "add", "10.61.0.2/24", "dev", c);
  await ip(director, "addr", "add", "10.61.0.1/24", "dev", d1);
  await ip(director, "addr", "add", `${VIP}/32`, "dev", d1);
  await ip(director, "addr", "add", "10.62.0.1/24", "dev", d2);
  await ip(rs, "addr", "add", `${RIP}/24`, "dev", r);
  for (const [ns, dev] of [[client, c], [director, d1], [director, d2], [rs, r]]) {
    await ip(ns, "link", "set", dev, "up");
  }
  await ip(client, "route", "add", "default", "via", "10.61.0.1");
  await ip(rs, "route", "add", "default", "via", "10.62.0.1");
  await lab.exec(director, "sysctl", "-qw", "net.ipv4.ip_forward=1");
  return { client, director, rs };
}

function config(dir: string, extra = "", servers = [RIP]): string {
  return `[global]
control_socket = "${dir}/hacore.sock"
${extra}
[virtual_server.web]
address = "${VIP}"
port = ${PORT}
lb_kind = "NAT"
lb_algo = "rr"
${
    servers.map((a) => `[[virtual_server.web.real_server]]\naddress = "${a}"\nweight = 1\n`)
      .join("")
  }`;
}

interface Hacore {
  readonly proc: LineProc;
  readonly child: Deno.ChildProcess;
}

function startHacore(lab: Lab, ns: string, file: string, dir: string, ...flags: string[]): Hacore {
  const child = lab.spawn(
    ns,
    Deno.execPath(),
    "run",
    "-A",
    MAIN,
    "run",
    file,
    "--log-format",
    "json",
    "--pidfile",
    `${dir}/hacore.pid`,
    "--lvs-state",
    `${dir}/hacore.lvs.json`,
    ...flags,
  );
  return { proc: new LineProc("hacore", child), child };
}

/** The IPVS operations hacore logged (`lvs: addDest ...`), in order. */
function opsLogged(h: Hacore, from = 0): string[] {
  const out: string[] = [];
  for (const l of h.proc.lines.slice(from)) {
    const m = /"msg":"lvs: ((?:add|edit|del)(?:Service|Dest) [^"]*)"/.exec(l.text);
    if (m) out.push(m[1]);
  }
  return out;
}

async function waitFor(what: string, timeoutMs: number, ok: () => Promise<boolean>) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function hacoreCli(...args: string[]): Promise<{ code: number; out: string }> {
  const r = await run(Deno.execPath(), ["run", "-A", MAIN, ...args]);
  return { code: r.code, out: r.stdout + r.stderr };
}

async function stop(h: Hacore): Promise<void> {
  h.child.kill("SIGTERM");
  await h.child.status;
}

/** A TCP server in `ns` that accepts and sends a little, keeping every connection open. */
function server(lab: Lab, ns: string): void {
  lab.spawn(
    ns,
    "python3",
    "-c",
    `import socket,threading
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind(("0.0.0.0",${PORT})); s.listen(16)
keep=[]
while True:
  c,_=s.accept(); c.sendall(b"x"*16); keep.append(c)`,
  );
}

/**
 * A client in `ns` holding one connection to the VIP until it is killed; it never reads,
 * so its close is a reset (the kernel entry goes at once to CLOSE, 10 s).
 */
function client(lab: Lab, ns: string): Deno.ChildProcess {
  return lab.spawn(
    ns,
    "python3",
    "-c",
    `import socket,struct,time
for i in range(40):
  try:
    c=socket.create_connection(("${VIP}",${PORT}),timeout=2); c.recv(1); break
  except Exception: time.sleep(0.5)
c.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,struct.pack("ii",1,0))
print("connected",flush=True)
time.sleep(3600)`,
  );
}

async function destLine(director: string): Promise<string | null> {
  const t = await ipvsadm(director, "-Ln");
  return t.split("\n").find((l) => l.includes(`-> ${RIP}:${PORT}`)) ?? null;
}

async function withHacore(
  fn: (
    lab: Lab,
    net: { client: string; director: string; rs: string },
    dir: string,
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hacore-lvsops-" });
  try {
    await withLab(async (lab) => fn(lab, await topology(lab), dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function connected(lab: Lab, net: { client: string }): Promise<Deno.ChildProcess> {
  const c = client(lab, net.client);
  const p = new LineProc("client", c);
  await p.waitLine((l) => l.text === "connected", 30_000, "the client to connect");
  return c;
}

ipvsTest(
  "drain: weight 0 while a live TCP connection lasts, then the server is removed",
  async () => {
    await withHacore(async (lab, net, dir) => {
      server(lab, net.rs);
      const file = `${dir}/hacore.toml`;
      await Deno.writeTextFile(file, config(dir));
      const h = startHacore(lab, net.director, file, dir);
      await waitFor("the service", 20_000, async () => (await destLine(net.director)) !== null);
      const c = await connected(lab, net);
      const r = await hacoreCli("drain", "web", `${RIP}:${PORT}`, "--socket", `${dir}/hacore.sock`);
      assert.equal(r.code, 0, r.out);
      await waitFor(
        "weight 0",
        5_000,
        async () => /Masq\s+0\s+1\s/.test((await destLine(net.director)) ?? ""),
      );
      await new Promise((res) => setTimeout(res, 3000));
      assert.match(
        (await destLine(net.director)) ?? "gone",
        /Masq\s+0\s+1\s/,
        "kept while connected",
      );
      const st = await hacoreCli("status", "--socket", `${dir}/hacore.sock`);
      assert.match(st.out, /draining \(operator\): 1 conn left/);
      c.kill("SIGKILL");
      await c.status;
      await waitFor(
        "the destination removed",
        30_000,
        async () => (await destLine(net.director)) === null,
      );
      assert.ok(opsLogged(h).some((o) => o.startsWith(`delDest ${VIP}:${PORT} -> ${RIP}:${PORT}`)));
      await stop(h);
    });
  },
);

ipvsTest("drain: the deadline removes a server whose connection is still open", async () => {
  await withHacore(async (lab, net, dir) => {
    server(lab, net.rs);
    const file = `${dir}/hacore.toml`;
    await Deno.writeTextFile(file, config(dir));
    const h = startHacore(lab, net.director, file, dir);
    await waitFor("the service", 20_000, async () => (await destLine(net.director)) !== null);
    const c = await connected(lab, net);
    const t0 = Date.now();
    const r = await hacoreCli(
      "drain",
      "web",
      RIP,
      "--deadline",
      "2",
      "--socket",
      `${dir}/hacore.sock`,
    );
    assert.equal(r.code, 0, r.out);
    await waitFor(
      "the destination removed",
      10_000,
      async () => (await destLine(net.director)) === null,
    );
    assert.ok(Date.now() - t0 >= 1900, "not before its deadline");
    assert.equal(c.pid > 0, true);
    await stop(h);
  });
});

ipvsTest(
  "drift: a destination deleted by hand is restored and reported; a foreign service is left alone",
  async () => {
    await withHacore(async (_lab, net, dir) => {
      await ipvsadm(net.director, "-A", "-t", "10.61.0.200:80", "-s", "wlc");
      await ipvsadm(net.director, "-a", "-t", "10.61.0.200:80", "-r", "10.62.0.9:80", "-m");
      const file = `${dir}/hacore.toml`;
      await Deno.writeTextFile(file, config(dir));
      const h = startHacore(_lab, net.director, file, dir);
      await waitFor("the service", 20_000, async () => (await destLine(net.director)) !== null);
      await ipvsadm(net.director, "-d", "-t", `${VIP}:${PORT}`, "-r", `${RIP}:${PORT}`);
      await waitFor(
        "the destination restored",
        10_000,
        async () => (await destLine(net.director)) !== null,
      );
      const st = await hacoreCli("status", "--json", "--socket", `${dir}/hacore.sock`);
      const lvs = JSON.parse(st.out).lvs;
      assert.ok(lvs.counters.driftRepairs >= 1, st.out);
      assert.match(lvs.drift.at(-1).repair, new RegExp(`addDest ${VIP}:${PORT} -> ${RIP}:${PORT}`));
      assert.deepEqual(lvs.foreign, ["tcp 10.61.0.200:80"]);
      await stop(h);
      const after = await ipvsadm(net.director, "-Ln");
      assert.match(after, /TCP {2}10\.61\.0\.200:80 wlc/, "the foreign service survived");
      assert.match(after, /-> 10\.62\.0\.9:80/);
      assert.ok(!after.includes(`${VIP}:${PORT}`), "hacore's own service went at stop");
    });
  },
);

ipvsTest(
  "check --plan prints the operations a later reload applies, and changes nothing",
  async () => {
    await withHacore(async (lab, net, dir) => {
      const file = `${dir}/hacore.toml`;
      await Deno.writeTextFile(file, config(dir));
      const h = startHacore(lab, net.director, file, dir);
      await waitFor("the service", 20_000, async () => (await destLine(net.director)) !== null);
      const next = `${dir}/next.toml`;
      await Deno.writeTextFile(
        next,
        config(dir, "", [RIP, "10.62.0.3"]).replace('lb_algo = "rr"', 'lb_algo = "wrr"'),
      );
      const before = await ipvsadm(net.director, "-Ln");
      const plan = await run("ip", [
        "netns",
        "exec",
        net.director,
        Deno.execPath(),
        "run",
        "-A",
        MAIN,
        "check",
        "--plan",
        next,
        "--lvs-state",
        `${dir}/hacore.lvs.json`,
        "--socket",
        `${dir}/hacore.sock`,
      ]);
      assert.equal(plan.code, 0, plan.stdout + plan.stderr);
      assert.equal(await ipvsadm(net.director, "-Ln"), before, "the plan changed nothing");
      const lines = plan.stdout.split("\n").slice(1).map((l) => l.trim()).filter((l) => l !== "");
      assert.deepEqual(lines, [
        `edit service tcp ${VIP}:${PORT} wrr`,
        `add dest tcp ${VIP}:${PORT} -> 10.62.0.3:${PORT} NAT weight 1`,
      ]);
      const mark = h.proc.lines.length;
      await Deno.copyFile(next, file);
      const r = await hacoreCli("reload", "--socket", `${dir}/hacore.sock`);
      assert.equal(r.code, 0, r.out);
      await waitFor(
        "the reload's operations",
        10_000,
        () => Promise.resolve(opsLogged(h, mark).length >= 2),
      );
      assert.deepEqual(opsLogged(h, mark), [
        `editService ${VIP}:${PORT} (wrr)`,
        `addDest ${VIP}:${PORT} -> 10.62.0.3:${PORT} weight 1`,
      ]);
      await stop(h);
    });
  },
);

/** A client in `ns` opening a connection every 50 ms for `seconds`, then printing `ok N fail M`. */
function requests(lab: Lab, ns: string, seconds: number): LineProc {
  return new LineProc(
    "requests",
    lab.spawn(
      ns,
      "python3",
      "-c",
      `import socket,time
ok=fail=0
end=time.time()+${seconds}
while time.time()<end:
  try:
    c=socket.create_connection(("${VIP}",${PORT}),timeout=2); d=c.recv(16); c.close()
    if d: ok+=1
    else: fail+=1
  except Exception: fail+=1
  time.sleep(0.05)
print("ok %d fail %d" % (ok,fail),flush=True)`,
    ),
  );
}

ipvsTest(
  "--keep-lvs: the table stays through a restart, which adopts it with no operation; no request fails",
  async () => {
    await withHacore(async (lab, net, dir) => {
      server(lab, net.rs);
      const file = `${dir}/hacore.toml`;
      await Deno.writeTextFile(file, config(dir));
      const a = startHacore(lab, net.director, file, dir, "--keep-lvs");
      await waitFor("the service", 20_000, async () => (await destLine(net.director)) !== null);
      // The server is up (a connection gets its bytes) before the load starts.
      await connected(lab, net);
      const table = await ipvsadm(net.director, "-Ln");
      const load = requests(lab, net.client, 12);
      await new Promise((res) => setTimeout(res, 1000));
      await stop(a);
      const strip = (t: string) => t.replace(/\s+\d+\s+\d+\s*$/gm, "");
      assert.equal(strip(await ipvsadm(net.director, "-Ln")), strip(table), "kept at stop");
      const owned = JSON.parse(await Deno.readTextFile(`${dir}/hacore.lvs.json`));
      assert.equal(owned.services.length, 1);
      const b = startHacore(lab, net.director, file, dir, "--keep-lvs");
      await b.proc.waitLine((l) => l.text.includes("lvs starting"), 20_000, "the LVS start");
      await waitFor("the first dump", 20_000, async () => {
        const r = await hacoreCli("status", "--json", "--socket", `${dir}/hacore.sock`);
        return r.code === 0 && JSON.parse(r.out).lvs?.lastDumpMs != null;
      });
      assert.deepEqual(opsLogged(b), [], "adopted with no operation");
      assert.equal(
        strip(await ipvsadm(net.director, "-Ln")),
        strip(table),
        "the table never changed (connection counts aside)",
      );
      const done = await load.waitLine((l) => l.text.startsWith("ok "), 30_000, "the requests");
      const [, okN, failN] = /^ok (\d+) fail (\d+)$/.exec(done.text)!;
      assert.equal(Number(failN), 0, done.text);
      assert.ok(Number(okN) > 50, done.text);
      await stop(b);
    });
  },
);

/** An echo server in `ns` on `address` (one thread per connection). */
function echoServer(lab: Lab, ns: string, address: string): void {
  lab.spawn(
    ns,
    "python3",
    "-c",
    `import socket,threading
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind(("${address}",${PORT})); s.listen(16)
def serve(c):
  c.sendall(b"x"*16)
  while True:
    d=c.recv(64)
    if not d: break
    c.sendall(d)
while True:
  c,_=s.accept(); threading.Thread(target=serve,args=(c,),daemon=True).start()`,
  );
}

ipvsTest(
  "reload: a real server removed from the config keeps its live connection working at weight 0, then goes",
  async () => {
    await withHacore(async (lab, net, dir) => {
      await runOk("ip", ["-n", net.rs, "addr", "add", "10.62.0.3/24", "dev", await rsDev(net.rs)]);
      echoServer(lab, net.rs, RIP);
      echoServer(lab, net.rs, "10.62.0.3");
      const file = `${dir}/hacore.toml`;
      await Deno.writeTextFile(file, config(dir));
      const h = startHacore(lab, net.director, file, dir);
      await waitFor("the service", 20_000, async () => (await destLine(net.director)) !== null);
      // One connection that pings every 200 ms and prints each echo: its output shows the
      // connection alive (a timeout or reset would end it with a traceback on stderr).
      const c = new LineProc(
        "pinger",
        lab.spawn(
          net.client,
          "python3",
          "-c",
          `import socket,time,struct
for i in range(40):
  try:
    c=socket.create_connection(("${VIP}",${PORT}),timeout=2); c.recv(16); break
  except Exception: time.sleep(0.5)
c.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,struct.pack("ii",1,0))
c.settimeout(2)
n=0
while True:
  n+=1; c.sendall(b"ping%d" % n); print(c.recv(64).decode(),flush=True); time.sleep(0.2)`,
        ),
      );
      await c.waitLine((l) => l.text === "ping1", 30_000, "the first echo");
      await Deno.writeTextFile(file, config(dir, "", ["10.62.0.3"]));
      const r = await hacoreCli("reload", "--socket", `${dir}/hacore.sock`);
      assert.equal(r.code, 0, r.out);
      await waitFor(
        "weight 0",
        5_000,
        async () => /Masq\s+0\s+1\s/.test((await destLine(net.director)) ?? ""),
      );
      const seen = c.lines.length;
      await new Promise((res) => setTimeout(res, 2000));
      assert.ok(c.lines.length >= seen + 5, "the removed server's connection still echoes");
      assert.ok(c.lines.every((l) => l.stream === "stdout"), c.lines.map((l) => l.text).join("\n"));
      assert.ok(
        opsLogged(h).some((o) => o.startsWith(`addDest ${VIP}:${PORT} -> 10.62.0.3:${PORT}`)),
      );
      assert.ok(
        !opsLogged(h).some((o) => o.startsWith(`delDest ${VIP}:${PORT} -> ${RIP}:${PORT}`)),
      );
      lab.children.at(-1)!.kill("SIGKILL");
      await waitFor(
        "the drained server removed",
        30_000,
        async () => (await destLine(net.director)) === null,
      );
      await stop(h);
    });
  },
);

/** The real server namespace's one veth. */
async function rsDev(ns: string): Promise<string> {
  const out = await runOk("ip", ["-n", ns, "-o", "link", "show", "type", "veth"]);
  return out.split(":")[1].trim().split("@")[0];
}

ipvsTest(
  "maintenance file: IP:PORT in the directory takes the real server out; removing it puts it back",
  async () => {
    await withHacore(async (lab, net, dir) => {
      const maint = `${dir}/maintenance`;
      await Deno.mkdir(maint);
      const file = `${dir}/hacore.toml`;
      await Deno.writeTextFile(file, config(dir, `[lvs]\nmaintenance_dir = "${maint}"\n`));
      const h = startHacore(lab, net.director, file, dir);
      await waitFor("the service", 20_000, async () => (await destLine(net.director)) !== null);
      await Deno.writeTextFile(`${maint}/${RIP}:${PORT}`, "");
      await waitFor("the server out", 10_000, async () => (await destLine(net.director)) === null);
      const st = await hacoreCli("status", "--socket", `${dir}/hacore.sock`);
      assert.match(st.out, /drained \(maintenance\)/);
      await Deno.remove(`${maint}/${RIP}:${PORT}`);
      await waitFor("the server back", 10_000, async () => (await destLine(net.director)) !== null);
      await stop(h);
    });
  },
);

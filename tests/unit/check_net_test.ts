/**
 * The network checks against servers this test starts on loopback: TCP, HTTP, HTTPS,
 * DNS, UDP, SMTP and ICMP (root only), passing and failing for each reason they report.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import dgram from "node:dgram";
import { checkDns } from "../../lib/check/dns.ts";
import { encodeDnsQuery, readName } from "../../lib/check/dns_codec.ts";
import { checkHttp } from "../../lib/check/http.ts";
import { checkIcmp } from "../../lib/check/icmp.ts";
import { checksIdle } from "../../lib/check/run.ts";
import type { CheckStatus } from "../../lib/check/scheduler.ts";
import { drivenScheduler, httpCheckSpec } from "../fakes/checks.ts";
import { withFullBacklog } from "../fakes/full_backlog.ts";
import { checkSmtp } from "../../lib/check/smtp.ts";
import { checkTcp } from "../../lib/check/tcp.ts";
import type { DnsCheck, HttpCheck, UdpCheck } from "../../lib/check/types.ts";
import { checkUdp } from "../../lib/check/udp.ts";
import { TcpWatcher } from "../../lib/check/watch.ts";

const never = new AbortController().signal;
const enc = new TextEncoder();
const dec = new TextDecoder();
const FIXTURES = new URL("../fixtures/check/", import.meta.url);
const isRoot = Deno.uid() === 0;

function port(l: { addr: Deno.Addr }): number {
  return (l.addr as Deno.NetAddr).port;
}

// ---------------------------------------------------------------------------------------
// TCP
// ---------------------------------------------------------------------------------------

Deno.test("tcp: up while a listener is there (v4 and v6), ECONNREFUSED once it is gone", async () => {
  for (const host of ["127.0.0.1", "::1"]) {
    const l = Deno.listen({ hostname: host, port: 0 });
    const target = { host, port: port(l) };
    const accepted = l.accept().then((c) => c.close());
    const up = await checkTcp({ kind: "tcp", target }, 1000, never);
    assert.equal(up.ok, true, up.detail);
    assert.match(up.detail, /^connected to .* in [\d.]+ ms$/);
    await accepted;
    l.close();
    const down = await checkTcp({ kind: "tcp", target }, 1000, never);
    assert.equal(down.ok, false);
    const where = host.includes(":") ? `[${host}]:${target.port}` : `${host}:${target.port}`;
    assert.equal(down.detail, `connect ${where}: ECONNREFUSED`);
  }
});

/** A listener whose accept queue is full: further connects hang (their SYNs are dropped). */
function withBlackHole(fn: (port: number) => Promise<void>): Promise<void> {
  return withFullBacklog(({ port }) => fn(port));
}

Deno.test("tcp: a connect that hangs fails at the timeout", async () => {
  await withBlackHole(async (p) => {
    const t0 = performance.now();
    const r = await checkTcp({ kind: "tcp", target: { host: "127.0.0.1", port: p } }, 300, never);
    const took = performance.now() - t0;
    assert.equal(r.ok, false);
    assert.equal(r.detail, `connect 127.0.0.1:${p}: timed out after 300 ms`);
    assert.ok(took >= 290 && took < 1500, `took ${took} ms`);
  });
});

Deno.test("tcp: under the scheduler a hanging connect ends at the timeout its timer keeps", async () => {
  await withBlackHole(async (p) => {
    const seen: CheckStatus[] = [];
    const s = drivenScheduler({ onChange: (st) => seen.push(st), random: () => 0 });
    const t0 = performance.now();
    s.set({
      id: "hang",
      spec: { kind: "tcp", target: { host: "127.0.0.1", port: p } },
      timing: { intervalMs: 60_000, timeoutMs: 300, rise: 1, fall: 1, initialUp: true },
    });
    while (seen.length === 0 && performance.now() - t0 < 3000) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const took = performance.now() - t0;
    await s.stop();
    assert.equal(seen.length, 1, "the run ended and was counted");
    assert.equal(seen[0].up, false);
    assert.equal(seen[0].last?.detail, `connect 127.0.0.1:${p}: timed out after 300 ms`);
    assert.ok(took >= 290 && took < 1500, `took ${took} ms`);
  });
});

Deno.test("tcp: aborting ends a hanging connect at once", async () => {
  await withBlackHole(async (p) => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const t0 = performance.now();
    const r = await checkTcp(
      { kind: "tcp", target: { host: "127.0.0.1", port: p } },
      5000,
      ac.signal,
    );
    assert.equal(r.detail, `connect 127.0.0.1:${p}: aborted`);
    assert.ok(performance.now() - t0 < 1000);
  });
});

// ---------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------

const BODY = "all systems go";

const httpSpec = httpCheckSpec;

/** A server with a few routes; `release` lets the slow route finish. */
async function withHttpServer(fn: (p: number, seen: Request[]) => Promise<void>): Promise<void> {
  const seen: Request[] = [];
  let release = () => {};
  const slow = new Promise<void>((r) => release = r);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    seen.push(req);
    const path = new URL(req.url).pathname;
    switch (path) {
      case "/fail":
        return new Response("down for maintenance", { status: 503 });
      case "/chunked":
        return new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(enc.encode("all systems "));
              c.enqueue(enc.encode("go"));
              c.close();
            },
          }),
        );
      case "/big":
        return new Response(new Uint8Array(2 * 1024 * 1024).fill(0x61));
      case "/slow":
        await slow;
        return new Response(BODY);
      default:
        return new Response(BODY);
    }
  });
  try {
    await fn(server.addr.port, seen);
  } finally {
    release();
    await server.shutdown();
  }
}

Deno.test("http: status ranges decide; the detail says what came and what was expected", async () => {
  await withHttpServer(async (p) => {
    const ok = await checkHttp(httpSpec(p), 2000, never);
    assert.equal(ok.ok, true, ok.detail);
    assert.match(ok.detail, /^HTTP 200 in [\d.]+ ms$/);
    const fail = await checkHttp(httpSpec(p, { path: "/fail" }), 2000, never);
    assert.equal(fail.ok, false);
    assert.equal(fail.detail, "HTTP 503 (expected 200-299)");
    const ranges = await checkHttp(
      httpSpec(p, { path: "/fail", statusRanges: [[200, 200], [500, 599]] }),
      2000,
      never,
    );
    assert.equal(ranges.ok, true, ranges.detail);
    const only = await checkHttp(
      httpSpec(p, { statusRanges: [[204, 204], [301, 302]] }),
      2000,
      never,
    );
    assert.equal(only.detail, "HTTP 200 (expected 204, 301-302)");
  });
});

Deno.test("http: body regex, over Content-Length and chunked bodies", async () => {
  await withHttpServer(async (p) => {
    for (const path of ["/", "/chunked"]) {
      const ok = await checkHttp(httpSpec(p, { path, bodyRegex: "systems\\s+go$" }), 2000, never);
      assert.equal(ok.ok, true, `${path}: ${ok.detail}`);
      const no = await checkHttp(httpSpec(p, { path, bodyRegex: "^ok" }), 2000, never);
      assert.equal(no.detail, "HTTP 200: body does not match /^ok/");
    }
  });
});

Deno.test("http: MD5 and SHA-256 digests of the body", async () => {
  await withHttpServer(async (p) => {
    const md5 = createHash("md5").update(BODY).digest("hex");
    const sha = createHash("sha256").update(BODY).digest("hex");
    for (const [path, digest] of [["/", md5], ["/chunked", md5], ["/", sha], ["/chunked", sha]]) {
      const r = await checkHttp(httpSpec(p, { path, digest }), 2000, never);
      assert.equal(r.ok, true, `${path} ${digest}: ${r.detail}`);
    }
    const wrong = await checkHttp(httpSpec(p, { digest: "0".repeat(32) }), 2000, never);
    assert.equal(wrong.detail, `HTTP 200: digest mismatch (md5 ${md5})`);
    const big = await checkHttp(httpSpec(p, { path: "/big", digest: md5 }), 5000, never);
    assert.equal(big.detail, "HTTP 200: body over 1048576 bytes, digest not computed");
    const bigRegex = await checkHttp(httpSpec(p, { path: "/big", bodyRegex: "^a+$" }), 5000, never);
    assert.equal(bigRegex.ok, true, "a regex looks at the first MiB");
  });
});

Deno.test("http: the request is a plain GET with Host and Connection: close", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const p = port(l);
  const requests: string[] = [];
  const serve = (async () => {
    for (let i = 0; i < 2; i++) {
      const c = await l.accept();
      const buf = new Uint8Array(4096);
      let text = "";
      while (!text.includes("\r\n\r\n")) {
        const n = await c.read(buf);
        if (n === null) break;
        text += dec.decode(buf.subarray(0, n));
      }
      requests.push(text);
      await c.write(enc.encode("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
      c.close();
    }
  })();
  const a = await checkHttp(httpSpec(p, { path: "/health?x=1" }), 2000, never);
  const b = await checkHttp(httpSpec(p, { hostHeader: "www.example.com" }), 2000, never);
  await serve;
  l.close();
  assert.equal(a.ok && b.ok, true);
  assert.equal(
    requests[0],
    `GET /health?x=1 HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\nUser-Agent: hacore-check\r\n` +
      "Accept: */*\r\nConnection: close\r\n\r\n",
  );
  assert.match(requests[1], /\r\nHost: www\.example\.com\r\n/);
});

Deno.test("http: a dead server is ECONNREFUSED, a silent one times out", async () => {
  let p = 0;
  await withHttpServer(async (port) => {
    p = port;
    const slow = await checkHttp(httpSpec(port, { path: "/slow" }), 300, never);
    assert.equal(slow.ok, false);
    assert.equal(slow.detail, "GET /slow: timed out after 300 ms");
  });
  const dead = await checkHttp(httpSpec(p), 1000, never);
  assert.equal(dead.detail, `connect 127.0.0.1:${p}: ECONNREFUSED`);
});

Deno.test("http: a server that closes without answering, or answers garbage, fails clearly", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serve = (async () => {
    const c1 = await l.accept();
    c1.close();
    const c2 = await l.accept();
    await c2.read(new Uint8Array(4096));
    await c2.write(enc.encode("SSH-2.0-OpenSSH_9.2\r\n\r\n"));
    c2.close();
  })();
  const closed = await checkHttp(httpSpec(port(l)), 2000, never);
  const garbage = await checkHttp(httpSpec(port(l)), 2000, never);
  await serve;
  l.close();
  assert.match(closed.detail, /^GET \/: (connection closed without a response|ECONNRESET)$/);
  assert.equal(garbage.detail, 'GET /: not an HTTP/1.x response: "SSH-2.0-OpenSSH_9.2"');
});

Deno.test("refused or reset before any reply is definitive; timeouts and bad replies are not", async () => {
  // A listener closed: nothing listens on its port any more.
  const gone = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dead = port(gone);
  gone.close();
  const target = { host: "127.0.0.1", port: dead };
  assert.equal((await checkTcp({ kind: "tcp", target }, 1000, never)).definitive, true);
  assert.equal((await checkHttp(httpSpec(dead), 1000, never)).definitive, true);
  const smtp = { kind: "smtp" as const, target, heloName: "h" };
  assert.equal((await checkSmtp(smtp, 1000, never)).definitive, true);
  await withBlackHole(async (p) => {
    const r = await checkTcp({ kind: "tcp", target: { host: "127.0.0.1", port: p } }, 200, never);
    assert.equal(r.ok, false);
    assert.equal(r.definitive, undefined, "a timeout may pass: retried");
  });
  await withHttpServer(async (p) => {
    const bad = await checkHttp(httpSpec(p, { path: "/fail" }), 1000, never);
    assert.equal(bad.ok, false);
    assert.equal(bad.definitive, undefined, "a bad status may pass: retried");
  });
  // A server that hangs up without answering (Deno reads its close as the end of the
  // stream) may be shedding load: not definitive.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serve = l.accept().then(async (c) => {
    await new Promise((r) => setTimeout(r, 100));
    c.close();
  });
  const hungUp = await checkHttp(httpSpec(port(l)), 2000, never);
  await serve;
  l.close();
  assert.equal(hungUp.detail, "GET /: connection closed without a response");
  assert.equal(hungUp.definitive, undefined);
});

Deno.test("watch: the idle connection's end is heard within milliseconds; unwatched, nothing is", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const target = { host: "127.0.0.1", port: port(l) };
  const w = new TcpWatcher();
  let ended = 0;
  w.watch(target, () => ended++);
  // A second watcher of the same target shares the connection.
  const unwatch2 = w.watch(target, () => ended += 10);
  const server = await l.accept();
  assert.equal(w.size, 1);
  unwatch2();
  const t0 = performance.now();
  server.close(); // what the kernel does for a process that dies
  while (ended === 0 && performance.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 1));
  const took = performance.now() - t0;
  assert.equal(ended, 1, "heard once, by the one still watching");
  assert.ok(took < 100, `took ${took} ms`);
  assert.equal(w.size, 0);
  // Unwatched before its end: no call, and close() leaves nothing open.
  w.watch(target, () => ended++)();
  w.watch(target, () => ended++);
  const s2 = await l.accept();
  await w.close();
  s2.close();
  l.close();
  assert.equal(ended, 1);
});

// ---------------------------------------------------------------------------------------
// HTTPS
// ---------------------------------------------------------------------------------------

Deno.test("https: verify_tls off accepts a self-signed certificate, on refuses it", async () => {
  const cert = await Deno.readTextFile(new URL("cert.pem", FIXTURES));
  const key = await Deno.readTextFile(new URL("key.pem", FIXTURES));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    () => new Response(BODY),
  );
  try {
    const p = server.addr.port;
    const off = await checkHttp(
      httpSpec(p, { tls: true, verifyTls: false, bodyRegex: "go$" }),
      3000,
      never,
    );
    assert.equal(off.ok, true, off.detail);
    const on = await checkHttp(httpSpec(p, { tls: true, verifyTls: true }), 3000, never);
    assert.equal(on.ok, false);
    assert.match(on.detail, new RegExp(`^TLS 127\\.0\\.0\\.1:${p}: .*self-signed`));
  } finally {
    await server.shutdown();
  }
});

/** The SNI host_name in a TLS ClientHello, "" when it has none. */
function sniOf(hello: Uint8Array): string | null {
  const dv = new DataView(hello.buffer, hello.byteOffset, hello.byteLength);
  if (hello.length < 5 || hello[0] !== 22 || hello[5] !== 1) return null;
  let off = 5 + 4 + 2 + 32; // record header, handshake header, version, random
  off += 1 + hello[off]; // session id
  off += 2 + dv.getUint16(off); // cipher suites
  off += 1 + hello[off]; // compression methods
  const end = off + 2 + dv.getUint16(off);
  off += 2;
  while (off + 4 <= end) {
    const type = dv.getUint16(off);
    const len = dv.getUint16(off + 2);
    if (type === 0) {
      // server_name_list: u16 length, then u8 type (0 = host_name), u16 length, name.
      const nameLen = dv.getUint16(off + 4 + 3);
      return dec.decode(hello.subarray(off + 4 + 5, off + 4 + 5 + nameLen));
    }
    off += 4 + len;
  }
  return "";
}

Deno.test("https: SNI is sni, else a Host header name, else none for an address", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const p = port(l);
  const seen: (string | null)[] = [];
  const serve = (async () => {
    for (let i = 0; i < 3; i++) {
      const c = await l.accept();
      const buf = new Uint8Array(16384);
      let got = new Uint8Array(0);
      while (got.length < 5 || got.length < 5 + ((got[3] << 8) | got[4])) {
        const n = await c.read(buf);
        if (n === null) break;
        got = Uint8Array.from([...got, ...buf.subarray(0, n)]);
      }
      seen.push(sniOf(got));
      c.close();
    }
  })();
  const cases: Partial<HttpCheck>[] = [
    { sni: "check.test", hostHeader: "www.example.com" },
    { hostHeader: "www.example.com:8443" },
    {},
  ];
  for (const over of cases) {
    const r = await checkHttp(httpSpec(p, { tls: true, verifyTls: false, ...over }), 2000, never);
    assert.equal(r.ok, false, "the server hangs up after the ClientHello");
  }
  await serve;
  l.close();
  assert.deepEqual(seen, ["check.test", "www.example.com", ""]);
});

// ---------------------------------------------------------------------------------------
// DNS
// ---------------------------------------------------------------------------------------

/** A UDP socket on 127.0.0.1 (or ::1) answering with `answer(query)` (null = stay silent). */
async function withUdpServer(
  answer: (query: Uint8Array) => Uint8Array[] | null,
  fn: (port: number) => Promise<void>,
  host = "127.0.0.1",
): Promise<void> {
  const sock = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
  sock.on("message", (msg: Uint8Array, rinfo: { port: number; address: string }) => {
    for (const r of answer(new Uint8Array(msg)) ?? []) sock.send(r, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, host, () => r()));
  try {
    await fn(sock.address().port);
  } finally {
    await new Promise<void>((r) => sock.close(() => r()));
  }
}

/** Builds a reply to `q` (rcode, A/AAAA answers, the question echoed unless replaced). */
function dnsReply(
  q: Uint8Array,
  opts: { rcode?: number; a?: string[]; aaaa?: number[][]; id?: number; question?: Uint8Array },
): Uint8Array {
  const question = opts.question ?? q.subarray(12);
  const out: number[] = [...q.subarray(0, 12), ...question];
  if (opts.id !== undefined) [out[0], out[1]] = [opts.id >> 8, opts.id & 0xff];
  out[2] = 0x81;
  out[3] = 0x80 | (opts.rcode ?? 0);
  const answers = [
    ...(opts.a ?? []).map((ip) => ({ type: 1, rdata: ip.split(".").map(Number) })),
    ...(opts.aaaa ?? []).map((b) => ({ type: 28, rdata: b })),
  ];
  out[6] = 0;
  out[7] = answers.length;
  for (const a of answers) {
    out.push(0xc0, 12, 0, a.type, 0, 1, 0, 0, 1, 0, 0, a.rdata.length, ...a.rdata);
  }
  return Uint8Array.from(out);
}

function dnsResponder(q: Uint8Array): Uint8Array[] | null {
  const n = readName(q, 12);
  const name = "name" in n ? n.name : "";
  const id = (q[0] << 8) | q[1];
  switch (name.split(".")[0]) {
    case "ok":
      return [dnsReply(q, { a: ["192.0.2.9", "192.0.2.7"] })];
    case "v6":
      return [dnsReply(q, { aaaa: [[0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 7]] })];
    case "refused":
      return [dnsReply(q, { rcode: 5 })];
    case "nx":
      return [dnsReply(q, { rcode: 3 })];
    case "empty":
      return [dnsReply(q, {})];
    case "garbage":
      return [Uint8Array.of(q[0], q[1], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 12)];
    case "other":
      return [
        dnsReply(q, { a: ["192.0.2.1"], question: encodeDnsQuery(0, "evil.test", 1).subarray(12) }),
      ];
    case "stale":
      // A reply with another ID first (ignored), then the real one.
      return [
        dnsReply(q, { a: ["198.51.100.1"], id: (id + 1) & 0xffff }),
        dnsReply(q, { a: ["192.0.2.7"] }),
      ];
    default:
      return null;
  }
}

function dnsSpec(p: number, name: string, over: Partial<DnsCheck> = {}): DnsCheck {
  return {
    kind: "dns",
    server: { host: "127.0.0.1", port: p },
    name,
    type: "A",
    expect: null,
    ...over,
  };
}

Deno.test("dns: answers pass; expect compares addresses canonically", async () => {
  await withUdpServer(dnsResponder, async (p) => {
    const ok = await checkDns(dnsSpec(p, "ok.test"), 1000, never);
    assert.equal(ok.ok, true, ok.detail);
    assert.match(ok.detail, /^DNS ok\.test A @127\.0\.0\.1:\d+: 192\.0\.2\.9 in [\d.]+ ms$/);
    assert.equal(
      (await checkDns(dnsSpec(p, "OK.test.", { expect: "192.0.2.7" }), 1000, never)).ok,
      true,
    );
    const miss = await checkDns(dnsSpec(p, "ok.test", { expect: "192.0.2.1" }), 1000, never);
    assert.equal(miss.ok, false);
    assert.match(miss.detail, /: answer 192\.0\.2\.9, 192\.0\.2\.7, expected 192\.0\.2\.1$/);
    const v6 = await checkDns(
      dnsSpec(p, "v6.test", { type: "AAAA", expect: "2001:DB8:0::7" }),
      1000,
      never,
    );
    assert.equal(v6.ok, true, v6.detail);
    const stale = await checkDns(dnsSpec(p, "stale.test", { expect: "192.0.2.7" }), 1000, never);
    assert.equal(stale.ok, true, stale.detail);
  });
});

Deno.test("dns: REFUSED, NXDOMAIN, no answer, garbage, another question, silence", async () => {
  await withUdpServer(dnsResponder, async (p) => {
    const detail = async (name: string, over: Partial<DnsCheck> = {}, timeout = 1000) =>
      (await checkDns(dnsSpec(p, name, over), timeout, never)).detail;
    const at = `@127.0.0.1:${p}`;
    assert.equal(await detail("refused.test"), `DNS refused.test A ${at}: REFUSED`);
    assert.equal(await detail("nx.test"), `DNS nx.test A ${at}: NXDOMAIN`);
    assert.equal(await detail("empty.test"), `DNS empty.test A ${at}: no A record`);
    assert.equal(await detail("ok.test", { type: "MX" }), `DNS ok.test MX ${at}: no MX record`);
    assert.match(
      await detail("garbage.test"),
      /: malformed reply: question 1: name at byte 12: pointer loop$/,
    );
    assert.equal(
      await detail("other.test"),
      `DNS other.test A ${at}: reply is for another question`,
    );
    assert.equal(
      await detail("silent.test", {}, 200),
      `DNS silent.test A ${at}: timed out after 200 ms`,
    );
  });
});

Deno.test("dns: a closed port fails at once with ECONNREFUSED", async () => {
  let p = 0;
  await withUdpServer(() => null, (port) => Promise.resolve(void (p = port)));
  const t0 = performance.now();
  const r = await checkDns(dnsSpec(p, "ok.test"), 3000, never);
  assert.equal(r.detail, `DNS ok.test A @127.0.0.1:${p}: ECONNREFUSED`);
  assert.ok(performance.now() - t0 < 1000);
  await checksIdle();
});

Deno.test("dns: many concurrent queries share one poll and all complete", async () => {
  await withUdpServer(dnsResponder, async (p) => {
    const rs = await Promise.all(
      Array.from(
        { length: 100 },
        (_, i) => checkDns(dnsSpec(p, i % 2 ? "ok.test" : "refused.test"), 2000, never),
      ),
    );
    assert.deepEqual(rs.map((r) => r.ok), Array.from({ length: 100 }, (_, i) => i % 2 === 1));
  });
  await checksIdle();
});

// ---------------------------------------------------------------------------------------
// UDP
// ---------------------------------------------------------------------------------------

function udpSpec(p: number, over: Partial<UdpCheck> = {}): UdpCheck {
  return {
    kind: "udp",
    target: { host: "127.0.0.1", port: p },
    payloadHex: "70696e67",
    expect: null,
    ...over,
  };
}

Deno.test("udp: a reply passes; expect matches it as latin1 bytes", async () => {
  const echo = (q: Uint8Array) =>
    dec.decode(q) === "ping" ? [Uint8Array.of(0x70, 0x6f, 0x6e, 0x67, 0x80, 0xff)] : null;
  await withUdpServer(echo, async (p) => {
    const any = await checkUdp(udpSpec(p), 1000, never);
    assert.equal(any.ok, true, any.detail);
    assert.match(any.detail, /^UDP 127\.0\.0\.1:\d+: reply of 6 bytes in [\d.]+ ms$/);
    assert.equal(
      (await checkUdp(udpSpec(p, { expect: "^pong\\x80\\xff$" }), 1000, never)).ok,
      true,
    );
    const no = await checkUdp(udpSpec(p, { expect: "^PONG" }), 1000, never);
    assert.equal(no.detail, `UDP 127.0.0.1:${p}: reply of 6 bytes does not match /^PONG/`);
    const silent = await checkUdp(udpSpec(p, { payloadHex: "00" }), 200, never);
    assert.equal(silent.detail, `UDP 127.0.0.1:${p}: timed out after 200 ms`);
  });
});

Deno.test("udp and dns over IPv6", async () => {
  const echo = (q: Uint8Array) => [q[0] === 0x70 ? q : dnsResponder(q)![0]];
  await withUdpServer(echo, async (p) => {
    const udp = await checkUdp(
      { ...udpSpec(p, { expect: "^ping$" }), target: { host: "::1", port: p } },
      1000,
      never,
    );
    assert.equal(udp.ok, true, udp.detail);
    assert.match(udp.detail, /^UDP \[::1\]:\d+: reply of 4 bytes/);
    const dns = await checkDns(
      { ...dnsSpec(p, "ok.test"), server: { host: "::1", port: p } },
      1000,
      never,
    );
    assert.equal(dns.ok, true, dns.detail);
  }, "::1");
});

Deno.test("udp: a closed port is ECONNREFUSED at once (port unreachable), not a timeout", async () => {
  let p = 0;
  await withUdpServer(() => null, (port) => Promise.resolve(void (p = port)));
  const t0 = performance.now();
  const r = await checkUdp(udpSpec(p), 3000, never);
  assert.equal(r.detail, `UDP 127.0.0.1:${p}: ECONNREFUSED`);
  assert.ok(performance.now() - t0 < 1000);
});

Deno.test("udp: aborting ends the wait and leaves no poll running", async () => {
  await withUdpServer(() => null, async (p) => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const r = await checkUdp(udpSpec(p), 5000, ac.signal);
    assert.equal(r.detail, `UDP 127.0.0.1:${p}: aborted`);
  });
  await checksIdle();
});

// ---------------------------------------------------------------------------------------
// SMTP
// ---------------------------------------------------------------------------------------

/** A fake SMTP server speaking the given script: banner, then the reply to HELO. */
async function withSmtp(
  banner: string,
  heloReply: string,
  fn: (p: number, got: string[]) => Promise<void>,
): Promise<void> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const got: string[] = [];
  const serve = (async () => {
    const c = await l.accept();
    try {
      await c.write(enc.encode(banner));
      const buf = new Uint8Array(1024);
      let text = "";
      for (let n = await c.read(buf); n !== null; n = await c.read(buf)) {
        text += dec.decode(buf.subarray(0, n));
        if (text.startsWith("HELO") && text.endsWith("\r\n") && !got.length) {
          got.push(text.trim());
          text = "";
          await c.write(enc.encode(heloReply));
        } else if (text.includes("QUIT\r\n")) {
          got.push("QUIT");
          break;
        }
      }
    } catch {
      // The check hung up first.
    } finally {
      c.close();
    }
  })();
  try {
    await fn(port(l), got);
  } finally {
    l.close();
    await serve;
  }
}

Deno.test("smtp: 220 banner (multi-line), HELO → 250, then QUIT", async () => {
  await withSmtp("220-mail.test ESMTP\r\n220 ready\r\n", "250 mail.test\r\n", async (p, got) => {
    const r = await checkSmtp(
      { kind: "smtp", target: { host: "127.0.0.1", port: p }, heloName: "hacore.test" },
      2000,
      never,
    );
    assert.equal(r.ok, true, r.detail);
    assert.match(r.detail, /^SMTP 250 in [\d.]+ ms$/);
    await new Promise((res) => setTimeout(res, 50));
    assert.deepEqual(got, ["HELO hacore.test", "QUIT"]);
  });
});

Deno.test("smtp: a refusing banner, a refused HELO, silence", async () => {
  const spec = (p: number) => ({
    kind: "smtp" as const,
    target: { host: "127.0.0.1", port: p },
    heloName: "h",
  });
  await withSmtp("554 no service\r\n", "", async (p) => {
    const r = await checkSmtp(spec(p), 2000, never);
    assert.equal(r.detail, `SMTP 127.0.0.1:${p} greeting: 554 no service (expected 220)`);
  });
  await withSmtp("220 hi\r\n", "501 bad\r\n", async (p) => {
    const r = await checkSmtp(spec(p), 2000, never);
    assert.equal(r.detail, `SMTP 127.0.0.1:${p} HELO: 501 bad (expected 250)`);
  });
  await withSmtp("", "", async (p) => {
    const r = await checkSmtp(spec(p), 200, never);
    assert.equal(r.detail, `SMTP 127.0.0.1:${p} greeting: timed out after 200 ms`);
  });
});

// ---------------------------------------------------------------------------------------
// ICMP
// ---------------------------------------------------------------------------------------

Deno.test({
  name: `icmp: echo to 127.0.0.1 and ::1, alone and many at once${
    isRoot ? "" : " (skipped: needs root)"
  }`,
  ignore: !isRoot,
  async fn() {
    for (const host of ["127.0.0.1", "::1"]) {
      const r = await checkIcmp({ kind: "icmp", host }, 1000, never);
      assert.equal(r.ok, true, r.detail);
      assert.match(
        r.detail,
        new RegExp(`^echo reply from ${host.replace(/\./g, "\\.")} in [\\d.]+ ms$`),
      );
    }
    const many = await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) => checkIcmp({ kind: "icmp", host: i % 2 ? "::1" : "127.0.0.1" }, 2000, never),
      ),
    );
    assert.deepEqual(many.filter((r) => !r.ok), []);
    await checksIdle();
  },
});

Deno.test({
  name: `icmp: without root the check fails with EPERM${
    isRoot ? "" : " (skipped: needs root to drop to nobody)"
  }`,
  ignore: !isRoot,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.chmod(dir, 0o777);
      const icmp = new URL("../../lib/check/icmp.ts", import.meta.url).href;
      const code = `import { checkIcmp } from "${icmp}";` +
        `const r = await checkIcmp({ kind: "icmp", host: "127.0.0.1" }, 500, new AbortController().signal);` +
        `console.log(r.detail);`;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--no-config", "--no-lock", "-A", code],
        uid: 65534,
        gid: 65534,
        cwd: dir,
        env: { DENO_DIR: dir, HOME: dir, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(
        dec.decode(out.stdout).trim(),
        "ping 127.0.0.1: ICMP needs root (raw socket): EPERM",
        dec.decode(out.stderr),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("icmp: a family mismatch is refused without a socket", async () => {
  const r = await checkIcmp({ kind: "icmp", host: "not-an-ip" }, 100, never);
  assert.equal(r.detail, "ping not-an-ip: not an IPv4 address: not-an-ip");
});

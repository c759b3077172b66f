/**
 * The pure parts of the health checks: DNS messages, HTTP responses, ICMP echo, SMTP
 * replies and the small helpers, byte for byte and against hostile input.
 */
import assert from "node:assert/strict";
import {
  decodeDnsMessage,
  DNS_TYPE,
  encodeDnsQuery,
  MAX_POINTER_JUMPS,
  normalizeName,
  rcodeName,
  readName,
} from "../../lib/check/dns_codec.ts";
import { hostName } from "../../lib/check/http.ts";
import { HEAD_CAP_BYTES, HttpResponseReader, printable } from "../../lib/check/http_response.ts";
import { decodeEchoReply, encodeEchoRequest } from "../../lib/check/icmp_codec.ts";
import { passwdEntry } from "../../lib/sys/spawn.ts";
import { SmtpReplyReader } from "../../lib/check/smtp.ts";
import { hexToBytes, latin1 } from "../../lib/check/udp.ts";
import { formatEndpoint } from "../../lib/check/result.ts";
import { internetChecksum } from "../../lib/net/checksum.ts";
import { MinHeap } from "../../lib/check/heap.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

// ---------------------------------------------------------------------------------------
// DNS
// ---------------------------------------------------------------------------------------

Deno.test("dns: query bytes for example.com A (RD set, class IN)", () => {
  const q = encodeDnsQuery(0xbeef, "Example.com.", DNS_TYPE.A);
  assert.deepEqual(
    [...q],
    [
      0xbe,
      0xef,
      0x01,
      0x00,
      0,
      1,
      0,
      0,
      0,
      0,
      0,
      0,
      7,
      ...enc.encode("Example"),
      3,
      ...enc.encode("com"),
      0,
      0,
      1,
      0,
      1,
    ],
  );
  assert.equal(encodeDnsQuery(1, ".", DNS_TYPE.NS).length, 12 + 1 + 4);
  assert.throws(() => encodeDnsQuery(1, `${"a".repeat(64)}.com`, 1), /1\.\.63/);
  assert.throws(() => encodeDnsQuery(1, Array(60).fill("abcd").join("."), 1), /255/);
});

/** A reply to `query` with the given rcode and answer records (name as a pointer to the question). */
function reply(
  query: Uint8Array,
  rcode: number,
  answers: { type: number; rdata: number[] }[],
): Uint8Array {
  const out = [...query];
  out[2] = 0x81; // QR, RD
  out[3] = 0x80 | rcode; // RA
  out[7] = answers.length;
  for (const a of answers) {
    out.push(
      0xc0,
      12,
      a.type >> 8,
      a.type & 0xff,
      0,
      1,
      0,
      0,
      0,
      60,
      a.rdata.length >> 8,
      a.rdata.length & 0xff,
    );
    out.push(...a.rdata);
  }
  return Uint8Array.from(out);
}

Deno.test("dns: decodes answers of every supported type to text", () => {
  const q = encodeDnsQuery(7, "example.com", DNS_TYPE.A);
  const name = (s: string) => [...s.split(".").flatMap((l) => [l.length, ...enc.encode(l)]), 0];
  const m = decodeDnsMessage(reply(q, 0, [
    { type: DNS_TYPE.A, rdata: [192, 0, 2, 1] },
    { type: DNS_TYPE.AAAA, rdata: [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1] },
    { type: DNS_TYPE.CNAME, rdata: name("Web.Example.com") },
    { type: DNS_TYPE.MX, rdata: [0, 10, 0xc0, 12] },
    { type: DNS_TYPE.SRV, rdata: [0, 1, 0, 2, 0, 80, ...name("srv.example.com")] },
    { type: DNS_TYPE.TXT, rdata: [2, ...enc.encode("ok"), 3, ...enc.encode("!!!")] },
    {
      type: DNS_TYPE.SOA,
      rdata: [...name("ns1.example.com"), ...name("h.example.com"), ...Array(20).fill(0)],
    },
    { type: 99, rdata: [1, 2, 3] },
  ]));
  assert.ok(m.ok);
  assert.equal(m.id, 7);
  assert.equal(m.response, true);
  assert.equal(m.rcode, 0);
  assert.deepEqual(m.questions, [{ name: "example.com", type: 1, cls: 1 }]);
  assert.deepEqual(m.answers.map((a) => a.text), [
    "192.0.2.1",
    "2001:db8::1",
    "web.example.com",
    "example.com",
    "srv.example.com",
    "ok!!!",
    "ns1.example.com",
    "",
  ]);
  assert.equal(m.answers[0].ttl, 60);
});

Deno.test("dns: rcode names", () => {
  assert.equal(rcodeName(0), "NOERROR");
  assert.equal(rcodeName(3), "NXDOMAIN");
  assert.equal(rcodeName(5), "REFUSED");
  assert.equal(rcodeName(15), "RCODE 15");
});

Deno.test("dns: pointer loops, forward jumps and runaway names are errors, not hangs", () => {
  const self = Uint8Array.of(...Array(12).fill(0), 0xc0, 12);
  assert.match(JSON.stringify(readName(self, 12)), /pointer loop/);
  const pingPong = Uint8Array.of(...Array(12).fill(0), 0xc0, 14, 0xc0, 12);
  assert.match(JSON.stringify(readName(pingPong, 12)), /pointer loop/);
  // A long but finite chain is fine up to the limit.
  const chain: number[] = Array(12).fill(0);
  for (let i = 0; i < MAX_POINTER_JUMPS; i++) chain.push(0xc0, chain.length + 2);
  chain.push(1, 0x61, 0);
  assert.deepEqual(readName(Uint8Array.from(chain), 12), { name: "a", next: 14 });
  assert.match(JSON.stringify(readName(Uint8Array.of(0xc0), 0)), /cut pointer/);
  assert.match(JSON.stringify(readName(Uint8Array.of(0x40, 0), 0)), /reserved label type/);
  assert.match(JSON.stringify(readName(Uint8Array.of(5, 0x61), 0)), /past the end/);
  const long = Uint8Array.from([
    ...Array(5).fill(0).flatMap(() => [63, ...Array(63).fill(0x61)]),
    0,
  ]);
  assert.match(JSON.stringify(readName(long, 0)), /over 255 bytes/);
});

Deno.test("dns: garbage never throws (random and truncated messages)", () => {
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const good = reply(encodeDnsQuery(9, "a.example", DNS_TYPE.A), 0, [{
    type: 1,
    rdata: [1, 2, 3, 4],
  }]);
  for (let cut = 0; cut < good.length; cut++) {
    const m = decodeDnsMessage(good.subarray(0, cut));
    assert.equal(m.ok, false, `cut at ${cut}`);
  }
  for (let i = 0; i < 5000; i++) {
    const b = Uint8Array.from({ length: Math.floor(rand() * 80) }, () => Math.floor(rand() * 256));
    if (b.length >= 12 && rand() < 0.5) b[5] = 1; // often claim a question
    decodeDnsMessage(b); // must return, not throw
  }
  assert.deepEqual(decodeDnsMessage(new Uint8Array(3)), {
    ok: false,
    error: "3 bytes, shorter than the 12-byte header",
  });
});

Deno.test("dns: names normalize to lower case without the trailing dot", () => {
  assert.equal(normalizeName("WWW.Example.COM."), "www.example.com");
  assert.equal(normalizeName("."), "");
});

// ---------------------------------------------------------------------------------------
// HTTP responses
// ---------------------------------------------------------------------------------------

/** Feeds `text` in pieces of `step` bytes. */
function read(text: string | Uint8Array, needBody: boolean, step = 1e9, cap = 1 << 20) {
  const r = new HttpResponseReader({ needBody, bodyCapBytes: cap });
  const bytes = typeof text === "string" ? enc.encode(text) : text;
  for (let i = 0; i < bytes.length && !r.finished; i += step) r.push(bytes.subarray(i, i + step));
  if (!r.finished) r.end();
  return r;
}

Deno.test("http: status only stops after the head, having parsed the status line alone", () => {
  const r = new HttpResponseReader({ needBody: false, bodyCapBytes: 10 });
  r.push(enc.encode("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\n"));
  assert.equal(r.phase, "done");
  assert.equal(r.status, 503);
  assert.equal(r.headers.size, 0, "the headers frame a body it does not read");
});

Deno.test("http: status only still waits for the end of the head, in any split", () => {
  const text = "HTTP/1.0 204 No Content\nServer: x\n\n";
  for (const step of [1, 2, 5, 1000]) {
    const r = new HttpResponseReader({ needBody: false, bodyCapBytes: 10 });
    const bytes = enc.encode(text);
    for (let i = 0; i < bytes.length - 1; i += step) {
      r.push(bytes.subarray(i, Math.min(i + step, bytes.length - 1)));
    }
    assert.equal(r.phase, "head", `step ${step}: the head has not ended yet`);
    r.push(bytes.subarray(bytes.length - 1));
    assert.equal(r.phase, "done", `step ${step}`);
    assert.equal(r.status, 204);
  }
});

Deno.test("http: Content-Length body, in any split", () => {
  for (const step of [1, 2, 3, 7, 1000]) {
    const r = read(
      "HTTP/1.0 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhelloEXTRA",
      true,
      step,
    );
    assert.equal(r.phase, "done", `step ${step}`);
    assert.equal(dec.decode(r.body()), "hello");
    assert.equal(r.headers.get("x-a"), "1, 2");
  }
});

Deno.test("http: chunked body with extensions and trailers, in any split", () => {
  const text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "5;name=val\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
  for (const step of [1, 2, 5, 13, 1000]) {
    const r = read(text, true, step);
    assert.equal(r.phase, "done", `step ${step}: ${r.error}`);
    assert.equal(dec.decode(r.body()), "hello 0123456789");
  }
});

Deno.test("http: bare LF line endings are tolerated", () => {
  const r = read("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n", true, 3);
  assert.equal(r.phase, "done", r.error);
  assert.equal(dec.decode(r.body()), "ok");
});

Deno.test("http: body until close, 204/304 without body, interim 100 skipped", () => {
  const close = read("HTTP/1.1 200 OK\r\n\r\nuntil the end", true);
  assert.equal(close.phase, "done");
  assert.equal(dec.decode(close.body()), "until the end");
  for (const status of [204, 304]) {
    const r = new HttpResponseReader({ needBody: true, bodyCapBytes: 100 });
    r.push(enc.encode(`HTTP/1.1 ${status} X\r\n\r\n`));
    assert.equal(r.phase, "done");
    assert.equal(r.body().length, 0);
  }
  const interim = read(
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
    true,
    4,
  );
  assert.equal(interim.status, 201);
  assert.equal(dec.decode(interim.body()), "ok");
});

Deno.test("http: the body cap truncates (and ends reading)", () => {
  const r = read(`HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n${"x".repeat(100)}`, true, 7, 10);
  assert.equal(r.phase, "done");
  assert.equal(r.truncated, true);
  assert.equal(r.body().length, 10);
  const chunked = read(
    `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n${"y".repeat(100)}\r\n0\r\n\r\n`,
    true,
    9,
    10,
  );
  assert.equal(chunked.truncated, true);
  assert.equal(chunked.body().length, 10);
});

Deno.test("http: malformed and cut responses are errors with a reason", () => {
  const cases: [string, RegExp][] = [
    ["", /without a response/],
    ["HTTP/1.1 200 OK\r\nContent-", /in the response head/],
    ["SSH-2.0-OpenSSH_9.2\r\n\r\n", /not an HTTP\/1\.x response: "SSH-2\.0-OpenSSH_9\.2"/],
    ["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", /7 bytes before the end/],
    ["HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", /bad Content-Length/],
    ["HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", /bad Content-Length/],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", /bad chunk size "zz"/],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX", /not followed by CRLF/],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", /in the chunked body/],
    [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${"1".repeat(5000)}`, /too long/],
  ];
  for (const [text, want] of cases) {
    const r = read(text, true, 3);
    assert.equal(r.phase, "error", text);
    assert.match(r.error, want);
  }
  const huge = new HttpResponseReader({ needBody: false, bodyCapBytes: 0 });
  huge.push(enc.encode(`HTTP/1.1 200 OK\r\nX: ${"a".repeat(HEAD_CAP_BYTES)}`));
  assert.equal(huge.phase, "error");
  assert.match(huge.error, /head over/);
  assert.equal(read("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello", true).phase, "done");
});

Deno.test("http: SNI name comes from a Host header that is a name, never an address", () => {
  assert.equal(hostName("www.example.com"), "www.example.com");
  assert.equal(hostName("www.example.com:8443"), "www.example.com");
  assert.equal(hostName("192.0.2.1:80"), null);
  assert.equal(hostName("[2001:db8::1]:443"), null);
  assert.equal(hostName(null), null);
});

Deno.test("printable escapes control and non-ASCII characters", () => {
  assert.equal(printable("a\r\nb\u00e9"), "a\\x0d\\x0ab\\xe9");
});

// ---------------------------------------------------------------------------------------
// ICMP
// ---------------------------------------------------------------------------------------

Deno.test("icmp: v4 echo request has a valid checksum; v6 leaves it to the kernel", () => {
  const v4 = encodeEchoRequest(4, 0x1234, 0xabcd, enc.encode("data"));
  assert.deepEqual([...v4.subarray(0, 2)], [8, 0]);
  assert.deepEqual([...v4.subarray(4, 8)], [0x12, 0x34, 0xab, 0xcd]);
  assert.equal(internetChecksum(v4), 0);
  const v6 = encodeEchoRequest(6, 1, 2, new Uint8Array(0));
  assert.deepEqual([...v6], [128, 0, 0, 0, 0, 1, 0, 2]);
});

Deno.test("icmp: replies are matched after the IPv4 header; others are null", () => {
  const icmp = encodeEchoRequest(4, 0x4242, 7, enc.encode("x"));
  icmp[0] = 0; // echo reply
  icmp[2] = icmp[3] = 0;
  const sum = internetChecksum(icmp);
  icmp[2] = sum >> 8;
  icmp[3] = sum & 0xff;
  const ipHeader = Uint8Array.of(
    0x45,
    0,
    0,
    29,
    0,
    0,
    0,
    0,
    64,
    1,
    0,
    0,
    127,
    0,
    0,
    1,
    127,
    0,
    0,
    1,
  );
  const packet = Uint8Array.from([...ipHeader, ...icmp]);
  assert.deepEqual(decodeEchoReply(4, packet), { identifier: 0x4242, sequence: 7 });
  const corrupt = packet.slice();
  corrupt[packet.length - 1] ^= 0xff;
  assert.equal(decodeEchoReply(4, corrupt), null, "bad checksum");
  const request = packet.slice();
  request[20] = 8;
  assert.equal(decodeEchoReply(4, request), null, "a request is not a reply");
  assert.equal(decodeEchoReply(4, packet.subarray(0, 24)), null, "cut");
  assert.equal(decodeEchoReply(4, new Uint8Array(0)), null);
  assert.deepEqual(decodeEchoReply(6, Uint8Array.of(129, 0, 0, 0, 0x12, 0x34, 0, 1)), {
    identifier: 0x1234,
    sequence: 1,
  });
  assert.equal(decodeEchoReply(6, Uint8Array.of(128, 0, 0, 0, 0x12, 0x34, 0, 1)), null);
});

// ---------------------------------------------------------------------------------------
// SMTP, UDP, script helpers
// ---------------------------------------------------------------------------------------

Deno.test("smtp: multi-line replies end at the line with a space", () => {
  const r = new SmtpReplyReader();
  r.push(enc.encode("220-mail.example.com ESMTP\r\n220-more\r\n22"));
  assert.equal(r.next(), null);
  r.push(enc.encode("0 ready\r\n250 ok\r\n"));
  assert.deepEqual(r.next(), { code: 220, text: "ready" });
  assert.deepEqual(r.next(), { code: 250, text: "ok" });
  assert.equal(r.next(), null);
  const bad = new SmtpReplyReader();
  bad.push(enc.encode("HTTP/1.1 400 Bad\r\n"));
  assert.match(JSON.stringify(bad.next()), /not an SMTP reply/);
  const endless = new SmtpReplyReader();
  endless.push(enc.encode("220-x\r\n".repeat(20000)));
  assert.match(JSON.stringify(endless.next()), /too long/);
});

Deno.test("udp: hex payloads and latin1 replies", () => {
  assert.deepEqual(hexToBytes("70 69 6E 67"), Uint8Array.of(0x70, 0x69, 0x6e, 0x67));
  assert.deepEqual(hexToBytes(""), new Uint8Array(0));
  assert.equal(hexToBytes("abc"), null);
  assert.equal(latin1(Uint8Array.of(0x70, 0x80, 0xff)), "p\x80\xff");
  assert.equal(latin1(Uint8Array.of(0, 0x80, 0x9f)), String.fromCharCode(0, 0x80, 0x9f));
});

Deno.test("script: passwd lines by name or uid", () => {
  const passwd =
    "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nbad:line\n";
  assert.deepEqual(passwdEntry(passwd, "nobody"), { uid: 65534, gid: 65534 });
  assert.deepEqual(passwdEntry(passwd, "0"), { uid: 0, gid: 0 });
  assert.equal(passwdEntry(passwd, "bad"), null);
  assert.equal(passwdEntry(passwd, "ghost"), null);
});

Deno.test("endpoints print with brackets for IPv6", () => {
  assert.equal(formatEndpoint({ host: "192.0.2.1", port: 80 }), "192.0.2.1:80");
  assert.equal(formatEndpoint({ host: "2001:db8::1", port: 443 }), "[2001:db8::1]:443");
});

Deno.test("heap pops in key order", () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 1000;
  const h = new MinHeap<{ due: number }>((x) => x.due);
  const keys = Array.from({ length: 500 }, rand);
  for (const due of keys) h.push({ due });
  const out: number[] = [];
  for (let x = h.pop(); x !== undefined; x = h.pop()) out.push(x.due);
  assert.deepEqual(out, [...keys].sort((a, b) => a - b));
});

Deno.test("http: a status-only check reads the status line as a body check does", () => {
  const lines = [
    "HTTP/1.1 200 OK",
    "HTTP/1.0 503",
    "HTTP/1.1 404 Not Found here",
    "HTTP/1.1 200OK",
    "HTTP/1.2 200 OK",
    "HTTP/2 200",
    "HTTP/1.1 20 OK",
    "HTTP/1.1 2x0 OK",
    "http/1.1 200 OK",
    "ICY 200 OK",
  ];
  for (const line of lines) {
    const text = `${line}\r\nContent-Length: 0\r\n\r\n`;
    const statusOnly = read(text, false, 1000);
    const withBody = read(text, true, 1000);
    assert.equal(statusOnly.phase, withBody.phase, line);
    assert.equal(statusOnly.status, withBody.status, line);
    assert.equal(statusOnly.error, withBody.error, line);
  }
  const interim = read("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", false, 3);
  assert.equal(interim.status, 204, "a 100 Continue is skipped");
});

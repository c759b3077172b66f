/**
 * The plain status-only HTTP run that ends within its first calls or waits for its
 * reply on callbacks (lib/check/http.ts): it judges a reply as the response reader
 * does, hands what one read cannot settle to the reader, times out on the scheduler's
 * budget, and leaves no wait behind.
 */
import assert from "node:assert/strict";
import { bothConnectPaths, httpCheckSpec } from "../fakes/checks.ts";
import { withFullBacklog } from "../fakes/full_backlog.ts";
import { CheckBudget } from "../../lib/check/deadline.ts";
import { checkHttp } from "../../lib/check/http.ts";
import { HttpResponseReader, statusOfHead } from "../../lib/check/http_response.ts";
import { checkReactor } from "../../lib/check/reactor.ts";
import { checksIdle } from "../../lib/check/run.ts";
import { recvStream, sendStream } from "../../lib/sys/libc.ts";

const enc = new TextEncoder();
const never = new AbortController().signal;

const spec = httpCheckSpec;

/**
 * A server that answers each connection with `parts`, written `gapMs` apart (so that
 * they arrive as separate reads), then closes; null parts: never answers.
 */
async function withServer(
  parts: string[] | null,
  gapMs: number,
  fn: (port: number) => Promise<void>,
): Promise<void> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const serve = (async () => {
    for await (const c of l) {
      conns.push(c);
      if (parts === null) continue;
      (async () => {
        try {
          await c.read(new Uint8Array(4096));
          for (const p of parts) {
            await c.write(enc.encode(p));
            await new Promise((r) => setTimeout(r, gapMs));
          }
        } catch {
          // the check hung up first
        }
        try {
          c.close();
        } catch {
          // closed already
        }
      })();
    }
  })();
  try {
    await fn((l.addr as Deno.NetAddr).port);
  } finally {
    l.close();
    for (const c of conns) {
      try {
        c.close();
      } catch {
        // closed already
      }
    }
    await serve.catch(() => {});
  }
}

Deno.test("http: statusOfHead reads a complete final head as a status-only reader does", () => {
  const texts = [
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.0 503\r\n\r\nbody",
    "HTTP/1.1 404 Not Found here\n\n",
    "HTTP/1.1 200OK\r\n\r\n",
    "HTTP/1.2 200 OK\r\n\r\n",
    "HTTP/1.1 2x0 OK\r\n\r\n",
    "SSH-2.0-OpenSSH_9.2\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\n\r\n",
    "HTTP/1.1 200 OK\r\nServer: x\r\n",
    "HTTP/1.1 200 OK\r\n",
    "",
  ];
  for (const text of texts) {
    const bytes = enc.encode(text);
    const r = new HttpResponseReader({ needBody: false, bodyCapBytes: 1000 });
    r.push(bytes);
    const status = statusOfHead(bytes);
    if (status >= 0) {
      assert.equal(r.phase, "done", text);
      assert.equal(status, r.status, text);
    } else {
      // -1 whenever the reader is not done with a final status from these bytes alone
      // (an interim response, an error, a head not complete): the reader takes over.
      assert.ok(
        r.phase !== "done" || text.startsWith("HTTP/1.1 100"),
        `${JSON.stringify(text)}: ${r.phase}`,
      );
    }
  }
});

bothConnectPaths(
  "http: a reply split across reads, or after a 100 Continue, is read to its status",
  async () => {
    await withServer(["HTTP/1.1 2", "00 OK\r\nContent-Le", "ngth: 0\r\n\r\n"], 20, async (p) => {
      const r = await checkHttp(spec(p), 2000, never);
      assert.equal(r.ok, true, r.detail);
      assert.match(r.detail, /^HTTP 200 in /);
    });
    await withServer(
      ["HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 503 Busy\r\n\r\n"],
      20,
      async (p) => {
        const r = await checkHttp(spec(p), 2000, never);
        assert.equal(r.detail, "HTTP 503 (expected 200-299)");
      },
    );
    await withServer([], 0, async (p) => {
      const r = await checkHttp(spec(p), 2000, never);
      assert.equal(r.ok, false);
      assert.match(r.detail, /^GET \/: (connection closed without a response|ECONNRESET)$/);
    });
    await checksIdle();
    assert.equal(checkReactor.waiting, 0);
  },
);

bothConnectPaths(
  "http: a reply that never comes times out on the scheduler's budget, leaving no wait",
  async () => {
    await withServer(null, 0, async (p) => {
      const budget = new CheckBudget(150);
      const run = checkHttp(spec(p), 150, budget.signal);
      let settled = false;
      const idle = checksIdle().then(() => settled = true);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(settled, false, "the run's wait counts until it ends");
      // The scheduler expires a budget on its own deadline: no timer of the run's own.
      budget.expire();
      const r = await run;
      assert.equal(r.detail, "GET /: timed out after 150 ms");
      assert.equal(r.definitive, undefined);
      await idle;
    });
    await withServer(null, 0, async (p) => {
      const budget = new CheckBudget(1000);
      const run = checkHttp(spec(p), 1000, budget.signal);
      // Connected and the request sent (a sweep has looked, on either path), no reply.
      await new Promise((r) => setTimeout(r, 30));
      budget.cancel();
      assert.equal((await run).detail, "GET /: aborted");
    });
  },
);

bothConnectPaths(
  "http: a connect still under way at its sweep sends the request once done, then reads the reply",
  async () => {
    await withFullBacklog(async (l) => {
      const short = await checkHttp(spec(l.port), 150, never);
      assert.equal(short.detail, `connect 127.0.0.1:${l.port}: timed out after 150 ms`);
      const run = checkHttp(spec(l.port), 5000, never);
      await new Promise((r) => setTimeout(r, 50));
      // Room for one: the fillers' connections are accepted (and dropped) one by one until
      // the check's arrives with its request, which is answered.
      let answered = false;
      const served: number[] = [];
      const serve = (async () => {
        const buf = new Uint8Array(4096);
        for (let i = 0; i < 400 && !answered; i++) {
          const c = l.accept();
          if (c !== null) served.push(c);
          for (const fd of served) {
            const n = recvStream(fd, buf);
            if (
              n !== null && n > 0 &&
              new TextDecoder().decode(buf.subarray(0, n)).startsWith("GET /")
            ) {
              sendStream(fd, enc.encode("HTTP/1.1 204 No Content\r\n\r\n"));
              answered = true;
            }
          }
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      const r = await run;
      await serve;
      assert.equal(r.detail.startsWith("HTTP 204 in "), true, r.detail);
      assert.ok(r.durationMs > 50, `${r.durationMs} ms: the connect was under way at its sweep`);
    });
    await checksIdle();
  },
);

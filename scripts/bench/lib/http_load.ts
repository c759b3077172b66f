/**
 * The HTTP load of the reload-under-load benchmark: `CONNS` keep-alive connections to
 * `HOST:PORT`, each issuing one `GET /` every `INTERVAL_MS` (the next as soon as the
 * last answer is in when that takes longer) for `SECONDS`. A request with no whole answer
 * within `TIMEOUT_MS` is a timeout; a reset, a refusal or a close mid-answer an error;
 * after either, the connection is dropped and a new one opened (the director then picks
 * again). Written on raw TCP so the guest's one CPU goes to the director, not a client
 * library.
 *
 * ```sh
 * deno run --allow-net scripts/bench/lib/http_load.ts HOST PORT CONNS SECONDS INTERVAL_MS TIMEOUT_MS
 * ```
 *
 * Prints `started` when the first connections open, then at the end one JSON line: the
 * {@link ConnRecord}s of every connection it made.
 *
 * @module
 */

import type { ConnRecord } from "./lvs_ops.ts";

const REQUEST = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: bench\r\n\r\n");
const DECODER = new TextDecoder();

class Timeout extends Error {}

/** Reads one whole response from `conn` into `buf`; the body (the server's name). */
async function readResponse(conn: Deno.Conn, buf: Uint8Array): Promise<string> {
  let len = 0;
  for (;;) {
    const n = await conn.read(buf.subarray(len));
    if (n === null) throw new Error("closed mid-answer");
    len += n;
    const text = DECODER.decode(buf.subarray(0, len));
    const head = text.indexOf("\r\n\r\n");
    if (head < 0) continue;
    const m = /content-length:\s*(\d+)/i.exec(text.slice(0, head));
    if (m === null) throw new Error("no Content-Length");
    const body = text.slice(head + 4);
    if (body.length >= Number(m[1])) return body.slice(0, Number(m[1]));
  }
}

/** `p`, or a {@link Timeout} after `ms` (then `onTimeout` runs, e.g. closing the socket). */
function within<T>(p: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Timeout());
    }, ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function closeQuietly(conn: Deno.Conn | null): void {
  try {
    conn?.close();
  } catch {
    // closed already
  }
}

async function worker(
  host: string,
  port: number,
  endMs: number,
  intervalMs: number,
  timeoutMs: number,
  t0: number,
  out: ConnRecord[],
): Promise<void> {
  const buf = new Uint8Array(4096);
  while (performance.now() < endMs) {
    let conn: Deno.TcpConn | null = null;
    let server: string | null = null;
    let ok = 0, timeouts = 0, errors = 0;
    let firstFailMs: number | null = null;
    try {
      const c = Deno.connect({ hostname: host, port });
      conn = await within(c, timeoutMs, () => c.then(closeQuietly, () => {}));
      conn.setNoDelay(true);
      while (performance.now() < endMs) {
        const started = performance.now();
        const cur: Deno.Conn = conn;
        const body = await within(
          cur.write(REQUEST).then(() => readResponse(cur, buf)),
          timeoutMs,
          () => closeQuietly(cur),
        );
        server ??= body;
        ok++;
        const wait = started + intervalMs - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    } catch (e) {
      if (e instanceof Timeout) timeouts++;
      else errors++;
      firstFailMs = performance.now() - t0;
    }
    closeQuietly(conn);
    out.push({ server, ok, timeouts, errors, firstFailMs });
  }
}

if (import.meta.main) {
  const [host, port, conns, seconds, intervalMs, timeoutMs] = Deno.args;
  const t0 = performance.now();
  const endMs = t0 + Number(seconds) * 1000;
  const out: ConnRecord[] = [];
  const workers = Array.from(
    { length: Number(conns) },
    () => worker(host, Number(port), endMs, Number(intervalMs), Number(timeoutMs), t0, out),
  );
  console.log("started");
  await Promise.all(workers);
  console.log(JSON.stringify(out));
}

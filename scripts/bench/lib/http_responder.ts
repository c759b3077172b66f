/**
 * A keep-alive HTTP/1.1 responder for the reload-under-load benchmark: one listener per
 * address given, each answering every request on a connection with its own `ADDR:PORT`,
 * so the client knows which real server the director picked. Written on raw TCP (no
 * HTTP library) so that a request costs the guest's one CPU as little as possible.
 *
 * ```sh
 * deno run --allow-net scripts/bench/lib/http_responder.ts PORT ADDR...
 * ```
 *
 * Prints `listening` once every listener accepts.
 *
 * @module
 */

const END = new TextEncoder().encode("\r\n\r\n");

/** Index just past the first blank line in `buf[0, len)`, or -1. */
function headEnd(buf: Uint8Array, len: number): number {
  outer: for (let i = 0; i + END.length <= len; i++) {
    for (let j = 0; j < END.length; j++) if (buf[i + j] !== END[j]) continue outer;
    return i + END.length;
  }
  return -1;
}

async function serveConn(conn: Deno.Conn, answer: Uint8Array): Promise<void> {
  const buf = new Uint8Array(8192);
  let len = 0;
  try {
    for (;;) {
      const n = await conn.read(buf.subarray(len));
      if (n === null) return;
      len += n;
      // Requests carry no body (GET): each blank line ends one.
      for (let end = headEnd(buf, len); end >= 0; end = headEnd(buf, len)) {
        await conn.write(answer);
        buf.copyWithin(0, end, len);
        len -= end;
      }
      if (len === buf.length) return;
    }
  } catch {
    // reset by the client: nothing to answer
  } finally {
    try {
      conn.close();
    } catch {
      // closed already
    }
  }
}

async function serve(address: string, port: number): Promise<void> {
  const body = `${address}:${port}`;
  const answer = new TextEncoder().encode(
    `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`,
  );
  const listener = Deno.listen({ hostname: address, port });
  for await (const conn of listener) {
    conn.setNoDelay(true);
    serveConn(conn, answer);
  }
}

if (import.meta.main) {
  const [port, ...addresses] = Deno.args;
  const all = addresses.map((a) => serve(a, Number(port)));
  console.log("listening");
  await Promise.all(all);
}

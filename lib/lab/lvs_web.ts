/**
 * A web server of the LVS lab: one process per real server, serving three ports, so that
 * killing it is "the web server died" for everyone at once:
 *
 * - {@link SERVICE_PORT} (8080): the lab's name service, as `tcp_service.ts` serves it
 *   (one line, the server's name, then close). The client probe reads it, so every
 *   answer says which real server the director picked.
 * - {@link HEALTH_PORT} (80): HTTP; `GET /health` (or any path) answers 200 with the name.
 *   The directors' HTTP checks ask it.
 * - {@link ECHO_PORT} (9000): echo, for as long as the client keeps the connection open:
 *   a long-lived connection through a second virtual server, which a reload must leave
 *   alone.
 *
 * All three bind 0.0.0.0, so they answer on the VIP held on `lo` (direct routing: the
 * director only rewrites the MAC, the packet still says VIP:PORT).
 *
 * Run as a script inside a real server's namespace:
 *
 * ```sh
 * deno run --allow-net lib/lab/lvs_web.ts NAME
 * ```
 *
 * It prints `listening NAME` once all three accept, and exits 0 on SIGTERM.
 *
 * @example
 * ```ts
 * const web = await startLvsWeb(host, ns, "web1");
 * await web.stop("SIGKILL", 1000);
 * ```
 *
 * @module
 */

import type { NetnsHost } from "./host.ts";
import { LineProc } from "./proc.ts";
import { SERVICE_PORT } from "./tcp_service.ts";

export { SERVICE_PORT };

/**
 * Port of the web servers' HTTP health endpoint.
 *
 * @example
 * ```ts
 * await fetch(`http://192.0.2.21:${HEALTH_PORT}/health`);
 * ```
 */
export const HEALTH_PORT = 80;

/**
 * Port of the web servers' echo service (the second virtual server).
 *
 * @example
 * ```ts
 * await Deno.connect({ hostname: "192.0.2.100", port: ECHO_PORT });
 * ```
 */
export const ECHO_PORT = 9000;

const SCRIPT = new URL(import.meta.url).pathname;

/**
 * Starts the web server `name` in `ns` and resolves once all its ports accept.
 *
 * @example
 * ```ts
 * const web = await startLvsWeb(host, ns, "web2");
 * ```
 */
export async function startLvsWeb(
  host: NetnsHost,
  ns: string,
  name: string,
  timeoutMs = 20_000,
): Promise<LineProc> {
  const proc = new LineProc(
    `web ${name}`,
    host.spawn(ns, Deno.execPath(), "run", "--allow-net", SCRIPT, name),
  );
  await proc.waitLine((l) => l.text === `listening ${name}`, timeoutMs, "listening");
  return proc;
}

function quietClose(c: { close(): void }): void {
  try {
    c.close();
  } catch {
    // closed already, or reset by the peer
  }
}

async function serveName(listener: Deno.Listener, name: string): Promise<void> {
  const answer = new TextEncoder().encode(`${name}\n`);
  for await (const conn of listener) {
    conn.write(answer).catch(() => {}).finally(() => quietClose(conn));
  }
}

async function serveEcho(listener: Deno.Listener): Promise<void> {
  for await (const conn of listener) {
    conn.readable.pipeTo(conn.writable).catch(() => quietClose(conn));
  }
}

async function main(): Promise<void> {
  const [name] = Deno.args;
  if (!name || !/^[A-Za-z0-9_.-]{1,32}$/.test(name)) {
    console.error("usage: lvs_web.ts NAME");
    Deno.exit(2);
  }
  const hostname = "0.0.0.0";
  const nameListener = Deno.listen({ hostname, port: SERVICE_PORT });
  const echoListener = Deno.listen({ hostname, port: ECHO_PORT });
  const body = `${name}\n`;
  const http = Deno.serve(
    { hostname, port: HEALTH_PORT, onListen: () => {} },
    () => new Response(body, { headers: { "content-type": "text/plain" } }),
  );
  const stop = () => Deno.exit(0);
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  console.log(`listening ${name}`);
  await Promise.all([serveName(nameListener, name), serveEcho(echoListener), http.finished]);
}

if (import.meta.main) await main();

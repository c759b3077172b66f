/**
 * The service a VIP fronts in a lab: a TCP server that answers every connection with
 * its node's name and a newline, then closes. A client that reads the answer learns
 * which node holds the VIP, from the only vantage point that matters: its own.
 *
 * Run as a script inside a node's namespace (it binds 0.0.0.0, so it answers on the
 * VIP exactly while the kernel holds it there):
 *
 * ```sh
 * deno run --allow-net lib/lab/tcp_service.ts NAME PORT [HOST]
 * ```
 *
 * HOST is the address to bind, `0.0.0.0` by default; `::` serves IPv6 (and IPv4 too,
 * unless the namespace sets `bindv6only`).
 *
 * It prints `listening NAME PORT` on stdout once it accepts, and exits 0 on SIGTERM.
 *
 * @example
 * ```ts
 * const svc = await startTcpService(host, ns, "node1", 8080);
 * await svc.stop("SIGTERM", 1000);
 * ```
 *
 * @module
 */

import type { NetnsHost } from "./host.ts";
import { LineProc } from "./proc.ts";

/**
 * Port the lab's service listens on.
 *
 * @example
 * ```ts
 * await Deno.connect({ hostname: "192.0.2.100", port: SERVICE_PORT });
 * ```
 */
export const SERVICE_PORT = 8080;

const SCRIPT = new URL(import.meta.url).pathname;

/**
 * Starts the service in `ns` and resolves once it is listening.
 *
 * @example
 * ```ts
 * const svc = await startTcpService(host, ns, "node1");
 * ```
 */
export async function startTcpService(
  host: NetnsHost,
  ns: string,
  name: string,
  port: number = SERVICE_PORT,
  timeoutMs = 10_000,
  hostname = "0.0.0.0",
): Promise<LineProc> {
  const proc = new LineProc(
    `service ${name}`,
    host.spawn(ns, Deno.execPath(), "run", "--allow-net", SCRIPT, name, String(port), hostname),
  );
  await proc.waitLine((l) => l.text.startsWith("listening "), timeoutMs, "listening");
  return proc;
}

async function serve(name: string, port: number, hostname: string): Promise<void> {
  const listener = Deno.listen({ hostname, port });
  const stop = () => {
    try {
      listener.close();
    } catch {
      // closed already
    }
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  const answer = new TextEncoder().encode(`${name}\n`);
  console.log(`listening ${name} ${port}`);
  try {
    for await (const conn of listener) {
      // One write and close: the client reads to EOF, so it sees the whole name or an error.
      conn.write(answer).catch(() => {}).finally(() => {
        try {
          conn.close();
        } catch {
          // reset by the peer
        }
      });
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  }
}

if (import.meta.main) {
  const [name, port, hostname = "0.0.0.0"] = Deno.args;
  if (!name || !/^\d+$/.test(port ?? "")) {
    console.error("usage: tcp_service.ts NAME PORT [HOST]");
    Deno.exit(2);
  }
  await serve(name, Number(port), hostname);
  Deno.exit(0);
}

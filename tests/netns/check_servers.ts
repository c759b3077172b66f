/**
 * Tiny servers for the health checks of the namespace tests, one kind per process so a
 * test can kill exactly the service one check watches and start it again:
 *
 * - `tcp`: accepts and closes;
 * - `http`: answers every request `200 ok`; `https`: the same over TLS with CERT/KEY;
 * - `dns`: over UDP, answers any A question with one A record, {@link DNS_ANSWER};
 * - `smtp`: greets `220`, answers HELO/EHLO `250`, QUIT `221`;
 * - `udp`: echoes every datagram.
 *
 * ```sh
 * deno run -A tests/netns/check_servers.ts KIND HOST PORT [CERT KEY]
 * ```
 *
 * It prints `listening KIND PORT` once it accepts, and exits 0 on SIGTERM.
 *
 * @example
 * ```ts
 * const svc = await startCheckServer(lab, ns, "dns", 9053);
 * svc.child.kill("SIGKILL");
 * ```
 *
 * @module
 */

import dgram from "node:dgram";
import type { NetnsHost } from "../../lib/lab/host.ts";
import { LineProc } from "../../lib/lab/proc.ts";

/**
 * The kinds of server.
 *
 * @example
 * ```ts
 * const k: CheckServerKind = "smtp";
 * ```
 */
export type CheckServerKind = "tcp" | "http" | "https" | "dns" | "smtp" | "udp";

/**
 * The address every DNS answer carries.
 *
 * @example
 * ```ts
 * `expect = "${DNS_ANSWER}"`;
 * ```
 */
export const DNS_ANSWER = "192.0.2.53";

const SCRIPT = new URL(import.meta.url).pathname;

/**
 * Starts a server of `kind` on HOST:PORT inside `ns` and resolves once it listens.
 *
 * @example
 * ```ts
 * const p = await startCheckServer(lab, ns, "https", 9443, "127.0.0.1", { cert, key });
 * ```
 */
export async function startCheckServer(
  host: NetnsHost,
  ns: string,
  kind: CheckServerKind,
  port: number,
  hostname = "127.0.0.1",
  tls?: { readonly cert: string; readonly key: string },
): Promise<LineProc> {
  const args = [kind, hostname, String(port), ...(tls ? [tls.cert, tls.key] : [])];
  const proc = new LineProc(
    `${kind} server`,
    host.spawn(ns, Deno.execPath(), "run", "-A", SCRIPT, ...args),
  );
  await proc.waitLine((l) => l.text.startsWith("listening "), 10_000, `the ${kind} server`);
  return proc;
}

/**
 * A DNS reply to `query`: the question echoed and, for type A, one answer
 * ({@link DNS_ANSWER}); null for a query too short to read.
 *
 * @example
 * ```ts
 * dnsReply(new Uint8Array(3)); // null
 * ```
 */
export function dnsReply(query: Uint8Array): Uint8Array | null {
  if (query.length < 12) return null;
  // The question: labels up to the root, then QTYPE and QCLASS.
  let i = 12;
  while (i < query.length && query[i] !== 0) i += query[i] + 1;
  const end = i + 5;
  if (end > query.length) return null;
  const question = query.subarray(12, end);
  const qtype = (query[end - 4] << 8) | query[end - 3];
  const answer = qtype === 1
    ? [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...DNS_ANSWER.split(".").map(Number)]
    : [];
  const head = [
    query[0],
    query[1],
    0x81, // QR, RD
    0x80, // RA, NOERROR
    0,
    1,
    0,
    answer.length > 0 ? 1 : 0,
    0,
    0,
    0,
    0,
  ];
  return new Uint8Array([...head, ...question, ...answer]);
}

function serveUdp(hostname: string, port: number, reply: (m: Uint8Array) => Uint8Array | null) {
  const sock = dgram.createSocket(hostname.includes(":") ? "udp6" : "udp4");
  sock.on("message", (msg, from) => {
    const out = reply(new Uint8Array(msg));
    if (out !== null) sock.send(out, from.port, from.address);
  });
  sock.bind(port, hostname, () => console.log(`listening ${kind} ${port}`));
  return () => sock.close();
}

function serveSmtp(hostname: string, port: number): () => void {
  const listener = Deno.listen({ hostname, port });
  const enc = new TextEncoder();
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const say = (s: string) => conn.write(enc.encode(`${s}\r\n`));
        try {
          await say("220 fake.test ESMTP");
          const dec = new TextDecoder();
          const buf = new Uint8Array(512);
          let text = "";
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            text += dec.decode(buf.subarray(0, n));
            let nl;
            while ((nl = text.indexOf("\n")) >= 0) {
              const line = text.slice(0, nl).trim().toUpperCase();
              text = text.slice(nl + 1);
              if (line.startsWith("HELO") || line.startsWith("EHLO")) await say("250 fake.test");
              else if (line.startsWith("QUIT")) {
                await say("221 bye");
                conn.close();
                return;
              } else await say("502 not here");
            }
          }
          conn.close();
        } catch {
          // the check hung up
        }
      })();
    }
  })().catch(() => {});
  console.log(`listening smtp ${port}`);
  return () => listener.close();
}

function serveTcp(hostname: string, port: number): () => void {
  const listener = Deno.listen({ hostname, port });
  (async () => {
    for await (const conn of listener) conn.close();
  })().catch(() => {});
  console.log(`listening tcp ${port}`);
  return () => listener.close();
}

function serveHttp(
  hostname: string,
  port: number,
  tls: { cert: string; key: string } | null,
): () => void {
  const server = Deno.serve(
    {
      hostname,
      port,
      ...(tls ?? {}),
      onListen: () => console.log(`listening ${kind} ${port}`),
    },
    () => new Response("ok\n"),
  );
  return () => void server.shutdown();
}

const kind = Deno.args[0] as CheckServerKind;

if (import.meta.main) {
  const [, hostname, portText, certFile, keyFile] = Deno.args;
  const port = Number(portText);
  if (!hostname || !(port > 0)) {
    console.error("usage: check_servers.ts KIND HOST PORT [CERT KEY]");
    Deno.exit(2);
  }
  let stop: () => void;
  switch (kind) {
    case "tcp":
      stop = serveTcp(hostname, port);
      break;
    case "http":
      stop = serveHttp(hostname, port, null);
      break;
    case "https":
      stop = serveHttp(hostname, port, {
        cert: await Deno.readTextFile(certFile),
        key: await Deno.readTextFile(keyFile),
      });
      break;
    case "dns":
      stop = serveUdp(hostname, port, dnsReply);
      break;
    case "udp":
      stop = serveUdp(hostname, port, (m) => m);
      break;
    case "smtp":
      stop = serveSmtp(hostname, port);
      break;
    default:
      console.error(`unknown kind ${kind}`);
      Deno.exit(2);
  }
  await new Promise<void>((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(sig, resolve);
  });
  stop();
  Deno.exit(0);
}

/**
 * A long-lived client connection for the LVS lab tests: one TCP connection to
 * HOST:PORT (the lab's echo virtual server), kept open, a numbered ping sent every
 * INTERVAL ms and its echo awaited. Prints, one JSON line each:
 *
 * ```
 * {"connected":"192.0.2.50:41234"}
 * {"n":3,"ok":true,"ms":0.4}
 * {"n":4,"ok":false,"error":"..."}     (then exits 1: the connection is gone)
 * ```
 *
 * Run inside the client namespace: `deno run --allow-net tests/ipvs/lvs_echo_client.ts HOST PORT [INTERVAL_MS]`.
 *
 * @example
 * ```ts
 * const c = await startEchoClient(box, clientNs, "192.0.2.100", 9000);
 * c.results.every((r) => r.ok);
 * ```
 *
 * @module
 */

import type { NetnsHost } from "../../lib/lab/host.ts";
import { LineProc, wallMs } from "../../lib/lab/proc.ts";

/** One ping's fate. */
export interface EchoResult {
  readonly n: number;
  readonly ok: boolean;
  readonly error?: string;
  /** When it was read. */
  readonly atMs: number;
}

/** A running echo client. */
export interface EchoClient {
  readonly proc: LineProc;
  /** The client's side of the connection, `address:port`, as IPVS lists it. */
  readonly local: string;
  readonly results: EchoResult[];
  stop(): Promise<void>;
}

const SCRIPT = new URL(import.meta.url).pathname;

/**
 * Connects from `ns` and resolves once the connection is up.
 *
 * @example
 * ```ts
 * const c = await startEchoClient(box, ns, "192.0.2.100", 9000, 50);
 * ```
 */
export async function startEchoClient(
  host: NetnsHost,
  ns: string,
  target: string,
  port: number,
  intervalMs = 50,
): Promise<EchoClient> {
  const proc = new LineProc(
    "echo client",
    host.spawn(
      ns,
      Deno.execPath(),
      "run",
      "--allow-net",
      SCRIPT,
      target,
      String(port),
      String(intervalMs),
    ),
  );
  const results: EchoResult[] = [];
  proc.onLine((l) => {
    try {
      const v = JSON.parse(l.text) as { n?: number; ok?: boolean; error?: string };
      if (typeof v.n === "number" && typeof v.ok === "boolean") {
        results.push({ n: v.n, ok: v.ok, error: v.error, atMs: l.atMs });
      }
    } catch {
      // not ours
    }
  });
  const hello = await proc.waitLine((l) => l.text.startsWith('{"connected"'), 20_000, "connected");
  const local = (JSON.parse(hello.text) as { connected: string }).connected;
  return {
    proc,
    local,
    results,
    async stop() {
      try {
        proc.child.kill("SIGTERM");
      } catch {
        // exited already
      }
      await proc.exited(2000).catch(() => {});
    },
  };
}

async function main(): Promise<void> {
  const [host, portText, intervalText = "50"] = Deno.args;
  const conn = await Deno.connect({ hostname: host, port: Number(portText) });
  const local = conn.localAddr as Deno.NetAddr;
  console.log(JSON.stringify({ connected: `${local.hostname}:${local.port}` }));
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const buf = new Uint8Array(256);
  for (let n = 1;; n++) {
    const t = wallMs();
    try {
      await conn.write(enc.encode(`ping ${n}\n`));
      let got = "";
      while (!got.includes("\n")) {
        const k = await conn.read(buf);
        if (k === null) throw new Error("EOF");
        got += dec.decode(buf.subarray(0, k));
      }
      if (got.trim() !== `ping ${n}`) throw new Error(`echoed ${JSON.stringify(got)}`);
      console.log(JSON.stringify({ n, ok: true, ms: Math.round((wallMs() - t) * 100) / 100 }));
    } catch (e) {
      console.log(JSON.stringify({ n, ok: false, error: String(e) }));
      Deno.exit(1);
    }
    await new Promise((r) => setTimeout(r, Number(intervalText)));
  }
}

if (import.meta.main) await main();

/**
 * The targets of the checks benchmark: cheap loopback servers in a process of their own
 * (so their CPU is not the daemon's), counting what arrives. The counts, not the daemon's
 * word, prove how many checks per second a daemon ran.
 *
 * - TCP ports: accept, count, close. A TCP check opens a connection and drops it.
 * - HTTP ports: accept, count the connection, read up to the end of the request head,
 *   answer `200 OK` with a two-byte body and `Connection: close`, close; every request
 *   is counted too (a checker that reused connections would show fewer connections
 *   than requests).
 *
 * Run as a script inside the daemon's namespace:
 *
 * ```sh
 * deno run --allow-net scripts/bench/lib/check_servers.ts TCP_PORTS HTTP_PORTS [HOST]
 * # e.g. check_servers.ts 8001-8010 8080-8081
 * # or, for checks from another namespace, every address: check_servers.ts 80 - 0.0.0.0
 * ```
 *
 * A range of `-` is empty; HOST is 127.0.0.1 unless given.
 *
 * It prints `listening` once every port accepts, then a JSON {@link ServerCounts} line
 * every {@link REPORT_MS} ms, and exits 0 on SIGTERM or SIGINT.
 *
 * @example
 * ```ts
 * const s = await CheckServers.start(box, ns, [8001, 8010], [8080, 8081]);
 * const a = s.latest();
 * ```
 *
 * @module
 */

import type { NetnsHost } from "../../../lib/lab/host.ts";
import { LineProc, wallMs } from "../../../lib/lab/proc.ts";

/** How often the servers report their counts. */
export const REPORT_MS = 200;

/**
 * Cumulative counts at one instant of the servers' clock ({@link wallMs}).
 *
 * @example
 * ```ts
 * const c: ServerCounts = { atMs: 0, tcp: 1000, http: 200, httpRequests: 200, httpBad: 0 };
 * ```
 */
export interface ServerCounts {
  readonly atMs: number;
  /** Connections accepted on the TCP ports. */
  readonly tcp: number;
  /** Connections accepted on the HTTP ports. */
  readonly http: number;
  /** Complete request heads read and answered on the HTTP ports. */
  readonly httpRequests: number;
  /** HTTP connections closed before a complete request head. */
  readonly httpBad: number;
}

/**
 * Check rates over a window, per second of the servers' clock.
 *
 * @example
 * ```ts
 * const r: Rates = { seconds: 60, tcpPerS: 1000, httpPerS: 200, httpRequestsPerS: 200, httpBadPerS: 0 };
 * ```
 */
export interface Rates {
  readonly seconds: number;
  readonly tcpPerS: number;
  readonly httpPerS: number;
  readonly httpRequestsPerS: number;
  readonly httpBadPerS: number;
}

/**
 * Rates between two samples.
 *
 * @example
 * ```ts
 * rates(a, b).tcpPerS;
 * ```
 */
export function rates(a: ServerCounts, b: ServerCounts): Rates {
  const s = (b.atMs - a.atMs) / 1000;
  const per = (x: number) => (s > 0 ? x / s : 0);
  return {
    seconds: s,
    tcpPerS: per(b.tcp - a.tcp),
    httpPerS: per(b.http - a.http),
    httpRequestsPerS: per(b.httpRequests - a.httpRequests),
    httpBadPerS: per(b.httpBad - a.httpBad),
  };
}

const SCRIPT = new URL(import.meta.url).pathname;

/** `A-B` or `A` as an inclusive port range. */
function parseRange(s: string): [number, number] | null {
  if (s === "-") return null;
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new Error(`expected a port or a range like 8001-8010, got "${s}"`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo < 1 || hi > 65535 || lo > hi) throw new Error(`bad port range "${s}"`);
  return [lo, hi];
}

const ports = (r: readonly [number, number] | null) =>
  r === null ? [] : Array.from({ length: r[1] - r[0] + 1 }, (_, i) => r[0] + i);

/**
 * The servers running in a namespace, with their reports as they come.
 *
 * @example
 * ```ts
 * const s = await CheckServers.start(box, ns, [8001, 8010], [8080, 8080]);
 * await s.stop();
 * ```
 */
export class CheckServers {
  readonly proc: LineProc;
  /** Every report so far, in order. */
  readonly reports: ServerCounts[] = [];

  private constructor(proc: LineProc) {
    this.proc = proc;
    proc.onLine((l) => {
      if (!l.text.startsWith("{")) return;
      try {
        this.reports.push(JSON.parse(l.text) as ServerCounts);
      } catch {
        // a torn line at exit
      }
    });
  }

  /**
   * Starts the servers in `ns` on the TCP and HTTP port ranges (inclusive; null for
   * none) and resolves once they listen, on `hostname` (loopback unless given: checks
   * from another namespace want "0.0.0.0").
   *
   * @example
   * ```ts
   * const s = await CheckServers.start(box, ns, [8001, 8010], [8080, 8081]);
   * ```
   */
  static async start(
    host: NetnsHost,
    ns: string,
    tcp: readonly [number, number] | null,
    http: readonly [number, number] | null,
    hostname = "127.0.0.1",
  ): Promise<CheckServers> {
    const range = (r: readonly [number, number] | null) => r === null ? "-" : `${r[0]}-${r[1]}`;
    const proc = new LineProc(
      "check servers",
      host.spawn(
        ns,
        Deno.execPath(),
        "run",
        "--allow-net",
        SCRIPT,
        range(tcp),
        range(http),
        hostname,
      ),
    );
    await proc.waitLine((l) => l.text === "listening", 15_000, "listening");
    return new CheckServers(proc);
  }

  /** The servers' pid, to leave their CPU out of the daemon's (or to report it). */
  get pid(): number {
    return this.proc.pid;
  }

  /**
   * The last report at or before `atMs` (the latest when omitted); null before any.
   *
   * @example
   * ```ts
   * const c = s.at(wallMs());
   * ```
   */
  at(atMs = Infinity): ServerCounts | null {
    for (let i = this.reports.length - 1; i >= 0; i--) {
      if (this.reports[i].atMs <= atMs) return this.reports[i];
    }
    return null;
  }

  /**
   * Waits for a report stamped after `atMs` and returns it: the end of a window.
   *
   * @example
   * ```ts
   * const end = await s.after(wallMs());
   * ```
   */
  after(atMs: number): Promise<ServerCounts> {
    return this.proc.waitFor(
      () => this.reports.find((r) => r.atMs > atMs),
      10 * REPORT_MS + 5000,
      "a count report",
    );
  }

  /** Stops them (SIGTERM), waiting up to 5 s. */
  async stop(): Promise<void> {
    await this.proc.stop("SIGTERM", 5000).catch(() => {});
  }
}

const RESPONSE = new TextEncoder().encode(
  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nok",
);
const HEAD_END = [13, 10, 13, 10];

function hasHeadEnd(buf: Uint8Array, len: number): boolean {
  outer: for (let i = 0; i + 4 <= len; i++) {
    for (let j = 0; j < 4; j++) if (buf[i + j] !== HEAD_END[j]) continue outer;
    return true;
  }
  return false;
}

function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch {
    // reset by the peer, or closed already
  }
}

async function serve(tcpPorts: number[], httpPorts: number[], hostname: string): Promise<void> {
  const counts = { tcp: 0, http: 0, httpRequests: 0, httpBad: 0 };
  const listeners: Deno.Listener[] = [];
  const loops: Promise<void>[] = [];
  const acceptLoop = async (l: Deno.Listener, onConn: (c: Deno.Conn) => void) => {
    try {
      for await (const c of l) onConn(c);
    } catch (e) {
      if (!(e instanceof Deno.errors.BadResource)) throw e;
    }
  };
  const answer = async (c: Deno.Conn) => {
    const buf = new Uint8Array(4096);
    let len = 0;
    try {
      while (len < buf.length) {
        const n = await c.read(buf.subarray(len));
        if (n === null) break;
        len += n;
        if (hasHeadEnd(buf, len)) {
          counts.httpRequests += 1;
          await c.write(RESPONSE);
          return;
        }
      }
      counts.httpBad += 1;
    } catch {
      counts.httpBad += 1;
    } finally {
      closeQuietly(c);
    }
  };
  for (const port of tcpPorts) {
    const l = Deno.listen({ hostname, port });
    listeners.push(l);
    loops.push(acceptLoop(l, (c) => {
      counts.tcp += 1;
      closeQuietly(c);
    }));
  }
  for (const port of httpPorts) {
    const l = Deno.listen({ hostname, port });
    listeners.push(l);
    loops.push(acceptLoop(l, (c) => {
      counts.http += 1;
      answer(c);
    }));
  }
  const report = () => console.log(JSON.stringify({ atMs: wallMs(), ...counts }));
  const timer = setInterval(report, REPORT_MS);
  const stop = () => {
    clearInterval(timer);
    report();
    for (const l of listeners) closeQuietly(l);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  console.log("listening");
  report();
  await Promise.all(loops);
}

if (import.meta.main) {
  const [tcp, http, host] = Deno.args;
  try {
    if (tcp === undefined || http === undefined) throw new Error("missing port ranges");
    await serve(ports(parseRange(tcp)), ports(parseRange(http)), host ?? "127.0.0.1");
  } catch (e) {
    console.error(`check_servers: ${(e as Error).message}`);
    console.error(
      "usage: check_servers.ts TCP_PORTS HTTP_PORTS [HOST]   (e.g. 8001-8010 - 0.0.0.0)",
    );
    Deno.exit(2);
  }
  Deno.exit(0);
}

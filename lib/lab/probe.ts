/**
 * The client's view of a VIP: a probe that opens a TCP connection to HOST:PORT every
 * INTERVAL ms, each with its own TIMEOUT, and reports every attempt as one JSON line on
 * stdout, keyed by when the attempt started:
 *
 * ```
 * {"n":17,"t":1763769546123.41,"ok":true,"who":"node1","ms":0.62}
 * {"n":18,"t":1763769546133.40,"ok":false,"error":"timeout","ms":200}
 * ```
 *
 * Attempts are launched on a fixed cadence, not one after another, so a black hole
 * (SYNs to a MAC that no longer answers) costs one failed attempt per interval rather
 * than one per timeout: the failure count measures the outage, whatever the timeout.
 *
 * Run as a script inside the client namespace:
 *
 * ```sh
 * deno run --allow-net lib/lab/probe.ts HOST PORT [INTERVAL_MS [TIMEOUT_MS]]
 * ```
 *
 * @example
 * ```ts
 * const probe = await startProbe(host, lan.client.ns, "192.0.2.100");
 * const t0 = wallMs();
 * // ... fail a node over ...
 * const o = summarizeProbe(probe.results, t0, wallMs());
 * console.log(`${o.failed} failed connects`);
 * ```
 *
 * @module
 */

import type { NetnsHost } from "./host.ts";
import { LineProc, wallMs } from "./proc.ts";
import { SERVICE_PORT } from "./tcp_service.ts";

const SCRIPT = new URL(import.meta.url).pathname;

/**
 * One attempt as the probe reported it.
 *
 * @example
 * ```ts
 * const r: ProbeResult = { n: 1, t: wallMs(), ok: true, who: "node1", ms: 0.5 };
 * ```
 */
export interface ProbeResult {
  /** Sequence number, from 1. */
  readonly n: number;
  /** Wall-clock start of the attempt, ms since the epoch. */
  readonly t: number;
  readonly ok: boolean;
  /** The answering node's name, when ok. */
  readonly who?: string;
  /** The error (`timeout`, `ECONNREFUSED`, ...), when not ok. */
  readonly error?: string;
  /** How long the attempt took. */
  readonly ms: number;
}

/**
 * Settings of a probe; each has a default.
 *
 * @example
 * ```ts
 * const o: ProbeOptions = { intervalMs: 10, timeoutMs: 200 };
 * ```
 */
export interface ProbeOptions {
  /** 8080 by default. */
  readonly port?: number;
  /** Cadence of attempts; 10 ms by default. */
  readonly intervalMs?: number;
  /** Per attempt; 200 ms by default. */
  readonly timeoutMs?: number;
}

/**
 * A running probe: its process and the results parsed so far.
 *
 * @example
 * ```ts
 * const probe: Probe = await startProbe(host, ns, "192.0.2.100");
 * probe.results.length;
 * ```
 */
export interface Probe {
  readonly proc: LineProc;
  /** In order of completion (not of start). */
  readonly results: ProbeResult[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /**
   * The first result (already in, or still to come) for which `pred` holds; throws
   * after `timeoutMs`.
   */
  waitFor(pred: (r: ProbeResult) => boolean, timeoutMs: number, what: string): Promise<ProbeResult>;
  /** Stops the probe; resolves once its last results are in. */
  stop(): Promise<void>;
}

function isProbeResult(v: unknown): v is ProbeResult {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.n === "number" && typeof o.t === "number" && typeof o.ok === "boolean" &&
    typeof o.ms === "number";
}

/**
 * Starts a probe of `target`:PORT inside `ns` and resolves once it has begun.
 *
 * @example
 * ```ts
 * const probe = await startProbe(host, lan.client.ns, "192.0.2.100", { intervalMs: 10 });
 * ```
 */
export async function startProbe(
  host: NetnsHost,
  ns: string,
  target: string,
  opts: ProbeOptions = {},
): Promise<Probe> {
  const port = opts.port ?? SERVICE_PORT;
  const intervalMs = opts.intervalMs ?? 10;
  const timeoutMs = opts.timeoutMs ?? 200;
  const proc = new LineProc(
    "client probe",
    host.spawn(
      ns,
      Deno.execPath(),
      "run",
      "--allow-net",
      SCRIPT,
      target,
      String(port),
      String(intervalMs),
      String(timeoutMs),
    ),
  );
  const results: ProbeResult[] = [];
  const parse = (text: string): ProbeResult | null => {
    try {
      const v: unknown = JSON.parse(text);
      return isProbeResult(v) ? v : null;
    } catch {
      return null;
    }
  };
  proc.onLine((l) => {
    if (l.stream !== "stdout") return;
    const r = parse(l.text);
    if (r) results.push(r);
  });
  await proc.waitLine((l) => l.text.startsWith('{"started"'), 10_000, "the probe to start");
  return {
    proc,
    results,
    intervalMs,
    timeoutMs,
    async waitFor(pred, waitMs, what) {
      const l = await proc.waitLine(
        (line) => {
          const r = line.stream === "stdout" ? parse(line.text) : null;
          return r !== null && pred(r);
        },
        waitMs,
        what,
      );
      return parse(l.text)!;
    },
    async stop() {
      try {
        proc.child.kill("SIGTERM");
      } catch {
        // exited already
      }
      await proc.exited(timeoutMs + 2000).catch(() => {});
      await proc.drained();
    },
  };
}

/**
 * What the client saw over a window of time.
 *
 * @example
 * ```ts
 * const s: ProbeSummary = summarizeProbe(probe.results, t0, t1);
 * `${s.failed}/${s.attempts} failed, back after ${s.recoveredAfterMs} ms`;
 * ```
 */
export interface ProbeSummary {
  /** Attempts started in the window (and finished). */
  readonly attempts: number;
  readonly failed: number;
  /** Start of the first failed attempt, ms after the window's start; null if none failed. */
  readonly firstFailureAfterMs: number | null;
  /** Start of the last failed attempt, ms after the window's start. */
  readonly lastFailureAfterMs: number | null;
  /**
   * When the first successful attempt started after the last failure completed, ms
   * after the window's start; null when no attempt failed, or none succeeded since.
   * Completion, not start: an attempt may start before the VIP exists anywhere and
   * still succeed, its SYN held by the client's kernel until the new master's ARP.
   */
  readonly recoveredAfterMs: number | null;
  /** Who answered that first attempt after the last failure. */
  readonly recoveredBy: string | null;
  /** Each node that answered, with the completion of its first answer, in that order. */
  readonly answeredBy: readonly { readonly who: string; readonly afterMs: number }[];
  /** Error kinds and how often each happened. */
  readonly errors: Readonly<Record<string, number>>;
}

/**
 * Summarizes the attempts that started in [`fromMs`, `toMs`) (wall-clock ms).
 *
 * @example
 * ```ts
 * const s = summarizeProbe(probe.results, killedAt, wallMs());
 * ```
 */
export function summarizeProbe(
  results: readonly ProbeResult[],
  fromMs: number,
  toMs: number = Infinity,
): ProbeSummary {
  const inWindow = results.filter((r) => r.t >= fromMs && r.t < toMs).sort((a, b) => a.t - b.t);
  const failures = inWindow.filter((r) => !r.ok);
  const rel = (t: number) => Math.round((t - fromMs) * 10) / 10;
  const last = failures.at(-1);
  const recovered = last ? inWindow.find((r) => r.ok && r.t > last.t) : undefined;
  const answeredBy: { who: string; afterMs: number }[] = [];
  const errors: Record<string, number> = {};
  for (const r of inWindow) {
    if (r.ok && r.who !== undefined && !answeredBy.some((a) => a.who === r.who)) {
      answeredBy.push({ who: r.who, afterMs: rel(r.t + r.ms) });
    }
    if (!r.ok) errors[r.error ?? "?"] = (errors[r.error ?? "?"] ?? 0) + 1;
  }
  return {
    attempts: inWindow.length,
    failed: failures.length,
    firstFailureAfterMs: failures.length > 0 ? rel(failures[0].t) : null,
    lastFailureAfterMs: last ? rel(last.t) : null,
    recoveredAfterMs: recovered ? rel(recovered.t + recovered.ms) : null,
    recoveredBy: recovered?.who ?? null,
    answeredBy,
    errors,
  };
}

// ---------------------------------------------------------------------------------------
// The probe process itself

function errorKind(e: unknown): string {
  if (e instanceof DOMException && (e.name === "TimeoutError" || e.name === "AbortError")) {
    return "timeout";
  }
  if (e instanceof Deno.errors.ConnectionRefused) return "ECONNREFUSED";
  if (e instanceof Deno.errors.ConnectionReset) return "ECONNRESET";
  if (e instanceof Error) {
    const code = (e as Error & { code?: unknown }).code;
    return typeof code === "string" ? code : e.name;
  }
  return String(e);
}

async function attempt(host: string, port: number, timeoutMs: number): Promise<string> {
  const signal = AbortSignal.timeout(timeoutMs);
  const conn = await Deno.connect({ hostname: host, port, signal });
  // The connect's signal only covers the connect; the read gets its own fuse.
  const fuse = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // closed already
    }
  }, Math.max(1, timeoutMs));
  try {
    const buf = new Uint8Array(256);
    let text = "";
    const dec = new TextDecoder();
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n), { stream: true });
      if (text.includes("\n")) break;
    }
    if (!text.includes("\n")) {
      throw signal.aborted ? new DOMException("read timed out", "TimeoutError") : new Error("EOF");
    }
    return text.split("\n")[0];
  } finally {
    clearTimeout(fuse);
    try {
      conn.close();
    } catch {
      // closed by the fuse
    }
  }
}

async function main(): Promise<void> {
  const [host, portText, intervalText = "10", timeoutText = "200"] = Deno.args;
  const port = Number(portText);
  const intervalMs = Number(intervalText);
  const timeoutMs = Number(timeoutText);
  if (!host || !(port > 0) || !(intervalMs > 0) || !(timeoutMs > 0)) {
    console.error("usage: probe.ts HOST PORT [INTERVAL_MS [TIMEOUT_MS]]");
    Deno.exit(2);
  }
  const enc = new TextEncoder();
  const emit = (v: unknown) => {
    const bytes = enc.encode(`${JSON.stringify(v)}\n`);
    // A pipe may take less than a whole line at once; a torn line would be lost.
    for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
  };
  let n = 0;
  const inFlight = new Set<Promise<void>>();
  const launch = () => {
    n += 1;
    const seq = n;
    const t = wallMs();
    const p = attempt(host, port, timeoutMs).then(
      (who) => emit({ n: seq, t, ok: true, who, ms: round(wallMs() - t) }),
      (e) => emit({ n: seq, t, ok: false, error: errorKind(e), ms: round(wallMs() - t) }),
    ).finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  emit({ started: wallMs() });
  const timer = setInterval(launch, intervalMs);
  launch();
  await new Promise<void>((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(sig, resolve);
  });
  clearInterval(timer);
  // Report what is in flight, so a stop right after an event loses none of its results.
  await Promise.allSettled([...inFlight]);
  Deno.exit(0);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

if (import.meta.main) await main();

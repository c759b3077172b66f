/**
 * The client's view during a benchmark: lib/lab/probe.ts connecting to VIP:8080 every
 * 1-2 ms, each attempt's JSON line kept with the time it reached this process.
 *
 * The probe stamps attempts with its own clock (its `performance.timeOrigin` plus its
 * `performance.now()`). Every line is written the moment its attempt completes, so
 * `arrival - completion` is the pipe delay plus the offset between the two clocks;
 * its minimum over a window (hundreds of lines) is the offset to within the fastest
 * pipe delay (tens of microseconds). {@link Client.offset} returns it, and attempts are
 * moved onto the benchmark clock with it.
 *
 * @example
 * ```ts
 * const client = await Client.start(box, ns, "192.0.2.100", { intervalMs: 1, timeoutMs: 50 });
 * const win = client.window(t0, t1);
 * ```
 *
 * @module
 */

import type { Sandbox } from "../../../lib/lab/host.ts";
import { type Probe, type ProbeResult, startProbe } from "../../../lib/lab/probe.ts";
import type { LineProc } from "../../../lib/lab/proc.ts";

/**
 * One attempt on the benchmark clock.
 *
 * @example
 * ```ts
 * const a: Attempt = { startMs: 1, endMs: 1.4, ok: true, who: "node1", error: null };
 * ```
 */
export interface Attempt {
  readonly startMs: number;
  readonly endMs: number;
  readonly ok: boolean;
  readonly who: string | null;
  readonly error: string | null;
}

interface Raw {
  readonly r: ProbeResult;
  /** {@link wallMs} of arrival. */
  readonly atMs: number;
}

/**
 * What the client saw in a window, on the benchmark clock.
 *
 * @example
 * ```ts
 * const o: Outage = client.outage(attempts);
 * ```
 */
export interface Outage {
  readonly attempts: number;
  readonly failed: number;
  /**
   * Start of the first successful attempt after the last failure minus start of the
   * first failure: how long newly started connects kept failing. 0 without failures.
   */
  readonly outageMs: number;
  /** Start of the first failed attempt, or null. */
  readonly firstFailMs: number | null;
  readonly errors: Readonly<Record<string, number>>;
}

function isResult(v: unknown): v is ProbeResult {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.n === "number" && typeof o.t === "number" && typeof o.ok === "boolean" &&
    typeof o.ms === "number";
}

/**
 * A running probe with arrival-stamped results.
 *
 * @example
 * ```ts
 * const client = await Client.start(box, ns, vip, { intervalMs: 1, timeoutMs: 50 });
 * ```
 */
export class Client {
  readonly probe: Probe;
  #raw: Raw[] = [];

  private constructor(probe: Probe) {
    this.probe = probe;
    probe.proc.onLine((l) => {
      if (l.stream !== "stdout" || !l.text.startsWith('{"n"')) return;
      try {
        const v: unknown = JSON.parse(l.text);
        if (isResult(v)) this.#raw.push({ r: v, atMs: l.atMs });
      } catch {
        // not a result line
      }
    });
  }

  /**
   * Starts the probe in `ns`.
   *
   * @example
   * ```ts
   * const c = await Client.start(box, ns, "192.0.2.100", { intervalMs: 1, timeoutMs: 50 });
   * ```
   */
  static async start(
    box: Sandbox,
    ns: string,
    target: string,
    opts: { intervalMs: number; timeoutMs: number },
  ): Promise<Client> {
    return new Client(await startProbe(box, ns, target, opts));
  }

  /**
   * The probe clock's offset to the benchmark clock (`bench = probe + offset`) from the
   * lines that arrived in [fromMs, toMs) (benchmark clock), or from every line kept
   * when fewer than 20 arrived then; null before any line.
   *
   * @example
   * ```ts
   * const off = client.offset(t0 - 1000, wallMs());
   * ```
   */
  offset(fromMs: number, toMs: number): number | null {
    const delta = (x: Raw) => x.atMs - (x.r.t + x.r.ms);
    let lines = this.#raw.filter((x) => x.atMs >= fromMs && x.atMs < toMs);
    if (lines.length < 20) lines = this.#raw;
    if (lines.length === 0) return null;
    return Math.min(...lines.map(delta));
  }

  /**
   * Attempts started in [fromMs, toMs) (benchmark clock; offset measured over the same
   * window widened by a second), in order of start.
   *
   * @example
   * ```ts
   * const a = client.window(tKill, wallMs());
   * ```
   */
  window(fromMs: number, toMs: number): { attempts: Attempt[]; offsetMs: number } {
    const off = this.offset(fromMs - 1000, toMs + 1000) ?? 0;
    const attempts = this.#raw
      .map((x): Attempt => ({
        startMs: x.r.t + off,
        endMs: x.r.t + x.r.ms + off,
        ok: x.r.ok,
        who: x.r.who ?? null,
        error: x.r.error ?? null,
      }))
      .filter((a) => a.startMs >= fromMs && a.startMs < toMs)
      .sort((a, b) => a.startMs - b.startMs);
    return { attempts, offsetMs: off };
  }

  /**
   * Resolves with the first attempt (already in, or to come) that `pred` accepts;
   * `pred` sees attempts on the probe's clock shifted by the latest offset.
   *
   * @example
   * ```ts
   * await client.waitFor((a) => a.ok && a.who === "node2", 2000, "node2 answering");
   * ```
   */
  waitFor(pred: (a: Attempt) => boolean, timeoutMs: number, what: string): Promise<Attempt> {
    const proc: LineProc = this.probe.proc;
    let checked = 0;
    let off = this.offset(-Infinity, Infinity) ?? 0;
    const check = () => {
      // Refresh the offset now and then; cheap enough, and it drifts only slowly.
      if (checked % 200 === 0) off = this.offset(-Infinity, Infinity) ?? 0;
      for (; checked < this.#raw.length; checked++) {
        const x = this.#raw[checked].r;
        const a: Attempt = {
          startMs: x.t + off,
          endMs: x.t + x.ms + off,
          ok: x.ok,
          who: x.who ?? null,
          error: x.error ?? null,
        };
        if (pred(a)) return a;
      }
      return null;
    };
    return proc.waitFor(check, timeoutMs, what);
  }

  /**
   * Forgets what arrived before `beforeMs` (benchmark clock): the probe writes a line
   * every 1-2 ms, and a long run would otherwise keep every one of them (here, in the
   * probe's line list and in its result list).
   *
   * @example
   * ```ts
   * client.prune(wallMs() - 10_000);
   * ```
   */
  prune(beforeMs: number): void {
    const keep = this.#raw.findIndex((x) => x.atMs >= beforeMs);
    this.#raw.splice(0, keep < 0 ? this.#raw.length : keep);
    const lines = this.probe.proc.lines;
    const keepLine = lines.findIndex((l) => l.atMs >= beforeMs);
    lines.splice(0, keepLine < 0 ? lines.length : keepLine);
    this.probe.results.length = 0;
  }

  /**
   * Median gap between consecutive attempt starts in the window: the probe's real
   * cadence, which bounds how finely it resolves an outage.
   *
   * @example
   * ```ts
   * client.cadence(client.window(t0, t1).attempts); // ~2.1
   * ```
   */
  static cadence(attempts: readonly Attempt[]): number | null {
    if (attempts.length < 2) return null;
    const gaps = attempts.slice(1).map((a, i) => a.startMs - attempts[i].startMs).sort((a, b) =>
      a - b
    );
    return gaps[gaps.length >> 1];
  }

  /**
   * Failures among `attempts` and how long newly started connects kept failing.
   *
   * @example
   * ```ts
   * const o = Client.outage(client.window(tTerm, wallMs()).attempts);
   * ```
   */
  static outage(attempts: readonly Attempt[]): Outage {
    const failures = attempts.filter((a) => !a.ok);
    const errors: Record<string, number> = {};
    for (const f of failures) errors[f.error ?? "?"] = (errors[f.error ?? "?"] ?? 0) + 1;
    if (failures.length === 0) {
      return { attempts: attempts.length, failed: 0, outageMs: 0, firstFailMs: null, errors };
    }
    const first = failures[0].startMs;
    const last = failures[failures.length - 1].startMs;
    const next = attempts.find((a) => a.ok && a.startMs > last);
    // No success after the last failure within the window: count to its end.
    const end = next ? next.startMs : attempts[attempts.length - 1].startMs;
    return {
      attempts: attempts.length,
      failed: failures.length,
      outageMs: end - first,
      firstFailMs: first,
      errors,
    };
  }

  /**
   * Stops the probe.
   *
   * @example
   * ```ts
   * await client.stop();
   * ```
   */
  async stop(): Promise<void> {
    await this.probe.stop();
  }
}

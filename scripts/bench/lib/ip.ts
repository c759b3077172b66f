/**
 * Two long-running `ip` processes the benchmark drives: `ip -ts monitor address`, whose
 * lines timestamp every address change as the kernel reports it, and `ip -batch -`,
 * which executes one command per line written to its stdin, so a cable pull costs a
 * pipe write (tens of microseconds) instead of a process spawn (milliseconds).
 *
 * Timestamps: `ip -ts` stamps each event with the wall clock (CLOCK_REALTIME, µs) when
 * it reads it from netlink; {@link calibrate} finds the offset between that clock and
 * the benchmark's clock ({@link wallMs}), so events are placed on one timeline.
 *
 * @example
 * ```ts
 * const mon = await AddrMonitor.start(box, ns);
 * const batch = IpBatch.start(box, bridgeNs);
 * batch.send("link set p1 down");
 * const ev = await mon.waitFor((e) => e.kind === "add" && e.address === "192.0.2.100", 0, 5000);
 * ```
 *
 * @module
 */

import { runChecked, type Sandbox } from "../../../lib/lab/host.ts";
import { LineProc, WaitTimeout, wallMs } from "../../../lib/lab/proc.ts";

/**
 * One address change as `ip -ts monitor address` printed it.
 *
 * @example
 * ```ts
 * const e: AddrEvent = { kind: "add", dev: "eth0", address: "192.0.2.100", realMs: 0, atMs: wallMs() };
 * ```
 */
export interface AddrEvent {
  readonly kind: "add" | "del";
  readonly dev: string;
  /** Without prefix length. */
  readonly address: string;
  /** ip's own stamp: wall-clock ms (CLOCK_REALTIME) when it read the netlink message. */
  readonly realMs: number;
  /** {@link wallMs} when the line reached this process. */
  readonly atMs: number;
}

const EVENT =
  /^\[(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d+)\] (Deleted )?\d+: (\S+)\s+inet (\d+\.\d+\.\d+\.\d+)\//;

/**
 * Parses one line of `ip -ts monitor address`; null for continuation and IPv6 lines.
 * ip prints local time without a zone; it is read back as local time here, and any
 * constant error (a zone mismatch included) is absorbed by {@link calibrate}.
 *
 * @example
 * ```ts
 * parseAddrLine("[2026-01-02T03:04:05.123456] 3: eth0    inet 192.0.2.100/24 scope global eth0", 0)?.kind; // "add"
 * ```
 */
export function parseAddrLine(text: string, atMs: number): AddrEvent | null {
  const m = EVENT.exec(text);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  const frac = Number(`0.${m[7]}`) * 1000;
  const realMs = new Date(y, mo - 1, d, h, mi, s).getTime() + frac;
  return { kind: m[8] ? "del" : "add", dev: m[9], address: m[10], realMs, atMs };
}

/**
 * `ip -ts monitor address` in one namespace, its events parsed as they arrive.
 *
 * @example
 * ```ts
 * const mon = await AddrMonitor.start(box, ns);
 * mon.events.length;
 * ```
 */
export class AddrMonitor {
  /** Every event so far, in arrival order. */
  readonly events: AddrEvent[] = [];
  readonly ns: string;
  readonly proc: LineProc;

  private constructor(ns: string, proc: LineProc) {
    this.ns = ns;
    this.proc = proc;
    proc.onLine((l) => {
      const e = parseAddrLine(l.text, l.atMs);
      if (e) this.events.push(e);
    });
  }

  /**
   * Starts the monitor in `ns` and resolves once it provably receives events (a
   * scratch address added to and removed from `lo` was seen).
   *
   * @example
   * ```ts
   * const mon = await AddrMonitor.start(box, ns);
   * ```
   */
  static async start(box: Sandbox, ns: string): Promise<AddrMonitor> {
    const mon = new AddrMonitor(
      ns,
      new LineProc(`ip monitor ${ns}`, box.spawn(ns, "ip", "-ts", "monitor", "address")),
    );
    const probe = "198.51.100.254";
    const from = mon.events.length;
    // The subscription is made some time after the spawn; repeat until one is seen.
    const deadline = wallMs() + 10_000;
    for (;;) {
      await runChecked("ip", ["-n", ns, "addr", "add", `${probe}/32`, "dev", "lo"]);
      await runChecked("ip", ["-n", ns, "addr", "del", `${probe}/32`, "dev", "lo"]);
      try {
        await mon.waitFor((e) => e.address === probe, from, 200);
        return mon;
      } catch (e) {
        if (!(e instanceof WaitTimeout) || wallMs() > deadline) throw e;
      }
    }
  }

  /**
   * The first event at index `fromIndex` or later for which `pred` holds (already in,
   * or still to come); throws {@link WaitTimeout} after `timeoutMs`.
   *
   * @example
   * ```ts
   * const e = await mon.waitFor((e) => e.kind === "del", mon.events.length, 1000);
   * ```
   */
  waitFor(
    pred: (e: AddrEvent) => boolean,
    fromIndex: number,
    timeoutMs: number,
    what = "an address event",
  ): Promise<AddrEvent> {
    const find = () => this.events.slice(fromIndex).find(pred) ?? null;
    return this.proc.waitFor(find, timeoutMs, what);
  }

  /**
   * Stops the monitor.
   *
   * @example
   * ```ts
   * await mon.stop();
   * ```
   */
  async stop(): Promise<void> {
    await this.proc.stop("SIGKILL", 2000).catch(() => {});
  }
}

/**
 * `ip -n NS -force -batch -`: commands written to its stdin run as they arrive.
 * Failures are collected from its stderr (`-force` keeps it going after one).
 *
 * @example
 * ```ts
 * const b = IpBatch.start(box, bridgeNs);
 * b.send("link set p1 down");
 * ```
 */
export class IpBatch {
  readonly ns: string;
  readonly proc: LineProc;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #enc = new TextEncoder();

  private constructor(ns: string, child: Deno.ChildProcess) {
    this.ns = ns;
    this.proc = new LineProc(`ip batch ${ns}`, child);
    this.#writer = child.stdin.getWriter();
  }

  /**
   * Starts the batch process; the sandbox's cleanup kills it.
   *
   * @example
   * ```ts
   * const b = IpBatch.start(box, ns);
   * ```
   */
  static start(box: Sandbox, ns: string): IpBatch {
    // Sandbox.spawn gives no stdin, and this process lives on its stdin.
    const child = new Deno.Command("ip", {
      args: ["-n", ns, "-force", "-batch", "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const b = new IpBatch(ns, child);
    box.defer(() => b.stop());
    return b;
  }

  /**
   * Queues one command (without `ip` and without a newline). The write happens in the
   * background; a failure shows up in {@link IpBatch.errors}.
   *
   * @example
   * ```ts
   * b.send("addr add 198.51.100.1/32 dev lo");
   * ```
   */
  send(command: string): void {
    this.#writer.write(this.#enc.encode(`${command}\n`)).catch(() => {});
  }

  /**
   * What ip reported on stderr so far (each failed command prints a line).
   *
   * @example
   * ```ts
   * if (b.errors().length) console.error(b.errors().join("\n"));
   * ```
   */
  errors(): string[] {
    return this.proc.lines.filter((l) => l.stream === "stderr").map((l) => l.text);
  }

  /**
   * Closes its stdin (it exits at end of input), or kills it after a second.
   *
   * @example
   * ```ts
   * await b.stop();
   * ```
   */
  async stop(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.proc.exited(1000).catch(() => this.proc.stop("SIGKILL", 1000).catch(() => {}));
  }
}

/**
 * The offset from CLOCK_REALTIME to the benchmark clock: `bench = real + offsetMs`,
 * known to within ±`errorMs`.
 *
 * @example
 * ```ts
 * const c: ClockOffset = { offsetMs: 0.02, errorMs: 0.11, samples: 20 };
 * ```
 */
export interface ClockOffset {
  readonly offsetMs: number;
  readonly errorMs: number;
  readonly samples: number;
}

/**
 * Measures {@link ClockOffset} with round trips through the kernel: the benchmark
 * stamps a command just before writing it to `batch`, ip's monitor stamps the
 * resulting event on the wall clock, and the benchmark stamps the event's arrival.
 * The event happened after the write and before the arrival, so each trip bounds the
 * offset from both sides (as NTP does); the tightest bounds over `n` trips are kept.
 * `batch` and `mon` must be in the same namespace; a scratch address on `lo` is used.
 *
 * @example
 * ```ts
 * const c = await calibrate(batch, mon, 20);
 * const benchMs = event.realMs + c.offsetMs;
 * ```
 */
export async function calibrate(batch: IpBatch, mon: AddrMonitor, n = 20): Promise<ClockOffset> {
  let lo = -Infinity;
  let hi = Infinity;
  const scratch = "198.51.100.253";
  for (let i = 0; i < n; i++) {
    const kind = i % 2 === 0 ? "add" : "del";
    const from = mon.events.length;
    const sent = wallMs();
    batch.send(`addr ${kind} ${scratch}/32 dev lo`);
    const e = await mon.waitFor(
      (x) => x.address === scratch && x.kind === kind,
      from,
      2000,
      "the calibration address",
    );
    lo = Math.max(lo, sent - e.realMs);
    hi = Math.min(hi, e.atMs - e.realMs);
    // Spaced out so each trip starts from an idle monitor.
    await new Promise((r) => setTimeout(r, 5));
  }
  if (n % 2 === 1) batch.send(`addr del ${scratch}/32 dev lo`);
  return { offsetMs: (lo + hi) / 2, errorMs: Math.max(0, (hi - lo) / 2), samples: n };
}

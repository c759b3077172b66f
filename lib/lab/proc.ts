/**
 * A spawned process whose output is read line by line as it comes: every line is kept
 * with the wall-clock time it arrived, listeners see lines as they arrive, and a caller
 * can wait for a line with a deadline instead of sleeping.
 *
 * Both pipes are always drained: a child that logs into a full, unread pipe blocks on
 * its next write, and a blocked VRRP daemon stops advertising, which is a failover
 * the test did not ask for.
 *
 * @example
 * ```ts
 * const p = new LineProc("svc", host.spawn(ns, "sh", "-c", "echo ready; sleep 60"));
 * await p.waitLine((l) => l.text === "ready", 5000);
 * await p.stop("SIGTERM", 1000);
 * ```
 *
 * @module
 */

/**
 * Milliseconds since the epoch with sub-millisecond precision, comparable between the
 * processes of one host (which all read the same system clock).
 *
 * @example
 * ```ts
 * const t0 = wallMs();
 * ```
 */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Resolves after `ms`.
 *
 * @example
 * ```ts
 * await sleep(10);
 * ```
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/**
 * One line of output.
 *
 * @example
 * ```ts
 * const l: Line = { stream: "stderr", text: "VI_1: BACKUP -> MASTER", atMs: wallMs() };
 * ```
 */
export interface Line {
  readonly stream: "stdout" | "stderr";
  readonly text: string;
  /** {@link wallMs} when it was read. */
  readonly atMs: number;
}

/**
 * Thrown by waits that pass their deadline; says what was awaited and shows the tail
 * of the process's output, which is usually the reason.
 *
 * @example
 * ```ts
 * try { await p.waitLine(() => false, 10); } catch (e) { if (e instanceof WaitTimeout) console.error(e.message); }
 * ```
 */
export class WaitTimeout extends Error {
  /**
   * @example
   * ```ts
   * new WaitTimeout("VIP on node2 within 500 ms");
   * ```
   */
  constructor(what: string) {
    super(`timed out waiting for ${what}`);
    this.name = "WaitTimeout";
  }
}

/**
 * Polls `check` every `everyMs` until it returns a non-null value, and returns it;
 * throws {@link WaitTimeout} naming `what` after `timeoutMs`.
 *
 * @example
 * ```ts
 * const holder = await pollUntil(() => findHolder(), 2000, "a VIP holder");
 * ```
 */
export async function pollUntil<T>(
  check: () => Promise<T | null> | T | null,
  timeoutMs: number,
  what: string,
  everyMs = 2,
): Promise<T> {
  const deadline = wallMs() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== null) return v;
    if (wallMs() >= deadline) throw new WaitTimeout(`${what} within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

type Listener = (line: Line) => void;

/**
 * A child process with its output read into {@link Line}s.
 *
 * @example
 * ```ts
 * const p = new LineProc("hacore node1", child);
 * p.onLine((l) => console.log(l.text));
 * ```
 */
export class LineProc {
  /** Label used in errors. */
  readonly label: string;
  readonly child: Deno.ChildProcess;
  /** Every line so far, both streams, in arrival order. */
  readonly lines: Line[] = [];
  readonly #listeners = new Set<Listener>();
  readonly #drained: Promise<void>;
  #status: Deno.CommandStatus | null = null;
  /** {@link wallMs} when the process was seen to exit. */
  exitedAtMs: number | null = null;

  /**
   * Starts reading `child`'s stdout and stderr.
   *
   * @example
   * ```ts
   * const p = new LineProc("svc", host.spawn(ns, "cat"));
   * ```
   */
  constructor(label: string, child: Deno.ChildProcess) {
    this.label = label;
    this.child = child;
    this.#drained = Promise.all([
      this.#read(child.stdout, "stdout"),
      this.#read(child.stderr, "stderr"),
    ]).then(() => {});
    child.status.then((s) => {
      this.#status = s;
      this.exitedAtMs = wallMs();
    }, () => {});
  }

  /**
   * The child's pid (the command's own: `ip netns exec` execs in place).
   *
   * @example
   * ```ts
   * console.log(`hacore runs as pid ${p.pid}`);
   * ```
   */
  get pid(): number {
    return this.child.pid;
  }

  /**
   * The exit status once it has exited, else null.
   *
   * @example
   * ```ts
   * if (p.status?.success) console.log("clean exit");
   * ```
   */
  get status(): Deno.CommandStatus | null {
    return this.#status;
  }

  /**
   * Calls `fn` for every line from now on; returns an unsubscribe function.
   *
   * @example
   * ```ts
   * const off = p.onLine((l) => seen.push(l.text));
   * off();
   * ```
   */
  onLine(fn: Listener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * The first line (already read or still to come) for which `pred` holds; throws
   * {@link WaitTimeout} after `timeoutMs`, or when the process exits first.
   *
   * @example
   * ```ts
   * await p.waitLine((l) => l.text.includes("listening"), 5000);
   * ```
   */
  waitLine(pred: (line: Line) => boolean, timeoutMs: number, what = "a line"): Promise<Line> {
    const seen = this.lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise<Line>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        off();
      };
      const off = this.onLine((l) => {
        if (pred(l)) {
          done();
          resolve(l);
        }
      });
      const timer = setTimeout(() => {
        done();
        reject(new WaitTimeout(`${what} from ${this.label} within ${timeoutMs} ms${this.tail()}`));
      }, timeoutMs);
      this.#drained.then(() => {
        // Lines are delivered before the streams end, so nothing matched: it never will.
        if (!this.lines.some(pred)) {
          done();
          reject(new Error(`${this.label} exited before ${what}${this.tail()}`));
        }
      });
    });
  }

  /**
   * Re-evaluates `check` now and after every line until it returns a value, and
   * resolves with it; throws {@link WaitTimeout} after `timeoutMs`, or an error when
   * the process's output ends first. For facts derived from the output (parsed state),
   * where {@link LineProc.waitLine} would see only one line at a time.
   *
   * @example
   * ```ts
   * const t = await p.waitFor(() => transitions.find((x) => x.to === "MASTER"), 2000, "MASTER");
   * ```
   */
  waitFor<T>(check: () => T | null | undefined, timeoutMs: number, what: string): Promise<T> {
    const now = check();
    if (now !== null && now !== undefined) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        off();
      };
      const off = this.onLine(() => {
        const v = check();
        if (v !== null && v !== undefined) {
          done();
          resolve(v);
        }
      });
      const timer = setTimeout(() => {
        done();
        reject(new WaitTimeout(`${what} (${this.label}) within ${timeoutMs} ms${this.tail()}`));
      }, timeoutMs);
      this.#drained.then(() => {
        const v = check();
        done();
        if (v !== null && v !== undefined) resolve(v);
        else reject(new Error(`${this.label} exited before ${what}${this.tail()}`));
      });
    });
  }

  /**
   * Sends `signal`; resolves with the exit status once it exits, or throws after
   * `timeoutMs` (the process is then left for the host's cleanup to SIGKILL).
   *
   * @example
   * ```ts
   * const s = await p.stop("SIGTERM", 2000);
   * s.code; // 0
   * ```
   */
  async stop(signal: Deno.Signal, timeoutMs: number): Promise<Deno.CommandStatus> {
    try {
      this.child.kill(signal);
    } catch {
      // already exited: the status below says how
    }
    return await this.exited(timeoutMs);
  }

  /**
   * Waits for the process to exit; throws {@link WaitTimeout} after `timeoutMs`.
   *
   * @example
   * ```ts
   * const s = await p.exited(1000);
   * ```
   */
  async exited(timeoutMs: number): Promise<Deno.CommandStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        this.child.status,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new WaitTimeout(`${this.label} to exit within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Resolves once both output streams have ended (after the process exited).
   *
   * @example
   * ```ts
   * await p.drained();
   * ```
   */
  drained(): Promise<void> {
    return this.#drained;
  }

  /**
   * The last `n` lines, prefixed for an error message (empty when there are none).
   *
   * @example
   * ```ts
   * throw new Error(`it broke${p.tail()}`);
   * ```
   */
  tail(n = 15): string {
    if (this.lines.length === 0) return "";
    const last = this.lines.slice(-n).map((l) => `  | ${l.text}`);
    return `\n  last output of ${this.label}:\n${last.join("\n")}`;
  }

  async #read(stream: ReadableStream<Uint8Array>, name: Line["stream"]): Promise<void> {
    const decoder = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of stream) {
        buf += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          this.#emit({ stream: name, text: buf.slice(0, nl), atMs: wallMs() });
          buf = buf.slice(nl + 1);
        }
      }
    } catch {
      // The stream broke because the process was killed; what was read stays.
    }
    if (buf.length > 0) this.#emit({ stream: name, text: buf, atMs: wallMs() });
  }

  #emit(line: Line) {
    this.lines.push(line);
    for (const fn of [...this.#listeners]) fn(line);
  }
}

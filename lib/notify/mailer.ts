/**
 * Sends mail alerts without ever holding up the daemon: `send` only queues; one
 * delivery runs at a time on its own TCP connection (`Deno.connect`, async), each step
 * bounded by `smtp_connect_timeout`. A failed delivery is retried with a doubling
 * backoff (2 s, 4 s, ... at most 5 min) a few times, then given up and counted. The
 * queue is bounded: when full, the oldest pending alert is dropped and counted, since
 * the newest says most about the present.
 *
 * Outcomes go to `onOutcome` (the daemon counts them: status and metrics) and the log.
 *
 * @module
 */

import { type Envelope, parseReplies, SmtpDialogue, type SmtpReply } from "./smtp_dialogue.ts";
import { defaultReactor } from "../sys/reactor.ts";

/**
 * A byte stream to the server: what `Deno.connect` returns, reduced to what SMTP needs,
 * so tests can stand in for it.
 *
 * @example
 * ```ts
 * const conn: SmtpConn = await Deno.connect({ hostname: "192.0.2.25", port: 25 });
 * ```
 */
export interface SmtpConn {
  read(buf: Uint8Array): Promise<number | null>;
  write(data: Uint8Array): Promise<number>;
  close(): void;
}

/** What happened to one alert. */
export type MailOutcome = "sent" | "retry" | "failed" | "dropped";

/**
 * Options of {@link Mailer}.
 *
 * @example
 * ```ts
 * const opts: MailerOptions = {
 *   host: "192.0.2.25", port: 25, from: "lb1@example.com", to: ["ops@example.com"],
 *   heloName: "lb1", timeoutMs: 30_000, onOutcome: (o, d) => log.info(`${o}: ${d}`),
 * };
 * ```
 */
export interface MailerOptions {
  readonly host: string;
  readonly port: number;
  readonly from: string;
  readonly to: readonly string[];
  readonly heloName: string;
  /** Bounds the connect and every reply. */
  readonly timeoutMs: number;
  /** Told of every outcome with a one-line description; must not throw. */
  readonly onOutcome: (outcome: MailOutcome, detail: string) => void;
  /** Pending alerts kept; 50 by default. */
  readonly queueLimit?: number;
  /** Deliveries tried per alert; 4 by default. */
  readonly maxAttempts?: number;
  /** First retry delay, doubled each time up to 5 minutes; 2000 ms by default. */
  readonly backoffMs?: number;
  /** `Deno.connect` by default. */
  readonly connect?: (host: string, port: number) => Promise<SmtpConn>;
}

/**
 * Counts since start, for status and tests.
 *
 * @example
 * ```ts
 * const s: MailerStats = { sent: 1, failed: 0, dropped: 0, retries: 0, queued: 0, lastError: null };
 * ```
 */
export interface MailerStats {
  readonly sent: number;
  readonly failed: number;
  readonly dropped: number;
  readonly retries: number;
  readonly queued: number;
  readonly lastError: string | null;
}

interface Pending {
  readonly subject: string;
  readonly message: string;
  attempts: number;
}

const MAX_BACKOFF_MS = 300_000;

/**
 * The queue and its one worker. See the module doc.
 *
 * @example
 * ```ts
 * const mailer = new Mailer(opts);
 * mailer.send("[lb1] VRRP Instance VI_1 - Entering MASTER state", messageText);
 * await mailer.close(5000);
 * ```
 */
export class Mailer {
  readonly #o: MailerOptions;
  readonly #queue: Pending[] = [];
  readonly #limit: number;
  readonly #maxAttempts: number;
  readonly #backoffMs: number;
  readonly #connect: (host: string, port: number) => Promise<SmtpConn>;
  readonly #sleeps = new AbortController();
  #worker: Promise<void> | null = null;
  #closing = false;
  #sent = 0;
  #failed = 0;
  #dropped = 0;
  #retries = 0;
  #lastError: string | null = null;

  constructor(opts: MailerOptions) {
    this.#o = opts;
    this.#limit = opts.queueLimit ?? 50;
    this.#maxAttempts = opts.maxAttempts ?? 4;
    this.#backoffMs = opts.backoffMs ?? 2000;
    this.#connect = opts.connect ??
      ((hostname, port) => Deno.connect({ hostname, port, transport: "tcp" }));
  }

  /** Queues one message (headers and body); returns at once, never throws. */
  send(subject: string, message: string): void {
    if (this.#closing) return;
    this.#queue.push({ subject, message, attempts: 0 });
    while (this.#queue.length > this.#limit) {
      const old = this.#queue.shift()!;
      this.#dropped++;
      this.#report("dropped", `queue full (${this.#limit}): dropped "${old.subject}"`);
    }
    if (this.#worker === null) {
      // Deno.connect, its reads and the retry sleeps run on Deno's event loop: the
      // reactor's waits stay async (never blocking) until the queue is empty.
      const release = defaultReactor().hold();
      this.#worker = this.#drain().finally(() => {
        this.#worker = null;
        release();
      });
    }
  }

  /** See {@link MailerStats}. */
  get stats(): MailerStats {
    return {
      sent: this.#sent,
      failed: this.#failed,
      dropped: this.#dropped,
      retries: this.#retries,
      queued: this.#queue.length,
      lastError: this.#lastError,
    };
  }

  /** Resolves once the queue is empty (sent or given up). */
  async idle(): Promise<void> {
    while (this.#worker !== null) await this.#worker;
  }

  /**
   * Stops taking alerts; gives what is queued (the STOP alerts, typically) up to
   * `graceMs` to go out without retries, then drops the rest.
   */
  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    this.#sleeps.abort();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    await Promise.race([this.idle(), grace]);
    clearTimeout(timer);
    for (const p of this.#queue.splice(0)) {
      this.#dropped++;
      this.#report("dropped", `shutting down: dropped "${p.subject}"`);
    }
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const p = this.#queue[0];
      p.attempts++;
      const error = await this.#deliver(p.message).catch((e) => describe(e));
      if (this.#queue[0] !== p) continue; // dropped meanwhile by a full queue or close
      if (error === null) {
        this.#queue.shift();
        this.#sent++;
        this.#report("sent", `"${p.subject}" to ${this.#o.to.join(", ")}`);
        continue;
      }
      this.#lastError = error;
      if (p.attempts >= this.#maxAttempts || this.#closing) {
        this.#queue.shift();
        this.#failed++;
        this.#report("failed", `"${p.subject}" not sent after ${p.attempts} attempt(s): ${error}`);
        continue;
      }
      const delay = Math.min(this.#backoffMs * 2 ** (p.attempts - 1), MAX_BACKOFF_MS);
      this.#retries++;
      this.#report("retry", `"${p.subject}": ${error}; retrying in ${delay} ms`);
      await this.#sleep(delay);
    }
  }

  /** One delivery; null when the server accepted the mail, else why not. */
  async #deliver(message: string): Promise<string | null> {
    const { host, port } = this.#o;
    const where = `${host.includes(":") ? `[${host}]` : host}:${port}`;
    const connecting = this.#connect(host, port);
    const conn = await this.#withTimeout(connecting, `connect to ${where}`).catch((e) => {
      // A connection that completes after the timeout is closed, not leaked.
      connecting.then((c) => c.close(), () => {});
      throw e;
    });
    try {
      const envelope: Envelope = { from: this.#o.from, to: this.#o.to, message };
      const dialogue = new SmtpDialogue(this.#o.heloName, envelope);
      const decoder = new TextDecoder();
      const encoder = new TextEncoder();
      const buf = new Uint8Array(8192);
      let pending = "";
      const replies: SmtpReply[] = [];
      for (;;) {
        while (replies.length === 0) {
          const n = await this.#withTimeout(conn.read(buf), `a reply from ${where}`);
          if (n === null) {
            return dialogue.delivered
              ? null
              : `${where} closed the connection${pending ? `: ${pending.trim()}` : ""}`;
          }
          const parsed = parseReplies(pending + decoder.decode(buf.subarray(0, n)));
          pending = parsed.rest;
          replies.push(...parsed.replies);
        }
        const step = dialogue.onReply(replies.shift()!);
        if (step.kind === "fail") return `${where}: ${step.error}`;
        if (step.kind === "done") return null;
        if (step.kind === "send") {
          const bytes = encoder.encode(step.data);
          let off = 0;
          while (off < bytes.length) {
            off += await this.#withTimeout(conn.write(bytes.subarray(off)), `writing to ${where}`);
          }
        }
      }
    } finally {
      try {
        conn.close();
      } catch {
        // already closed by the server
      }
    }
  }

  #withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ms = this.#o.timeoutMs;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)),
        ms,
      );
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#sleeps.signal.aborted) return resolve();
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.#sleeps.signal.addEventListener("abort", done, { once: true });
    });
  }

  #report(outcome: MailOutcome, detail: string): void {
    try {
      this.#o.onOutcome(outcome, detail);
    } catch {
      // The caller's problem; a mail alert must never take the daemon down.
    }
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

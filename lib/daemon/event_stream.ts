/**
 * `global.notify_fifo`: every notify event as one JSON line, in order, for a
 * monitoring agent that would rather read a stream than be forked on each change
 * (keepalived's `notify_fifo`, with a machine-readable line).
 *
 * The one rule is that a consumer can never stall the daemon, which has adverts to
 * send every few hundred milliseconds:
 * - a FIFO is opened `O_NONBLOCK` for writing, so with no reader the open fails at once
 *   (ENXIO) instead of waiting for one; the event is dropped and counted, and the open
 *   is retried on the next event;
 * - writes are non-blocking too: a reader that stops reading fills the pipe, the write
 *   fails with EAGAIN, the event is dropped and counted; a reader that went away gives
 *   EPIPE, the FIFO is closed and reopened on the next event;
 * - every line is at most `PIPE_BUF` (4096) bytes, the size the kernel writes to a
 *   pipe atomically, so a line is never split or interleaved with another writer's;
 *   an over-long `detail` is cut to fit.
 *
 * A path that does not exist becomes a FIFO (mode 0600) at start. A regular file is
 * appended to, reopened for each event so that log rotation is followed.
 *
 * @example
 * ```ts
 * const stream = new EventStream({ path: "/run/hacore/events", logger });
 * stream.write(event); // never blocks, never throws
 * stream.stats; // { written: 1, dropped: 0 }
 * stream.close();
 * ```
 *
 * @module
 */

import type { Logger } from "../log.ts";
import {
  closeFd,
  makeFifo,
  openWriteNonBlocking,
  SyscallError,
  writeNonBlocking,
} from "../sys/libc.ts";
import type { NotifyEvent } from "./ports.ts";

/**
 * Linux `PIPE_BUF`: writes to a pipe of at most this many bytes are atomic, so a line
 * this long or shorter is never split or interleaved.
 *
 * @example
 * ```ts
 * new TextEncoder().encode(formatEventLine(event)).length <= PIPE_BUF; // true
 * ```
 */
export const PIPE_BUF = 4096;

/**
 * The JSON object written per event, one per line, keys in this order.
 *
 * @example
 * ```ts
 * const line: EventLine = {
 *   time: "2026-11-21T22:59:03.414Z", type: "INSTANCE", name: "VI_1", state: "MASTER",
 *   previous: "BACKUP", priority: 150, reason: "master-down-timer",
 *   detail: "no advert for 3.6 s", masterIp: null,
 * };
 * ```
 */
export interface EventLine {
  readonly time: string;
  readonly type: "INSTANCE" | "GROUP";
  readonly name: string;
  readonly state: NotifyEvent["state"];
  readonly previous: NotifyEvent["previous"];
  readonly priority: number;
  readonly reason: NotifyEvent["reason"];
  readonly detail: string;
  readonly masterIp: string | null;
}

const encoder = new TextEncoder();
const TRUNCATED = "…";

/**
 * Formats one event as its JSON line, newline included, at most {@link PIPE_BUF}
 * bytes: `detail` (then, in the absurd case, `name`) is shortened to fit, ending in `…`.
 *
 * @example
 * ```ts
 * formatEventLine(event);
 * // '{"time":"2026-11-21T22:59:03.414Z","type":"INSTANCE","name":"VI_1","state":"MASTER",...}\n'
 * ```
 */
export function formatEventLine(event: NotifyEvent): string {
  const line: EventLine = {
    time: event.at.toISOString(),
    type: event.target,
    name: event.name,
    state: event.state,
    previous: event.previous,
    priority: event.priority,
    reason: event.reason,
    detail: event.detail,
    masterIp: event.masterIp,
  };
  let text = JSON.stringify(line) + "\n";
  if (encoder.encode(text).length <= PIPE_BUF) return text;
  const detail = shortenToFit(line, "detail");
  text = JSON.stringify({ ...line, detail }) + "\n";
  if (encoder.encode(text).length <= PIPE_BUF) return text;
  const name = shortenToFit({ ...line, detail: "" }, "name");
  return JSON.stringify({ ...line, detail: "", name }) + "\n";
}

/**
 * How events are written: one JSON object per line (hacore's own), or keepalived's
 * text lines, for readers written for keepalived's `notify_fifo`.
 *
 * @example
 * ```ts
 * const f: FifoFormat = "keepalived";
 * ```
 */
export type FifoFormat = "json" | "keepalived";

/**
 * One event as keepalived writes it to its notify FIFO: `INSTANCE "VI_1" MASTER 100`
 * (the name quoted, then the state and the priority), `GROUP "G1" BACKUP` (a sync
 * group has no priority). At most {@link PIPE_BUF} bytes: config names are short.
 *
 * @example
 * ```ts
 * formatKeepalivedLine(event); // 'INSTANCE "VI_1" MASTER 100\n'
 * ```
 */
export function formatKeepalivedLine(event: NotifyEvent): string {
  const priority = event.target === "INSTANCE" ? ` ${event.priority}` : "";
  return `${event.target} "${event.name}" ${event.state}${priority}\n`;
}

/**
 * What an LVS event line is made of (the runtime's `LvsNotice`, structurally).
 *
 * @example
 * ```ts
 * const e: LvsEventInput = { kind: "real_server", virtualServer: "web", realServer: "web/192.0.2.11:80", up: false, fifoLine: "RS ..." };
 * ```
 */
export interface LvsEventInput {
  readonly kind: "real_server" | "quorum";
  readonly virtualServer: string;
  readonly realServer: string | null;
  readonly up: boolean;
  /** keepalived's own line for it (`RS <rs> <vs> UP`, `VS <vs> DOWN`). */
  readonly fifoLine: string;
}

/**
 * One LVS event as one JSON line, beside the instance lines: `type` is keepalived's
 * `RS` (a real server up or down) or `VS` (a virtual server's quorum), `name` the real
 * server's id or the virtual server's name, `state` `UP` or `DOWN`, and `line`
 * keepalived's own FIFO text, its fields in its order, for readers written for it.
 *
 * @example
 * ```ts
 * formatLvsEventLine(notice, new Date());
 * // '{"time":"...","type":"RS","name":"web/192.0.2.11:80","virtualServer":"web","state":"DOWN","line":"RS [192.0.2.11]:tcp:80 [192.0.2.100]:tcp:80 DOWN"}\n'
 * ```
 */
export function formatLvsEventLine(e: LvsEventInput, at: Date): string {
  const line = {
    time: at.toISOString(),
    type: e.kind === "real_server" ? "RS" : "VS",
    name: e.realServer ?? e.virtualServer,
    virtualServer: e.virtualServer,
    state: e.up ? "UP" : "DOWN",
    line: e.fifoLine,
  };
  const text = JSON.stringify(line) + "\n";
  if (encoder.encode(text).length <= PIPE_BUF) return text;
  // Names are config keys and addresses: only a pathological config gets here.
  return JSON.stringify({ ...line, line: "" }) + "\n";
}

/** The longest prefix of `line[key]` (plus the ellipsis) whose line fits PIPE_BUF. */
function shortenToFit(line: EventLine, key: "detail" | "name"): string {
  const full = Array.from(line[key]); // code points: never cut a surrogate pair
  const fits = (n: number) =>
    encoder.encode(
      JSON.stringify({ ...line, [key]: full.slice(0, n).join("") + TRUNCATED }) + "\n",
    ).length <= PIPE_BUF;
  let lo = 0;
  let hi = full.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return full.slice(0, lo).join("") + TRUNCATED;
}

/**
 * Options of {@link EventStream}.
 *
 * @example
 * ```ts
 * const opts: EventStreamOptions = { path: "/run/hacore/events", logger: new Logger() };
 * ```
 */
export interface EventStreamOptions {
  /** `global.notify_fifo`: a FIFO, a regular file, or a path to create a FIFO at. */
  readonly path: string;
  readonly logger: Logger;
  /** `global.notify_fifo_format`; JSON lines by default. */
  readonly format?: FifoFormat;
}

/**
 * Counters of an {@link EventStream}, for status and metrics.
 *
 * @example
 * ```ts
 * const s: EventStreamStats = { written: 10, dropped: 2 };
 * ```
 */
export interface EventStreamStats {
  readonly written: number;
  readonly dropped: number;
}

/**
 * Writes notify events to `notify_fifo`; see the module doc for the non-blocking
 * rules. `write` is synchronous, never blocks and never throws.
 *
 * @example
 * ```ts
 * const stream = new EventStream({ path: "/run/hacore/events", logger });
 * stream.write(event);
 * ```
 */
export class EventStream {
  readonly #path: string;
  readonly #logger: Logger;
  readonly #format: FifoFormat;
  /** Open FIFO, kept between events so the reader does not see EOF after each line. */
  #fifoFd: number | null = null;
  #written = 0;
  #dropped = 0;
  /** Drops since the last line that got through, to log one line per outage. */
  #droppedInOutage = 0;
  #closed = false;
  /** A failing mkfifo is logged once, not on every event that retries it. */
  #createFailed = false;

  /**
   * Creates the stream and, when the path does not exist, the FIFO (mode 0600). No
   * reader is needed yet: the FIFO is opened on the first event.
   *
   * @example
   * ```ts
   * const stream = new EventStream({ path: "/run/hacore/events", logger });
   * ```
   */
  constructor(opts: EventStreamOptions) {
    this.#path = opts.path;
    this.#logger = opts.logger;
    this.#format = opts.format ?? "json";
    try {
      Deno.lstatSync(this.#path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) this.#createFifo();
      else this.#logger.error(`notify_fifo ${this.#path}: ${describe(e)}`);
    }
  }

  /**
   * Lines written and events dropped (no reader, pipe full, write error) so far.
   *
   * @example
   * ```ts
   * if (stream.stats.dropped > 0) console.log("a reader is missing events");
   * ```
   */
  get stats(): EventStreamStats {
    return { written: this.#written, dropped: this.#dropped };
  }

  /**
   * Writes one event as one line; true when it went out whole, false when it was
   * dropped (and counted). Never blocks, never throws.
   *
   * @example
   * ```ts
   * stream.write(event) || metrics.inc("notify_fifo_dropped");
   * ```
   */
  write(event: NotifyEvent): boolean {
    if (this.#closed) return false;
    let bytes: Uint8Array;
    try {
      const line = this.#format === "json" ? formatEventLine(event) : formatKeepalivedLine(event);
      bytes = encoder.encode(line);
    } catch (e) {
      return this.#drop(`cannot format event: ${describe(e)}`);
    }
    return this.#writeBytes(bytes);
  }

  /**
   * Writes one line already formatted (an LVS event's, {@link formatLvsEventLine}); as
   * {@link write}: never blocks, never throws, false when dropped.
   *
   * @example
   * ```ts
   * stream.writeLine(formatLvsEventLine(notice, new Date()));
   * ```
   */
  writeLine(line: string): boolean {
    if (this.#closed) return false;
    return this.#writeBytes(encoder.encode(line.endsWith("\n") ? line : line + "\n"));
  }

  /**
   * Writes one LVS event in the stream's format: the JSON line, or keepalived's own
   * (`RS ... UP`, `VS ... DOWN`) as it is. As {@link write}: never blocks or throws.
   *
   * @example
   * ```ts
   * stream.writeLvs(notice, new Date());
   * ```
   */
  writeLvs(e: LvsEventInput, at: Date): boolean {
    return this.writeLine(this.#format === "json" ? formatLvsEventLine(e, at) : e.fifoLine);
  }

  #writeBytes(bytes: Uint8Array): boolean {
    try {
      const info = Deno.statSync(this.#path);
      if (info.isFifo) return this.#writeFifo(bytes);
      // Replaced by something else: the old FIFO's fd leads nowhere now.
      this.#closeFifo();
      if (info.isDirectory) return this.#drop("is a directory");
      return this.#writeFile(bytes);
    } catch (e) {
      this.#closeFifo();
      // Deleted under us: make it again, so a reader that reopens the path finds it.
      if (e instanceof Deno.errors.NotFound) this.#createFifo();
      return this.#drop(describe(e));
    }
  }

  /**
   * Closes the FIFO (the reader sees EOF). Later writes are ignored. Idempotent.
   *
   * @example
   * ```ts
   * stream.close();
   * ```
   */
  close(): void {
    this.#closed = true;
    this.#closeFifo();
  }

  #writeFifo(bytes: Uint8Array): boolean {
    if (this.#fifoFd === null) {
      try {
        this.#fifoFd = openWriteNonBlocking(this.#path, false);
      } catch (e) {
        if (e instanceof SyscallError && e.code === "ENXIO") return this.#drop("no reader");
        throw e;
      }
    }
    let n: number | null;
    try {
      n = writeNonBlocking(this.#fifoFd, bytes);
    } catch (e) {
      // EPIPE: the reader went away. Reopen on the next event, when one may be back.
      this.#closeFifo();
      if (e instanceof SyscallError && e.code === "EPIPE") return this.#drop("reader went away");
      throw e;
    }
    // At most PIPE_BUF bytes to a pipe: all or nothing (EAGAIN), never a short write.
    if (n === null) return this.#drop("pipe full (the reader is not reading)");
    return this.#sent();
  }

  #writeFile(bytes: Uint8Array): boolean {
    const fd = openWriteNonBlocking(this.#path, true);
    try {
      let off = 0;
      while (off < bytes.length) {
        const n = writeNonBlocking(fd, bytes.subarray(off));
        if (n === null) return this.#drop("would block");
        off += n;
      }
    } finally {
      closeFd(fd);
    }
    return this.#sent();
  }

  #sent(): boolean {
    this.#written++;
    if (this.#droppedInOutage > 0) {
      this.#logger.info(
        `notify_fifo ${this.#path}: writing again; ${this.#droppedInOutage} event(s) were dropped`,
      );
      this.#droppedInOutage = 0;
    }
    return true;
  }

  #drop(why: string): false {
    this.#dropped++;
    if (this.#droppedInOutage++ === 0) {
      this.#logger.warn(
        `notify_fifo ${this.#path}: ${why}; dropping events until it can be written`,
      );
    }
    return false;
  }

  #createFifo(): void {
    try {
      makeFifo(this.#path, 0o600);
      this.#createFailed = false;
      this.#logger.info(`notify_fifo ${this.#path}: created a FIFO (mode 0600)`);
    } catch (e) {
      if (!this.#createFailed) {
        this.#logger.error(`notify_fifo ${this.#path}: cannot create it: ${describe(e)}`);
      }
      this.#createFailed = true;
    }
  }

  #closeFifo(): void {
    if (this.#fifoFd === null) return;
    const fd = this.#fifoFd;
    this.#fifoFd = null;
    try {
      closeFd(fd);
    } catch {
      // The fd is gone either way.
    }
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

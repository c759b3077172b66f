/**
 * A non-blocking unix-socket server of newline-terminated requests, one reply line each:
 * the transport under the control socket, apart from what the lines mean.
 *
 * Why it is built on libc.ts instead of `Deno.listen({ transport: "unix" })`: the one
 * unforgeable way to know who is at the other end of a unix socket is `SO_PEERCRED` on
 * the accepted fd, which Deno's listener does not expose. So each connection is
 * authorised twice: by the file (mode 0600, owned by root, so nobody else can even
 * connect) and by the kernel's record of the peer's uid.
 *
 * Why it can never stall its owner: every socket is non-blocking and readiness comes
 * from the daemon's reactor (one `ppoll` over every fd the daemon owns). The JS thread
 * only ever does bounded work per wake-up: at most one 64 KiB read and a few request
 * lines per client, each line capped at `maxRequestBytes` before it is handed on. A
 * client that sends nothing, sends half a line, or stops reading its replies is cut off
 * after `readTimeoutMs`; past `maxClients`, new connections get a refusal line and are
 * closed, so idle connections cannot lock others out for longer than that timeout.
 *
 * Fds are closed only between two polls of this server: a closed fd number can be
 * reused at once by another socket of the process. While a request's answer is pending
 * the server holds the reactor (its handler may wait on Deno's own ops, which complete
 * only while the event loop turns).
 *
 * @example
 * ```ts
 * const server = startLineServer({
 *   path: "/run/app.sock", label: "app socket", owner: "app", logger,
 *   handler: { line: (_peer, l) => l.toUpperCase() + "\n", refusal: () => "no\n", cutOff: () => "bye\n" },
 * });
 * await server.close();
 * ```
 *
 * @module
 */

import { type Logger, RateLimiter, suppressedNote } from "../log.ts";
import { defaultReactor, type Reactor } from "./reactor.ts";
import {
  acceptSocket,
  AF_UNIX,
  bindSocket,
  closeFd,
  connectSocket,
  createEventFd,
  drainEventFd,
  encodePollEntries,
  listenSocket,
  openSocket,
  peerCredentials,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  pollRevents,
  recvStream,
  sendStream,
  signalEventFd,
  SOCK_STREAM,
  sockaddrUn,
  SyscallError,
} from "./libc.ts";

/**
 * Who is at the other end of a connection, per the kernel (`SO_PEERCRED`): what a
 * handler logs operator actions under.
 */
export interface LinePeer {
  readonly id: number;
  readonly pid: number;
  readonly uid: number;
}

/**
 * Why a connection is refused before any request is read: a uid not allowed, or the
 * server full.
 */
export type LineRefusal =
  | { readonly reason: "uid"; readonly uid: number; readonly pid: number }
  | {
    readonly reason: "full";
    readonly pid: number;
    readonly maxClients: number;
    readonly retryMs: number;
  };

/**
 * Why a client is cut off: a request line over the limit, or no complete line in time.
 */
export type LineCutOff =
  | { readonly reason: "too-large"; readonly maxRequestBytes: number }
  | { readonly reason: "timeout"; readonly readTimeoutMs: number };

/**
 * What the lines mean: the protocol on top of the server. Every method returns a whole
 * reply line, newline included, in the protocol's own encoding.
 */
export interface LineHandler {
  /**
   * The reply to one request line (never blank). A promise keeps the client's further
   * lines waiting until it settles, so replies stay in request order; it must not reject
   * (a rejection is logged and the client closed).
   */
  line(peer: LinePeer, line: string): string | Promise<string>;
  /** The one line a refused connection is told before it is closed. */
  refusal(r: LineRefusal): string;
  /** The last line a client that is cut off is told. */
  cutOff(c: LineCutOff): string;
}

/**
 * Options of {@link startLineServer}.
 *
 * @example
 * ```ts
 * const opts: LineServerOptions = { path, label: "control socket", owner: "hacore", logger, handler };
 * ```
 */
export interface LineServerOptions {
  /** Absolute path of the socket. */
  readonly path: string;
  /** How logs and errors name the socket: "control socket". */
  readonly label: string;
  /** Who else might listen on the path, for "another hacore is listening on PATH". */
  readonly owner: string;
  /** The setting that moves the socket, suggested when the path is taken by a file. */
  readonly pathSetting?: string;
  readonly handler: LineHandler;
  /** Where refusals and failures are logged. */
  readonly logger: Logger;
  /** Longest request line accepted; 64 KiB by default. */
  readonly maxRequestBytes?: number;
  /**
   * A client must send a complete request line within this long of connecting (or of
   * its previous reply), and read its reply within this long; 2000 ms by default.
   */
  readonly readTimeoutMs?: number;
  /** Connections served at once; further ones are refused. 32 by default. */
  readonly maxClients?: number;
  /**
   * Peer uids allowed to talk. By default root, plus the process's own uid when it is
   * not root (an unprivileged test daemon): the socket file is that uid's alone anyway.
   */
  readonly allowedUids?: readonly number[];
  /** Where the socket's waits happen: the process-wide reactor when omitted. */
  readonly reactor?: Reactor;
}

/**
 * A running line server.
 *
 * @example
 * ```ts
 * const s: LineServer = startLineServer(opts);
 * s.clientCount; // 0
 * await s.close();
 * ```
 */
export interface LineServer {
  /** The socket's path. */
  readonly path: string;
  /** Connections open right now. */
  readonly clientCount: number;
  /**
   * Stops accepting, closes every client, removes the socket file (when it is still
   * ours) and resolves once nothing of the server is left pending. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Why the server could not start: another process listens on the path, the path is not
 * a socket, or a system call failed. The message is meant for the operator as is.
 *
 * @example
 * ```ts
 * try { startLineServer(opts); } catch (e) { if (e instanceof LineServerError) log.error(e.message); }
 * ```
 */
export class LineServerError extends Error {
  /**
   * Creates the error.
   *
   * @example
   * ```ts
   * new LineServerError("another hacore is listening on /run/hacore/hacore.sock");
   * ```
   */
  constructor(message: string) {
    super(message);
    this.name = "LineServerError";
  }
}

const DEFAULT_MAX_REQUEST_BYTES = 64 * 1024;
const DEFAULT_READ_TIMEOUT_MS = 2000;
const DEFAULT_MAX_CLIENTS = 32;
const LISTEN_BACKLOG = 64;
/** One read per client per wake-up, of at most this many bytes: fairness between clients. */
const READ_CHUNK = 64 * 1024;
/** Lines handled per client per wake-up; the rest wait for the next turn of the loop. */
const LINES_PER_TURN = 8;
/** Stop reading from a client with this many lines queued (it pipelines too eagerly). */
const MAX_QUEUED_LINES = 64;
/** Stop handling a client's requests while this much of its output is unread. */
const OUTPUT_HIGH_WATER = 1024 * 1024;
/** Accepts per wake-up, so a connect flood cannot starve the clients already in. */
const ACCEPTS_PER_TURN = 64;

type Phase = "reading" | "working" | "writing";

interface Client {
  readonly id: number;
  readonly fd: number;
  readonly pid: number;
  readonly uid: number;
  /** Bytes of the line being received (no newline yet). */
  partial: Uint8Array[];
  partialLen: number;
  /** Complete lines not handled yet, in order. */
  lines: string[];
  out: Uint8Array[];
  outBytes: number;
  /** A request is being answered asynchronously (reload). */
  busy: boolean;
  /** The peer shut its sending side: answer what was asked, then close. */
  eof: boolean;
  /** Close once the output is flushed (after a too-large or timeout reply). */
  closeAfterFlush: boolean;
  /**
   * The peer hung up. What it sent before is still carried out (an operator who typed
   * a command and pressed Ctrl-C meant it), the replies go nowhere.
   */
  gone: boolean;
  /** Close at the end of this turn. */
  dead: boolean;
  phase: Phase;
  deadline: number | null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isSyscall(e: unknown, ...codes: string[]): boolean {
  return e instanceof SyscallError && codes.includes(e.code);
}

/**
 * Creates the socket's directory when missing and removes a stale socket file; refuses
 * to touch a file that is not a socket or a socket someone still accepts on.
 */
function prepareSocketPath(opts: LineServerOptions): void {
  const { path, label, logger } = opts;
  if (!path.startsWith("/")) {
    throw new LineServerError(`${label}: the path must be absolute, got "${path}"`);
  }
  try {
    sockaddrUn(path);
  } catch (e) {
    throw new LineServerError(`${label} ${path}: ${errorText(e)}`);
  }
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  let dirExists = true;
  try {
    Deno.statSync(dir);
  } catch {
    dirExists = false;
  }
  if (!dirExists) {
    try {
      Deno.mkdirSync(dir, { recursive: true });
      // Explicitly: mkdir's mode is cut by the umask, and clients must reach the socket.
      Deno.chmodSync(dir, 0o755);
      logger.info(`${label}: created ${dir}`);
    } catch (e) {
      throw new LineServerError(`${label}: cannot create ${dir}: ${errorText(e)}`);
    }
  }
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw new LineServerError(`${label}: cannot inspect ${path}: ${errorText(e)}`);
  }
  if (!info.isSocket) {
    throw new LineServerError(
      `${label}: ${path} exists and is not a socket; not replacing it (move it away${
        opts.pathSetting === undefined ? "" : ` or set ${opts.pathSetting}`
      })`,
    );
  }
  // Only a socket nobody accepts on is stale: removing a live daemon's socket would cut
  // its operators off while it keeps running.
  const probe = openProbe(label);
  let live = false;
  try {
    connectSocket(probe, sockaddrUn(path));
    live = true;
  } catch (e) {
    if (isSyscall(e, "EAGAIN")) live = true; // its backlog is full: very much alive
    else if (isSyscall(e, "ENOENT")) return; // removed meanwhile
    else if (!isSyscall(e, "ECONNREFUSED")) {
      throw new LineServerError(`${label}: cannot probe ${path}: ${errorText(e)}`);
    }
  } finally {
    closeFd(probe);
  }
  if (live) throw new LineServerError(`another ${opts.owner} is listening on ${path}`);
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new LineServerError(
        `${label}: cannot remove the stale ${path}: ${errorText(e)}`,
      );
    }
  }
  logger.info(`${label}: removed a stale ${path} (nothing was listening on it)`);
}

function openProbe(label: string): number {
  try {
    return openStreamSocket();
  } catch (e) {
    throw new LineServerError(`${label}: ${errorText(e)}`);
  }
}

function openStreamSocket(): number {
  return openSocket(AF_UNIX, SOCK_STREAM, 0);
}

/**
 * Starts serving `opts.handler`'s protocol on a unix socket at `opts.path`. Synchronous:
 * when it returns, the socket exists (mode 0600, owner root when running as root) and
 * accepts.
 *
 * @example
 * ```ts
 * const server = startLineServer({ path, label: "control socket", owner: "hacore", logger, handler });
 * // ... on shutdown:
 * await server.close();
 * ```
 * @throws {LineServerError} "another OWNER is listening on PATH", a path that is not
 * a socket, or a failed system call (the message names it).
 */
export function startLineServer(opts: LineServerOptions): LineServer {
  const log = opts.logger;
  prepareSocketPath(opts);
  let fd = -1;
  let bound = false;
  try {
    fd = openStreamSocket();
    try {
      bindSocket(fd, sockaddrUn(opts.path));
    } catch (e) {
      if (isSyscall(e, "EADDRINUSE")) {
        throw new LineServerError(`another ${opts.owner} is listening on ${opts.path}`);
      }
      throw e;
    }
    bound = true;
    // Mode and owner are set before listen(): until then a connect is refused, so there
    // is no moment at which the socket takes connections with the umask's mode.
    Deno.chmodSync(opts.path, 0o600);
    if (Deno.uid() === 0) Deno.chownSync(opts.path, 0, 0);
    listenSocket(fd, LISTEN_BACKLOG);
    const info = Deno.lstatSync(opts.path);
    const server = new Server(opts, fd, { dev: info.dev, ino: info.ino });
    log.info(`${opts.label} listening on ${opts.path}`);
    return server;
  } catch (e) {
    if (fd >= 0) closeFd(fd);
    if (bound) {
      try {
        Deno.removeSync(opts.path);
      } catch {
        // leave it; the next start will find it stale
      }
    }
    if (e instanceof LineServerError) throw e;
    throw new LineServerError(`${opts.label} ${opts.path}: ${errorText(e)}`);
  }
}

class Server implements LineServer {
  readonly path: string;
  readonly #label: string;
  readonly #handler: LineHandler;
  readonly #log: Logger;
  readonly #maxRequestBytes: number;
  readonly #timeoutMs: number;
  readonly #maxClients: number;
  readonly #allowed: ReadonlySet<number>;
  readonly #listenFd: number;
  readonly #efd: number;
  readonly #identity: { dev: number; ino: number | null };
  readonly #clients = new Map<number, Client>();
  readonly #limiter = new RateLimiter(10_000);
  readonly #scratch = new Uint8Array(READ_CHUNK);
  readonly #done: Promise<void>;
  readonly #reactor: Reactor;
  /** Per busy client: releases its reactor hold (the handler may wait on Deno's ops). */
  readonly #holds = new Map<Client, () => void>();
  #closing = false;
  #nextId = 1;

  constructor(
    opts: LineServerOptions,
    listenFd: number,
    identity: { dev: number; ino: number | null },
  ) {
    this.path = opts.path;
    this.#label = opts.label;
    this.#handler = opts.handler;
    this.#log = opts.logger;
    this.#maxRequestBytes = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    this.#timeoutMs = opts.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
    this.#maxClients = opts.maxClients ?? DEFAULT_MAX_CLIENTS;
    const own = Deno.uid();
    this.#allowed = new Set(opts.allowedUids ?? (own === null || own === 0 ? [0] : [0, own]));
    this.#listenFd = listenFd;
    this.#identity = identity;
    this.#efd = createEventFd();
    this.#reactor = opts.reactor ?? defaultReactor();
    this.#done = this.#run();
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#wake();
    }
    return this.#done;
  }

  #wake(): void {
    try {
      signalEventFd(this.#efd);
    } catch {
      // closed already: the loop is gone, nothing to wake
    }
  }

  async #run(): Promise<void> {
    try {
      while (!this.#closing) {
        try {
          await this.#turn();
        } catch (e) {
          // A bug here must cost at most one turn of the socket, never its owner.
          this.#rateLog("loop", "error", `${this.#label}: internal error: ${errorText(e)}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      this.#shutdown();
    }
  }

  async #turn(): Promise<void> {
    const now = performance.now();
    const entries = [{ fd: this.#efd, events: POLLIN }, { fd: this.#listenFd, events: POLLIN }];
    const polled: Client[] = [];
    let timeout = -1;
    const soonest = (ms: number) => {
      const t = Math.max(0, Math.ceil(ms));
      timeout = timeout < 0 ? t : Math.min(timeout, t);
    };
    for (const c of this.#clients.values()) {
      if (c.dead) continue;
      if (this.#canHandle(c) && c.lines.length > 0) soonest(0);
      // A hung-up peer would report POLLHUP on every poll and spin the loop.
      if (c.gone) continue;
      let events = 0;
      if (c.outBytes > 0) events |= POLLOUT;
      if (this.#wantsRead(c)) events |= POLLIN;
      // A half-closed peer (eof) with nothing to write is left out: its fd would report
      // readable-at-EOF forever and spin the loop.
      if (events !== 0 || !c.eof) {
        entries.push({ fd: c.fd, events });
        polled.push(c);
      }
      if (c.deadline !== null) soonest(c.deadline - now);
    }
    const set = encodePollEntries(entries);
    await this.#reactor.poll(set, timeout);
    if (pollRevents(set, 0) & POLLIN) drainEventFd(this.#efd);
    if (this.#closing) return;
    polled.forEach((c, i) => {
      const r = pollRevents(set, i + 2);
      if (r & POLLNVAL) {
        c.dead = true;
        return;
      }
      if (r & (POLLIN | POLLHUP | POLLERR)) this.#read(c);
      if (r & (POLLHUP | POLLERR)) this.#hangUp(c);
      else if (r & POLLOUT) this.#flush(c);
    });
    for (const c of this.#clients.values()) this.#pump(c);
    this.#expire(performance.now());
    // Reap before accepting: a client that hung up in this very poll must not count
    // against the limit a newcomer is measured by.
    this.#reap();
    if (pollRevents(set, 1) & (POLLIN | POLLERR)) {
      // A newcomer's request is usually there already: answer it without another poll.
      const fresh = this.#acceptSome();
      for (const c of fresh) {
        this.#read(c);
        this.#pump(c);
      }
      this.#reap();
    }
  }

  #wantsRead(c: Client): boolean {
    return !c.eof && !c.closeAfterFlush && !c.dead && !c.gone &&
      c.lines.length < MAX_QUEUED_LINES && c.outBytes < OUTPUT_HIGH_WATER;
  }

  #canHandle(c: Client): boolean {
    return !c.busy && !c.dead && !c.closeAfterFlush &&
      (c.gone || c.outBytes < OUTPUT_HIGH_WATER);
  }

  #hangUp(c: Client): void {
    c.gone = true;
    c.out = [];
    c.outBytes = 0;
    c.partial = [];
    c.partialLen = 0;
  }

  // ---------------------------------------------------------------------------------
  // Connections

  #acceptSome(): Client[] {
    const fresh: Client[] = [];
    for (let i = 0; i < ACCEPTS_PER_TURN; i++) {
      let fd: number | null;
      try {
        fd = acceptSocket(this.#listenFd);
      } catch (e) {
        // EMFILE and friends: say so and try again on the next wake-up.
        this.#rateLog("accept", "error", `${this.#label}: accept failed: ${errorText(e)}`);
        break;
      }
      if (fd === null) break;
      const c = this.#admit(fd);
      if (c) fresh.push(c);
    }
    return fresh;
  }

  #admit(fd: number): Client | null {
    let cred: { pid: number; uid: number; gid: number };
    try {
      cred = peerCredentials(fd);
    } catch (e) {
      this.#rateLog(
        "cred",
        "error",
        `${this.#label}: cannot read peer credentials: ${errorText(e)}`,
      );
      closeFd(fd);
      return null;
    }
    if (!this.#allowed.has(cred.uid)) {
      this.#rateLog(
        `uid/${cred.uid}`,
        "warn",
        `${this.#label}: refused a connection from uid ${cred.uid} (pid ${cred.pid}): only root may use it`,
      );
      this.#refuse(fd, this.#handler.refusal({ reason: "uid", uid: cred.uid, pid: cred.pid }));
      return null;
    }
    if (this.#clients.size >= this.#maxClients) this.#reclaim();
    if (this.#clients.size >= this.#maxClients) {
      this.#rateLog(
        "full",
        "warn",
        `${this.#label}: refused a connection from pid ${cred.pid}: ${this.#maxClients} clients already connected`,
      );
      this.#refuse(
        fd,
        this.#handler.refusal({
          reason: "full",
          pid: cred.pid,
          maxClients: this.#maxClients,
          retryMs: this.#timeoutMs,
        }),
      );
      return null;
    }
    const c: Client = {
      id: this.#nextId++,
      fd,
      pid: cred.pid,
      uid: cred.uid,
      partial: [],
      partialLen: 0,
      lines: [],
      out: [],
      outBytes: 0,
      busy: false,
      eof: false,
      closeAfterFlush: false,
      gone: false,
      dead: false,
      phase: "reading",
      deadline: performance.now() + this.#timeoutMs,
    };
    this.#clients.set(fd, c);
    return c;
  }

  /**
   * At the limit, look for clients that hung up since the last poll (a script running
   * a status command in a loop closes and reconnects faster than a poll turn): a read on
   * a client waiting for its request costs one syscall and finds the end of stream.
   */
  #reclaim(): void {
    const now = performance.now();
    for (const c of this.#clients.values()) {
      if (c.phase !== "reading" || c.eof || c.gone || c.dead) continue;
      this.#read(c);
      this.#pump(c);
      this.#settle(c, now);
    }
    this.#reap();
  }

  /** One best-effort reply on a fresh socket (its buffer is empty), then close. */
  #refuse(fd: number, line: string): void {
    try {
      sendStream(fd, encoder.encode(line));
    } catch {
      // it left already
    }
    closeFd(fd);
  }

  #read(c: Client): void {
    if (c.dead || c.eof || c.gone) return;
    let n: number | null;
    try {
      n = recvStream(c.fd, this.#scratch);
    } catch (e) {
      if (!isSyscall(e, "ECONNRESET", "EPIPE")) {
        this.#log.debug(`${this.#label} client ${c.id}: read failed: ${errorText(e)}`);
      }
      this.#hangUp(c);
      return;
    }
    if (n === null) return;
    if (n === 0) {
      c.eof = true;
      // A last request without its newline (`printf '...' | nc -U`) still counts.
      if (c.partialLen > 0) this.#completeLine(c, new Uint8Array(0));
      return;
    }
    let chunk = this.#scratch.subarray(0, n);
    for (;;) {
      const nl = chunk.indexOf(0x0a);
      if (nl < 0) break;
      this.#completeLine(c, chunk.subarray(0, nl));
      if (c.closeAfterFlush) return;
      chunk = chunk.subarray(nl + 1);
    }
    if (chunk.length === 0) return;
    if (c.partialLen + chunk.length > this.#maxRequestBytes) {
      this.#tooLarge(c);
      return;
    }
    c.partial.push(chunk.slice());
    c.partialLen += chunk.length;
  }

  #completeLine(c: Client, tail: Uint8Array): void {
    const len = c.partialLen + tail.length;
    if (len > this.#maxRequestBytes) {
      this.#tooLarge(c);
      return;
    }
    let bytes = tail;
    if (c.partial.length > 0) {
      bytes = new Uint8Array(len);
      let off = 0;
      for (const p of c.partial) {
        bytes.set(p, off);
        off += p.length;
      }
      bytes.set(tail, off);
    }
    c.partial = [];
    c.partialLen = 0;
    const line = decoder.decode(bytes);
    // Blank lines are harmless keep-alives from hand-typed sessions; no reply.
    if (line.trim() === "") return;
    c.lines.push(line);
  }

  #tooLarge(c: Client): void {
    c.partial = [];
    c.partialLen = 0;
    c.lines = [];
    this.#send(
      c,
      this.#handler.cutOff({ reason: "too-large", maxRequestBytes: this.#maxRequestBytes }),
    );
    c.closeAfterFlush = true;
  }

  // ---------------------------------------------------------------------------------
  // Requests

  /** Handles queued lines while the client may take more answers. */
  #pump(c: Client): void {
    let handled = 0;
    while (c.lines.length > 0 && this.#canHandle(c) && handled < LINES_PER_TURN) {
      handled++;
      const line = c.lines.shift()!;
      this.#handle(c, line);
    }
    // Each request answered restarts the clock for the next one, also when its reply
    // went out at once and the client never left the "reading" phase.
    if (handled > 0 && c.phase === "reading") c.phase = "working";
    this.#settle(c, performance.now());
  }

  #handle(c: Client, line: string): void {
    let answer: string | Promise<string>;
    try {
      answer = this.#handler.line(c, line);
    } catch (e) {
      this.#broken(c, e);
      return;
    }
    if (typeof answer === "string") {
      this.#send(c, answer);
      return;
    }
    c.busy = true;
    this.#holds.set(c, this.#reactor.hold());
    const done = () => {
      c.busy = false;
      this.#holds.get(c)?.();
      this.#holds.delete(c);
    };
    answer.then((reply) => {
      done();
      if (this.#closing || c.dead) return;
      this.#send(c, reply);
      this.#pump(c);
      this.#settle(c, performance.now());
      // The loop is parked in poll with this client's old interest set; wake it to
      // read its next line and to expect this output.
      this.#wake();
    }, (e) => {
      done();
      this.#broken(c, e);
      this.#wake();
    });
  }

  /** The handler broke its promise to always answer: nothing sensible can follow. */
  #broken(c: Client, e: unknown): void {
    this.#rateLog("handler", "error", `${this.#label}: internal error: ${errorText(e)}`);
    c.dead = true;
  }

  // ---------------------------------------------------------------------------------
  // Output, deadlines, closing

  #send(c: Client, text: string): void {
    if (c.dead || c.gone) return;
    const bytes = encoder.encode(text);
    c.out.push(bytes);
    c.outBytes += bytes.length;
    // Most replies fit the socket buffer: writing now saves a trip through poll.
    this.#flush(c);
  }

  #flush(c: Client): void {
    while (c.out.length > 0 && !c.dead) {
      const head = c.out[0];
      let n: number | null;
      try {
        n = sendStream(c.fd, head);
      } catch (e) {
        if (!isSyscall(e, "EPIPE", "ECONNRESET")) {
          this.#log.debug(`${this.#label} client ${c.id}: write failed: ${errorText(e)}`);
        }
        this.#hangUp(c);
        return;
      }
      if (n === null) return;
      c.outBytes -= n;
      if (n === head.length) c.out.shift();
      else c.out[0] = head.subarray(n);
    }
  }

  /** Moves the client's deadline with its phase: waiting for it, or working for it. */
  #settle(c: Client, now: number): void {
    if (c.dead) return;
    const idle = c.outBytes === 0 && !c.busy && c.lines.length === 0;
    if (c.gone ? !c.busy && c.lines.length === 0 : idle && (c.eof || c.closeAfterFlush)) {
      c.dead = true;
      return;
    }
    const phase: Phase = c.busy || (c.lines.length > 0 && this.#canHandle(c))
      ? "working"
      : c.outBytes > 0
      ? "writing"
      : "reading";
    if (phase === c.phase) return;
    c.phase = phase;
    c.deadline = phase === "working" ? null : now + this.#timeoutMs;
  }

  #expire(now: number): void {
    for (const c of this.#clients.values()) {
      if (c.dead || c.deadline === null || c.deadline > now) continue;
      if (c.phase === "reading" && !c.closeAfterFlush) {
        this.#send(c, this.#handler.cutOff({ reason: "timeout", readTimeoutMs: this.#timeoutMs }));
        c.closeAfterFlush = true;
        c.lines = [];
        this.#settle(c, now);
      } else {
        // It does not read what it asked for: nothing more can be said to it.
        c.dead = true;
      }
    }
  }

  #reap(): void {
    for (const [fd, c] of this.#clients) {
      if (!c.dead) continue;
      this.#clients.delete(fd);
      try {
        closeFd(fd);
      } catch {
        // already gone
      }
    }
  }

  #shutdown(): void {
    for (const [fd] of this.#clients) {
      try {
        closeFd(fd);
      } catch {
        // already gone
      }
    }
    this.#clients.clear();
    for (const fd of [this.#listenFd, this.#efd]) {
      try {
        closeFd(fd);
      } catch {
        // already gone
      }
    }
    // Remove the file only if it is still the one we bound: a second daemon started by
    // hand may have replaced it, and its socket must survive our exit.
    try {
      const info = Deno.lstatSync(this.path);
      if (info.isSocket && info.dev === this.#identity.dev && info.ino === this.#identity.ino) {
        Deno.removeSync(this.path);
      }
    } catch {
      // already gone
    }
    this.#log.info(`${this.#label} closed (${this.path})`);
  }

  #rateLog(key: string, level: "debug" | "warn" | "error", msg: string): void {
    const v = this.#limiter.check(key, performance.now());
    if (v.allow) this.#log.log(level, msg + suppressedNote(v.suppressed));
  }
}

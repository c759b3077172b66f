/**
 * A fresh TCP (or TLS over TCP) connection per check, as a minimal byte stream whose
 * every wait ends with the check's deadline.
 *
 * Plain TCP is a libc socket on the daemon's reactor. TLS is `node:tls`: it is the one
 * TLS client in Deno that can skip certificate verification (`rejectUnauthorized:
 * false`, for self-signed backends, as keepalived's SSL_GET does) and can send an SNI
 * name other than the address it connects to.
 *
 * @module
 */

// Type only: node:tls is loaded by the first TLS connection (see connectTls).
import type * as tls from "node:tls";
import { EINPROGRESS, SyscallError } from "../sys/errno.ts";
import { closeFd, recvStream, sendStream } from "../sys/libc.ts";
import type { Deadline } from "./deadline.ts";
import { checkReactor } from "./reactor.ts";
import { awaitConnect, connectFd, connectStart, openTcpSocket } from "./socket.ts";
import type { Endpoint } from "./types.ts";

/**
 * Bytes in, bytes out, closed once.
 *
 * @example
 * ```ts
 * const s: ByteStream = await connectTcp({ host: "127.0.0.1", port: 80 }, deadline);
 * await s.write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
 * const chunk = await s.read(); // null at the end of the stream
 * s.close();
 * ```
 */
export interface ByteStream {
  /** The next bytes, or null at the end of the stream. Rejects once the deadline ends. */
  read(): Promise<Uint8Array | null>;
  /** Writes all of `bytes`. */
  write(bytes: Uint8Array): Promise<void>;
  /** Closes the connection; idempotent. */
  close(): void;
}

/** The most one read takes. */
const READ_BUFFER_MAX_BYTES = 64 * 1024;

/**
 * Opens a TCP connection on a libc socket (./socket.ts), read and written on the
 * daemon's reactor: a plain HTTP or SMTP check is then a handful of syscalls on the JS
 * thread (`Deno.connect` made ten, and its reads and writes crossed to Deno's I/O
 * threads, which kept the reactor's waits async for as long as any such check ran).
 * Each wait ends with the deadline.
 *
 * `first`, when given, is written as part of the connect: a `send` on a socket still
 * connecting fails with EAGAIN, so the first write tells whether the connect is done
 * and saves the second `connect` that would ask. Its errors are the connect's.
 *
 * @example
 * ```ts
 * const s = await connectTcp({ host: "::1", port: 25 }, deadline);
 * const h = await connectTcp({ host: "10.0.0.5", port: 80 }, deadline, request);
 * ```
 * @throws the connect error (`error.code` is e.g. `ECONNREFUSED`), or an abort error.
 */
export async function connectTcp(
  target: Endpoint,
  deadline: Deadline,
  first?: Uint8Array,
): Promise<ByteStream> {
  if (first === undefined) {
    if (deadline.expired) throw new Error(deadline.reason());
    const fd = openTcpSocket(target);
    const stream = new SocketStream(fd, deadline);
    try {
      await connectFd(fd, target, deadline.signal);
    } catch (e) {
      stream.close();
      throw e;
    }
    return stream;
  }
  const stream = startTcp(target, deadline, first);
  if (!stream.started) {
    try {
      await stream.finishStart();
    } catch (e) {
      stream.close();
      throw e;
    }
  }
  return stream;
}

/**
 * A plain TCP connection begun by {@link startTcp}: the connect and the send of its
 * first bytes may still be under way ({@link StartedStream.started}), and its reads can
 * be tried without a promise ({@link StartedStream.readNow}).
 */
export interface StartedStream extends ByteStream {
  /** The socket, for a wait kept on the reactor with a callback. */
  readonly fd: number;
  /** True once connected with all of the first bytes sent. */
  readonly started: boolean;
  /**
   * Waits for the connect and sends the rest of the first bytes. Rejects with the
   * connect's error, or once the deadline ends.
   */
  finishStart(): Promise<void>;
  /**
   * One step of the start without waiting: sends what it can of the first bytes; true
   * once started. For a caller that waits for writability itself.
   *
   * @throws the connect's error (a send on a socket whose connect failed reports it).
   */
  startNow(): boolean;
  /**
   * One read without waiting, into {@link readBuffer}: the byte count (0 at the end
   * of the stream), or -1 when nothing is there yet. The bytes are valid until the next
   * read of any stream.
   *
   * @throws the read's error (ECONNRESET, ...), or an Error once the deadline ended.
   */
  readNow(): number;
}

/**
 * Begins a plain TCP connection on a libc socket (./socket.ts) and sends `first` with
 * the connect, all without waiting: a `send` on a socket still connecting fails with
 * EAGAIN, so the first send tells whether the connect is done and saves the second
 * `connect` that would ask. To a nearby server (same host, a veth, often the LAN) the
 * connect is done by then, and the caller reads the reply with
 * {@link StartedStream.readNow} when it chooses (the HTTP check: at the next sweep),
 * with no promise awaited. Its errors are the connect's.
 *
 * @example
 * ```ts
 * const s = startTcp({ host: "10.0.0.5", port: 80 }, deadline, request);
 * if (!s.started) await s.finishStart();
 * ```
 * @throws the connect error (`error.code` is e.g. `ECONNREFUSED`), or an abort error.
 */
export function startTcp(target: Endpoint, deadline: Deadline, first: Uint8Array): StartedStream {
  if (deadline.expired) throw new Error(deadline.reason());
  const fd = openTcpSocket(target);
  const stream = new SocketStream(fd, deadline);
  try {
    const err = connectStart(fd, target);
    if (err === EINPROGRESS) {
      const n = sendWhileConnecting(fd, first);
      stream.pending = n === null ? first : n < first.length ? first.subarray(n) : null;
      stream.connecting = n === null;
    } else if (err === 0) {
      stream.pending = first;
    } else {
      throw new SyscallError("connect", err);
    }
    return stream;
  } catch (e) {
    stream.close();
    throw e;
  }
}

/** A first send: null while the connect is under way (EAGAIN), else as sendStream. */
function sendWhileConnecting(fd: number, bytes: Uint8Array): number | null {
  try {
    return sendStream(fd, bytes);
  } catch (e) {
    // The connect failed (ECONNREFUSED, EHOSTUNREACH, ...): the connect's error.
    if (e instanceof SyscallError) throw new SyscallError("connect", e.errno);
    throw e;
  }
}

/**
 * The read buffer of every {@link SocketStream}: reads happen on the JS thread one at
 * a time and each chunk is copied out (or parsed before the next read), so one buffer
 * serves them all.
 */
let sharedReadBuffer: Uint8Array | null = null;

/**
 * The buffer {@link StartedStream.readNow} reads into: its first `n` bytes are the
 * last read's, until the next read of any stream.
 *
 * @example
 * ```ts
 * const n = stream.readNow();
 * if (n > 0) parse(readBuffer().subarray(0, n));
 * ```
 */
export function readBuffer(): Uint8Array {
  return sharedReadBuffer ??= new Uint8Array(READ_BUFFER_MAX_BYTES);
}

class SocketStream implements StartedStream {
  readonly fd: number;
  readonly #deadline: Deadline;
  #closed = false;
  /** First bytes not sent yet (see startTcp). */
  pending: Uint8Array | null = null;
  /** The connect is under way (see startTcp). */
  connecting = false;

  constructor(fd: number, deadline: Deadline) {
    this.fd = fd;
    this.#deadline = deadline;
  }

  get started(): boolean {
    return this.pending === null && !this.connecting;
  }

  async finishStart(): Promise<void> {
    if (this.connecting) {
      await awaitConnect(this.fd, this.#deadline.signal);
      this.connecting = false;
    }
    const rest = this.pending;
    this.pending = null;
    if (rest !== null) await this.write(rest);
  }

  startNow(): boolean {
    const rest = this.pending;
    if (rest === null) return true;
    this.#usable();
    const n = this.connecting ? sendWhileConnecting(this.fd, rest) : sendStream(this.fd, rest);
    if (n === null) return false;
    this.connecting = false;
    this.pending = n < rest.length ? rest.subarray(n) : null;
    return this.pending === null;
  }

  readNow(): number {
    this.#usable();
    const n = recvStream(this.fd, readBuffer());
    return n === null ? -1 : n;
  }

  async read(): Promise<Uint8Array | null> {
    // A read before any wait: on one CPU a nearby server woken by the request often
    // answers before the send returns (the wakeup preempts the sender), and the check
    // then ends without waiting on the reactor at all.
    for (;;) {
      const n = this.readNow();
      if (n === 0) return null;
      if (n > 0) return readBuffer().slice(0, n);
      await this.#readable();
    }
  }

  async #readable(): Promise<void> {
    if (!(await checkReactor.readable(this.fd, this.#deadline.signal))) this.#usable();
  }

  async write(bytes: Uint8Array): Promise<void> {
    for (let off = 0; off < bytes.length;) {
      this.#usable();
      const n = sendStream(this.fd, bytes.subarray(off));
      if (n !== null) off += n;
      else if (!(await checkReactor.writable(this.fd, this.#deadline.signal))) this.#usable();
    }
  }

  /** Throws once the deadline has ended or the stream is closed. */
  #usable(): void {
    if (this.#deadline.expired) throw new Error(this.#deadline.reason());
    if (this.#closed) throw new Error("closed");
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeFd(this.fd);
  }
}

/**
 * Options of {@link connectTls}.
 *
 * @example
 * ```ts
 * const o: TlsOptions = { serverName: "www.example.com", verify: true };
 * ```
 */
export interface TlsOptions {
  /** SNI name, also the name the certificate must carry; null = none (IP target). */
  readonly serverName: string | null;
  /** false = accept any certificate. */
  readonly verify: boolean;
}

/**
 * Opens a TLS connection over TCP and completes the handshake (verifying the
 * certificate against `serverName`, or the address, when `verify`).
 *
 * @example
 * ```ts
 * const s = await connectTls({ host: "127.0.0.1", port: 443 }, { serverName: null, verify: false }, d);
 * ```
 * @throws an Error whose message says what failed (`self-signed certificate`, ...).
 */
export function connectTls(
  target: Endpoint,
  opts: TlsOptions,
  deadline: Deadline,
): Promise<ByteStream> {
  // Loaded here, not at the top: a `node:` import sets up Deno's Node compatibility
  // layer, ~10-20 ms that every daemon start paid when this was a static import.
  return import("node:tls").then((tls) => openTls(tls, target, opts, deadline));
}

function openTls(
  tls: typeof import("node:tls"),
  target: Endpoint,
  opts: TlsOptions,
  deadline: Deadline,
): Promise<ByteStream> {
  return new Promise<ByteStream>((resolve, reject) => {
    if (deadline.expired) {
      reject(new Error(deadline.reason()));
      return;
    }
    const socket = tls.connect({
      host: target.host,
      port: target.port,
      servername: opts.serverName ?? undefined,
      rejectUnauthorized: opts.verify,
    });
    const stream = new TlsStream(socket, deadline);
    const onError = (e: Error) => {
      cleanup();
      stream.close();
      reject(e);
    };
    const onAbort = () => onError(new Error(deadline.reason()));
    const onConnect = () => {
      cleanup();
      resolve(stream);
    };
    const cleanup = () => {
      socket.off("secureConnect", onConnect);
      socket.off("error", onError);
      deadline.signal.removeEventListener("abort", onAbort);
    };
    socket.once("secureConnect", onConnect);
    socket.once("error", onError);
    deadline.signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** node's event-driven socket as a pull stream, pausing it while unread data piles up. */
class TlsStream implements ByteStream {
  readonly #socket: tls.TLSSocket;
  readonly #deadline: Deadline;
  readonly #queue: Uint8Array[] = [];
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  #closed = false;

  constructor(socket: tls.TLSSocket, deadline: Deadline) {
    this.#socket = socket;
    this.#deadline = deadline;
    socket.on("data", (b: Uint8Array) => {
      // A plain view of node's Buffer, whose slice() would share memory instead of copying.
      this.#queue.push(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
      if (this.#queue.length > 4) socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (e: Error) => {
      this.#error = e;
      this.#notify();
    });
    deadline.signal.addEventListener("abort", this.close, { once: true });
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  async read(): Promise<Uint8Array | null> {
    for (;;) {
      const b = this.#queue.shift();
      if (b !== undefined) {
        if (this.#queue.length <= 1) this.#socket.resume();
        return b;
      }
      if (this.#error !== null) throw this.#error;
      if (this.#closed) {
        throw new Error(this.#deadline.expired ? this.#deadline.reason() : "closed");
      }
      if (this.#ended) return null;
      await new Promise<void>((r) => this.#wake = r);
    }
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#socket.write(bytes, (e?: Error | null) => e ? reject(e) : resolve());
    });
  }

  close = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.#deadline.signal.removeEventListener("abort", this.close);
    this.#socket.destroy();
    this.#notify();
  };
}

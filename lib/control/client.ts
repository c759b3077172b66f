/**
 * The client side of the control socket: one request, one reply, with a deadline.
 *
 * It uses Deno's own unix socket (no FFI), so `hacore status` needs no `--allow-ffi`.
 * Failures are sorted into the few kinds a person acts on differently: no daemon
 * (nothing to talk to: start it), permission (run as root), timeout (the daemon is
 * stuck or overloaded), protocol (not a hacore, or a different version) and io.
 *
 * @example
 * ```ts
 * const reply = await request("/run/hacore/hacore.sock", { v: 1, cmd: "status" });
 * if (reply.ok) console.log(reply.result);
 * ```
 *
 * @module
 */

import {
  CONTROL_PROTOCOL_VERSION,
  type ControlCommand,
  type ControlErrorCode,
  type ControlReply,
  type ControlRequest,
  type ControlResultMap,
  encodeLine,
  parseReply,
} from "./protocol.ts";

/**
 * Why a request got no reply.
 * - `no-daemon`: no socket file, or nothing accepts on it (ENOENT, ECONNREFUSED);
 * - `permission`: the socket is not ours to use (EACCES: not root);
 * - `timeout`: no complete reply in time;
 * - `protocol`: something answered, but not a valid reply line;
 * - `io`: any other failure (the message names it).
 *
 * @example
 * ```ts
 * const k: ControlFailureKind = "no-daemon";
 * ```
 */
export type ControlFailureKind = "no-daemon" | "permission" | "timeout" | "protocol" | "io";

/**
 * A request that got no reply, with its {@link ControlFailureKind}.
 *
 * @example
 * ```ts
 * try { await request(path, { v: 1, cmd: "ping" }); }
 * catch (e) { if (e instanceof ControlClientError && e.kind === "no-daemon") console.error("not running"); }
 * ```
 */
export class ControlClientError extends Error {
  /** What went wrong, for the exit code. */
  readonly kind: ControlFailureKind;
  /** The socket path that was tried. */
  readonly path: string;

  /**
   * Creates the error.
   *
   * @example
   * ```ts
   * new ControlClientError("no-daemon", "/run/hacore/hacore.sock", "no such file");
   * ```
   */
  constructor(kind: ControlFailureKind, path: string, message: string) {
    super(message);
    this.name = "ControlClientError";
    this.kind = kind;
    this.path = path;
  }
}

/**
 * An error reply from the daemon, as an exception (see {@link call}).
 *
 * @example
 * ```ts
 * try { await call(path, { v: 1, cmd: "detail", instance: "VI_9" }); }
 * catch (e) { if (e instanceof ControlReplyError) e.code; } // "no-such-instance"
 * ```
 */
export class ControlReplyError extends Error {
  /** The reply's error code. */
  readonly code: ControlErrorCode;

  /**
   * Creates the error.
   *
   * @example
   * ```ts
   * new ControlReplyError("refused", "only root may use hacore's control socket");
   * ```
   */
  constructor(code: ControlErrorCode, message: string) {
    super(message);
    this.name = "ControlReplyError";
    this.code = code;
  }
}

/**
 * Options of {@link request}.
 *
 * @example
 * ```ts
 * const o: RequestOptions = { timeoutMs: 5000 };
 * ```
 */
export interface RequestOptions {
  /** For the whole exchange: connect, send, receive. 2000 ms by default. */
  readonly timeoutMs?: number;
  /** Longest reply accepted; 64 MiB by default. */
  readonly maxReplyBytes?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function connectFailure(path: string, e: unknown): ControlClientError {
  if (e instanceof Deno.errors.NotFound) {
    return new ControlClientError("no-daemon", path, `no socket at ${path}`);
  }
  if (e instanceof Deno.errors.ConnectionRefused) {
    return new ControlClientError("no-daemon", path, `nothing is listening on ${path}`);
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return new ControlClientError(
      "permission",
      path,
      `permission denied on ${path}: hacore's control socket is for root only`,
    );
  }
  if (e instanceof Deno.errors.NotCapable) {
    return new ControlClientError(
      "io",
      path,
      `Deno denied access to ${path}; run with --allow-read --allow-write (or -A)`,
    );
  }
  return new ControlClientError("io", path, `cannot connect to ${path}: ${(e as Error).message}`);
}

/**
 * Sends one request and returns the daemon's reply, success or error. Throws only when
 * there is no valid reply at all ({@link ControlClientError}).
 *
 * @example
 * ```ts
 * const r = await request("/run/hacore/hacore.sock", { v: 1, cmd: "demote", instance: "VI_1" });
 * if (!r.ok) console.error(r.error.message);
 * ```
 */
export async function request(
  path: string,
  req: ControlRequest,
  opts: RequestOptions = {},
): Promise<ControlReply> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const maxReply = opts.maxReplyBytes ?? 64 * 1024 * 1024;
  let conn: Deno.UnixConn | null = null;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn?.close();
    } catch {
      // already closed
    }
  }, timeoutMs);
  const timeoutError = () =>
    new ControlClientError(
      "timeout",
      path,
      `no reply from the daemon on ${path} within ${timeoutMs} ms`,
    );
  try {
    try {
      conn = await Deno.connect({ transport: "unix", path });
    } catch (e) {
      throw timedOut ? timeoutError() : connectFailure(path, e);
    }
    if (timedOut) {
      conn.close();
      throw timeoutError();
    }
    let writeError: unknown = null;
    try {
      const bytes = encoder.encode(encodeLine(req));
      let off = 0;
      while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    } catch (e) {
      // A daemon that refuses us replies and closes at once, maybe before we wrote:
      // its reply is still there to read.
      writeError = e;
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch (e) {
        if (timedOut) throw timeoutError();
        if (e instanceof Deno.errors.ConnectionReset && total > 0) n = null;
        else throw ioFailure(path, writeError ?? e);
      }
      if (n === null) {
        if (timedOut) throw timeoutError();
        throw new ControlClientError(
          writeError === null ? "protocol" : "io",
          path,
          writeError === null
            ? `the daemon on ${path} closed the connection without a reply`
            : ioFailure(path, writeError).message,
        );
      }
      const part = buf.subarray(0, n);
      const nl = part.indexOf(0x0a);
      const piece = nl < 0 ? part : part.subarray(0, nl);
      total += piece.length;
      if (total > maxReply) {
        throw new ControlClientError(
          "protocol",
          path,
          `the reply from ${path} is longer than ${maxReply} bytes`,
        );
      }
      chunks.push(piece.slice());
      if (nl >= 0) break;
    }
    const line = decoder.decode(concat(chunks, total));
    const reply = parseReply(line);
    if (typeof reply === "string") {
      throw new ControlClientError("protocol", path, `${path}: ${reply}`);
    }
    if (reply.id !== undefined && req.id !== undefined && reply.id !== req.id) {
      throw new ControlClientError(
        "protocol",
        path,
        `${path}: the reply is for request "${reply.id}", not "${req.id}"`,
      );
    }
    return reply;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch {
      // closed by the timer
    }
  }
}

function ioFailure(path: string, e: unknown): ControlClientError {
  return new ControlClientError(
    "io",
    path,
    `talking to the daemon on ${path}: ${e instanceof Error ? e.message : String(e)}`,
  );
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/**
 * {@link request} for code that wants the result or an exception: resolves with the
 * result typed by command, throws {@link ControlReplyError} for an error reply and
 * {@link ControlClientError} for no reply.
 *
 * @example
 * ```ts
 * const status = await call("/run/hacore/hacore.sock", { v: 1, cmd: "status" });
 * status.instances.length;
 * ```
 */
export async function call<C extends ControlCommand>(
  path: string,
  req: ControlRequest & { readonly cmd: C },
  opts: RequestOptions = {},
): Promise<ControlResultMap[C]> {
  const reply = await request(path, req, opts);
  if (!reply.ok) throw new ControlReplyError(reply.error.code, reply.error.message);
  return reply.result as ControlResultMap[C];
}

/**
 * A request object for `cmd` with the protocol version filled in.
 *
 * @example
 * ```ts
 * makeRequest({ cmd: "resume", instance: "VI_1" }); // { v: 1, cmd: "resume", instance: "VI_1" }
 * ```
 */
export function makeRequest<R extends DistributiveOmitV<ControlRequest>>(
  fields: R,
): R & { readonly v: typeof CONTROL_PROTOCOL_VERSION } {
  return { v: CONTROL_PROTOCOL_VERSION, ...fields };
}

/**
 * A {@link ControlRequest} without its `v`, per command.
 *
 * @example
 * ```ts
 * const r: DistributiveOmitV<ControlRequest> = { cmd: "status" };
 * ```
 */
export type DistributiveOmitV<T> = T extends unknown ? Omit<T, "v"> : never;

/**
 * The control sockets in `dir` that something accepts on, sorted: the running hacore
 * daemons, each on its own per-config socket. A socket file left by a killed daemon
 * refuses the connection and is skipped; so is one we may not open (not root), which
 * is still listed, since a daemon likely holds it and `permission` is the better error.
 *
 * @example
 * ```ts
 * await findDaemonSockets("/run/hacore"); // ["/run/hacore/hacore-3f2a9c1e.sock"]
 * ```
 */
export async function findDaemonSockets(dir: string): Promise<string[]> {
  const candidates: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.endsWith(".sock")) candidates.push(`${dir}/${entry.name}`);
    }
  } catch {
    return [];
  }
  const live = await Promise.all(candidates.map(async (path) => {
    try {
      if (!(await Deno.lstat(path)).isSocket) return null;
      const conn = await Deno.connect({ transport: "unix", path });
      conn.close();
      return path;
    } catch (e) {
      return e instanceof Deno.errors.PermissionDenied ? path : null;
    }
  }));
  return live.filter((p): p is string => p !== null).sort();
}

/**
 * The control socket: a unix stream socket on which `hacore status` and the operator
 * verbs reach the running daemon (protocol in `protocol.ts`).
 *
 * Only uid 0 may talk to the daemon (checked by the kernel's `SO_PEERCRED`), and the
 * socket can never stall the daemon: both are the generic line server's
 * (`lib/sys/line_server.ts`), which this module gives the control protocol's meaning:
 * parse a request line, carry it to the {@link DaemonControl}, encode the reply, and
 * word refusals and cut-offs as protocol errors.
 *
 * @example
 * ```ts
 * const server = startControlServer({ path: config.global.controlSocket, control: daemon, logger });
 * await daemon.done;
 * await server.close();
 * ```
 *
 * @module
 */

import { type Logger, RateLimiter, suppressedNote } from "../log.ts";
import {
  type LineCutOff,
  type LinePeer,
  type LineRefusal,
  LineServerError,
  startLineServer,
} from "../sys/line_server.ts";
import type { DaemonControl, OperatorResult } from "./api.ts";
import {
  CONTROL_PROTOCOL_VERSION,
  type ControlReply,
  type ControlRequest,
  encodeLine,
  errorReply,
  okReply,
  parseRequest,
  type PingResult,
  type VerbResult,
} from "./protocol.ts";

/**
 * Options of {@link startControlServer}.
 *
 * @example
 * ```ts
 * const opts: ControlServerOptions = { path: "/run/hacore/hacore.sock", control: daemon, logger };
 * ```
 */
export interface ControlServerOptions {
  /** Absolute path of the socket (config `global.control_socket`). */
  readonly path: string;
  /** The daemon the requests are carried to. */
  readonly control: DaemonControl;
  /** Where refusals, operator actions and failures are logged. */
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
   * Peer uids allowed to talk. By default root, plus the daemon's own uid when it is
   * not root (an unprivileged test daemon): the socket file is that uid's alone anyway.
   */
  readonly allowedUids?: readonly number[];
}

/**
 * A running control server.
 *
 * @example
 * ```ts
 * const s: ControlServer = startControlServer(opts);
 * s.clientCount; // 0
 * await s.close();
 * ```
 */
export interface ControlServer {
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
 * Why the server could not start: another daemon listens on the path, the path is not
 * a socket, or a system call failed. The message is meant for the operator as is.
 *
 * @example
 * ```ts
 * try { startControlServer(opts); } catch (e) { if (e instanceof ControlServerError) log.error(e.message); }
 * ```
 */
export class ControlServerError extends Error {
  /**
   * Creates the error.
   *
   * @example
   * ```ts
   * new ControlServerError("another hacore is listening on /run/hacore/hacore.sock");
   * ```
   */
  constructor(message: string) {
    super(message);
    this.name = "ControlServerError";
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Starts serving the control protocol on a unix socket at `path`. Synchronous: when it
 * returns, the socket exists (mode 0600, owner root when running as root) and accepts.
 *
 * @example
 * ```ts
 * const server = startControlServer({
 *   path: config.global.controlSocket, control: daemon, logger: log,
 * });
 * // ... on shutdown:
 * await server.close();
 * ```
 * @throws {ControlServerError} "another hacore is listening on PATH", a path that is not
 * a socket, or a failed system call (the message names it).
 */
export function startControlServer(opts: ControlServerOptions): ControlServer {
  const protocol = new ControlProtocol(opts.control, opts.logger);
  try {
    return startLineServer({
      path: opts.path,
      label: "control socket",
      owner: "hacore",
      pathSetting: "global.control_socket",
      logger: opts.logger,
      handler: protocol,
      maxRequestBytes: opts.maxRequestBytes,
      readTimeoutMs: opts.readTimeoutMs,
      maxClients: opts.maxClients,
      allowedUids: opts.allowedUids,
    });
  } catch (e) {
    if (e instanceof LineServerError) throw new ControlServerError(e.message);
    throw e;
  }
}

/** The control protocol over the line server: one request line in, one reply line out. */
class ControlProtocol {
  readonly #control: DaemonControl;
  readonly #log: Logger;
  readonly #limiter = new RateLimiter(10_000);

  constructor(control: DaemonControl, log: Logger) {
    this.#control = control;
    this.#log = log;
  }

  line(peer: LinePeer, line: string): string | Promise<string> {
    const parsed = parseRequest(line);
    if (!parsed.ok) return encode(errorReply(parsed.id, parsed.error.code, parsed.error.message));
    const req = parsed.request;
    let answer: ControlReply | Promise<ControlReply>;
    try {
      answer = this.#dispatch(peer, req);
    } catch (e) {
      answer = this.#internal(req, e);
    }
    if (!(answer instanceof Promise)) return encode(answer);
    return answer.catch((e) => this.#internal(req, e)).then(encode);
  }

  refusal(r: LineRefusal): string {
    const message = r.reason === "uid"
      ? `permission denied: only root may use hacore's control socket (you are uid ${r.uid})`
      : `too many control connections (${r.maxClients}); try again in ${r.retryMs} ms`;
    return encode(errorReply(undefined, "refused", message));
  }

  cutOff(c: LineCutOff): string {
    return encode(
      c.reason === "too-large"
        ? errorReply(
          undefined,
          "too-large",
          `request line longer than ${c.maxRequestBytes} bytes; closing the connection`,
        )
        : errorReply(
          undefined,
          "timeout",
          `no complete request line within ${c.readTimeoutMs} ms; closing the connection`,
        ),
    );
  }

  #internal(req: ControlRequest, e: unknown): ControlReply {
    // Rate-limited per command: a bug hit by a script polling status must not flood.
    const v = this.#limiter.check(`internal/${req.cmd}`, performance.now());
    if (v.allow) {
      this.#log.error(
        `control socket: "${req.cmd}" failed: ${errorText(e)}` + suppressedNote(v.suppressed),
      );
    }
    return errorReply(
      req.id,
      "internal",
      `the daemon failed to answer "${req.cmd}": ${errorText(e)}`,
    );
  }

  #dispatch(c: LinePeer, req: ControlRequest): ControlReply | Promise<ControlReply> {
    const ctl = this.#control;
    switch (req.cmd) {
      case "ping": {
        const result: PingResult = { pong: true, protocol: CONTROL_PROTOCOL_VERSION };
        return okReply(req.id, result);
      }
      case "status":
        return okReply(req.id, ctl.status());
      case "detail": {
        const d = ctl.detail(req.instance);
        return d === null ? this.#noSuchInstance(req.id, req.instance) : okReply(req.id, d);
      }
      case "demote":
      case "promote": {
        if (!this.#exists(req.instance)) return this.#noSuchInstance(req.id, req.instance);
        const r = req.cmd === "demote"
          ? ctl.demote(req.instance, req.priority)
          : ctl.promote(req.instance, req.priority);
        const to = req.priority === undefined ? "" : ` to ${req.priority}`;
        return this.#verbReply(c, req.id, `${req.cmd} ${req.instance}${to}`, r);
      }
      case "resume": {
        if (!this.#exists(req.instance)) return this.#noSuchInstance(req.id, req.instance);
        return this.#verbReply(c, req.id, `resume ${req.instance}`, ctl.resume(req.instance));
      }
      case "maintenance":
        return this.#verbReply(
          c,
          req.id,
          `maintenance ${req.on ? "on" : "off"}`,
          ctl.maintenance(req.on),
        );
      case "drain":
      case "undrain": {
        const what = `${req.cmd} ${req.virtualServer} ${req.realServer}`;
        const r: OperatorResult = req.cmd === "drain"
          ? ctl.drain?.(
            req.virtualServer,
            req.realServer,
            req.deadline === undefined ? undefined : req.deadline * 1000,
          ) ?? NO_LVS
          : ctl.undrain?.(req.virtualServer, req.realServer) ?? NO_LVS;
        return this.#verbReply(c, req.id, what, r);
      }
      case "config":
        // Read-only, like status: not logged as an operator action.
        return okReply(req.id, ctl.config());
      case "reload":
        this.#log.notice(`control: reload requested by pid ${c.pid} (uid ${c.uid})`);
        return ctl.reload().then((outcome) => okReply(req.id, outcome));
    }
  }

  #exists(name: string): boolean {
    return this.#control.status().instances.some((i) => i.name === name);
  }

  #noSuchInstance(id: string | undefined, name: string): ControlReply {
    const names = this.#control.status().instances.map((i) => i.name);
    return errorReply(
      id,
      "no-such-instance",
      `no instance ${JSON.stringify(name)}; instances: ${
        names.length > 0 ? names.join(", ") : "none"
      }`,
    );
  }

  #verbReply(
    c: LinePeer,
    id: string | undefined,
    what: string,
    r: OperatorResult,
  ): ControlReply {
    if (r.ok) {
      this.#log.notice(`control: ${what} by pid ${c.pid} (uid ${c.uid}): ${r.message}`);
      const result: VerbResult = { message: r.message };
      return okReply(id, result);
    }
    this.#log.warn(`control: ${what} by pid ${c.pid} (uid ${c.uid}) refused: ${r.error}`);
    return errorReply(id, "refused", r.error);
  }
}

const NO_LVS: OperatorResult = { ok: false, error: "this daemon runs no virtual servers" };

/** One reply line; a reply that cannot be encoded becomes an internal error about it. */
function encode(reply: ControlReply): string {
  try {
    return encodeLine(reply);
  } catch (e) {
    return encodeLine(
      errorReply(reply.id, "internal", `cannot encode the reply: ${errorText(e)}`),
    );
  }
}

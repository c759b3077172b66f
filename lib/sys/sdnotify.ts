/**
 * systemd's readiness protocol (`sd_notify(3)`), spoken without libsystemd: one
 * datagram of `KEY=value` lines to the AF_UNIX socket named by `NOTIFY_SOCKET`.
 *
 * Why hacore bothers: with `Type=notify` systemd orders units after hacore only once
 * it is really up (sockets open, instances started), `systemctl reload` waits for the
 * reload to finish, and `WatchdogSec=` restarts a daemon whose loop has wedged. Outside
 * systemd (no `NOTIFY_SOCKET`) every call is a silent no-op, so the daemon never asks
 * where it runs.
 *
 * Rules this module keeps:
 * - it never throws into the caller: a daemon must not die because its supervisor's
 *   socket went away. A failed send is logged once, and again only after a send has
 *   worked in between, so a gone systemd cannot flood the log at the watchdog rate;
 * - a fresh socket per message, as libsystemd does: there is no state to go stale when
 *   systemd re-executes (`systemctl daemon-reexec`) and re-creates its socket;
 * - the socket is opened non-blocking: a full queue on systemd's side costs one lost
 *   message (logged), never a stalled event loop.
 *
 * @example
 * ```ts
 * const sd = new SdNotify({ logger, unsetEnvironment: true });
 * await daemon.start();
 * sd.ready("2 instances: VI_1 master, VI_2 backup");
 * const stopWatchdog = sd.startWatchdog(() => control.isLive());
 * // ... on SIGTERM:
 * sd.stopping();
 * stopWatchdog();
 * ```
 *
 * @module
 */

import { defaultReactor, type Reactor } from "./reactor.ts";

import { Logger } from "../log.ts";
import {
  AF_UNIX,
  clockMonotonicUsec,
  closeFd,
  openSocket,
  sendTo,
  SOCK_DGRAM,
  sockaddrUn,
} from "./libc.ts";

/** The variables systemd sets for a notify service; cleared by `unsetEnvironment`. */
const NOTIFY_ENV = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] as const;

/**
 * Where {@link SdNotify} reads its three variables from: a plain record (tests), or
 * the process environment when omitted.
 *
 * @example
 * ```ts
 * const env: SdNotifyEnv = { NOTIFY_SOCKET: "@hacore-test", WATCHDOG_USEC: "10000000" };
 * ```
 */
export type SdNotifyEnv = Readonly<Record<string, string | undefined>>;

/**
 * Options of {@link SdNotify}; every field has a default.
 *
 * @example
 * ```ts
 * const opts: SdNotifyOptions = { logger: new Logger(), unsetEnvironment: true };
 * ```
 */
export interface SdNotifyOptions {
  /** Environment to read; `Deno.env` by default. */
  readonly env?: SdNotifyEnv;
  /** Our pid, compared with `WATCHDOG_PID`; `Deno.pid` by default. */
  readonly pid?: number;
  /** Where the one-time send failure goes; a stderr logger by default. */
  readonly logger?: Logger;
  /**
   * Remove `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from the process
   * environment after reading them (libsystemd's `unset_environment`), so notify
   * hooks and check scripts hacore spawns do not inherit them and talk to systemd on
   * our behalf. Only applies when `env` is not given. Off by default.
   */
  readonly unsetEnvironment?: boolean;
}

/**
 * The watchdog interval in milliseconds from `WATCHDOG_USEC`, or null when there is
 * none or it is meant for another process: systemd sets `WATCHDOG_PID` to the main
 * pid, and a child that inherited the variables must not ping on the parent's behalf.
 * Malformed values (not a positive integer) count as "no watchdog", as in
 * `sd_watchdog_enabled(3)`.
 *
 * @example
 * ```ts
 * parseWatchdogMs({ WATCHDOG_USEC: "10000000", WATCHDOG_PID: "42" }, 42); // 10000
 * parseWatchdogMs({ WATCHDOG_USEC: "10000000", WATCHDOG_PID: "41" }, 42); // null
 * parseWatchdogMs({}, 42); // null
 * ```
 */
export function parseWatchdogMs(env: SdNotifyEnv, pid: number): number | null {
  const usec = env["WATCHDOG_USEC"];
  if (usec === undefined || !/^[0-9]+$/.test(usec)) return null;
  const n = Number(usec);
  if (!Number.isSafeInteger(n) || n <= 0) return null;
  const wpid = env["WATCHDOG_PID"];
  if (wpid !== undefined && wpid !== "") {
    if (!/^[0-9]+$/.test(wpid) || Number(wpid) !== pid) return null;
  }
  return n / 1000;
}

/**
 * Turns fields into the datagram systemd parses: `KEY=value` lines joined by `\n`.
 * A value cannot span lines (systemd would read the rest as another assignment), so
 * line breaks in it become spaces.
 *
 * @example
 * ```ts
 * formatNotify([["READY", "1"], ["STATUS", "2 instances\nup"]]); // "READY=1\nSTATUS=2 instances up"
 * ```
 */
export function formatNotify(fields: readonly (readonly [string, string])[]): string {
  return fields.map(([k, v]) => `${k}=${v.replace(/\r\n|[\r\n]/g, " ")}`).join("\n");
}

function readProcessEnv(unset: boolean): SdNotifyEnv {
  const out: Record<string, string | undefined> = {};
  for (const name of NOTIFY_ENV) {
    try {
      out[name] = Deno.env.get(name);
      if (unset && out[name] !== undefined) Deno.env.delete(name);
    } catch {
      // No --allow-env: behave as outside systemd rather than fail the daemon.
      out[name] = undefined;
    }
  }
  return out;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * A client of systemd's notify socket. Construct it once at startup; every method is
 * a no-op returning false when `NOTIFY_SOCKET` is unset or unusable, and none throws.
 *
 * @example
 * ```ts
 * const sd = new SdNotify();
 * if (sd.enabled) log.debug(`notifying systemd at ${sd.socketPath}`);
 * sd.ready();
 * ```
 */
export class SdNotify {
  readonly #socket: string | null;
  readonly #watchdogMs: number | null;
  readonly #log: Logger;
  /** Set after a logged failure; cleared by the next successful send. */
  #failing = false;

  /**
   * Reads the environment once; see {@link SdNotifyOptions}.
   *
   * @example
   * ```ts
   * const sd = new SdNotify({ env: { NOTIFY_SOCKET: "/run/systemd/notify" }, logger });
   * ```
   */
  constructor(opts: SdNotifyOptions = {}) {
    this.#log = opts.logger ?? new Logger();
    const env = opts.env ?? readProcessEnv(opts.unsetEnvironment ?? false);
    const pid = opts.pid ?? Deno.pid;
    const raw = env["NOTIFY_SOCKET"];
    let socket: string | null = null;
    if (raw !== undefined && raw !== "") {
      // libsystemd also knows vsock: addresses (for VMs); a host daemon never gets one.
      if (raw.startsWith("/") || (raw.startsWith("@") && raw.length > 1)) {
        socket = raw;
      } else {
        this.#log.warn(
          `NOTIFY_SOCKET=${raw}: only absolute paths and @abstract names are supported; not notifying systemd`,
        );
      }
    }
    this.#socket = socket;
    this.#watchdogMs = socket === null ? null : parseWatchdogMs(env, pid);
  }

  /**
   * True when messages are actually sent (a usable `NOTIFY_SOCKET` was found).
   *
   * @example
   * ```ts
   * new SdNotify({ env: {} }).enabled; // false
   * ```
   */
  get enabled(): boolean {
    return this.#socket !== null;
  }

  /**
   * The socket messages go to, as `NOTIFY_SOCKET` gave it; null when disabled.
   *
   * @example
   * ```ts
   * new SdNotify({ env: { NOTIFY_SOCKET: "@x" } }).socketPath; // "@x"
   * ```
   */
  get socketPath(): string | null {
    return this.#socket;
  }

  /**
   * The full watchdog interval (`WatchdogSec=`) in ms when systemd expects pings from
   * this process, else null. Ping at half of it, as `sd_watchdog_enabled(3)` advises,
   * so one late timer does not cost a restart; {@link SdNotify.startWatchdog} does.
   *
   * @example
   * ```ts
   * new SdNotify({ env: { NOTIFY_SOCKET: "@x", WATCHDOG_USEC: "10000000" } }).watchdogIntervalMs(); // 10000
   * ```
   */
  watchdogIntervalMs(): number | null {
    return this.#watchdogMs;
  }

  /**
   * Sends one datagram of `KEY=value` lines. Returns true when it was handed to the
   * kernel, false when disabled or failed (the first failure is logged).
   *
   * @example
   * ```ts
   * sd.notify([["STATUS", "reloading"], ["EXTEND_TIMEOUT_USEC", "5000000"]]);
   * ```
   */
  notify(fields: readonly (readonly [string, string])[]): boolean {
    if (this.#socket === null) return false;
    const text = formatNotify(fields);
    let fd = -1;
    try {
      const to = sockaddrUn(this.#socket);
      fd = openSocket(AF_UNIX, SOCK_DGRAM, 0);
      const sent = sendTo(fd, new TextEncoder().encode(text), to);
      if (sent === null) throw new Error("the socket's queue is full (EAGAIN)");
      this.#failing = false;
      return true;
    } catch (e) {
      if (!this.#failing) {
        this.#failing = true;
        const first = text.split("\n", 1)[0];
        this.#log.warn(
          `systemd notify (${first}) to ${this.#socket} failed: ${
            errorText(e)
          }; further failures are not logged until a send works`,
        );
      }
      return false;
    } finally {
      if (fd >= 0) {
        try {
          closeFd(fd);
        } catch {
          // The message is already sent or lost; a close error changes neither.
        }
      }
    }
  }

  /**
   * `READY=1`: startup (or a reload) is complete. An optional status line goes in the
   * same datagram, so `systemctl status` never shows a stale one after start.
   *
   * @example
   * ```ts
   * sd.ready("2 instances: VI_1 master, VI_2 backup");
   * ```
   */
  ready(status?: string): boolean {
    return this.notify(withStatus([["READY", "1"]], status));
  }

  /**
   * `RELOADING=1` with `MONOTONIC_USEC=` (CLOCK_MONOTONIC now): a reload has begun;
   * send {@link SdNotify.ready} when it is done. systemd ≥ 253 requires the timestamp
   * with `Type=notify-reload` to tell this reload from an earlier one; older ones
   * ignore it.
   *
   * @example
   * ```ts
   * sd.reloading();
   * const outcome = await control.reload();
   * sd.ready(outcome.ok ? "reloaded" : "reload refused; old config kept");
   * ```
   */
  reloading(status?: string): boolean {
    if (this.#socket === null) return false;
    let usec: bigint;
    try {
      usec = clockMonotonicUsec();
    } catch (e) {
      // Without the timestamp notify-reload would wait for the wrong reload: send nothing.
      return this.#failOnce("RELOADING=1", e);
    }
    return this.notify(
      withStatus([["RELOADING", "1"], ["MONOTONIC_USEC", usec.toString()]], status),
    );
  }

  /**
   * `STOPPING=1`: shutdown has begun (the priority-0 release and the VIP hold follow).
   *
   * @example
   * ```ts
   * sd.stopping("releasing: priority 0 sent");
   * ```
   */
  stopping(status?: string): boolean {
    return this.notify(withStatus([["STOPPING", "1"]], status));
  }

  /**
   * `STATUS=<text>`: one line shown by `systemctl status`.
   *
   * @example
   * ```ts
   * sd.status("VI_1 master, VI_2 backup");
   * ```
   */
  status(text: string): boolean {
    return this.notify([["STATUS", text]]);
  }

  /**
   * `WATCHDOG=1`: the loop is alive. Call only when it is, or the watchdog is useless.
   *
   * @example
   * ```ts
   * if (control.isLive()) sd.watchdog();
   * ```
   */
  watchdog(): boolean {
    return this.notify([["WATCHDOG", "1"]]);
  }

  /**
   * Pings the watchdog every half interval while `isLive()` says the daemon's loop is
   * turning; returns the function that stops it. A no-op stopper when systemd wants no
   * pings. A timer on `reactor` (a blocking wait of the daemon's reactor would hold a
   * Deno timer back): call the stopper, or it keeps the reactor's loop running.
   *
   * @example
   * ```ts
   * const stop = sd.startWatchdog(() => control.isLive());
   * await daemon.done;
   * stop();
   * ```
   */
  startWatchdog(isLive: () => boolean, reactor: Reactor = defaultReactor()): () => void {
    const interval = this.#watchdogMs;
    if (interval === null) return () => {};
    // On the reactor's clock: a blocking wait would hold a Deno timer back.
    const every = Math.max(1, Math.floor(interval / 2));
    let cancel: (() => void) | null = null;
    const tick = () => {
      let live = false;
      try {
        live = isLive();
      } catch {
        // A throwing liveness probe is a sick daemon: withholding the ping is right.
      }
      if (live) this.watchdog();
      cancel = reactor.at(reactor.nowMs() + every, tick);
    };
    cancel = reactor.at(reactor.nowMs() + every, tick);
    return () => cancel?.();
  }

  #failOnce(what: string, e: unknown): false {
    if (!this.#failing) {
      this.#failing = true;
      this.#log.warn(`systemd notify (${what}) failed: ${errorText(e)}`);
    }
    return false;
  }
}

function withStatus(
  fields: (readonly [string, string])[],
  status: string | undefined,
): (readonly [string, string])[] {
  if (status !== undefined) fields.push(["STATUS", status]);
  return fields;
}

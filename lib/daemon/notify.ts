/**
 * Notify hooks: the commands an operator hangs on state changes (`notify_master`,
 * `notify_backup`, `notify_fault`, `notify_stop`, `notify`), run the way keepalived
 * runs them, without ever slowing the daemon down.
 *
 * Arguments (keepalived's convention, `keepalived.conf(5)` and
 * `keepalived/vrrp/vrrp_notify.c`):
 * - the state-specific hook (`notify_master` on MASTER, `notify_backup` on BACKUP,
 *   `notify_fault` on FAULT, `notify_stop` on STOP) runs first, with exactly the
 *   arguments written in its command line and nothing added;
 * - then the generic `notify` runs, with its written arguments followed by four more:
 *   `TYPE NAME STATE PRIORITY`, TYPE being `INSTANCE` or `GROUP`, STATE one of `MASTER`
 *   `BACKUP` `FAULT` `STOP`, both in upper case. PRIORITY is the instance's effective
 *   priority, and `0` for a group, as keepalived sends it.
 *
 * Command lines are split on whitespace honouring quotes (`splitCommandLine`),
 * with no shell. Every hook gets the same small environment and nothing inherited:
 * `HACORE_TYPE`, `HACORE_NAME`, `HACORE_STATE`, `HACORE_PREVIOUS_STATE`,
 * `HACORE_PRIORITY` (the event's priority, for groups too), `HACORE_REASON`,
 * `HACORE_DETAIL`, `HACORE_MASTER_IP` (empty when unknown), `HACORE_TIME` (ISO 8601) and
 * `PATH` = {@link SCRIPT_PATH}. The working directory is `/`, stdin is `/dev/null`.
 *
 * Scheduling: one queue per instance or group, so the hooks of one name run one at a
 * time in transition order (a `notify_backup` never overtakes the `notify_master`
 * before it) while different names run side by side. `notify()` only queues. Each run
 * is bounded by `notify_timeout`: SIGTERM to the hook's process group, SIGKILL one
 * second later. A queue holding more than 100 events drops its oldest pending ones: a
 * flapping instance must not build an unbounded backlog.
 *
 * Before each run the command is checked by `lib/sys/script_security.ts` (verdicts cached 30
 * s); a refused hook is recorded as a run with `error` set and not started.
 *
 * @example
 * ```ts
 * const notifier = new Notifier({
 *   timeoutMs: config.global.notifyTimeoutMs, logger,
 *   allowInsecure: config.global.allowInsecureScripts, fifoPath: config.global.notifyFifo,
 * });
 * notifier.notify(event); // returns at once
 * notifier.recent("VI_1"); // finished runs, oldest first
 * await notifier.close();
 * ```
 *
 * @module
 */

import type { HookRun } from "../control/api.ts";
import type { Config, NotifyConfig } from "../config/schema.ts";
import { type Logger, RateLimiter, suppressedNote } from "../log.ts";
import { EventStream, type EventStreamStats, type FifoFormat } from "./event_stream.ts";
import type { MailAlerts } from "../notify/alerts.ts";
import type { LvsNotice } from "../lvs/runtime.ts";
import { type Clock, type NotifyEvent, type NotifySink, systemClock } from "./ports.ts";
import {
  checkScript,
  type CheckScriptOptions,
  SCRIPT_PATH,
  type ScriptVerdict,
} from "../sys/script_security.ts";
import {
  lookupUser,
  OUTPUT_CAP_BYTES,
  type ProcessExit,
  type SpawnedProcess,
  spawnProcess,
  type SpawnRequest,
  type UserIds,
} from "../sys/spawn.ts";

/**
 * What to start for a hook: the resolved executable, its arguments (without argv[0])
 * and the whole environment. The shared spawner's request (`lib/sys/spawn.ts`).
 *
 * @example
 * ```ts
 * const req: HookSpawnRequest = {
 *   path: "/etc/hacore/notify.sh", args: ["INSTANCE", "VI_1", "MASTER", "150"],
 *   env: { PATH: SCRIPT_PATH, HACORE_STATE: "MASTER" },
 * };
 * ```
 */
export type HookSpawnRequest = Pick<SpawnRequest, "path" | "args" | "env" | "user">;

/**
 * How a hook ended (the shared spawner's {@link ProcessExit}).
 *
 * @example
 * ```ts
 * const s: HookExit = { exitCode: null, signal: "SIGKILL" };
 * ```
 */
export type HookExit = ProcessExit;

/**
 * A started hook (the shared spawner's {@link SpawnedProcess}).
 *
 * @example
 * ```ts
 * const p: HookProcess = spawnHook(req);
 * p.kill("SIGTERM");
 * ```
 */
export type HookProcess = SpawnedProcess;

/**
 * Starts a hook; throws when it cannot (the file vanished, ENOEXEC, ...). Injected in
 * tests; {@link spawnHook} in production.
 *
 * @example
 * ```ts
 * const spawn: HookSpawner = (req) => spawnHook(req);
 * ```
 */
export type HookSpawner = (req: HookSpawnRequest) => HookProcess;

export { OUTPUT_CAP_BYTES };

/**
 * The production {@link HookSpawner}: the shared spawner (cleared environment, cwd `/`,
 * stdin from `/dev/null`, a process group of its own so a timeout kills whatever the
 * script started too) with the tails of stdout and stderr kept.
 *
 * @example
 * ```ts
 * const p = spawnHook({ path: "/bin/true", args: [], env: { PATH: SCRIPT_PATH } });
 * await p.exit; // { exitCode: 0, signal: null }
 * await p.output;
 * ```
 */
export function spawnHook(req: HookSpawnRequest): HookProcess {
  return spawnProcess({ ...req, output: "tail" });
}

/**
 * One hook to run for an event: its config key, the command line as configured, and
 * the arguments keepalived appends (none for state-specific hooks).
 *
 * @example
 * ```ts
 * const job: HookJob = { hook: "notify", command: "/etc/hacore/n.sh", extraArgs: ["INSTANCE", "VI_1", "MASTER", "150"] };
 * ```
 */
export interface HookJob {
  readonly hook: string;
  readonly command: string;
  readonly extraArgs: readonly string[];
}

/**
 * The hooks an event runs, in keepalived's order: the state-specific one, then the
 * generic `notify` with `TYPE NAME STATE PRIORITY` appended (PRIORITY `0` for a group).
 *
 * @example
 * ```ts
 * hookJobs({ ...event, state: "MASTER", hooks: { master: "/bin/up", backup: null, fault: null, stop: null, generic: "/bin/n x" } });
 * // [{ hook: "notify_master", command: "/bin/up", extraArgs: [] },
 * //  { hook: "notify", command: "/bin/n x", extraArgs: ["INSTANCE", "VI_1", "MASTER", "150"] }]
 * ```
 */
export function hookJobs(event: NotifyEvent): HookJob[] {
  if (event.lowerPriority === true) {
    const command = event.hooks.masterRxLowerPri ?? null;
    return command === null ? [] : [{ hook: "notify_master_rx_lower_pri", command, extraArgs: [] }];
  }
  const jobs: HookJob[] = [];
  const specific = stateHook(event.hooks, event.state);
  if (specific !== null) jobs.push({ hook: specific[0], command: specific[1], extraArgs: [] });
  if (event.hooks.generic !== null) {
    const priority = event.target === "GROUP" ? 0 : event.priority;
    jobs.push({
      hook: "notify",
      command: event.hooks.generic,
      extraArgs: [event.target, event.name, event.state, String(priority)],
    });
  }
  return jobs;
}

function stateHook(hooks: NotifyConfig, state: NotifyEvent["state"]): [string, string] | null {
  switch (state) {
    case "MASTER":
      return hooks.master === null ? null : ["notify_master", hooks.master];
    case "BACKUP":
      return hooks.backup === null ? null : ["notify_backup", hooks.backup];
    case "FAULT":
      return hooks.fault === null ? null : ["notify_fault", hooks.fault];
    case "STOP":
      return hooks.stop === null ? null : ["notify_stop", hooks.stop];
  }
}

/**
 * The environment of every hook of an event: the `HACORE_*` variables and a fixed
 * PATH, nothing else.
 *
 * @example
 * ```ts
 * hookEnv(event).HACORE_STATE; // "MASTER"
 * hookEnv(event).HACORE_MASTER_IP; // "" when unknown
 * ```
 */
export function hookEnv(event: NotifyEvent): Record<string, string> {
  // NUL cannot be passed in an environment string; nothing legitimate contains one.
  const clean = (s: string) => s.replaceAll("\0", "");
  return {
    HACORE_TYPE: event.target,
    HACORE_NAME: clean(event.name),
    HACORE_STATE: event.state,
    HACORE_PREVIOUS_STATE: event.previous,
    HACORE_PRIORITY: String(event.priority),
    HACORE_REASON: event.reason,
    HACORE_DETAIL: clean(event.detail),
    HACORE_MASTER_IP: event.masterIp ?? "",
    HACORE_TIME: event.at.toISOString(),
    PATH: SCRIPT_PATH,
  };
}

/**
 * Options of {@link Notifier}.
 *
 * @example
 * ```ts
 * const opts: NotifierOptions = { timeoutMs: 10_000, logger, allowInsecure: false, fifoPath: null };
 * ```
 */
export interface NotifierOptions {
  /** `global.notify_timeout`: a run still going after this long gets SIGTERM. */
  readonly timeoutMs: number;
  readonly logger: Logger;
  /** `global.allow_insecure_scripts`. */
  readonly allowInsecure: boolean;
  /** `global.notify_fifo`, or null for no event stream. */
  readonly fifoPath: string | null;
  /** `global.notify_fifo_format`: JSON lines (the default) or keepalived's text lines. */
  readonly fifoFormat?: FifoFormat;
  /** Starts hooks; {@link spawnHook} by default. */
  readonly spawn?: HookSpawner;
  /** Monotonic time for durations, timeouts and the verdict cache; {@link systemClock} by default. */
  readonly clock?: Clock;
  /** Wall time for `startedAt`; `new Date()` by default. */
  readonly wallClock?: () => Date;
  /** Finished runs kept per name; 20 by default. */
  readonly historyLimit?: number;
  /** Pending events per name before the oldest are dropped; 100 by default. */
  readonly queueLimit?: number;
  /** Between SIGTERM and SIGKILL of a timed-out hook; 1000 ms by default. */
  readonly killGraceMs?: number;
  /** Script security check; {@link checkScript} by default. */
  readonly checkScript?: (commandLine: string, opts: CheckScriptOptions) => ScriptVerdict;
  /** Told of every finished (or refused) run, e.g. to count it; must not throw. */
  readonly onRun?: (run: HookRun) => void;
  /** Mail alerts (`smtp_alert`), told of every event; none by default. */
  readonly mail?: MailAlerts | null;
  /**
   * `global.script_user`: the user instance and group hooks run as (keepalived runs
   * its notify scripts as `script_user` too); null or absent = the daemon's (root).
   */
  readonly scriptUser?: string | null;
  /** {@link lookupUser} by default. */
  readonly lookupUser?: (name: string) => Promise<UserIds>;
}

/** A script's verdict is trusted this long before the files are checked again. */
const VERDICT_TTL_MS = 30_000;

interface Lane {
  readonly key: string;
  pending: NotifyEvent[];
  active: boolean;
}

/**
 * Runs notify hooks: queues per name, runs one at a time per name, enforces the
 * timeout, checks script security, keeps the recent results and feeds the event
 * stream. See the module doc for the conventions.
 *
 * @example
 * ```ts
 * const notifier = new Notifier({ timeoutMs: 10_000, logger, allowInsecure: false, fifoPath: null });
 * notifier.notify(event);
 * await notifier.settled();
 * notifier.recent("VI_1").at(-1)?.exitCode; // 0
 * ```
 */
export class Notifier implements NotifySink {
  readonly #timeoutMs: number;
  readonly #onRun: ((run: HookRun) => void) | undefined;
  readonly #logger: Logger;
  readonly #allowInsecure: boolean;
  readonly #spawn: HookSpawner;
  readonly #clock: Clock;
  readonly #wallClock: () => Date;
  readonly #historyLimit: number;
  readonly #queueLimit: number;
  readonly #killGraceMs: number;
  readonly #check: (commandLine: string, opts: CheckScriptOptions) => ScriptVerdict;
  readonly #stream: EventStream | null;
  readonly #mail: MailAlerts | null;
  readonly #scriptUser: string | null;
  readonly #lookupUser: (name: string) => Promise<UserIds>;
  readonly #lanes = new Map<string, Lane>();
  /** Per virtual server: the last queued LVS run, which the next one waits for. */
  readonly #lvsLanes = new Map<string, Promise<void>>();
  readonly #drains = new Set<Promise<void>>();
  readonly #history = new Map<string, HookRun[]>();
  readonly #verdicts = new Map<string, { verdict: ScriptVerdict; atMs: number }>();
  readonly #warnedInsecure = new Set<string>();
  readonly #dropLog = new RateLimiter(10_000);
  /** Aborts the timeout sleeps of running hooks, so close() leaves no timer behind. */
  readonly #sleeps = new AbortController();
  #closed = false;
  #droppedEvents = 0;
  #idleWaiters: (() => void)[] = [];

  /**
   * Creates a notifier (and, with `fifoPath`, its event stream).
   *
   * @example
   * ```ts
   * const n = new Notifier({ timeoutMs: 5000, logger, allowInsecure: false, fifoPath: "/run/hacore/events" });
   * ```
   */
  constructor(opts: NotifierOptions) {
    this.#timeoutMs = opts.timeoutMs;
    this.#onRun = opts.onRun;
    this.#logger = opts.logger;
    this.#allowInsecure = opts.allowInsecure;
    this.#spawn = opts.spawn ?? spawnHook;
    this.#clock = opts.clock ?? systemClock;
    this.#wallClock = opts.wallClock ?? (() => new Date());
    this.#historyLimit = opts.historyLimit ?? 20;
    this.#queueLimit = opts.queueLimit ?? 100;
    this.#killGraceMs = opts.killGraceMs ?? 1000;
    this.#check = opts.checkScript ?? checkScript;
    this.#mail = opts.mail ?? null;
    this.#scriptUser = opts.scriptUser ?? null;
    this.#lookupUser = opts.lookupUser ?? lookupUser;
    this.#stream = opts.fifoPath === null
      ? null
      : new EventStream({ path: opts.fifoPath, logger: opts.logger, format: opts.fifoFormat });
  }

  /**
   * Writes the event to the stream and queues its hooks. Returns at once and never
   * throws: a slow hook must never delay the caller's adverts.
   *
   * @example
   * ```ts
   * notifier.notify({ target: "INSTANCE", name: "VI_1", state: "MASTER", previous: "BACKUP",
   *   priority: 150, reason: "master-down-timer", detail: "", masterIp: "192.0.2.11",
   *   at: new Date(), hooks: instance.notify });
   * ```
   */
  notify(event: NotifyEvent): void {
    try {
      if (this.#closed) {
        this.#logger.debug(`${event.name}: notifier closed; ${event.state} not notified`);
        return;
      }
      // A lower-priority advert is no change of state: its own hook only.
      if (event.lowerPriority !== true) {
        this.#stream?.write(event);
        this.#mail?.vrrp({
          target: event.target,
          name: event.name,
          state: event.state,
          priority: event.priority,
          reason: event.reason,
          at: event.at,
        }, event.hooks.smtpAlert);
      }
      if (hookJobs(event).length === 0) return;
      const key = `${event.target}\0${event.name}`;
      let lane = this.#lanes.get(key);
      if (lane === undefined) {
        lane = { key, pending: [], active: false };
        this.#lanes.set(key, lane);
      }
      lane.pending.push(event);
      if (lane.pending.length > this.#queueLimit) this.#dropOldest(lane, event.name);
      if (!lane.active) {
        lane.active = true;
        const drain = this.#drain(lane);
        this.#drains.add(drain);
        drain.finally(() => {
          this.#drains.delete(drain);
          if (this.#drains.size === 0) this.#wakeIdle();
        });
      }
    } catch (e) {
      try {
        this.#logger.error(`${event.name}: notify failed: ${describe(e)}`);
      } catch {
        // Nothing left to do; the caller must not see it.
      }
    }
  }

  /**
   * Writes an LVS event's line to the stream and queues its command (a real server's
   * `notify_up` / `notify_down`, a virtual server's `quorum_up` / `quorum_down`), run as
   * keepalived runs them: with exactly the arguments written, nothing appended; one at
   * a time per virtual server, in order. The environment says what happened:
   * `HACORE_TYPE` (`RS` or `VS`), `HACORE_NAME` (the virtual server),
   * `HACORE_REAL_SERVER` (the real server's id, empty for quorum), `HACORE_STATE`
   * (`UP` / `DOWN`), `HACORE_TIME`, and the fixed `PATH`. Returns at once, never throws.
   *
   * @example
   * ```ts
   * notifier.notifyLvs(notice);
   * ```
   */
  notifyLvs(notice: LvsNotice): void {
    try {
      if (this.#closed) return;
      const at = this.#wallClock();
      this.#stream?.writeLvs(notice, at);
      this.#mail?.lvs({
        kind: notice.kind,
        virtualServer: notice.virtualServer,
        realServer: notice.realServer,
        up: notice.up,
        at,
      });
      const command = notice.command;
      if (command === null) return;
      const key = `LVS\0${notice.virtualServer}`;
      const before = this.#lvsLanes.get(key) ?? Promise.resolve();
      const run = before.then(() => this.#runLvs(notice, command, at));
      this.#lvsLanes.set(key, run);
      this.#drains.add(run);
      run.finally(() => {
        this.#drains.delete(run);
        if (this.#lvsLanes.get(key) === run) this.#lvsLanes.delete(key);
        if (this.#drains.size === 0) this.#wakeIdle();
      });
    } catch (e) {
      try {
        this.#logger.error(`${notice.virtualServer}: notify failed: ${describe(e)}`);
      } catch {
        // Nothing left to do; the caller must not see it.
      }
    }
  }

  async #runLvs(n: LvsNotice, command: string, at: Date): Promise<void> {
    // close() means no new hook starts.
    if (this.#closed) return;
    const who = n.realServer ?? n.virtualServer;
    try {
      const verdict = this.#verdict({ hook: n.hook, command, extraArgs: [] });
      if (!verdict.ok) {
        this.#logger.warn(`${who}: ${n.hook} not run: ${verdict.error}`);
        return;
      }
      const ids = this.#scriptUser === null ? null : await this.#lookupUser(this.#scriptUser);
      if (ids !== null && "error" in ids) {
        this.#logger.warn(`${who}: ${n.hook} not run: script_user: ${ids.error}`);
        return;
      }
      const proc = this.#spawn({
        ...(ids === null ? {} : { user: ids }),
        path: verdict.path,
        args: verdict.argv.slice(1),
        env: {
          HACORE_TYPE: n.kind === "real_server" ? "RS" : "VS",
          HACORE_NAME: n.virtualServer.replaceAll("\0", ""),
          HACORE_REAL_SERVER: (n.realServer ?? "").replaceAll("\0", ""),
          HACORE_STATE: n.up ? "UP" : "DOWN",
          HACORE_TIME: at.toISOString(),
          PATH: SCRIPT_PATH,
        },
      });
      const timedOut = await this.#waitOrKill(proc);
      const exit = await proc.exit;
      const { stderr } = await proc.output;
      if (exit.exitCode === 0 && !timedOut) {
        this.#logger.info(`${who}: ${n.hook} exited 0`);
      } else {
        const how = timedOut
          ? `timed out after ${this.#timeoutMs} ms, killed`
          : exit.signal !== null
          ? `killed by ${exit.signal}`
          : `exited ${exit.exitCode}`;
        const last = lastLine(stderr);
        this.#logger.warn(`${who}: ${n.hook} ${how}${last ? `: ${last}` : ""}`);
      }
    } catch (e) {
      this.#logger.error(`${who}: ${n.hook}: cannot run: ${describe(e)}`);
    }
  }

  /**
   * The last finished runs for an instance or group name (up to `historyLimit`), oldest
   * first.
   *
   * @example
   * ```ts
   * for (const run of notifier.recent("VI_1")) console.log(run.hook, run.exitCode, run.durationMs);
   * ```
   */
  recent(name: string): readonly HookRun[] {
    return [...(this.#history.get(name) ?? [])];
  }

  /**
   * Events written to and dropped by the event stream (null without `notify_fifo`), and
   * events dropped from full queues.
   *
   * @example
   * ```ts
   * notifier.stats.queueDropped; // 0
   * ```
   */
  get stats(): { readonly stream: EventStreamStats | null; readonly queueDropped: number } {
    return { stream: this.#stream?.stats ?? null, queueDropped: this.#droppedEvents };
  }

  /**
   * Resolves once nothing is running or pending (at once if that is already so). For
   * a shutdown that wants its STOP hooks run: `notify` the STOP events, await this
   * (each run is bounded by the timeout), then {@link close}.
   *
   * @example
   * ```ts
   * notifier.notify(stopEvent);
   * await notifier.settled();
   * await notifier.close();
   * ```
   */
  settled(): Promise<void> {
    if (this.#drains.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Stops: drops pending events (with a log line per name), lets running hooks finish
   * within their timeout (killed after it), closes the event stream. Nothing is left
   * running or pending when it resolves. Later `notify` calls are ignored.
   *
   * @example
   * ```ts
   * await notifier.close();
   * ```
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const lane of this.#lanes.values()) {
        const n = lane.pending.length;
        if (n > 0) {
          lane.pending = [];
          const name = lane.key.split("\0")[1];
          this.#logger.warn(`${name}: shutting down; dropped ${n} pending notify event(s)`);
        }
      }
    }
    await Promise.all([...this.#drains]);
    this.#sleeps.abort();
    this.#stream?.close();
  }

  async #drain(lane: Lane): Promise<void> {
    try {
      while (lane.pending.length > 0) {
        const event = lane.pending.shift()!;
        for (const job of hookJobs(event)) {
          // close() means no new hook starts, the rest of this event's included.
          if (this.#closed) break;
          try {
            this.#record(await this.#run(event, job));
          } catch (e) {
            this.#logger.error(`${event.name}: ${job.hook}: internal error: ${describe(e)}`);
          }
        }
      }
    } finally {
      lane.active = false;
      this.#lanes.delete(lane.key);
    }
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  async #run(event: NotifyEvent, job: HookJob): Promise<HookRun> {
    const startedAt = this.#wallClock().toISOString();
    const base = {
      hook: job.hook,
      target: event.target,
      name: event.name,
      state: event.state,
      command: job.command,
      startedAt,
    };
    const refused = (error: string): HookRun => {
      this.#logger.warn(`${event.name}: ${job.hook} not run: ${error}`);
      return {
        ...base,
        durationMs: 0,
        exitCode: null,
        signal: null,
        timedOut: false,
        error,
      };
    };
    const verdict = this.#verdict(job);
    if (!verdict.ok) return refused(verdict.error);
    if (verdict.warning !== null && !this.#warnedInsecure.has(job.command)) {
      this.#warnedInsecure.add(job.command);
      this.#logger.warn(verdict.warning);
    }
    let user: { uid: number; gid: number } | undefined;
    if (this.#scriptUser !== null) {
      const ids = await this.#lookupUser(this.#scriptUser);
      if ("error" in ids) return refused(`script_user: ${ids.error}`);
      user = ids;
    }
    const t0 = this.#clock.nowMs();
    let proc: HookProcess;
    try {
      proc = this.#spawn({
        path: verdict.path,
        args: [...verdict.argv.slice(1), ...job.extraArgs],
        env: hookEnv(event),
        ...(user === undefined ? {} : { user }),
      });
    } catch (e) {
      // Forget the verdict: whatever made the start fail (file gone) must be re-checked.
      this.#verdicts.delete(job.command);
      return refused(`cannot start ${verdict.path}: ${describe(e)}`);
    }
    const timedOut = await this.#waitOrKill(proc);
    const exit = await proc.exit;
    const durationMs = Math.round((this.#clock.nowMs() - t0) * 10) / 10;
    const { stderr } = await proc.output;
    const run: HookRun = {
      ...base,
      durationMs,
      exitCode: exit.exitCode,
      signal: exit.signal,
      timedOut,
      error: null,
    };
    this.#logRun(run, stderr);
    return run;
  }

  /** Waits for the hook within the timeout; past it, SIGTERM then SIGKILL. True if it timed out. */
  async #waitOrKill(proc: HookProcess): Promise<boolean> {
    const done = proc.exit.then(() => true);
    if (await this.#within(done, this.#timeoutMs)) return false;
    proc.kill("SIGTERM");
    if (!(await this.#within(done, this.#killGraceMs))) proc.kill("SIGKILL");
    return true;
  }

  /** True when `p` resolves within `ms`; the timer is cleared either way. */
  async #within(p: Promise<boolean>, ms: number): Promise<boolean> {
    const ac = new AbortController();
    const onClose = () => ac.abort();
    this.#sleeps.signal.addEventListener("abort", onClose, { once: true });
    try {
      const sleep = this.#clock.sleepUntil(this.#clock.nowMs() + ms, ac.signal).then(() => false);
      return await Promise.race([p, sleep]);
    } finally {
      ac.abort();
      this.#sleeps.signal.removeEventListener("abort", onClose);
    }
  }

  #verdict(job: HookJob): ScriptVerdict {
    const now = this.#clock.nowMs();
    const cached = this.#verdicts.get(job.command);
    if (cached !== undefined && now - cached.atMs < VERDICT_TTL_MS) return cached.verdict;
    const verdict = this.#check(job.command, {
      allowInsecure: this.#allowInsecure,
      label: job.hook,
    });
    this.#verdicts.set(job.command, { verdict, atMs: now });
    return verdict;
  }

  #logRun(run: HookRun, stderr: string): void {
    const took = `${Math.round(run.durationMs)} ms`;
    if (run.exitCode === 0 && !run.timedOut) {
      this.#logger.info(`${run.name}: ${run.hook} exited 0 in ${took}`);
      return;
    }
    let what: string;
    if (run.timedOut) {
      what = `timed out after ${this.#timeoutMs} ms, killed (${run.signal ?? "exited"}) in ${took}`;
    } else if (run.signal !== null) what = `killed by ${run.signal} in ${took}`;
    else what = `exited ${run.exitCode} in ${took}`;
    const last = lastLine(stderr);
    this.#logger.warn(`${run.name}: ${run.hook} ${what}${last ? `: ${last}` : ""}`);
  }

  #record(run: HookRun): void {
    try {
      this.#onRun?.(run);
    } catch (e) {
      this.#logger.error(`notify: run observer failed: ${(e as Error).message}`);
    }
    let list = this.#history.get(run.name);
    if (list === undefined) {
      list = [];
      this.#history.set(run.name, list);
    }
    list.push(run);
    if (list.length > this.#historyLimit) list.splice(0, list.length - this.#historyLimit);
  }

  #dropOldest(lane: Lane, name: string): void {
    const excess = lane.pending.length - this.#queueLimit;
    const dropped = lane.pending.splice(0, excess);
    this.#droppedEvents += dropped.length;
    const v = this.#dropLog.check(lane.key, this.#clock.nowMs());
    if (v.allow) {
      this.#logger.warn(
        `${name}: notify queue full (${this.#queueLimit} pending); dropped the oldest ` +
          `(${dropped.map((e) => e.state).join(", ")})${suppressedNote(v.suppressed)}`,
      );
    }
  }
}

/**
 * Every problem with every notify hook of a config (instances, then sync groups), one
 * line each, labelled with the key path, e.g.
 * `vrrp_instance.VI_1.notify_master: /etc/hacore/up does not exist`. Empty when all is
 * well. Insecure scripts are only reported when `global.allow_insecure_scripts` is off.
 *
 * @example
 * ```ts
 * for (const p of checkConfigScripts(config)) console.error(p);
 * ```
 */
export function checkConfigScripts(config: Config): string[] {
  const problems: string[] = [];
  const allowInsecure = config.global.allowInsecureScripts;
  const checkAll = (section: string, name: string, notify: NotifyConfig) => {
    const seen = new Set<string>();
    for (const [key, command] of notifyHooks(notify)) {
      const v = checkScript(command, { allowInsecure, label: `${section}.${name}.${key}` });
      if (!v.ok && !seen.has(v.error)) {
        seen.add(v.error);
        problems.push(v.error);
      }
    }
  };
  for (const vi of config.instances) checkAll("vrrp_instance", vi.name, vi.notify);
  for (const g of config.syncGroups) checkAll("vrrp_sync_group", g.name, g.notify);
  return problems;
}

/**
 * The configured hooks of a {@link NotifyConfig} as (config key, command line) pairs,
 * in keepalived's key order; unset hooks are left out.
 *
 * @example
 * ```ts
 * notifyHooks({ master: "/bin/up", backup: null, fault: null, stop: null, generic: "/bin/n" });
 * // [["notify_master", "/bin/up"], ["notify", "/bin/n"]]
 * ```
 */
export function notifyHooks(notify: NotifyConfig): [string, string][] {
  const out: [string, string][] = [];
  if (notify.master !== null) out.push(["notify_master", notify.master]);
  if (notify.backup !== null) out.push(["notify_backup", notify.backup]);
  if (notify.fault !== null) out.push(["notify_fault", notify.fault]);
  if (notify.stop !== null) out.push(["notify_stop", notify.stop]);
  if (notify.generic !== null) out.push(["notify", notify.generic]);
  return out;
}

/** The last non-empty line of a hook's output, trimmed, or "". */
function lastLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  return lines.at(-1) ?? "";
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

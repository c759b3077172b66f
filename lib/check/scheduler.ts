/**
 * Runs many checks on a deadline, each debounced by rise/fall, inside the caller's
 * event loop: the scheduler neither reads a clock of its own nor arms a timer. It is
 * given the daemon's clock, says when it next needs to run
 * ({@link CheckScheduler.nextDeadlineMs}), and the loop, which waits in one place for
 * the nearest deadline of everything it drives, calls {@link CheckScheduler.runDue}
 * then. Under a manual clock the checks run in manual time like the VRRP timers.
 *
 * - One deadline for all checks: next-due times sit in a min-heap and only the
 *   earliest is handed to the loop, so thousands of checks cost one wake-up, not
 *   thousands. When a change from outside the loop (a run that ended, a check added)
 *   moves that deadline earlier than the one last handed out, `wake` is called so the
 *   loop waits again for the new one.
 * - Spread: a new check first runs at a random offset in [0, interval), so checks
 *   added together (a config load) do not all fire in the same millisecond.
 * - No overlap: the next run of a check is scheduled when the previous one completes,
 *   at the first boundary of its schedule (first run + k × interval) still ahead. A
 *   check slower than its interval skips boundaries instead of piling up, and a late
 *   run does not shift the ones after it.
 * - Few wake-ups: due times are rounded to 10 ms slots, so checks due close together
 *   run in one wake-up.
 * - A cap on checks in flight ({@link MAX_IN_FLIGHT}); the rest wait in a FIFO, so a
 *   burst cannot exhaust file descriptors.
 * - Timeouts on the same deadline: each run gets a {@link CheckBudget}, and the
 *   deadline is the earliest expiry of a running check too, so a run costs no timer of
 *   its own (the checks' Deadline adopts the budget). Running checks are a list (at
 *   most {@link MAX_IN_FLIGHT}) that a run leaves when it ends: keeping ended budgets
 *   until their expiry (a heap with lazy deletion) made every run's controller outlive
 *   a young-generation GC and doubled its pauses.
 * - Watched targets (`timing.watchConnection`): after a passing run, an idle connection
 *   to the check's target is held ({@link ConnectionWatcher}); when it ends, the check
 *   runs at once instead of at its next interval: a killed server process is seen in
 *   milliseconds. A check that passes after its connection ended soon after it opened (a
 *   server closing idle connections at once, by design) is watched again at most
 *   {@link WATCH_STRIKES} times. A definitive failure (a refusal) of one check runs the
 *   other checks of the same target at once too (identical checks share one probe
 *   already; these are different checks of one server, e.g. of two virtual servers).
 *
 * @module
 */

import { type TurnClock, turnClockOf } from "./clock.ts";
import { CheckBudget } from "./deadline.ts";
import { type DebounceState, debounceStep, initialDebounce } from "./debounce.ts";
import { MinHeap } from "./heap.ts";
import { SWEEP_MS } from "./sweep.ts";
import { errorText, formatEndpoint } from "./result.ts";
import { checksIdle, runCheck } from "./run.ts";
import type { CheckResult, CheckRunner, CheckSpec, CheckTiming, Endpoint } from "./types.ts";
import { type ConnectionWatcher, TcpWatcher, type WatchProbe } from "./watch.ts";

/**
 * One check to run: `id` is unique within a scheduler (e.g. "vrrp_script:chk_web").
 *
 * @example
 * ```ts
 * const c: ScheduledCheck = {
 *   id: "vrrp_script:web",
 *   spec: { kind: "tcp", target: { host: "127.0.0.1", port: 80 } },
 *   timing: { intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, initialUp: true },
 * };
 * ```
 */
export interface ScheduledCheck {
  /** Unique within the scheduler. */
  readonly id: string;
  /** What to check. */
  readonly spec: CheckSpec;
  /** How often, how long, and the rise/fall debouncing. */
  readonly timing: CheckTiming;
}

/**
 * What the scheduler knows of one check.
 *
 * @example
 * ```ts
 * const st: CheckStatus | undefined = scheduler.status("vrrp_script:web");
 * if (st?.settled && !st.up) console.log(st.last?.detail);
 * ```
 */
export interface CheckStatus {
  /** The check's id. */
  readonly id: string;
  /** Debounced state (rise/fall applied); `timing.initialUp` until enough results. */
  readonly up: boolean;
  /** false until the first result arrives. */
  readonly settled: boolean;
  /** The latest result, null before the first. */
  readonly last: CheckResult | null;
  /** Dynamic weight of the last passing result, else null. */
  readonly weight: number | null;
  /** Completed runs (aborted ones are not counted). */
  readonly runs: number;
  /** Completed runs that failed. */
  readonly failures: number;
  /** Results in a row that disagree with `up` (progress towards rise or fall). */
  readonly streak: number;
}

/**
 * The part of the daemon's `Clock` (`lib/daemon/ports.ts`) the scheduler reads: its
 * due times and budgets are on that clock, so a manual clock moves them too.
 *
 * @example
 * ```ts
 * const clock: CheckClock = { nowMs: () => performance.now() };
 * ```
 */
export interface CheckClock {
  nowMs(): number;
}

/**
 * Options of {@link CheckScheduler}.
 *
 * @example
 * ```ts
 * const opts: CheckSchedulerOptions = {
 *   clock: systemClock,
 *   onChange: (st) => console.log(st.id, st.up),
 *   wake: () => inbox.poke(),
 * };
 * ```
 */
export interface CheckSchedulerOptions {
  /** The daemon's clock: every due time and timeout is on it. */
  readonly clock: CheckClock;
  /**
   * Called when {@link CheckScheduler.nextDeadlineMs} would now answer earlier than it
   * last did (a run ended, a check was added), from outside the caller's loop: the
   * loop should take the new deadline. None by default (the caller polls).
   */
  readonly wake?: () => void;
  /** Called when a check's debounced state (or dynamic weight) changes. */
  readonly onChange: (status: CheckStatus) => void;
  /** The function that runs one check; the real network checks by default. */
  readonly runner?: CheckRunner;
  /** Random in [0, 1) for the start offset; Math.random by default. */
  readonly random?: () => number;
  /**
   * Holds the idle connections of checks with `timing.watchConnection`. By default a
   * {@link TcpWatcher} with the real runner, none with a runner given (a fake runner's
   * targets are not there to connect to): pass one to test watching.
   */
  readonly watcher?: ConnectionWatcher | null;
}

/**
 * Checks running at once, at most; the rest wait their turn. Each check holds at most
 * one socket or child process, so this bounds the file descriptors checks use.
 */
export const MAX_IN_FLIGHT = 256;

/**
 * A watched check that still passes after its connection ended this many times is no
 * longer watched: its server closes idle connections by design, and each end would
 * cost a run for nothing.
 */
export const WATCH_STRIKES = 3;
/**
 * A watched connection that lived at least this long before it ended is no strike: a
 * server with a long idle timeout (nginx closes an idle connection after 60 s) costs
 * one extra run per timeout and stays watched.
 */
export const WATCH_MIN_LIFE_MS = 10_000;

/** What is due within this runs now: a wake a hair early must not cost a second one. */
const DUE_SLACK_MS = 1;

/**
 * A loop that runs this much later than the deadline it was handed was stalled (start-up
 * work, a GC, a starved CPU): answers may be waiting that it has not read yet.
 */
export const STALL_MS = 10;
/** How long a check that expired during a stall gets to have its answer read. */
export const STALL_GRACE_MS = 20;

/**
 * Due times are rounded to slots of this many milliseconds (less for intervals under
 * 100 ms), so checks due close together run in one timer wake-up instead of one each:
 * 1000 checks a second spread over the second otherwise wake the event loop 1000
 * times. Rounding to the nearest slot keeps the average period exact. The slots are
 * the sweeps' (./sweep.ts): a sweep then falls in the wake that starts the next batch.
 */
const SLOT_MS = SWEEP_MS;

/** The due-time slot of a check with this interval. */
function slotOf(intervalMs: number): number {
  return Math.min(SLOT_MS, Math.max(intervalMs, 1) / 10);
}

type EntryState = "waiting" | "queued" | "running" | "removed";

interface Entry {
  check: ScheduledCheck;
  debounce: DebounceState;
  last: CheckResult | null;
  runs: number;
  failures: number;
  /** Next run (clock time, rounded to its slot); fixed while in the heap. */
  due: number;
  /** The unrounded time of the first run: every run is due at anchor + k × interval. */
  anchor: number;
  state: EntryState;
  /** The budget of the run in progress, null between runs. */
  budget: CheckBudget | null;
  /** Index in the scheduler's running list while a run is in progress, else -1. */
  slot: number;
  /** In the heap (at `due`): a run out of turn takes it out first, never in twice. */
  inHeap: boolean;
  /** Stops the watch of its target's connection; null while not watched. */
  unwatch: (() => void) | null;
  /** The run in progress (or next) was started by the end of the watched connection. */
  woken: boolean;
  /** Short-lived connection ends followed by a passing run (see {@link WATCH_STRIKES}). */
  strikes: number;
  /** The watched connection that woke it ended within {@link WATCH_MIN_LIFE_MS}. */
  shortLived: boolean;
}

/**
 * Runs checks on the caller's deadlines; see the module notes.
 *
 * @example
 * ```ts
 * const s = new CheckScheduler({ clock, onChange: (st) => console.log(st.id, st.up) });
 * s.set({
 *   id: "vrrp_script:web",
 *   spec: { kind: "tcp", target: { host: "127.0.0.1", port: 80 } },
 *   timing: { intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, initialUp: true },
 * });
 * s.status("vrrp_script:web")?.up; // true until the checks say otherwise
 * // in the loop: park until s.nextDeadlineMs(), then s.runDue()
 * await s.stop();
 * ```
 */
export class CheckScheduler {
  readonly #onChange: (status: CheckStatus) => void;
  readonly #clock: CheckClock;
  /**
   * The clock read once per turn: the runs that end in one wake (and the checks they
   * start from the queue) share a reading (see ./clock.ts: each reading is a syscall
   * in the UML guest). {@link runDue} and {@link set} always read it anew.
   */
  readonly #turn: TurnClock;
  readonly #wake: () => void;
  readonly #runner: CheckRunner;
  readonly #random: () => number;
  readonly #watcher: ConnectionWatcher | null;
  /** Entries whose watched connection ended: run at the next {@link runDue}, out of turn. */
  #woken: Entry[] = [];
  readonly #entries = new Map<string, Entry>();
  readonly #heap = new MinHeap<Entry>((e) => e.due);
  /**
   * Entries with a run in progress (removed ones too, until it ends), each at its
   * `slot`. An array with swap-removal rather than a Set: a Set's table is reallocated
   * as it grows and shrinks with every run, and those tables outlived young GCs.
   */
  readonly #running: Entry[] = [];
  /** The earliest `expiresAt` of an unsettled running budget (Infinity when none). */
  #nextExpiry = Infinity;
  #queue: Entry[] = [];
  #queueHead = 0;
  /** Resolves {@link stop}'s wait once the last run in progress has ended. */
  #onIdle: (() => void) | null = null;
  /** The deadline last handed out; an earlier one than this wakes the caller. */
  #promisedAt = Infinity;
  /** The last deadline handed to the loop, to tell how late the loop came back. */
  #handedAt = Infinity;
  #stopped = false;

  /** A scheduler with no checks yet. */
  constructor(opts: CheckSchedulerOptions) {
    this.#onChange = opts.onChange;
    this.#clock = opts.clock;
    this.#turn = turnClockOf(opts.clock);
    this.#wake = opts.wake ?? (() => {});
    this.#runner = opts.runner ?? runCheck;
    this.#random = opts.random ?? Math.random;
    this.#watcher = opts.watcher !== undefined
      ? opts.watcher
      : opts.runner === undefined
      ? new TcpWatcher()
      : null;
  }

  /**
   * Adds (or replaces, keeping its state when spec and timing are equal) a check.
   *
   * @example
   * ```ts
   * s.set({ id: "c", spec: { kind: "file", path: "/run/ok", expect: null }, timing });
   * ```
   */
  set(check: ScheduledCheck): void {
    if (this.#stopped) return;
    const old = this.#entries.get(check.id);
    if (old !== undefined) {
      if (sameValue(old.check.spec, check.spec) && sameValue(old.check.timing, check.timing)) {
        old.check = check;
        return;
      }
      this.#drop(old);
    }
    const e: Entry = {
      check,
      debounce: initialDebounce(check.timing.initialUp),
      last: null,
      runs: 0,
      failures: 0,
      due: 0,
      anchor: 0,
      state: "waiting",
      budget: null,
      slot: -1,
      inHeap: true,
      unwatch: null,
      woken: false,
      strikes: 0,
      shortLived: false,
    };
    const interval = Math.max(1, check.timing.intervalMs);
    const slot = slotOf(interval);
    // The first run comes within `warmupMs` (keepalived's warmup), else one interval.
    const spread = Math.max(0, check.timing.warmupMs ?? interval);
    e.anchor = this.#turn.fresh() + this.#random() * spread;
    e.due = Math.round(e.anchor / slot) * slot;
    this.#entries.set(check.id, e);
    this.#heap.push(e);
    this.#wakeIfEarlier();
  }

  /**
   * Stops and forgets a check (a run in progress is aborted and its result ignored).
   *
   * @example
   * ```ts
   * s.remove("vrrp_script:web");
   * ```
   */
  remove(id: string): void {
    const e = this.#entries.get(id);
    if (e === undefined) return;
    this.#entries.delete(id);
    this.#drop(e);
  }

  /**
   * The status of one check, or undefined when there is no such check.
   *
   * @example
   * ```ts
   * const st = s.status("vrrp_script:web");
   * ```
   */
  status(id: string): CheckStatus | undefined {
    const e = this.#entries.get(id);
    return e === undefined ? undefined : snapshot(e);
  }

  /**
   * The status of every check, in the order they were added.
   *
   * @example
   * ```ts
   * for (const st of s.all()) console.log(st.id, st.up);
   * ```
   */
  all(): CheckStatus[] {
    return [...this.#entries.values()].map(snapshot);
  }

  /**
   * When the scheduler next needs {@link CheckScheduler.runDue}: the earliest due check
   * or expiry of a running one, in clock time; null when nothing is pending.
   *
   * @example
   * ```ts
   * const at = s.nextDeadlineMs(); // e.g. 12_340, or null
   * ```
   */
  nextDeadlineMs(): number | null {
    const at = this.#earliest();
    this.#promisedAt = at;
    this.#handedAt = at;
    return at === Infinity ? null : at;
  }

  /**
   * Runs what is due by the clock's time: expires running checks past their timeout,
   * starts the checks due (within the in-flight cap; the rest queue). Cheap when
   * nothing is due, so the caller may call it on every loop turn.
   *
   * @example
   * ```ts
   * if ((s.nextDeadlineMs() ?? Infinity) <= clock.nowMs()) s.runDue();
   * ```
   */
  runDue(): void {
    if (this.#stopped) return;
    // Expiries first, to the exact time (a timeout is never cut short by the slack);
    // aborting only signals the run, which ends (and is counted) later.
    const exact = this.#turn.fresh();
    const stalled = exact - this.#handedAt > STALL_MS;
    if (this.#nextExpiry <= exact) this.#sweepExpiries(exact, stalled);
    if (this.#woken.length > 0) this.#runWoken(exact);
    const now = exact + DUE_SLACK_MS;
    for (
      let top = this.#heap.peek();
      top !== undefined && top.due <= now;
      top = this.#heap.peek()
    ) {
      this.#heap.pop();
      top.inHeap = false;
      if (top.state !== "waiting") continue;
      if (this.#running.length < MAX_IN_FLIGHT) this.#run(top, exact);
      else {
        top.state = "queued";
        this.#queue.push(top);
      }
    }
  }

  /**
   * Aborts running checks and forgets every check; resolves once they have all ended
   * and the shared check sockets are closed.
   *
   * @example
   * ```ts
   * await s.stop();
   * ```
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#promisedAt = Infinity;
    this.#nextExpiry = Infinity;
    this.#heap.clear();
    this.#woken = [];
    this.#queue = [];
    this.#queueHead = 0;
    for (const e of this.#entries.values()) this.#drop(e);
    this.#entries.clear();
    if (this.#running.length > 0) {
      await new Promise<void>((resolve) => (this.#onIdle = resolve));
    }
    await this.#watcher?.close();
    await checksIdle();
  }

  #drop(e: Entry): void {
    // Entries in the heap or the queue are skipped when they come up.
    e.state = "removed";
    e.budget?.cancel();
    e.unwatch?.();
    e.unwatch = null;
  }

  /** The earliest due time or running expiry (Infinity when none); drops removed tops. */
  #earliest(): number {
    let top = this.#heap.peek();
    while (top !== undefined && top.state === "removed") {
      this.#heap.pop();
      top.inHeap = false;
      top = this.#heap.peek();
    }
    if (this.#woken.length > 0) return this.#turn.now();
    return Math.min(top?.due ?? Infinity, this.#nextExpiry);
  }

  /** Tells the caller when its deadline for the scheduler has moved earlier. */
  #wakeIfEarlier(): void {
    if (this.#stopped || this.#earliest() >= this.#promisedAt) return;
    // Once told, the caller reads the new deadline; no need to tell it again till then.
    this.#promisedAt = -Infinity;
    this.#wake();
  }

  /** Starts a run of `e` at `now` (the batch's reading: a budget starts with its batch). */
  #run(e: Entry, now: number): void {
    e.state = "running";
    const { spec, timing } = e.check;
    const budget = new CheckBudget(timing.timeoutMs, now);
    e.budget = budget;
    e.slot = this.#running.length;
    this.#running.push(e);
    // The caller (runDue, #finish) reports the deadline once it has started what it starts.
    if (budget.expiresAt < this.#nextExpiry) this.#nextExpiry = budget.expiresAt;
    let result: Promise<CheckResult>;
    try {
      result = this.#runner(spec, timing.timeoutMs, budget.signal);
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (r) => this.#finish(e, r),
      (err) => this.#finish(e, crashed(err, this.#turn.now() - budget.startedAt)),
    );
  }

  #finish(e: Entry, r: CheckResult): void {
    // Swap-remove from the running list.
    const last = this.#running.pop()!;
    if (last !== e) {
      this.#running[e.slot] = last;
      last.slot = e.slot;
    }
    e.slot = -1;
    const budget = e.budget!;
    e.budget = null;
    budget.settle();
    // Only the earliest leaving moves the next expiry: then find the new earliest, so
    // the caller is not woken for a run that has ended.
    if (budget.expiresAt <= this.#nextExpiry) this.#sweepExpiries(-Infinity);
    if (this.#running.length === 0 && this.#onIdle !== null) {
      this.#onIdle();
      this.#onIdle = null;
    }
    if (e.state === "running" && !this.#stopped) {
      e.state = "waiting";
      e.runs++;
      if (!r.ok) e.failures++;
      e.last = r;
      const outcome = debounceStep(e.debounce, r, e.check.timing);
      e.debounce = outcome.state;
      this.#rewatch(e, r.ok);
      if (r.definitive === true && e.check.timing.watchConnection === true) this.#wakeSiblings(e);
      const interval = Math.max(1, e.check.timing.intervalMs);
      const now = this.#turn.now();
      const retryMs = e.check.timing.retryIntervalMs;
      if (retryMs !== undefined && e.debounce.up && e.debounce.streak > 0) {
        // A failure still short of `fall`: retried soon, and the schedule starts over
        // from the retry (keepalived's delay_before_retry).
        e.anchor = now + Math.max(1, retryMs) - interval;
        e.due = now + Math.max(1, retryMs);
      } else {
        e.due = nextDue(e.anchor, interval, now);
      }
      e.inHeap = true;
      this.#heap.push(e);
      if (outcome.changed) this.#notify(e);
    }
    this.#pump();
    this.#wakeIfEarlier();
  }

  /**
   * Expires running budgets due by `now`, and recomputes the earliest of the rest. When
   * the loop comes back stalled, a budget that ran out meanwhile is first given
   * {@link STALL_GRACE_MS}, once: its answer may have come in and not been handled yet,
   * and a starting daemon must not take a healthy real server out for its own slowness.
   */
  #sweepExpiries(now: number, stalled = false): void {
    let next = Infinity;
    for (let i = 0; i < this.#running.length; i++) {
      const b = this.#running[i].budget!;
      // Settled: timed out or cancelled already, and only waiting for its run to end.
      if (b.settled) continue;
      if (b.expiresAt <= now) {
        if (!stalled || !b.reprieve(now + STALL_GRACE_MS)) b.expire();
      }
      if (!b.settled && b.expiresAt < next) next = b.expiresAt;
    }
    this.#nextExpiry = next;
  }

  #notify(e: Entry): void {
    try {
      this.#onChange(snapshot(e));
    } catch (err) {
      // A listener's bug must not stop the checks; it still surfaces as an error.
      reportError(err);
    }
  }

  /**
   * After a run: a passing watched check holds its target's connection (again, unless
   * it has passed after too many short-lived ends); a failing one is not watched anew.
   */
  #rewatch(e: Entry, ok: boolean): void {
    const woken = e.woken;
    e.woken = false;
    if (this.#watcher === null || e.check.timing.watchConnection !== true) return;
    if (!ok) return;
    if (woken && e.shortLived) e.strikes++;
    // For good: a regular run that passes must not watch it again, or a server closing
    // idle connections at once costs a connection and a run per interval for nothing.
    if (e.strikes >= WATCH_STRIKES) return;
    if (e.unwatch !== null) return;
    const target = watchTarget(e.check.spec);
    if (target === null) return;
    const since = this.#turn.now();
    e.unwatch = this.#watcher.watch(target, (end) => {
      e.unwatch = null;
      if (e.state === "removed" || this.#stopped) return;
      const heldMs = this.#turn.fresh() - since;
      if (end === "silent") return this.#silent(e, heldMs);
      e.shortLived = heldMs < WATCH_MIN_LIFE_MS;
      this.#wakeUp(e);
    }, watchProbe(e.check.timing));
  }

  /**
   * The watched connection's keepalive probes went unanswered for the check's whole
   * retry schedule ({@link watchProbe}): a definitive failure now, as a refusal is, since
   * a run now would only wait out its timeout (the regular runs go on meanwhile).
   */
  #silent(e: Entry, heldMs: number): void {
    const p = watchProbe(e.check.timing);
    const r: CheckResult = {
      ok: false,
      detail: `no answer to ${p.count} TCP keepalive probe(s) on the connection held to ` +
        `${formatWatchTarget(e.check.spec)} (${Math.round(heldMs)} ms open)`,
      weight: null,
      durationMs: (p.idleS + p.count * p.intervalS) * 1000,
      definitive: true,
    };
    e.failures++;
    e.last = r;
    const outcome = debounceStep(e.debounce, r, e.check.timing);
    e.debounce = outcome.state;
    if (outcome.changed) this.#notify(e);
  }

  /** Runs `e` out of turn at the next {@link runDue}. */
  #wakeUp(e: Entry): void {
    if (e.woken) return;
    e.woken = true;
    this.#woken.push(e);
    this.#wakeIfEarlier();
  }

  /**
   * The target of `e` refused: the other watched checks of that same target (other
   * specs: identical ones share e's probe) run now rather than at their interval.
   */
  #wakeSiblings(e: Entry): void {
    const target = watchTarget(e.check.spec);
    if (target === null) return;
    for (const o of this.#entries.values()) {
      if (o === e || o.state !== "waiting" || o.check.timing.watchConnection !== true) continue;
      const t = watchTarget(o.check.spec);
      if (t === null || t.host !== target.host || t.port !== target.port || !o.debounce.up) {
        continue;
      }
      o.shortLived = false;
      this.#wakeUp(o);
    }
  }

  /** Runs the checks whose watched connection ended, out of turn. */
  #runWoken(now: number): void {
    const woken = this.#woken;
    this.#woken = [];
    for (const e of woken) {
      if (e.state !== "waiting") continue;
      // Out of the heap while it runs: its end schedules it afresh (a retry included).
      if (e.inHeap) this.#heap.remove(e);
      e.inHeap = false;
      if (this.#running.length < MAX_IN_FLIGHT) this.#run(e, now);
      else {
        e.state = "queued";
        this.#queue.push(e);
      }
    }
  }

  /** Starts queued checks while there is room in flight. */
  #pump(): void {
    while (this.#running.length < MAX_IN_FLIGHT && this.#queueHead < this.#queue.length) {
      const e = this.#queue[this.#queueHead++];
      if (e.state === "queued") this.#run(e, this.#turn.now());
    }
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
  }
}

/**
 * The first boundary of the check's schedule (`anchor + k * interval`, k ≥ 1) after
 * `now`, rounded to its slot: a late or slow run keeps the phase and skips the
 * boundaries it missed instead of running twice in a row. Rounding each boundary from
 * the anchor (not from the last rounded time) keeps the period exact on average.
 */
function nextDue(anchor: number, interval: number, now: number): number {
  const slot = slotOf(interval);
  for (let k = Math.max(1, Math.floor((now - anchor) / interval) + 1);; k++) {
    const next = Math.round((anchor + k * interval) / slot) * slot;
    if (next > now) return next;
  }
}

/**
 * The keepalive timing of a watched check's connection, on the check's own pacing: a
 * probe after each interval of quiet, retried `fall - 1` times (at least once) spaced
 * by the retry delay (keepalived's `delay_before_retry`, else the interval). A server
 * gone silent is then noticed within `interval + (fall - 1) × retry delay` of its last
 * answer, where the checks alone would also wait out each attempt's timeout.
 */
export function watchProbe(timing: CheckTiming): WatchProbe {
  return {
    idleS: timing.intervalMs / 1000,
    intervalS: (timing.retryIntervalMs ?? timing.intervalMs) / 1000,
    count: Math.max(1, timing.fall - 1),
  };
}

function formatWatchTarget(spec: CheckSpec): string {
  const t = watchTarget(spec);
  return t === null ? spec.kind : formatEndpoint(t);
}

/** The endpoint whose connection a check of this kind can be watched on, if any. */
function watchTarget(spec: CheckSpec): Endpoint | null {
  switch (spec.kind) {
    case "tcp":
    case "http":
    case "smtp":
      return spec.target;
    default:
      return null;
  }
}

function snapshot(e: Entry): CheckStatus {
  return {
    id: e.check.id,
    up: e.debounce.up,
    settled: e.debounce.settled,
    last: e.last,
    weight: e.debounce.weight,
    runs: e.runs,
    failures: e.failures,
    streak: e.debounce.streak,
  };
}

function crashed(err: unknown, durationMs: number): CheckResult {
  return { ok: false, detail: `check runner failed: ${errorText(err)}`, weight: null, durationMs };
}

/** Structural equality of config values: primitives, arrays, byte arrays, plain objects. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.length !== b.length) {
      return false;
    }
    return a.every((v, i) => v === b[i]);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return ka.every((k) => Object.hasOwn(rb, k) && sameValue(ra[k], rb[k]));
}

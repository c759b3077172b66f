/**
 * The daemon's one check service: every subsystem that needs health checks (the VRRP
 * trackers' `vrrp_script`s now, the virtual servers' real servers next) subscribes
 * under its own name, declares the checks it wants by its own ids, and hears the
 * verdicts of those ids only. Underneath there is one {@link CheckScheduler}: one heap,
 * one in-flight limit, one deadline for the daemon loop to wait on, on the daemon's
 * clock. A subscriber never sees another's checks, so it needs no id prefix of its own
 * and no filtering.
 *
 * @example
 * ```ts
 * const checks = new CheckService({ clock, wake: () => inbox.poke() });
 * const sub = checks.subscribe("lvs", (id, st) => console.log(id, st.up));
 * sub.set(new Map([["10.0.0.5:80", { spec, timing }]]));
 * // in the loop: park until checks.nextDeadlineMs(), then checks.runDue()
 * await checks.stop();
 * ```
 *
 * @module
 */

import { type CheckClock, CheckScheduler, type CheckStatus } from "./scheduler.ts";
import type { CheckRunner, CheckSpec, CheckTiming } from "./types.ts";

/**
 * One check a subscriber wants: what to check and how often.
 *
 * @example
 * ```ts
 * const d: CheckDefinition = {
 *   spec: { kind: "tcp", target: { host: "10.0.0.5", port: 80 } },
 *   timing: { intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, initialUp: false },
 * };
 * ```
 */
export interface CheckDefinition {
  readonly spec: CheckSpec;
  readonly timing: CheckTiming;
}

/**
 * Hears a subscriber's verdicts: `id` is the subscriber's own, and so is `status.id`.
 * Called when a check's debounced state (or dynamic weight) changes, from outside the
 * daemon loop (queue work for the loop rather than doing it here).
 */
export type VerdictListener = (id: string, status: CheckStatus) => void;

/**
 * One subscriber's checks.
 *
 * @example
 * ```ts
 * sub.set(wanted); // adds new ids, keeps equal ones with their rise/fall state, drops the rest
 * sub.status("10.0.0.5:80")?.up;
 * sub.close();
 * ```
 */
export interface CheckSubscription {
  /** The name it subscribed under. */
  readonly owner: string;
  /**
   * Makes the subscriber's checks exactly `checks`: ids not seen before start (at a
   * random offset in their interval), ids whose spec and timing are equal keep their
   * state, changed ones start over, missing ones stop (a run in progress is aborted).
   */
  set(checks: ReadonlyMap<string, CheckDefinition>): void;
  /** The status of one of its checks, or undefined when it has no such check. */
  status(id: string): CheckStatus | undefined;
  /** Stops every check of the subscription; no verdict is heard afterwards. */
  close(): void;
}

/**
 * What a subscriber needs of the service (`CheckService` fits it; tests fake it).
 *
 * @example
 * ```ts
 * function startTrackers(checks: CheckSource) {
 *   return checks.subscribe("vrrp_script", (id, st) => changed(id, st));
 * }
 * ```
 */
export interface CheckSource {
  /** Subscribes under `owner`, which must not be subscribed already. */
  subscribe(owner: string, onVerdict: VerdictListener): CheckSubscription;
}

/**
 * Options of {@link CheckService}.
 *
 * @example
 * ```ts
 * const opts: CheckServiceOptions = { clock, wake: () => inbox.poke(), random: () => 0 };
 * ```
 */
export interface CheckServiceOptions {
  /** The daemon's clock. */
  readonly clock: CheckClock;
  /** Wakes the loop when the service's deadline moves earlier (see `CheckScheduler`). */
  readonly wake?: () => void;
  /** Runs one check; the real network checks by default (a fake in tests). */
  readonly runner?: CheckRunner;
  /** Random in [0, 1) for the first run's offset; Math.random by default. */
  readonly random?: () => number;
}

interface Owned {
  readonly sub: Subscription;
  readonly id: string;
}

/**
 * The check service; see the module notes.
 *
 * @example
 * ```ts
 * const checks = new CheckService({ clock });
 * ```
 */
export class CheckService implements CheckSource {
  readonly #scheduler: CheckScheduler;
  readonly #subs = new Map<string, Subscription>();
  /** Scheduler id to its subscriber and the subscriber's id. */
  readonly #owned = new Map<string, Owned>();

  /**
   * A service with no subscribers yet.
   *
   * @example
   * ```ts
   * new CheckService({ clock: new ManualClock(), runner: fakeRunner, random: () => 0 });
   * ```
   */
  constructor(opts: CheckServiceOptions) {
    this.#scheduler = new CheckScheduler({
      clock: opts.clock,
      wake: opts.wake,
      runner: opts.runner,
      random: opts.random,
      onChange: (st) => this.#verdict(st),
    });
  }

  /**
   * Subscribes under `owner`; see {@link CheckSubscription}.
   *
   * @example
   * ```ts
   * const sub = checks.subscribe("vrrp_script", (id, st) => console.log(id, st.up));
   * ```
   * @throws when `owner` is subscribed already (or holds a NUL).
   */
  subscribe(owner: string, onVerdict: VerdictListener): CheckSubscription {
    if (this.#subs.has(owner)) throw new Error(`checks: ${owner} is subscribed already`);
    if (owner.includes("\u0000")) throw new Error("checks: an owner name holds no NUL");
    const sub = new Subscription(owner, onVerdict, this.#scheduler, this.#owned, () => {
      this.#subs.delete(owner);
    });
    this.#subs.set(owner, sub);
    return sub;
  }

  /**
   * When the service next needs {@link CheckService.runDue}, on the clock; null when
   * nothing is pending. The daemon loop waits for the nearest of this and its own.
   *
   * @example
   * ```ts
   * await inbox.park(earliest(rt.nextDeadlineMs(), checks.nextDeadlineMs()), clock);
   * ```
   */
  nextDeadlineMs(): number | null {
    return this.#scheduler.nextDeadlineMs();
  }

  /**
   * Starts the checks due and times out the runs past their budget.
   *
   * @example
   * ```ts
   * checks.runDue();
   * ```
   */
  runDue(): void {
    this.#scheduler.runDue();
  }

  /**
   * Stops every check of every subscriber and waits for running ones to end (and the
   * shared check sockets to close); nothing runs afterwards.
   *
   * @example
   * ```ts
   * await checks.stop();
   * ```
   */
  async stop(): Promise<void> {
    for (const sub of [...this.#subs.values()]) sub.close();
    await this.#scheduler.stop();
  }

  #verdict(st: CheckStatus): void {
    const o = this.#owned.get(st.id);
    if (o === undefined || o.sub.closed) return;
    o.sub.hear(o.id, { ...st, id: o.id });
  }
}

/** One subscriber's view: its ids map to scheduler ids made unique by its owner name. */
class Subscription implements CheckSubscription {
  readonly owner: string;
  readonly #onVerdict: VerdictListener;
  readonly #scheduler: CheckScheduler;
  readonly #owned: Map<string, Owned>;
  readonly #onClose: () => void;
  /** Its ids. */
  #ids = new Set<string>();
  closed = false;

  constructor(
    owner: string,
    onVerdict: VerdictListener,
    scheduler: CheckScheduler,
    owned: Map<string, Owned>,
    onClose: () => void,
  ) {
    this.owner = owner;
    this.#onVerdict = onVerdict;
    this.#scheduler = scheduler;
    this.#owned = owned;
    this.#onClose = onClose;
  }

  set(checks: ReadonlyMap<string, CheckDefinition>): void {
    if (this.closed) return;
    for (const id of this.#ids) {
      if (!checks.has(id)) this.#remove(id);
    }
    for (const [id, c] of checks) {
      const key = this.#key(id);
      this.#owned.set(key, { sub: this, id });
      this.#ids.add(id);
      // The scheduler keeps the state of a check whose spec and timing are equal.
      this.#scheduler.set({ id: key, spec: c.spec, timing: c.timing });
    }
  }

  status(id: string): CheckStatus | undefined {
    if (!this.#ids.has(id)) return undefined;
    const st = this.#scheduler.status(this.#key(id));
    return st === undefined ? undefined : { ...st, id };
  }

  close(): void {
    if (this.closed) return;
    for (const id of [...this.#ids]) this.#remove(id);
    this.closed = true;
    this.#onClose();
  }

  hear(id: string, st: CheckStatus): void {
    this.#onVerdict(id, st);
  }

  #remove(id: string): void {
    const key = this.#key(id);
    this.#ids.delete(id);
    this.#owned.delete(key);
    this.#scheduler.remove(key);
  }

  /** Owner names cannot hold a NUL, so no two subscribers' ids collide. */
  #key(id: string): string {
    return `${this.owner}\u0000${id}`;
  }
}

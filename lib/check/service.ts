/**
 * The daemon's one check service: every subsystem that needs health checks (the VRRP
 * trackers' `vrrp_script`s now, the virtual servers' real servers next) subscribes
 * under its own name, declares the checks it wants by its own ids, and hears the
 * verdicts of those ids only. Underneath there is one {@link CheckScheduler}: one heap,
 * one in-flight limit, one deadline for the daemon loop to wait on, on the daemon's
 * clock. A subscriber never sees another's checks, so it needs no id prefix of its own
 * and no filtering.
 *
 * One probe per target: checks whose spec and timing are equal (after the config's
 * defaults), asked for by several subscribers or under several ids of one, run once,
 * and every id hears the verdict under its own name. keepalived probes a real server
 * shared by three virtual servers three times; here it is one connection per interval.
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

/**
 * How many probes run for how many checks: several subscribers (or several ids of one)
 * asking for the same check, spec and timing equal, share one probe.
 *
 * @example
 * ```ts
 * const { probes, checks: wanted } = checks.stats(); // e.g. 1 probe for 3 checks
 * ```
 */
export interface CheckServiceStats {
  /** Probes that run (one scheduler entry each). */
  readonly probes: number;
  /** Checks the subscribers asked for (one per subscriber and id). */
  readonly checks: number;
}

/** One subscriber's id that a probe feeds. */
interface Member {
  readonly sub: Subscription;
  readonly id: string;
}

/** One running check and every subscriber id it feeds. */
interface Probe {
  /** Its id in the scheduler. */
  readonly schedId: string;
  /** {@link probeKey} of its spec and timing. */
  readonly key: string;
  readonly members: Set<Member>;
}

/** Where the subscriptions find, create and leave the shared probes. */
class ProbePool {
  readonly scheduler: CheckScheduler;
  readonly #byKey = new Map<string, Probe>();
  readonly #bySched = new Map<string, Probe>();
  #next = 0;

  constructor(scheduler: CheckScheduler) {
    this.scheduler = scheduler;
  }

  /** Adds `m` to the probe of `def`, starting one when none runs yet. */
  join(m: Member, def: CheckDefinition, key: string): Probe {
    let p = this.#byKey.get(key);
    if (p === undefined) {
      p = { schedId: `p${this.#next++}`, key, members: new Set() };
      this.#byKey.set(key, p);
      this.#bySched.set(p.schedId, p);
      this.scheduler.set({ id: p.schedId, spec: def.spec, timing: def.timing });
    }
    p.members.add(m);
    return p;
  }

  /** Takes `m` off `p`; the last member leaving stops the probe. */
  leave(p: Probe, m: Member): void {
    p.members.delete(m);
    if (p.members.size > 0) return;
    this.#byKey.delete(p.key);
    this.#bySched.delete(p.schedId);
    this.scheduler.remove(p.schedId);
  }

  bySchedId(id: string): Probe | undefined {
    return this.#bySched.get(id);
  }

  stats(): CheckServiceStats {
    let checks = 0;
    for (const p of this.#byKey.values()) checks += p.members.size;
    return { probes: this.#byKey.size, checks };
  }
}

/**
 * The identity of a check for sharing: its spec and timing as canonical JSON (keys
 * sorted), so two equal definitions built apart (three virtual servers each naming
 * the same real server and check) give the same key.
 *
 * @example
 * ```ts
 * probeKey({ spec, timing }) === probeKey({ spec: { ...spec }, timing: { ...timing } }); // true
 * ```
 */
export function probeKey(def: CheckDefinition): string {
  return canonical([def.spec, def.timing]);
}

function canonical(v: unknown): string {
  if (v instanceof Uint8Array) return `b:${Array.from(v).join(",")}`;
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (typeof v === "object" && v !== null) {
    const r = v as Record<string, unknown>;
    // An absent optional and one set to undefined are the same check.
    const keys = Object.keys(r).filter((k) => r[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(r[k])}`).join(",")}}`;
  }
  return v === undefined ? "u" : JSON.stringify(v);
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
  readonly #pool: ProbePool;
  readonly #subs = new Map<string, Subscription>();

  /**
   * A service with no subscribers yet.
   *
   * @example
   * ```ts
   * new CheckService({ clock: new ManualClock(), runner: fakeRunner, random: () => 0 });
   * ```
   */
  constructor(opts: CheckServiceOptions) {
    this.#pool = new ProbePool(
      new CheckScheduler({
        clock: opts.clock,
        wake: opts.wake,
        runner: opts.runner,
        random: opts.random,
        onChange: (st) => this.#verdict(st),
      }),
    );
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
    const sub = new Subscription(owner, onVerdict, this.#pool, () => {
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
    return this.#pool.scheduler.nextDeadlineMs();
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
    this.#pool.scheduler.runDue();
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
    await this.#pool.scheduler.stop();
  }

  /**
   * How many probes run for how many checks (status and metrics show it).
   *
   * @example
   * ```ts
   * checks.stats(); // { probes: 1, checks: 3 }
   * ```
   */
  stats(): CheckServiceStats {
    return this.#pool.stats();
  }

  /** A probe's verdict goes to every id it feeds, each under its own id. */
  #verdict(st: CheckStatus): void {
    const p = this.#pool.bySchedId(st.id);
    if (p === undefined) return;
    for (const m of [...p.members]) {
      if (!m.sub.closed) m.sub.hear(m.id, { ...st, id: m.id });
    }
  }
}

/**
 * One subscriber's view: each of its ids is a member of the probe of its definition,
 * shared with every other id (its own or another subscriber's) whose spec and timing
 * are equal. rise/fall is the probe's: equal timing means equal debouncing.
 */
class Subscription implements CheckSubscription {
  readonly owner: string;
  readonly #onVerdict: VerdictListener;
  readonly #pool: ProbePool;
  readonly #onClose: () => void;
  /** Its ids, each with its membership of a probe. */
  #ids = new Map<string, { probe: Probe; member: Member }>();
  closed = false;

  constructor(
    owner: string,
    onVerdict: VerdictListener,
    pool: ProbePool,
    onClose: () => void,
  ) {
    this.owner = owner;
    this.#onVerdict = onVerdict;
    this.#pool = pool;
    this.#onClose = onClose;
  }

  set(checks: ReadonlyMap<string, CheckDefinition>): void {
    if (this.closed) return;
    for (const id of [...this.#ids.keys()]) {
      if (!checks.has(id)) this.#remove(id);
    }
    const joined: Member[] = [];
    for (const [id, c] of checks) {
      const key = probeKey(c);
      const had = this.#ids.get(id);
      // Equal spec and timing: the id keeps its probe and that probe's state.
      if (had !== undefined && had.probe.key === key) continue;
      if (had !== undefined) this.#remove(id);
      const member: Member = { sub: this, id };
      const probe = this.#pool.join(member, c, key);
      this.#ids.set(id, { probe, member });
      joined.push(member);
    }
    // An id joining a probe that has settled already hears its verdict now, as it
    // would have heard it from a probe of its own (told only what differs from the start).
    for (const m of joined) {
      const st = this.status(m.id);
      if (st === undefined || !st.settled) continue;
      if (st.up !== checks.get(m.id)!.timing.initialUp || st.weight !== null) this.hear(m.id, st);
    }
  }

  status(id: string): CheckStatus | undefined {
    const had = this.#ids.get(id);
    if (had === undefined) return undefined;
    const st = this.#pool.scheduler.status(had.probe.schedId);
    return st === undefined ? undefined : { ...st, id };
  }

  close(): void {
    if (this.closed) return;
    for (const id of [...this.#ids.keys()]) this.#remove(id);
    this.closed = true;
    this.#onClose();
  }

  hear(id: string, st: CheckStatus): void {
    this.#onVerdict(id, st);
  }

  #remove(id: string): void {
    const had = this.#ids.get(id);
    if (had === undefined) return;
    this.#ids.delete(id);
    this.#pool.leave(had.probe, had.member);
  }
}

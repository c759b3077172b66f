/**
 * The daemon loop's inbox: every input (a received packet, a kernel event, operator
 * work) is queued here by a port callback or a verb, and the loop, parked on the next
 * deadline, is woken to take them. One loop, one input at a time: nothing runs
 * concurrently with an engine step, so the daemon's state needs no lock.
 *
 * Separate from the daemon because queueing, waking and parking are the one place the
 * loop meets asynchrony; the daemon only decides what to do with what it takes out.
 *
 * @example
 * ```ts
 * const inbox = new Inbox();
 * inbox.push({ kind: "kernel", event: { kind: "resync" } });
 * for (const item of inbox.drain()) handle(item);
 * await inbox.park(clock.nowMs() + 1000, clock); // returns at the deadline or the next push
 * ```
 *
 * @module
 */

import type { Family } from "../net/addr.ts";
import type { Clock, KernelEvent, ReceivedPacket } from "./ports.ts";
import { Reactor } from "../sys/reactor.ts";

/**
 * Why a park's sleep is cancelled, made once: a bare `abort()` builds a DOMException
 * with a stack trace each time, and the loop parks 100 times a second at 10 ms adverts
 * (a sixth of an idle daemon's main-thread time went there).
 */
const PARK_OVER = new DOMException("park over", "AbortError");

/**
 * The park's timer resolves no promise itself: it either wakes the loop (a poke,
 * which the daemon's idle check sees) or handles the deadline in place.
 */
const QUIET_TIMER = { quiet: true } as const;

/**
 * One queued input.
 *
 * @example
 * ```ts
 * const item: InboxItem = { kind: "control", run: () => {}, cancel: () => {} };
 * ```
 */
export type InboxItem =
  | { kind: "packet"; iface: string; family: Family; packet: ReceivedPacket }
  | { kind: "kernel"; event: KernelEvent }
  /** Operator work, run in the loop; `cancel` if the loop ends before it ran. */
  | { kind: "control"; run: () => void; cancel: () => void };

/**
 * Beyond this many queued inputs, packets are dropped (and counted) rather than queued.
 *
 * @example
 * ```ts
 * new Inbox(INBOX_LIMIT);
 * ```
 */
export const INBOX_LIMIT = 65_536;

/**
 * The queue, the wake-up and the parking of the loop.
 *
 * @example
 * ```ts
 * const inbox = new Inbox();
 * if (!inbox.push(item)) bump(counters, "inboxOverflows");
 * ```
 */
export class Inbox {
  readonly #limit: number;
  #items: InboxItem[] = [];
  #wake: (() => void) | null = null;
  #idle = false;
  /** While parked: the deadline it waits for (null: none). Undefined while turning. */
  #parkedUntil: number | null | undefined = undefined;
  /** While parked: moves the park's wake-up to another deadline (see {@link Inbox.repark}). */
  #rearm: ((deadline: number | null) => void) | null = null;
  /** Handles a park's deadline in place (see {@link Inbox.onDeadline}); null: wake. */
  #dueHandler: (() => boolean) | null = null;
  readonly #dueFn = () => {
    if (this.#dueHandler?.() !== true) this.poke();
  };

  /**
   * An empty inbox holding at most `limit` packets.
   *
   * @example
   * ```ts
   * const inbox = new Inbox(1024);
   * ```
   */
  constructor(limit: number = INBOX_LIMIT) {
    this.#limit = limit;
  }

  /**
   * How many inputs are queued.
   *
   * @example
   * ```ts
   * inbox.length; // 0
   * ```
   */
  get length(): number {
    return this.#items.length;
  }

  /**
   * True while the loop is parked with nothing queued.
   *
   * @example
   * ```ts
   * inbox.idle; // false while the loop turns
   * ```
   */
  get idle(): boolean {
    return this.#idle && this.#items.length === 0;
  }

  /**
   * While parked, the deadline the loop waits for (null: none); undefined while it turns.
   *
   * @example
   * ```ts
   * inbox.parkedUntil; // undefined
   * ```
   */
  get parkedUntil(): number | null | undefined {
    return this.#parkedUntil;
  }

  /**
   * Queues an input and wakes the loop. A packet finding the inbox full is not queued:
   * false (the caller counts it).
   *
   * @example
   * ```ts
   * inbox.push({ kind: "kernel", event: { kind: "resync" } }); // true
   * ```
   */
  push(item: InboxItem): boolean {
    if (this.#items.length >= this.#limit && item.kind === "packet") return false;
    this.#items.push(item);
    this.#idle = false;
    this.poke();
    return true;
  }

  /**
   * Wakes a parked loop without queueing anything (a stop was requested).
   *
   * @example
   * ```ts
   * inbox.poke();
   * ```
   */
  poke(): void {
    const w = this.#wake;
    if (w === null) return;
    this.#wake = null;
    // The loop turns from here on, before the park's own cleanup has run.
    this.#idle = false;
    w();
  }

  /**
   * Sets what runs when a park's deadline comes (null: nothing, the loop wakes): true
   * when it handled what was due in place and moved the park on ({@link Inbox.repark}),
   * so the loop stays parked; false wakes the loop.
   *
   * @example
   * ```ts
   * inbox.onDeadline(() => inbox.repark(clock.nowMs() + 10));
   * ```
   */
  onDeadline(handler: (() => boolean) | null): void {
    this.#dueHandler = handler;
  }

  /**
   * While parked and idle, moves the wake-up to `deadline` (null: none) without
   * waking the loop: an input handled in place (a routine advert) moved the next
   * deadline, and nothing else is due. False (and nothing done) when not parked.
   *
   * @example
   * ```ts
   * if (!inbox.repark(nextDeadline())) inbox.poke();
   * ```
   */
  repark(deadline: number | null): boolean {
    const rearm = this.#rearm;
    if (rearm === null || !this.idle) return false;
    if (deadline !== this.#parkedUntil) {
      this.#parkedUntil = deadline;
      rearm(deadline);
    }
    return true;
  }

  /**
   * Takes every queued input, oldest first.
   *
   * @example
   * ```ts
   * for (const item of inbox.drain()) handle(item);
   * ```
   */
  drain(): InboxItem[] {
    return this.#items.splice(0);
  }

  /**
   * Parks until `deadline` on `clock` (null: until woken) or the next push; returns at
   * once when something is queued. The clock's sleep is cancelled either way, so a
   * stopped loop leaves no timer pending.
   *
   * @example
   * ```ts
   * await inbox.park(clock.nowMs() + 100, clock);
   * ```
   */
  async park(deadline: number | null, clock: Clock): Promise<void> {
    if (this.#items.length > 0) return;
    const arm = clock instanceof Reactor ? this.#reactorArm(clock) : this.#clockArm(clock);
    const woken = new Promise<void>((resolve) => (this.#wake = resolve));
    arm(deadline);
    this.#rearm = arm;
    this.#idle = true;
    this.#parkedUntil = deadline;
    try {
      await woken;
    } finally {
      this.#idle = false;
      this.#parkedUntil = undefined;
      this.#wake = null;
      this.#rearm = null;
      // Cancels the park's timer: a stopped daemon leaves nothing pending.
      arm(null);
    }
  }

  /**
   * The park's timer on the reactor: a re-arm is one timer moved on its heap, no
   * promise, AbortController or listener (the loop parks 100 times a second at 10 ms
   * adverts, and those were a tenth of a backup's time per advert).
   */
  #reactorArm(reactor: Reactor): (deadline: number | null) => void {
    let cancel: (() => void) | null = null;
    return (d) => {
      cancel?.();
      cancel = d === null ? null : reactor.at(d, this.#dueFn, QUIET_TIMER);
    };
  }

  /** The park's timer on any other clock: a sleep, cancelled through its signal. */
  #clockArm(clock: Clock): (deadline: number | null) => void {
    let ac: AbortController | null = null;
    return (d) => {
      ac?.abort(PARK_OVER);
      ac = null;
      if (d === null) return;
      const mine = new AbortController();
      ac = mine;
      clock.sleepUntil(d, mine.signal).then(
        () => {
          if (!mine.signal.aborted) this.#dueFn();
        },
        () => {},
      );
    };
  }
}

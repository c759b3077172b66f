/**
 * The VIP guard: while an instance is Master, another host that claims one of its VIPs
 * (ARP reply, gratuitous ARP, neighbour advertisement from a MAC that is not ours) has
 * just pulled the LAN's traffic for it. Clients would stay with the impostor until
 * their neighbour entry ages out (seconds); answering at once with our own GARP/NA
 * brings them back in milliseconds. Neither keepalived nor FRR watches for this.
 *
 * The decision ({@link judgeClaim}) is pure: who owns the address, which MACs are ours,
 * when we last answered. {@link VipGuard} keeps the watches (one per interface with a
 * held VIP, opened and closed as mastership moves), the last claimant per instance for
 * status, and the answer times per VIP, so that a flood of spoofed frames costs at most
 * one burst per VIP per {@link REANNOUNCE_GAP_MS}: we never amplify a flood. The gap
 * doubles with each answer (up to {@link REANNOUNCE_GAP_MAX_MS}) while claims keep
 * coming, and starts again after {@link CLAIM_QUIET_MS} without one: two masters of a
 * partitioned LAN (VRRP cut, ARP still flowing) answering each other's GARPs settle to
 * one burst a second each instead of ten, while a spoofer is still answered every time
 * if it is slower than that. Claims are
 * coalesced before they reach the loop (identical ones counted, distinct ones capped at
 * {@link PENDING_CLAIMS_MAX}), so a flood cannot grow its queue either.
 *
 * @example
 * ```ts
 * const guard = new VipGuard(port, () => enqueue(() => rt.drainClaims()));
 * guard.sync(new Set(["eth0"])); // a master holds VIPs on eth0
 * const v = judgeClaim(claim, { instance: "VI_1", ownMacs: new Set([claim.localMac!]) }, guard.memory(claim), now);
 * ```
 *
 * @module
 */

import type { VipClaim, VipGuardPort } from "../sys/ports.ts";

/** At most one answering burst per VIP in this long, however many claims come. */
export const REANNOUNCE_GAP_MS = 100;
/** The longest gap the back-off reaches. */
export const REANNOUNCE_GAP_MAX_MS = 1000;
/** A VIP without claims for this long is answered at once again, the gap reset. */
export const CLAIM_QUIET_MS = 10_000;

/**
 * What the guard remembers per VIP: when it last answered, the gap the next answer
 * needs, and when the last claim came.
 *
 * @example
 * ```ts
 * const m: AnswerMemory = { answeredAtMs: 1000, gapMs: 200, lastClaimMs: 1050 };
 * ```
 */
export interface AnswerMemory {
  readonly answeredAtMs: number;
  readonly gapMs: number;
  readonly lastClaimMs: number;
}

/**
 * Distinct claims (interface, address, MAC, kind) waiting for the loop at most; a flood
 * of forged senders beyond that is dropped until the loop has run, so the queue (which
 * operator work shares, with no limit of its own) cannot grow with the flood.
 */
export const PENDING_CLAIMS_MAX = 256;

/**
 * A claim and how many times it arrived since the loop last took them.
 *
 * @example
 * ```ts
 * const p: PendingClaim = { claim, count: 3 };
 * ```
 */
export interface PendingClaim {
  readonly claim: VipClaim;
  count: number;
}

/**
 * The live instance holding a claimed address as Master, and the MACs that are ours
 * for it: the interface's, and the virtual router MAC under `use_vmac`.
 *
 * @example
 * ```ts
 * const o: ClaimOwner = { instance: "VI_1", ownMacs: new Set(["02:00:00:00:00:11"]) };
 * ```
 */
export interface ClaimOwner {
  readonly instance: string;
  readonly ownMacs: ReadonlySet<string>;
}

/**
 * What to do about a claim: nothing (not a VIP we hold as Master, or our own MAC), or
 * a conflict to count and report, answered with a burst unless the last one went out
 * less than the current gap ago; `memory` is what to remember for the VIP afterwards.
 *
 * @example
 * ```ts
 * const v: ClaimVerdict = { kind: "conflict", instance: "VI_1", reannounce: true,
 *   memory: { answeredAtMs: 1000, gapMs: 200, lastClaimMs: 1000 } };
 * ```
 */
export type ClaimVerdict =
  | { readonly kind: "ignore"; readonly why: "not-held" | "own-mac" }
  | {
    readonly kind: "conflict";
    readonly instance: string;
    readonly reannounce: boolean;
    readonly memory: AnswerMemory;
  };

/**
 * Judges one claim. `owner` is undefined when no Master of ours holds the address
 * on the claim's interface; `memory` is the guard's for this VIP (undefined: none).
 *
 * @example
 * ```ts
 * judgeClaim(claim, owner, undefined, 1000); // { kind: "conflict", instance: "VI_1", reannounce: true }
 * ```
 */
export function judgeClaim(
  claim: VipClaim,
  owner: ClaimOwner | undefined,
  memory: AnswerMemory | undefined,
  nowMs: number,
): ClaimVerdict {
  if (owner === undefined) return { kind: "ignore", why: "not-held" };
  const mac = claim.mac.toLowerCase();
  if (mac === claim.localMac?.toLowerCase() || owner.ownMacs.has(mac)) {
    return { kind: "ignore", why: "own-mac" };
  }
  const instance = owner.instance;
  if (memory === undefined || nowMs - memory.lastClaimMs >= CLAIM_QUIET_MS) {
    const fresh = { answeredAtMs: nowMs, gapMs: REANNOUNCE_GAP_MS, lastClaimMs: nowMs };
    return { kind: "conflict", instance, reannounce: true, memory: fresh };
  }
  if (nowMs - memory.answeredAtMs >= memory.gapMs) {
    const gapMs = Math.min(memory.gapMs * 2, REANNOUNCE_GAP_MAX_MS);
    const next = { answeredAtMs: nowMs, gapMs, lastClaimMs: nowMs };
    return { kind: "conflict", instance, reannounce: true, memory: next };
  }
  return {
    kind: "conflict",
    instance,
    reannounce: false,
    memory: { ...memory, lastClaimMs: nowMs },
  };
}

/**
 * The last claim against an instance's VIPs, for status.
 *
 * @example
 * ```ts
 * const c: ClaimRecord = { address: "192.0.2.100", mac: "02:00:00:00:00:66", kind: "garp", atMs: 1234 };
 * ```
 */
export interface ClaimRecord {
  readonly address: string;
  readonly mac: string;
  readonly kind: VipClaim["kind"];
  /** The daemon's clock. */
  readonly atMs: number;
}

/**
 * The watches and the guard's memory. Claims from the port are coalesced: identical
 * ones are counted, not queued again, and `schedule` is called once per batch to have
 * the loop {@link VipGuard.take} them (ports never call back into the loop).
 *
 * @example
 * ```ts
 * const guard = new VipGuard(port, () => enqueue({ kind: "control", run: () => rt.drainClaims(), cancel() {} }));
 * ```
 */
export class VipGuard {
  readonly #port: VipGuardPort | null;
  readonly #schedule: () => void;
  readonly #onClaim = (claim: VipClaim) => this.#queue(claim);
  #pending = new Map<string, PendingClaim>();
  #dropped = 0;
  readonly #watches = new Map<string, () => void>();
  readonly #answered = new Map<string, AnswerMemory>();
  readonly #last = new Map<string, ClaimRecord>();

  /**
   * `port` null: no guard (tests, hosts without packet sockets); everything is a no-op.
   */
  constructor(port: VipGuardPort | null, schedule: () => void) {
    this.#port = port;
    this.#schedule = schedule;
  }

  /**
   * The claims that arrived since the last call, each with its count, and how many were
   * dropped because too many distinct ones were waiting.
   *
   * @example
   * ```ts
   * for (const { claim, count } of guard.take().claims) rt.onClaim(claim, count);
   * ```
   */
  take(): { claims: PendingClaim[]; dropped: number } {
    const out = { claims: [...this.#pending.values()], dropped: this.#dropped };
    this.#pending = new Map();
    this.#dropped = 0;
    return out;
  }

  #queue(claim: VipClaim): void {
    const key = `${claim.dev}/${claim.address}/${claim.mac}/${claim.kind}`;
    const p = this.#pending.get(key);
    if (p) {
      p.count++;
      return;
    }
    if (this.#pending.size >= PENDING_CLAIMS_MAX) {
      this.#dropped++;
      return;
    }
    const first = this.#pending.size === 0 && this.#dropped === 0;
    this.#pending.set(key, { claim, count: 1 });
    if (first) this.#schedule();
  }

  /**
   * Watches exactly `devs` (the interfaces where a Master of ours holds VIPs). A watch
   * that cannot be opened is left out and `onError` told; the next sync tries again.
   *
   * @example
   * ```ts
   * guard.sync(new Set(["eth0"]), (dev, e) => log.warn(`${dev}: ${e}`));
   * ```
   */
  sync(devs: ReadonlySet<string>, onError: (dev: string, e: unknown) => void = () => {}): void {
    if (this.#port === null) return;
    for (const [dev, stop] of this.#watches) {
      if (devs.has(dev)) continue;
      stop();
      this.#watches.delete(dev);
    }
    for (const dev of devs) {
      if (this.#watches.has(dev)) continue;
      try {
        this.#watches.set(dev, this.#port.watch(dev, this.#onClaim));
      } catch (e) {
        onError(dev, e);
      }
    }
    // Answer times of VIPs no longer guarded mean nothing; keep the map small.
    for (const key of this.#answered.keys()) {
      if (!devs.has(key.slice(0, key.indexOf("/")))) this.#answered.delete(key);
    }
  }

  /**
   * Whether there is a guard at all (a port was given).
   *
   * @example
   * ```ts
   * guard.enabled; // false in tests without a VipGuardPort
   * ```
   */
  get enabled(): boolean {
    return this.#port !== null;
  }

  /**
   * The interfaces watched now.
   *
   * @example
   * ```ts
   * [...guard.watched()]; // ["eth0"]
   * ```
   */
  watched(): ReadonlySet<string> {
    return new Set(this.#watches.keys());
  }

  /**
   * What the guard remembers for the claim's VIP, or undefined.
   *
   * @example
   * ```ts
   * guard.memory(claim)?.gapMs;
   * ```
   */
  memory(claim: VipClaim): AnswerMemory | undefined {
    return this.#answered.get(`${claim.dev}/${claim.address}`);
  }

  /**
   * Remembers a conflict, and the VIP's answer memory after it.
   *
   * @example
   * ```ts
   * guard.record("VI_1", claim, now, verdict.memory);
   * ```
   */
  record(instance: string, claim: VipClaim, nowMs: number, memory: AnswerMemory): void {
    this.#last.set(instance, {
      address: claim.address,
      mac: claim.mac.toLowerCase(),
      kind: claim.kind,
      atMs: nowMs,
    });
    this.#answered.set(`${claim.dev}/${claim.address}`, memory);
  }

  /**
   * The last conflict against an instance's VIPs, or null.
   *
   * @example
   * ```ts
   * guard.lastClaim("VI_1")?.mac;
   * ```
   */
  lastClaim(instance: string): ClaimRecord | null {
    return this.#last.get(instance) ?? null;
  }

  /**
   * Stops every watch (at teardown).
   *
   * @example
   * ```ts
   * guard.close();
   * ```
   */
  close(): void {
    for (const stop of this.#watches.values()) stop();
    this.#watches.clear();
  }
}

/**
 * The split-brain guard's daemon side: feeds each received advert to the instance's
 * foreign-sender table (`lib/vrrp/foreign.ts`, pure), expires senders that went quiet,
 * and reports what changed: a warning when a sender starts conflicting or what differs
 * changes or the table is full, an info line when it is resolved; all of them through
 * the daemon's one rate limiter, per (reason, source), since a hostile sender decides
 * how often they happen.
 *
 * Reporting only: the engine decides on the same adverts by its own rules. Separate
 * from the daemon so that the wording and the rate limits of these reports are in one
 * place.
 *
 * @example
 * ```ts
 * const foreign = new ForeignWatch({ log, rateLog, clock, wallIso });
 * foreign.observe(inst, advert, "192.0.2.9"); // "VI_1: foreign sender 192.0.2.9 advertises ..."
 * foreign.expire(instances); // "VI_1: foreign sender 192.0.2.9 resolved: silent for 10.0 s ..."
 * ```
 *
 * @module
 */

import type { Logger } from "../log.ts";
import {
  describeForeign,
  expireForeign,
  type ForeignChange,
  type ForeignDifference,
  foreignNextDeadline,
  observeForeign,
} from "../vrrp/foreign.ts";
import type { Advert } from "../vrrp/types.ts";
import { bump, type RateLog } from "./common.ts";
import type { Instance } from "./instance.ts";
import type { Clock } from "./ports.ts";

/**
 * What {@link ForeignWatch} needs.
 *
 * @example
 * ```ts
 * const deps: ForeignWatchDeps = { log, rateLog, clock, wallIso: (ms) => new Date(ms).toISOString() };
 * ```
 */
export interface ForeignWatchDeps {
  readonly log: Logger;
  readonly rateLog: RateLog;
  readonly clock: Clock;
  /** Labels a clock time with its wall time (ISO 8601). */
  readonly wallIso: (atMs: number) => string;
}

/**
 * Updates instances' foreign tables and reports the changes.
 *
 * @example
 * ```ts
 * const foreign = new ForeignWatch(deps);
 * ```
 */
export class ForeignWatch {
  readonly #deps: ForeignWatchDeps;

  /**
   * Stateless beyond its dependencies: the tables live on the instances.
   *
   * @example
   * ```ts
   * new ForeignWatch({ log, rateLog, clock, wallIso });
   * ```
   */
  constructor(deps: ForeignWatchDeps) {
    this.#deps = deps;
  }

  /**
   * An advert from `src` (at `mac`, when known) reached `inst` (before the engine sees
   * it), with what the intake already refused it for (`extra`), if anything.
   *
   * @example
   * ```ts
   * foreign.observe(inst, advert, src);
   * ```
   */
  observe(
    inst: Instance,
    advert: Advert,
    src: string,
    extra: readonly ForeignDifference[] = [],
    mac?: string,
  ): void {
    const now = this.#deps.clock.nowMs();
    const r = observeForeign(inst.foreign, inst.rc, advert, src, now, extra, mac);
    inst.foreign = r.table;
    if (r.conflicting) bump(inst.extra, "foreignAdverts");
    if (r.change) this.#report(inst, r.change);
  }

  /**
   * Resolves the senders that have been quiet long enough, in every instance given.
   *
   * @example
   * ```ts
   * foreign.expire(liveInstances);
   * ```
   */
  expire(instances: readonly Instance[]): void {
    const now = this.#deps.clock.nowMs();
    for (const inst of instances) {
      const due = foreignNextDeadline(inst.foreign);
      if (due === null || due > now) continue;
      const r = expireForeign(inst.foreign, now);
      inst.foreign = r.table;
      for (const c of r.resolved) this.#report(inst, c);
    }
  }

  /**
   * Every line goes through the one rate limiter, keyed by (reason, source): a sender
   * whose adverts alternate between agreeing and not (or a storm of them) gets one
   * "foreign sender" and one "resolved" line per window, then a summary of the rest.
   * The table is capped, so the sources, and the keys, are bounded.
   */
  #report(inst: Instance, c: ForeignChange) {
    const { rateLog } = this.#deps;
    const name = inst.cfg.name;
    const what = `VRID ${inst.cfg.vrid} on ${inst.cfg.interface}`;
    switch (c.kind) {
      case "started":
        rateLog(
          `${name}/foreign/${senderKey(c.sender)}`,
          "warn",
          `${name}: foreign sender ${c.sender.src} advertises ${what} with other settings: ${
            describeForeign(c.sender)
          } (priority ${c.sender.priority}); split-brain risk`,
        );
        return;
      case "changed":
        rateLog(
          `${name}/foreign-changed/${senderKey(c.sender)}`,
          "warn",
          `${name}: foreign sender ${c.sender.src} now differs: ${describeForeign(c.sender)}`,
        );
        return;
      case "full":
        rateLog(
          `${name}/foreign-full`,
          "warn",
          `${name}: foreign sender ${c.src} advertises ${what} too (${
            c.differences.map((d) => d.text).join("; ")
          }); not listed, ${inst.foreign.length} senders are already`,
        );
        return;
      case "resolved": {
        const s = c.sender;
        const why = c.why === "agrees"
          ? "its adverts agree with ours now"
          : `silent for ${((this.#deps.clock.nowMs() - s.lastSeenMs) / 1000).toFixed(1)} s`;
        rateLog(
          `${name}/foreign-resolved/${senderKey(s)}`,
          "info",
          `${name}: foreign sender ${s.src} resolved: ${why} (${s.count} conflicting advert${
            s.count === 1 ? "" : "s"
          } since ${this.#deps.wallIso(s.firstSeenMs)})`,
        );
        return;
      }
    }
  }
}

/** A sender in a rate-limit key and a log line: its address, and its MAC when known. */
function senderKey(s: { readonly src: string; readonly mac?: string }): string {
  return s.mac === undefined ? s.src : `${s.src} (${s.mac})`;
}

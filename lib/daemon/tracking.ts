/**
 * The trackers (`vrrp_script`, `track_interface`, `track_file`, `track_process`) as
 * the daemon applies them: the hub is started, stopped, reconfigured and fed link
 * states through {@link TrackerGlue}, which recomputes every live instance's verdict
 * when a reading changes and feeds the engine what moved: the tracked priority first
 * (unless an operator override is in force), then each fault that started or ended,
 * so an instance leaving Fault does so with its new priority.
 *
 * The decisions are pure and the tracker room's (`computePriority`, `trackerChange`
 * in `lib/track/priority.ts`, over the hub's current readings); the glue only wires
 * them to the instances, logs and feeds. Apart from the daemon because the trackers
 * have their own lifecycle and their own way into the loop (a probe's callback queues
 * one recompute per burst).
 *
 * @example
 * ```ts
 * const trackers = new TrackerGlue({ hub, checks, log, table, enqueue, applyPriority, feed });
 * trackers.start(); // first verdict, before the engine starts
 * trackers.setLink("eth1", false); // true when a tracker uses eth1: recomputed and fed
 * ```
 *
 * @module
 */

import type { CheckSource } from "../check/service.ts";
import type { Config } from "../config/schema.ts";
import type { TrackerHub } from "../track/hub.ts";
import {
  computePriority,
  type PriorityResult,
  trackerChange,
  type TrackerStatus,
  trackerUses,
} from "../track/priority.ts";
import type { NodeEvent } from "../vrrp/node.ts";
import type { Logger } from "../log.ts";
import { errorText } from "./common.ts";
import type { InboxItem } from "./inbox.ts";
import type { Instance } from "./instance.ts";
import type { InstanceTable } from "./instance_table.ts";

/**
 * What the trackers say of an instance now.
 *
 * @example
 * ```ts
 * trackerVerdict(inst, config, hub).effective; // 130: base 150, a failing script weighs -20
 * ```
 */
export function trackerVerdict(
  inst: Instance,
  config: Config,
  hub: Pick<TrackerHub, "reading">,
): PriorityResult {
  return computePriority(
    inst.rc.priority,
    trackerUses(inst.cfg, config),
    (kind, n) => hub.reading(kind, n),
  );
}

/**
 * What {@link TrackerGlue} needs.
 *
 * @example
 * ```ts
 * const deps: TrackerGlueDeps = { hub, checks, log, table, enqueue, applyPriority, feed };
 * ```
 */
export interface TrackerGlueDeps {
  readonly hub: TrackerHub;
  /** The daemon's check service, which the hub's `vrrp_script`s subscribe to. */
  readonly checks: CheckSource;
  readonly log: Logger;
  /** The live instances, the config and the overrides. */
  readonly table: InstanceTable;
  /** Queues work for the loop (a probe's callback runs outside it). */
  readonly enqueue: (item: InboxItem) => void;
  /** Feeds the engine the priority an instance should have now. */
  readonly applyPriority: (name: string) => void;
  /** Steps the engine and carries out its actions. */
  readonly feed: (event: NodeEvent) => void;
}

/**
 * The hub's lifecycle and the recompute of every live instance's verdict.
 *
 * @example
 * ```ts
 * const trackers = new TrackerGlue(deps);
 * ```
 */
export class TrackerGlue {
  readonly #deps: TrackerGlueDeps;
  /** A recompute is queued in the inbox. */
  #queued = false;

  /**
   * The hub is not started until {@link TrackerGlue.start}.
   *
   * @example
   * ```ts
   * new TrackerGlue({ hub, checks, log, table, enqueue, applyPriority, feed });
   * ```
   */
  constructor(deps: TrackerGlueDeps) {
    this.#deps = deps;
  }

  /**
   * Starts the hub on the config and applies its first verdict (before startup).
   *
   * @example
   * ```ts
   * trackers.start();
   * ```
   */
  start(): void {
    this.#deps.hub.start(this.#deps.table.config, () => this.#changed(), this.#deps.checks);
    this.apply();
  }

  /**
   * Stops the hub; a failure is logged.
   *
   * @example
   * ```ts
   * await trackers.stop();
   * ```
   */
  async stop(): Promise<void> {
    try {
      await this.#deps.hub.stop();
    } catch (e) {
      this.#deps.log.warn(`stopping the trackers: ${errorText(e)}`);
    }
  }

  /**
   * Every link's state, for `track_interface` (a missing interface counts as down).
   *
   * @example
   * ```ts
   * trackers.setLinks(await addresses.linkStates());
   * ```
   */
  setLinks(states: ReadonlyMap<string, boolean>): void {
    this.#deps.hub.setLinks(states);
  }

  /**
   * One link went up or down; recomputes (and says so) when a tracker uses it.
   *
   * @example
   * ```ts
   * trackers.setLink("eth1", false);
   * ```
   */
  setLink(iface: string, up: boolean): boolean {
    if (!this.#deps.hub.setLink(iface, up)) return false;
    this.apply();
    return true;
  }

  /**
   * Reconfigures the hub for a reloaded config (installed in the table already) and
   * recomputes.
   *
   * @example
   * ```ts
   * trackers.reconfigure(next);
   * ```
   */
  reconfigure(next: Config): void {
    this.#deps.hub.configure(next);
    this.apply();
  }

  /**
   * An instance's trackers as they stand now; none before its first verdict. Read
   * live, so details ("HTTP 200 in 1.2 ms") are current between recomputes.
   *
   * @example
   * ```ts
   * trackers.statusOf(inst).map((t) => t.label);
   * ```
   */
  statusOf(inst: Instance): readonly TrackerStatus[] {
    return inst.track === null
      ? []
      : trackerVerdict(inst, this.#deps.table.config, this.#deps.hub).trackers;
  }

  /**
   * Recomputes every live instance's tracked priority and tracker faults from the
   * current readings, and feeds the engine what changed.
   *
   * @example
   * ```ts
   * trackers.apply();
   * ```
   */
  apply(): void {
    const { table, log, feed } = this.#deps;
    for (const inst of table.live) {
      const name = inst.cfg.name;
      const before = inst.track;
      const next = trackerVerdict(inst, table.config, this.#deps.hub);
      inst.track = next;
      const change = trackerChange(name, before, next, inst.rc.priority, table.overrides.get(name));
      if (change.priorityNotice !== null) log.notice(change.priorityNotice);
      this.#deps.applyPriority(name);
      for (const f of change.started) {
        log.warn(f.line);
        feed({ type: "router", name, event: { type: "fault", tracker: f.tracker, failing: true } });
      }
      for (const f of change.ended) {
        log.notice(f.line);
        feed({
          type: "router",
          name,
          event: { type: "fault", tracker: f.tracker, failing: false },
        });
      }
    }
  }

  /** A probe's reading changed (outside the loop): recompute in the loop, once per burst. */
  #changed() {
    if (this.#queued) return;
    this.#queued = true;
    this.#deps.enqueue({
      kind: "control",
      run: () => {
        this.#queued = false;
        this.apply();
      },
      cancel: () => (this.#queued = false),
    });
  }
}

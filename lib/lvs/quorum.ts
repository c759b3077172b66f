/**
 * Quorum of a virtual server as a pure, debounced state: the summed weight of its live
 * real servers against `quorum`, with `hysteresis` so that one server flapping at the
 * edge does not swap the sorry server in and out on every check.
 *
 * keepalived's rule: quorum is gained once the live weight reaches quorum + hysteresis
 * and lost once it falls below quorum - hysteresis; in between, the state stays.
 *
 * @module
 */

/** What a quorum decision needs from a virtual server's config. */
export interface QuorumSettings {
  readonly quorum: number;
  readonly hysteresis: number;
  /** `quorum_up` / `quorum_down` commands, null when not configured. */
  readonly quorumUp: string | null;
  readonly quorumDown: string | null;
}

/** A change of quorum, with the command to run for it (null when none is configured). */
export interface QuorumChange {
  readonly event: "quorum_up" | "quorum_down";
  readonly command: string | null;
}

/** The next quorum state and, when it changed, what to announce. */
export interface QuorumStep {
  readonly up: boolean;
  readonly change: QuorumChange | null;
}

/**
 * The state at start or after a reload: no band yet, so quorum is simply whether the live
 * weight reaches it. Nothing is announced for a state that did not change.
 *
 * @example
 * ```ts
 * initialQuorum({ quorum: 2, hysteresis: 1, quorumUp: null, quorumDown: null }, 2); // true
 * ```
 */
export function initialQuorum(s: QuorumSettings, liveWeight: number): boolean {
  return liveWeight >= s.quorum;
}

/**
 * One quorum decision after the live weight changed.
 *
 * @example
 * ```ts
 * const s = { quorum: 3, hysteresis: 1, quorumUp: "/bin/up", quorumDown: null };
 * stepQuorum(s, true, 2).up; // true: 2 is not below 3 - 1
 * stepQuorum(s, true, 1); // { up: false, change: { event: "quorum_down", command: null } }
 * stepQuorum(s, false, 4).change?.command; // "/bin/up"
 * ```
 */
export function stepQuorum(s: QuorumSettings, up: boolean, liveWeight: number): QuorumStep {
  if (up && liveWeight < s.quorum - s.hysteresis) {
    return { up: false, change: { event: "quorum_down", command: s.quorumDown } };
  }
  if (!up && liveWeight >= s.quorum + s.hysteresis) {
    return { up: true, change: { event: "quorum_up", command: s.quorumUp } };
  }
  return { up, change: null };
}

/**
 * The ICMP check: one echo request; healthy when its reply comes back in time. Needs
 * a raw socket, so root (CAP_NET_RAW).
 *
 * @module
 */

import { checkClock } from "./clock.ts";
import { Deadline } from "./deadline.ts";
import { pinger4, pinger6 } from "./pinger.ts";
import { failed, formatMs, passed } from "./result.ts";
import type { CheckResult, IcmpCheck } from "./types.ts";

/**
 * Runs one ICMP check. Never rejects.
 *
 * @example
 * ```ts
 * const r = await checkIcmp({ kind: "icmp", host: "127.0.0.1" }, 1000, new AbortController().signal);
 * r.detail; // "echo reply from 127.0.0.1 in 0.1 ms"
 * ```
 */
export async function checkIcmp(
  spec: IcmpCheck,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CheckResult> {
  const d = new Deadline(signal, timeoutMs);
  try {
    const r = await (spec.host.includes(":") ? pinger6 : pinger4).ping(spec.host, d);
    if (!r.ok) return failed(`ping ${spec.host}: ${r.error}`, d.startedAt);
    return passed(
      `echo reply from ${spec.host} in ${formatMs(checkClock.now() - d.startedAt)}`,
      d.startedAt,
    );
  } finally {
    d.dispose();
  }
}

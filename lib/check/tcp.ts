/**
 * The TCP check: healthy when a connection opens within the timeout. The connection
 * is closed at once; nothing is sent. A refused connection is a definitive failure.
 *
 * @module
 */

import { Deadline } from "./deadline.ts";
import { errorText, failedFrom, formatEndpoint, formatMs, isRefusal, passed } from "./result.ts";
import type { CheckResult, TcpCheck } from "./types.ts";

/**
 * Runs one TCP check. Never rejects.
 *
 * @example
 * ```ts
 * const r = await checkTcp({ kind: "tcp", target: { host: "127.0.0.1", port: 80 } }, 1000, new AbortController().signal);
 * r.detail; // "connected to 127.0.0.1:80 in 0.1 ms" or "connect 127.0.0.1:80: ECONNREFUSED"
 * ```
 */
export async function checkTcp(
  spec: TcpCheck,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CheckResult> {
  const d = new Deadline(signal, timeoutMs);
  try {
    const conn = await Deno.connect({
      hostname: spec.target.host,
      port: spec.target.port,
      signal: d.signal,
    });
    conn.close();
    return passed(
      `connected to ${formatEndpoint(spec.target)} in ${formatMs(performance.now() - d.startedAt)}`,
      d.startedAt,
    );
  } catch (e) {
    // Refused: nothing listens there, a definitive failure (CheckResult.definitive).
    return failedFrom(
      `connect ${formatEndpoint(spec.target)}: ${d.expired ? d.reason() : errorText(e)}`,
      d.startedAt,
      !d.expired && isRefusal(e),
    );
  } finally {
    d.dispose();
  }
}

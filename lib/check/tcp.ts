/**
 * The TCP check: healthy when a connection opens within the timeout. The connection
 * is closed at once; nothing is sent. A refused connection is a definitive failure.
 *
 * A libc socket, not `Deno.connect` (./socket.ts): `socket`, two `connect`s, `close`:
 * four syscalls per check to a nearby server, and no clock reading of its own (it is
 * timed on the turn's). `Deno.connect` made ten (its runtime also registers and removes
 * the socket with epoll, asks for both addresses and shuts down before closing, and
 * hands the wait to another thread), and in the User-Mode Linux guest every syscall is
 * a ptrace round-trip.
 *
 * @module
 */

import { checkClock } from "./clock.ts";
import { SyscallError } from "../sys/errno.ts";
import { closeFd, EALREADY } from "../sys/libc.ts";
import { Deadline } from "./deadline.ts";
import { errorText, failedFrom, formatEndpoint, formatMs, isRefusal, passed } from "./result.ts";
import { awaitConnect, connectNow, openTcpSocket } from "./socket.ts";
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
  let fd = -1;
  try {
    const target = spec.target;
    fd = openTcpSocket(target);
    const err = connectNow(fd, target);
    if (err === EALREADY) await awaitConnect(fd, d.signal);
    else if (err !== 0) throw new SyscallError("connect", err);
    // Timed on the turn's clock reading (see ./clock.ts): a connect that completed
    // within its calls ends in the turn it started in.
    return passed(
      `connected to ${formatEndpoint(target)} in ${formatMs(checkClock.now() - d.startedAt)}`,
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
    if (fd >= 0) closeFd(fd);
    d.dispose();
  }
}

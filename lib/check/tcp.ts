/**
 * The TCP check: healthy when a connection opens within the timeout. The connection
 * is closed at once; nothing is sent. A refused connection is a definitive failure.
 *
 * A libc socket, not `Deno.connect` (./socket.ts): `socket`, a non-blocking `connect`,
 * then, at the next sweep (./sweep.ts), one `ppoll` for every connect started since
 * the last one, and `close`: about three syscalls per check to a nearby server, and no
 * clock reading of its own (it is timed on the turn's). The poll's revents say how
 * each connect went: POLLOUT alone is connected (no `getsockopt`); an error is read
 * with `getsockopt(SO_ERROR)`. A connect still under way at its sweep (a server across
 * a slow network) waits on the reactor. A second `connect` per check, which asked the
 * same thing at once, was a quarter of the check's syscalls; `Deno.connect` made ten.
 * In the User-Mode Linux guest every syscall is a ptrace round-trip.
 *
 * Where the kernel has io_uring with `IORING_OP_SOCKET` (Linux 5.19), the connect goes
 * through the ring instead (./ring_connect.ts): the same answers, read at the same
 * sweep, with one `io_uring_enter` for a whole batch of checks in place of three
 * syscalls each. The path above serves every other case.
 *
 * @module
 */

import { checkClock } from "./clock.ts";
import { EINPROGRESS, SyscallError } from "../sys/errno.ts";
import {
  closeFd,
  getsockoptInt,
  POLLOUT,
  ppollSync,
  SIZEOF_POLLFD,
  SIZEOF_TIMESPEC,
  SO_ERROR,
  SOL_SOCKET,
} from "../sys/libc.ts";
import { Deadline } from "./deadline.ts";
import { checkReactor } from "./reactor.ts";
import { errorText, failedFrom, formatEndpoint, formatMs, isRefusal, passed } from "./result.ts";
import { ENDED, ringConnects, type RingRun } from "./ring_connect.ts";
import { awaitConnect, connectStart, openTcpSocket } from "./socket.ts";
import { atNextSweep, type Sweepable } from "./sweep.ts";
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
export function checkTcp(
  spec: TcpCheck,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CheckResult> {
  const d = new Deadline(signal, timeoutMs);
  let fd = -1;
  try {
    if (d.expired) throw new Error(d.reason());
    const run = ringConnects()?.start(spec.target);
    if (run) return viaRing(spec, d, run);
    fd = openTcpSocket(spec.target);
    const err = connectStart(fd, spec.target);
    if (err === EINPROGRESS) return new ConnectWait(spec, d, fd).result;
    if (err !== 0) throw new SyscallError("connect", err);
    return Promise.resolve(connected(spec, d, fd));
  } catch (e) {
    if (fd >= 0) closeFd(fd);
    d.dispose();
    return Promise.resolve(notConnected(spec, d, e));
  }
}

/** The run of a connect through the ring (./ring_connect.ts): its budget ends it there. */
async function viaRing(spec: TcpCheck, d: Deadline, run: RingRun): Promise<CheckResult> {
  d.onEnd(run.end);
  const answer = await run.result;
  d.onEnd(null);
  d.dispose();
  if (answer >= 0) return passedConnect(spec, d);
  return notConnected(
    spec,
    d,
    answer === ENDED ? new Error(d.reason()) : new SyscallError("connect", -answer),
  );
}

/** The passing result; closes `fd` and releases the deadline. */
function connected(spec: TcpCheck, d: Deadline, fd: number): CheckResult {
  closeFd(fd);
  d.dispose();
  return passedConnect(spec, d);
}

function passedConnect(spec: TcpCheck, d: Deadline): CheckResult {
  // Timed on the turn's clock reading (see ./clock.ts).
  return passed(
    `connected to ${formatEndpoint(spec.target)} in ${formatMs(checkClock.now() - d.startedAt)}`,
    d.startedAt,
  );
}

/** The failing result of `e` (or of the deadline, once it has ended). */
function notConnected(spec: TcpCheck, d: Deadline, e: unknown): CheckResult {
  // Refused: nothing listens there, a definitive failure (CheckResult.definitive).
  return failedFrom(
    `connect ${formatEndpoint(spec.target)}: ${d.expired ? d.reason() : errorText(e)}`,
    d.startedAt,
    !d.expired && isRefusal(e),
  );
}

/**
 * A connect under way, until its sweep says how it went (or, when still under way
 * then, until the reactor does). Its deadline's end hook ends it before its sweep.
 */
class ConnectWait {
  readonly result: Promise<CheckResult>;
  readonly fd: number;
  readonly #spec: TcpCheck;
  readonly #d: Deadline;
  #resolve!: (r: CheckResult) => void;
  /** True once the run has a result, or has gone on to wait on the reactor. */
  done = false;

  constructor(spec: TcpCheck, d: Deadline, fd: number) {
    this.#spec = spec;
    this.#d = d;
    this.fd = fd;
    this.result = new Promise((resolve) => this.#resolve = resolve);
    checkReactor.enter();
    d.onEnd(this.#onEnd);
    waitForSweep(this);
  }

  /** What the sweep's poll said of this socket: `revents` (0: still connecting). */
  polled(revents: number): void {
    if (this.done) return;
    if (revents === 0) {
      this.#wait();
      return;
    }
    // POLLOUT alone: connected. Anything else: SO_ERROR says how the connect went (0
    // when it did complete, as a wait on the reactor would read it).
    const err = revents === POLLOUT ? 0 : getsockoptInt(this.fd, SOL_SOCKET, SO_ERROR);
    if (err !== 0) this.#fail(new SyscallError("connect", err));
    else if ((revents & POLLOUT) !== 0) this.#end(connected(this.#spec, this.#d, this.fd));
    else this.#wait();
  }

  /** The connect is still under way: the reactor tells when it ends, or the deadline. */
  #wait(): void {
    // Started before this run stops counting as a wait: checksIdle() sees no gap.
    const connecting = awaitConnect(this.fd, this.#d.signal);
    this.#settle();
    connecting.then(
      () => this.#resolve(connected(this.#spec, this.#d, this.fd)),
      (e) => this.#resolve(this.#failure(e)),
    );
  }

  readonly #onEnd = (): void => {
    this.#fail(new Error(this.#d.reason()));
  };

  #fail(e: unknown): void {
    if (!this.done) this.#end(this.#failure(e));
  }

  /** The failing result of `e`; closes the socket and releases the deadline. */
  #failure(e: unknown): CheckResult {
    closeFd(this.fd);
    this.#d.dispose();
    return notConnected(this.#spec, this.#d, e);
  }

  #end(r: CheckResult): void {
    if (this.done) return;
    this.#settle();
    this.#resolve(r);
  }

  /** Leaves the sweep's care: no end hook, not counted as a wait of the checks. */
  #settle(): void {
    this.done = true;
    this.#d.onEnd(null);
    checkReactor.leave();
  }
}

/** Connects started since the last sweep. */
let pending: ConnectWait[] = [];
const connectSweep: Sweepable = { swept: pollConnects };

function waitForSweep(w: ConnectWait): void {
  pending.push(w);
  if (pending.length === 1) atNextSweep(connectSweep);
}

/** The sweep's poll set and timeout, reused (grown as needed). */
let pollSet = new Uint8Array(64 * SIZEOF_POLLFD);
let pollView = new DataView(pollSet.buffer);
const zeroWait = new Uint8Array(SIZEOF_TIMESPEC);

/** One ppoll (no wait) over every connect still waiting; each learns its revents. */
function pollConnects(): void {
  const list = pending;
  pending = [];
  let count = 0;
  for (const w of list) if (!w.done) count++;
  if (count === 0) return;
  if (pollSet.length < count * SIZEOF_POLLFD) {
    pollSet = new Uint8Array(count * 2 * SIZEOF_POLLFD);
    pollView = new DataView(pollSet.buffer);
  }
  let i = 0;
  for (const w of list) {
    if (w.done) continue;
    pollView.setInt32(i * SIZEOF_POLLFD, w.fd, true);
    pollView.setInt16(i * SIZEOF_POLLFD + 4, POLLOUT, true);
    pollView.setInt16(i * SIZEOF_POLLFD + 6, 0, true);
    i++;
  }
  // A failed poll (EINTR) reads as "still connecting": those wait on the reactor.
  const n = ppollSync(pollSet.subarray(0, count * SIZEOF_POLLFD), 0, zeroWait);
  i = 0;
  for (const w of list) {
    if (w.done) continue;
    w.polled(n > 0 ? pollView.getInt16(i * SIZEOF_POLLFD + 6, true) : 0);
    i++;
  }
}

/**
 * The checks' TCP connections through an io_uring (`lib/sys/uring.ts`). A TCP check
 * queues a linked `socket` (into a direct-descriptor slot) and `connect`; a plain HTTP
 * check adds the request's `send` and the reply's first `recv` to the same chain. The
 * slot's `close` goes with a later submission. Everything one wake of the check
 * scheduler queued goes to the kernel in one `io_uring_enter` (a microtask after the
 * starts), and answers are read at the next sweep (./sweep.ts), as the classic path
 * reads its poll; a chain still under way then is waited for on the ring's fd. About
 * 0.2 syscalls a check against three to five: in the User-Mode Linux guest, where each
 * is a ptrace round trip, those were most of a check's cost.
 *
 * Each chain posts one completion when it goes well (the others are skipped on
 * success), its last op's; an op that fails posts its own first, and the ops linked
 * after it end ECANCELED.
 *
 * Used when the kernel has what it needs (io_uring with `IORING_OP_SOCKET`: Linux 5.19)
 * and `HACORE_IO_URING` is not `off`; anything else, and a check the ring cannot take
 * (every slot busy, a request too long), uses the classic path (./tcp.ts, ./stream.ts).
 *
 * @module
 */

import { ECANCELED } from "../sys/errno.ts";
import { AF_INET, AF_INET6, mapMemory, SOCK_STREAM } from "../sys/libc.ts";
import { defaultReactor, type WatchHandle } from "../sys/reactor.ts";
import { SQE_CQE_SKIP_SUCCESS, SQE_IO_LINK, Uring } from "../sys/uring.ts";
import { checkReactor } from "./reactor.ts";
import { sockaddrFor } from "./socket.ts";
import { atNextSweep, type Sweepable } from "./sweep.ts";
import type { Endpoint } from "./types.ts";

/** Connections open at most (direct-descriptor slots); more use the classic path. */
const SLOTS = 1024;
/** Bytes per slot's sockaddr (a `sockaddr_in6` is 28). */
const ADDR_STRIDE = 32;
/** The longest request sent through the ring (a longer one goes the classic way). */
const RING_REQUEST_MAX = 1024;
/** Bytes one `recv` of a slot takes (a reply's head, mostly all of it). */
const RECV_BYTES = 4096;
const SQ_ENTRIES = 512;
/** Room for every slot's answer, and failures besides. */
const CQ_ENTRIES = 4096;

/** What a request was, in the low bits of its `user_data` (the slot above them). */
const KIND_SOCKET = 0;
const KIND_CONNECT = 1;
const KIND_CLOSE = 2;
const KIND_CANCEL = 3;
const KIND_SEND = 4;
const KIND_RECV = 5;
const KIND_BITS = 3;

/** The answer of a chain ended by its budget (a timeout or its owner's abort). */
export const ENDED = -0x40000000;

/** The op of a chain whose failure ended it. */
export type RingOp = "connect" | "send" | "recv";

/**
 * One connection through the ring. Its answer: for a connect, 0; for a chain with a
 * `recv`, the bytes read (0 at the end of the stream), in {@link RingRun.bytes}; else
 * -errno (of {@link RingRun.failedOp}), or {@link ENDED}.
 */
export class RingRun {
  readonly #owner: RingConnects;
  readonly slot: number;
  /** The answer of the chain (or of the last {@link RingRun.read}). */
  result: Promise<number>;
  /** Which op failed, when the answer is -errno. */
  failedOp: RingOp = "connect";
  resolve: (answer: number) => void = () => {};
  /** The op whose completion is the answer. */
  finalKind = KIND_CONNECT;
  /** The first failure's errno and op (ops linked after it then say ECANCELED). */
  firstErr = 0;
  firstErrKind = KIND_CONNECT;
  /** The kind of each op of the current wait, for a cancel. */
  inFlight: readonly number[] = [];
  /** The current wait's last op has not answered yet (an ended wait's too). */
  awaitingAnswer = false;
  /** The connect succeeded (known for a chain that goes on after it). */
  connected = false;
  closeWhenAnswered = false;
  closed = false;

  constructor(owner: RingConnects, slot: number) {
    this.#owner = owner;
    this.slot = slot;
    this.result = this.#next();
  }

  #next(): Promise<number> {
    return new Promise<number>((r) => this.resolve = r);
  }

  /** Ends the chain now (its budget ended): cancelled, answered {@link ENDED}. */
  readonly end = (): void => this.#owner.end(this);

  /** The last `recv`'s bytes (valid until the next read of this run). */
  bytes(n: number): Uint8Array {
    return this.#owner.recvArea(this.slot).subarray(0, n);
  }

  /** Another `recv`: its answer as the chain's (bytes read, -errno, ENDED). */
  read(): Promise<number> {
    this.result = this.#next();
    this.#owner.read(this);
    return this.result;
  }

  /** Closes the connection (with the next submission); idempotent. */
  close(): void {
    this.#owner.close(this);
  }
}

class RingConnects implements Sweepable {
  readonly #ring: Uring;
  readonly #mem: Uint8Array;
  readonly #base: bigint;
  readonly #free: number[] = [];
  /** Slots whose close is queued: free once it has been handed to the kernel. */
  #closing: number[] = [];
  /** The run waiting for its answer, per slot. */
  readonly #waiting: (RingRun | null)[] = new Array(SLOTS).fill(null);
  /** The run holding the slot, per slot (answered or not, until its close). */
  readonly #runs: (RingRun | null)[] = new Array(SLOTS).fill(null);
  #inflight = 0;
  /** Answers not come yet (cancelled chains' too): the ring is watched while any are. */
  #outstanding = 0;
  #connects = 0;
  #submits = 0;
  #flushArmed = false;
  #sweepArmed = false;
  #watch: WatchHandle | null = null;
  readonly #onCompletion = (data: number, res: number) => this.#completed(data, res);
  readonly #flush = () => this.#flushNow();

  constructor(ring: Uring) {
    this.#ring = ring;
    const mem = mapMemory(-1, 0, SLOTS * (ADDR_STRIDE + RING_REQUEST_MAX + RECV_BYTES));
    this.#mem = new Uint8Array(mem.buffer);
    this.#base = mem.address;
    for (let s = SLOTS - 1; s >= 0; s--) this.#free.push(s);
  }

  /**
   * Starts a connect to `target`, and with `request` its send and the reply's first
   * `recv`; null when no slot or submission entry is free, or the request is too long.
   */
  start(target: Endpoint, request: Uint8Array | null = null): RingRun | null {
    if (request !== null && request.length > RING_REQUEST_MAX) return null;
    const slot = this.#free.pop();
    if (slot === undefined) return null;
    const count = request === null ? 2 : 4;
    const at = this.#entries(count);
    if (at === null) {
      this.#free.push(slot);
      return null;
    }
    const ring = this.#ring;
    const sa = sockaddrFor(target);
    this.#mem.set(sa, this.#addrOffset(slot));
    const link = SQE_IO_LINK | SQE_CQE_SKIP_SUCCESS;
    const domain = sa.length > 16 ? AF_INET6 : AF_INET;
    ring.prepSocket(at[0], domain, SOCK_STREAM, slot, link, data(slot, KIND_SOCKET));
    const addr = this.#base + BigInt(this.#addrOffset(slot));
    const run = new RingRun(this, slot);
    if (request === null) {
      ring.prepConnect(at[1], slot, addr, sa.length, 0, data(slot, KIND_CONNECT));
      run.closeWhenAnswered = true;
      run.inFlight = CONNECT_ONLY;
    } else {
      // Its success is told too: a budget that ends later ends the request, not the connect.
      ring.prepConnect(at[1], slot, addr, sa.length, SQE_IO_LINK, data(slot, KIND_CONNECT));
      const req = this.#requestOffset(slot);
      this.#mem.set(request, req);
      ring.prepSend(
        at[2],
        slot,
        this.#base + BigInt(req),
        request.length,
        link,
        data(slot, KIND_SEND),
      );
      this.#prepRecv(at[3], slot);
      run.finalKind = KIND_RECV;
      run.inFlight = EXCHANGE;
    }
    this.#runs[slot] = run;
    this.#wait(run);
    this.#connects++;
    return run;
  }

  /** The slot's receive area (its last `recv`'s bytes at the start). */
  recvArea(slot: number): Uint8Array {
    const at = this.#recvOffset(slot);
    return this.#mem.subarray(at, at + RECV_BYTES);
  }

  /** A further `recv` for `run` (see {@link RingRun.read}). */
  read(run: RingRun): void {
    const at = run.closed ? -1 : this.#entry();
    if (at < 0) {
      // Closed, or no entry: as a reset (the classic path's reader would fail too).
      run.resolve(run.closed ? ENDED : -ECANCELED);
      return;
    }
    run.failedOp = "recv";
    run.finalKind = KIND_RECV;
    run.firstErr = 0;
    run.inFlight = RECV_ONLY;
    this.#prepRecv(at, run.slot);
    this.#wait(run);
  }

  #prepRecv(at: number, slot: number): void {
    const buf = this.#base + BigInt(this.#recvOffset(slot));
    this.#ring.prepRecv(at, slot, buf, RECV_BYTES, 0, data(slot, KIND_RECV));
  }

  #wait(run: RingRun): void {
    this.#waiting[run.slot] = run;
    run.awaitingAnswer = true;
    this.#inflight++;
    this.#outstanding++;
    checkReactor.enter();
    this.#armFlush();
    this.#armSweep();
  }

  /** Ends `run`'s wait now (its budget ended): its ops cancelled, answered ENDED. */
  end(run: RingRun): void {
    if (this.#waiting[run.slot] !== run) return;
    this.#settle(run, ENDED);
    // No entry: the ops end by themselves (refused, reset, the kernel's own timeout),
    // and their answer finds no one waiting.
    for (const kind of run.inFlight) {
      const at = this.#entry();
      if (at < 0) break;
      const target = data(run.slot, kind);
      this.#ring.prepCancel(at, target, SQE_CQE_SKIP_SUCCESS, data(run.slot, KIND_CANCEL));
    }
    this.#armFlush();
    // The cancelled answer (ECANCELED) frees the slot: read at the next sweep, or on the ring.
    this.#armSweep();
  }

  /**
   * Connects started, submissions made (`io_uring_enter` calls), answers awaited, free
   * slots: for tests and benchmarks.
   *
   * @example
   * ```ts
   * ringConnects()?.stats().submits;
   * ```
   */
  stats(): { connects: number; submits: number; inflight: number; free: number } {
    return {
      connects: this.#connects,
      submits: this.#submits,
      inflight: this.#inflight,
      free: this.#free.length + this.#closing.length,
    };
  }

  swept(): void {
    this.#sweepArmed = false;
    this.#reap();
    if (this.#outstanding > 0) this.#watchRing();
  }

  #reap(): void {
    this.#ring.reap(this.#onCompletion);
    if (this.#outstanding === 0) this.#unwatchRing();
  }

  #completed(userData: number, res: number): void {
    const slot = userData >>> KIND_BITS;
    const kind = userData & ((1 << KIND_BITS) - 1);
    const run = slot < SLOTS ? this.#runs[slot] : null;
    if (run === null || kind === KIND_CLOSE || kind === KIND_CANCEL) return;
    if (kind !== run.finalKind) {
      if (kind === KIND_CONNECT && res === 0) {
        run.connected = true;
        return;
      }
      // Only failures post before the last op (the rest skip success).
      if (res < 0 && run.firstErr === 0) {
        run.firstErr = -res;
        run.firstErrKind = kind;
      }
      return;
    }
    this.#outstanding--;
    run.awaitingAnswer = false;
    if (this.#waiting[slot] === run) {
      let answer = res;
      if (res < 0) {
        const cancelled = res === -ECANCELED && run.firstErr !== 0;
        answer = cancelled ? -run.firstErr : res;
        run.failedOp = opOf(cancelled ? run.firstErrKind : kind);
      }
      this.#settle(run, answer);
    }
    if (run.closeWhenAnswered || run.closed) this.#closeNow(run);
  }

  #settle(run: RingRun, answer: number): void {
    this.#waiting[run.slot] = null;
    this.#inflight--;
    checkReactor.leave();
    run.resolve(answer);
  }

  /**
   * Closes `run`'s slot with the next submission, once no op of it is in flight; the
   * slot is free again after that submission.
   */
  close(run: RingRun): void {
    if (this.#runs[run.slot] !== run || run.closed) return;
    run.closed = true;
    // An op still out (an ended wait's): its answer closes the slot.
    if (!run.awaitingAnswer) this.#closeNow(run);
  }

  #closeNow(run: RingRun): void {
    if (this.#runs[run.slot] !== run) return;
    this.#runs[run.slot] = null;
    const at = this.#entry();
    // No entry: the slot's next socket replaces (and so closes) this one.
    if (at >= 0) {
      this.#ring.prepClose(at, run.slot, SQE_CQE_SKIP_SUCCESS, data(run.slot, KIND_CLOSE));
    }
    this.#closing.push(run.slot);
    this.#armFlush();
  }

  /** `count` free submission entries in a row, handing queued ones over when short. */
  #entries(count: number): number[] | null {
    if (this.#ring.free < count) this.#flushNow();
    if (this.#ring.free < count) return null;
    const out: number[] = [];
    for (let i = 0; i < count; i++) out.push(this.#ring.sqe());
    return out;
  }

  /** A free submission entry, handing the queued ones to the kernel when full. */
  #entry(): number {
    const at = this.#ring.sqe();
    if (at >= 0) return at;
    this.#flushNow();
    return this.#ring.sqe();
  }

  #addrOffset(slot: number): number {
    return slot * ADDR_STRIDE;
  }

  #requestOffset(slot: number): number {
    return SLOTS * ADDR_STRIDE + slot * RING_REQUEST_MAX;
  }

  #recvOffset(slot: number): number {
    return SLOTS * (ADDR_STRIDE + RING_REQUEST_MAX) + slot * RECV_BYTES;
  }

  #armFlush(): void {
    if (this.#flushArmed) return;
    this.#flushArmed = true;
    queueMicrotask(this.#flush);
  }

  #flushNow(): void {
    this.#flushArmed = false;
    if (this.#ring.queued > 0) this.#submits++;
    if (this.#ring.submit() < 0) {
      // Not taken (EINTR, EAGAIN): again at the next sweep.
      this.#armSweep();
      return;
    }
    if (this.#closing.length > 0) {
      for (const s of this.#closing) this.#free.push(s);
      this.#closing = [];
    }
  }

  #armSweep(): void {
    if (this.#sweepArmed) return;
    this.#sweepArmed = true;
    atNextSweep(this);
  }

  #watchRing(): void {
    if (this.#watch !== null) return;
    this.#watch = defaultReactor().watch(this.#ring.fd, () => this.#reap());
  }

  #unwatchRing(): void {
    this.#watch?.close();
    this.#watch = null;
  }
}

const CONNECT_ONLY: readonly number[] = [KIND_CONNECT];
const EXCHANGE: readonly number[] = [KIND_CONNECT, KIND_SEND, KIND_RECV];
const RECV_ONLY: readonly number[] = [KIND_RECV];

function opOf(kind: number): RingOp {
  return kind === KIND_SEND ? "send" : kind === KIND_RECV ? "recv" : "connect";
}

function data(slot: number, kind: number): number {
  return ((slot << KIND_BITS) | kind) >>> 0;
}

let shared: RingConnects | null | undefined;
let enabled = true;

/**
 * Turns the ring off (or back on) for the checks started from now on; connections in
 * flight finish where they are. For tests of the classic path.
 *
 * @example
 * ```ts
 * useRingConnects(false); // socket, connect, poll, close
 * ```
 */
export function useRingConnects(on: boolean): void {
  enabled = on;
}

/**
 * The process's ring of check connections, made at first use; null when io_uring
 * cannot serve (see the module doc) or is turned off.
 *
 * @example
 * ```ts
 * const run = ringConnects()?.start({ host: "10.0.0.5", port: 80 });
 * ```
 */
export function ringConnects(): RingConnects | null {
  if (!enabled) return null;
  if (shared !== undefined) return shared;
  shared = null;
  if (envSaysOff()) return null;
  const ring = Uring.open(SQ_ENTRIES, CQ_ENTRIES, SLOTS);
  if (ring === null || !socketsWork(ring)) return null;
  shared = new RingConnects(ring);
  return shared;
}

export type { RingConnects };

/**
 * Whether the kernel makes sockets in the ring (`IORING_OP_SOCKET`, Linux 5.19; an
 * older one answers EINVAL): one made in slot 0 and closed, waited for here, once.
 */
function socketsWork(ring: Uring): boolean {
  const sockAt = ring.sqe();
  const closeAt = ring.sqe();
  if (sockAt < 0 || closeAt < 0) return false;
  ring.prepSocket(sockAt, AF_INET, SOCK_STREAM, 0, SQE_IO_LINK, data(0, KIND_SOCKET));
  ring.prepClose(closeAt, 0, 0, data(0, KIND_CLOSE));
  if (ring.submitAndWait(2) < 0) return false;
  let socketRes = -1;
  ring.reap((d, res) => {
    if (d === data(0, KIND_SOCKET)) socketRes = res;
  });
  return socketRes === 0;
}

function envSaysOff(): boolean {
  try {
    return Deno.env.get("HACORE_IO_URING") === "off";
  } catch {
    return false; // no env permission: the default
  }
}

/**
 * TCP connects of the checks through an io_uring (`lib/sys/uring.ts`): each check queues
 * a linked `socket` (into a direct-descriptor slot) and `connect`, and its `close` once
 * the connect's answer is read. Everything a wake of the check scheduler queued goes to
 * the kernel in one `io_uring_enter` (a microtask after the starts), and answers are
 * read at the next sweep (./sweep.ts), as the classic path reads its poll; a connect
 * still under way then is waited for on the ring's fd. About 0.2 syscalls a check
 * against three (`socket`, `connect`, `close`): in the User-Mode Linux guest, where each
 * is a ptrace round trip, those were most of a TCP check's cost.
 *
 * Used when the kernel has what it needs (io_uring with `IORING_OP_SOCKET`: Linux 5.19)
 * and `HACORE_IO_URING` is not `off`; anything else, and a check the ring cannot take
 * (every slot busy), uses the classic path (./tcp.ts).
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

/** Connects in flight at most (direct-descriptor slots); more use the classic path. */
const SLOTS = 1024;
/** Bytes per slot's sockaddr (a `sockaddr_in6` is 28). */
const ADDR_STRIDE = 32;
const SQ_ENTRIES = 512;
/** Room for every slot's answer and a failed close or cancel each. */
const CQ_ENTRIES = 4096;

/** What a request was, in the low bits of its `user_data` (the slot above them). */
const KIND_SOCKET = 0;
const KIND_CONNECT = 1;
const KIND_CLOSE = 2;
const KIND_CANCEL = 3;

/** The answer of a connect ended by its budget (a timeout or its owner's abort). */
export const ENDED = -1;

/**
 * One connect through the ring: its answer (0, an errno, or {@link ENDED}) and the call
 * that ends it early.
 */
export interface RingRun {
  readonly result: Promise<number>;
  readonly end: () => void;
}

interface Pending {
  readonly resolve: (err: number) => void;
  /** The `socket`'s errno when it failed (the linked connect then says ECANCELED). */
  socketErr: number;
}

class RingConnects implements Sweepable {
  readonly #ring: Uring;
  readonly #addrs: Uint8Array;
  readonly #addrBase: bigint;
  readonly #free: number[] = [];
  /** Slots whose close is queued: free once it has been handed to the kernel. */
  #closing: number[] = [];
  readonly #pending: (Pending | null)[] = new Array(SLOTS).fill(null);
  #inflight = 0;
  /** Connects whose answer has not come yet (a cancelled one's too). */
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
    const mem = mapMemory(-1, 0, SLOTS * ADDR_STRIDE);
    this.#addrs = new Uint8Array(mem.buffer);
    this.#addrBase = mem.address;
    for (let s = SLOTS - 1; s >= 0; s--) this.#free.push(s);
  }

  /**
   * Starts a connect to `target`: resolves with 0 (connected), an errno, or
   * {@link ENDED} once `onEnd` was called; null when no slot or entry is free.
   */
  start(target: Endpoint): RingRun | null {
    const slot = this.#free.pop();
    if (slot === undefined) return null;
    const sockAt = this.#entry();
    const connAt = sockAt < 0 ? -1 : this.#entry();
    if (connAt < 0) {
      // A socket entry taken alone would run unlinked: it must not. Both, or none.
      this.#free.push(slot);
      if (sockAt >= 0) this.#ring.prepNop(sockAt, SQE_CQE_SKIP_SUCCESS, data(slot, KIND_CANCEL));
      return null;
    }
    const sa = sockaddrFor(target);
    this.#addrs.set(sa, slot * ADDR_STRIDE);
    const domain = sa.length > 16 ? AF_INET6 : AF_INET;
    const ring = this.#ring;
    ring.prepSocket(
      sockAt,
      domain,
      SOCK_STREAM,
      slot,
      SQE_IO_LINK | SQE_CQE_SKIP_SUCCESS,
      data(slot, KIND_SOCKET),
    );
    const address = this.#addrBase + BigInt(slot * ADDR_STRIDE);
    ring.prepConnect(connAt, slot, address, sa.length, 0, data(slot, KIND_CONNECT));
    let resolve!: (err: number) => void;
    const result = new Promise<number>((r) => resolve = r);
    this.#pending[slot] = { resolve, socketErr: 0 };
    this.#inflight++;
    this.#outstanding++;
    this.#connects++;
    checkReactor.enter();
    this.#armFlush();
    this.#armSweep();
    return { result, end: () => this.#end(slot) };
  }

  /** Ends the connect in `slot` now (its budget ended): cancelled, answered ENDED. */
  #end(slot: number): void {
    const p = this.#pending[slot];
    if (p === null) return;
    this.#settle(slot, p, ENDED);
    const at = this.#entry();
    // No entry: the connect ends by itself (refused, or the kernel's own timeout), and
    // its answer finds no one waiting.
    if (at >= 0) {
      this.#ring.prepCancel(
        at,
        data(slot, KIND_CONNECT),
        SQE_CQE_SKIP_SUCCESS,
        data(slot, KIND_CANCEL),
      );
      this.#armFlush();
    }
    // Its answer (ECANCELED) frees the slot: read at the next sweep, or on the ring.
    this.#armSweep();
  }

  /**
   * Connects started, submissions made (`io_uring_enter` calls), connects in flight,
   * free slots: for tests and benchmarks.
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
    const slot = userData >>> 2;
    const kind = userData & 3;
    if (slot >= SLOTS) return;
    if (kind === KIND_SOCKET) {
      const p = this.#pending[slot];
      if (p !== null) p.socketErr = -res;
      return;
    }
    if (kind !== KIND_CONNECT) return; // a close or cancel that found nothing: no matter
    this.#outstanding--;
    const p = this.#pending[slot];
    if (p !== null) {
      const err = res === 0 ? 0 : res === -ECANCELED && p.socketErr !== 0 ? p.socketErr : -res;
      this.#settle(slot, p, err);
    }
    this.#close(slot);
  }

  #settle(slot: number, p: Pending, err: number): void {
    this.#pending[slot] = null;
    this.#inflight--;
    checkReactor.leave();
    p.resolve(err);
  }

  /** The slot's socket is closed (and the slot freed) with the next submission. */
  #close(slot: number): void {
    const at = this.#entry();
    // No entry: the slot's next socket replaces (and so closes) this one.
    if (at >= 0) this.#ring.prepClose(at, slot, SQE_CQE_SKIP_SUCCESS, data(slot, KIND_CLOSE));
    this.#closing.push(slot);
    this.#armFlush();
  }

  /** A free submission entry, handing the queued ones to the kernel when full. */
  #entry(): number {
    const at = this.#ring.sqe();
    if (at >= 0) return at;
    this.#flushNow();
    return this.#ring.sqe();
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

function data(slot: number, kind: number): number {
  return ((slot << 2) | kind) >>> 0;
}

let shared: RingConnects | null | undefined;
let enabled = true;

/**
 * Turns the ring off (or back on) for the checks started from now on; connects in
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
 * The process's ring of check connects, made at first use; null when io_uring cannot
 * serve (see the module doc).
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

export type { RingConnects };

function envSaysOff(): boolean {
  try {
    return Deno.env.get("HACORE_IO_URING") === "off";
  } catch {
    return false; // no env permission: the default
  }
}

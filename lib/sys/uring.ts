/**
 * A minimal io_uring: one submission ring, one completion ring, a registered table of
 * direct descriptors, read and written through views of the shared memory. For work
 * that is many small syscalls (a TCP check is `socket`, `connect`, `close`): queued
 * here, they cost one `io_uring_enter` per batch. Where every syscall is dear (in the
 * User-Mode Linux guest each is a ptrace round trip, ~30-60 µs) that is most of a
 * check's cost.
 *
 * No completion waits inside: the owner reaps when its reactor says the ring's fd is
 * readable, or at a moment of its choosing. Plain loads and stores suffice on the
 * rings: x86-64 keeps stores in order and loads in order, and the ring's tail is
 * published to the kernel by the `io_uring_enter` call itself. (aarch64 would need
 * barriers; {@link Uring.open} declines there.)
 *
 * @module
 */

import { closeFd, ioUringEnter, ioUringRegister, ioUringSetup, mapMemory } from "./libc.ts";

/** Opcodes (`enum io_uring_op`, include/uapi/linux/io_uring.h). */
const OP_ASYNC_CANCEL = 14;
const OP_CONNECT = 16;
const OP_CLOSE = 19;
const OP_SEND = 26;
const OP_RECV = 27;
const OP_SOCKET = 45;

/** `IOSQE_*` flags. */
export const SQE_FIXED_FILE = 1 << 0;
export const SQE_IO_LINK = 1 << 2;
export const SQE_CQE_SKIP_SUCCESS = 1 << 6;

const SETUP_CQSIZE = 1 << 3;
const MSG_NOSIGNAL = 0x4000;
const ENTER_GETEVENTS = 1 << 0;
const FEAT_SINGLE_MMAP = 1 << 0;
const FEAT_NODROP = 1 << 1;
const REGISTER_FILES = 2;
const OFF_SQ_RING = 0;
const OFF_SQES = 0x10000000;
const SIZEOF_SQE = 64;
const SIZEOF_CQE = 16;
const SIZEOF_PARAMS = 120;

/** One completion: the low 32 bits of its `user_data`, and its result (-errno on failure). */
export type CompletionHandler = (userData: number, res: number) => void;

/**
 * An io_uring with `files` direct-descriptor slots.
 *
 * @example
 * ```ts
 * const ring = Uring.open(256, 1024, 64);
 * if (ring) {
 *   const at = ring.sqe();
 *   // ... fill it (see the prep methods), then:
 *   ring.submit();
 *   ring.reap((data, res) => console.log(data, res));
 * }
 * ```
 */
export class Uring {
  readonly fd: number;
  readonly #sqes: DataView;
  readonly #sqTail: Uint32Array;
  readonly #sqMask: number;
  readonly #sqEntries: number;
  readonly #cqHead: Uint32Array;
  readonly #cqTail: Uint32Array;
  readonly #cqes: DataView;
  readonly #cqesOffset: number;
  readonly #cqMask: number;
  /** Our copy of the submission tail: entries from the kernel's tail up to it are queued. */
  #tail: number;
  #queued = 0;

  private constructor(fd: number, params: DataView) {
    this.fd = fd;
    const sqEntries = params.getUint32(0, true);
    const cqEntries = params.getUint32(4, true);
    const sq = (k: number) => params.getUint32(40 + 4 * k, true);
    const cq = (k: number) => params.getUint32(80 + 4 * k, true);
    const sqSize = sq(6) + sqEntries * 4;
    const cqSize = cq(5) + cqEntries * SIZEOF_CQE;
    // One mapping serves both rings (IORING_FEAT_SINGLE_MMAP, required by open).
    const ring = mapMemory(fd, OFF_SQ_RING, Math.max(sqSize, cqSize)).buffer;
    this.#sqes = new DataView(mapMemory(fd, OFF_SQES, sqEntries * SIZEOF_SQE).buffer);
    this.#sqTail = new Uint32Array(ring, sq(1), 1);
    this.#sqMask = new Uint32Array(ring, sq(2), 1)[0];
    this.#sqEntries = sqEntries;
    // Entry i of the submission array names SQE i, once and for all.
    const array = new Uint32Array(ring, sq(6), sqEntries);
    for (let i = 0; i < sqEntries; i++) array[i] = i;
    this.#cqHead = new Uint32Array(ring, cq(0), 1);
    this.#cqTail = new Uint32Array(ring, cq(1), 1);
    this.#cqMask = new Uint32Array(ring, cq(2), 1)[0];
    this.#cqes = new DataView(ring);
    this.#cqesOffset = cq(5);
    this.#tail = this.#sqTail[0];
  }

  /**
   * A ring of `entries` submissions and `cqEntries` completions with `files` empty
   * direct-descriptor slots; null where io_uring is missing or refused (old kernel,
   * `kernel.io_uring_disabled`, a seccomp filter, no room), or lacks what this needs.
   *
   * @example
   * ```ts
   * const ring = Uring.open(256, 4096, 1024);
   * ```
   */
  static open(entries: number, cqEntries: number, files: number): Uring | null {
    if (Deno.build.arch !== "x86_64") return null;
    const params = new Uint8Array(SIZEOF_PARAMS);
    const pv = new DataView(params.buffer);
    pv.setUint32(4, cqEntries, true);
    pv.setUint32(8, SETUP_CQSIZE, true);
    let fd: number;
    try {
      fd = ioUringSetup(entries, params);
    } catch {
      return null; // no libc, or no syscall(2) in it
    }
    if (fd < 0) return null;
    const features = pv.getUint32(20, true);
    const need = FEAT_SINGLE_MMAP | FEAT_NODROP;
    const sparse = new Uint8Array(new Int32Array(files).fill(-1).buffer);
    if ((features & need) !== need || ioUringRegister(fd, REGISTER_FILES, sparse, files) < 0) {
      closeRing(fd);
      return null;
    }
    try {
      return new Uring(fd, pv);
    } catch {
      closeRing(fd);
      return null;
    }
  }

  /** Submission entries free now. */
  get free(): number {
    return this.#sqEntries - this.#queued;
  }

  /** Submissions queued and not yet handed to the kernel. */
  get queued(): number {
    return this.#queued;
  }

  /**
   * The byte offset of a free submission entry, zeroed, or -1 when the ring is full
   * (call {@link Uring.submit} first).
   */
  sqe(): number {
    if (this.#queued >= this.#sqEntries) return -1;
    const at = (this.#tail & this.#sqMask) * SIZEOF_SQE;
    this.#tail = (this.#tail + 1) >>> 0;
    this.#queued++;
    const v = this.#sqes;
    for (let k = 0; k < SIZEOF_SQE; k += 8) v.setBigUint64(at + k, 0n);
    return at;
  }

  /** `socket(domain, type, 0)` into direct slot `slot`. */
  prepSocket(at: number, domain: number, type: number, slot: number, flags: number, data: number) {
    const v = this.#sqes;
    this.#head(at, OP_SOCKET, flags, domain, data);
    v.setUint32(at + 8, type, true); // off: the type
    v.setUint32(at + 44, slot + 1, true); // file_index: slot + 1 (0 means a plain fd)
  }

  /** `connect` of direct slot `slot` to the sockaddr at `address` (`len` bytes). */
  prepConnect(at: number, slot: number, address: bigint, len: number, flags: number, data: number) {
    const v = this.#sqes;
    this.#head(at, OP_CONNECT, flags | SQE_FIXED_FILE, slot, data);
    v.setUint32(at + 8, len, true); // addr2: the address length
    v.setBigUint64(at + 16, address, true);
  }

  /** `send` of `len` bytes at `address` on direct slot `slot`, never raising SIGPIPE. */
  prepSend(at: number, slot: number, address: bigint, len: number, flags: number, data: number) {
    this.#head(at, OP_SEND, flags | SQE_FIXED_FILE, slot, data);
    this.#sqes.setBigUint64(at + 16, address, true);
    this.#sqes.setUint32(at + 24, len, true);
    this.#sqes.setUint32(at + 28, MSG_NOSIGNAL, true);
  }

  /** `recv` of at most `len` bytes into `address` on direct slot `slot`. */
  prepRecv(at: number, slot: number, address: bigint, len: number, flags: number, data: number) {
    this.#head(at, OP_RECV, flags | SQE_FIXED_FILE, slot, data);
    this.#sqes.setBigUint64(at + 16, address, true);
    this.#sqes.setUint32(at + 24, len, true);
  }

  /** `close` of direct slot `slot`. */
  prepClose(at: number, slot: number, flags: number, data: number) {
    this.#head(at, OP_CLOSE, flags, 0, data);
    this.#sqes.setUint32(at + 44, slot + 1, true);
  }

  /** Cancels the request whose `user_data` is `target` (its low 32 bits). */
  prepCancel(at: number, target: number, flags: number, data: number) {
    this.#head(at, OP_ASYNC_CANCEL, flags, -1, data);
    this.#sqes.setUint32(at + 16, target, true);
  }

  #head(at: number, op: number, flags: number, fd: number, data: number): void {
    const v = this.#sqes;
    v.setUint8(at, op);
    v.setUint8(at + 1, flags);
    v.setInt32(at + 4, fd, true);
    v.setUint32(at + 32, data, true);
  }

  /**
   * Hands every queued entry to the kernel in one `io_uring_enter`: how many it took
   * (every one, or a failed call's -errno: the entries stay queued for the next call).
   */
  submit(): number {
    return this.#queued === 0 ? 0 : this.#enter(0, 0);
  }

  /**
   * {@link Uring.submit}, then waits until `minComplete` completions are there (for a
   * probe at setup: the daemon never waits in the kernel but in its reactor).
   */
  submitAndWait(minComplete: number): number {
    return this.#enter(minComplete, ENTER_GETEVENTS);
  }

  /** Publishes the tail and enters the kernel; what it took leaves the queue. */
  #enter(minComplete: number, flags: number): number {
    this.#sqTail[0] = this.#tail;
    const n = ioUringEnter(this.fd, this.#queued, minComplete, flags);
    if (n > 0) this.#queued -= Math.min(n, this.#queued);
    return n;
  }

  /** Calls `onCompletion` for every completion there is, then frees their entries. */
  reap(onCompletion: CompletionHandler): number {
    let head = this.#cqHead[0];
    const tail = this.#cqTail[0];
    let n = 0;
    const v = this.#cqes;
    while (head !== tail) {
      const at = this.#cqesOffset + (head & this.#cqMask) * SIZEOF_CQE;
      const data = v.getUint32(at, true);
      const res = v.getInt32(at + 8, true);
      head = (head + 1) >>> 0;
      n++;
      // Freed before the handler runs: what it queues may complete into this entry.
      this.#cqHead[0] = head;
      onCompletion(data, res);
    }
    return n;
  }
}

function closeRing(fd: number): void {
  try {
    closeFd(fd);
  } catch {
    // close(2) releases the descriptor even when it reports an error.
  }
}

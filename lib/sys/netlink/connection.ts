/**
 * A netlink socket any protocol can use (rtnetlink, generic netlink): sequence numbers,
 * acks, multi-part dumps and a timeout on every exchange, so a kernel that never answers
 * costs a {@link NetlinkError} with ETIMEDOUT instead of a hung daemon. Protocol codecs
 * build the request bytes and decode the reply payloads; this module only moves buffers
 * through libc.ts.
 *
 * Nothing here blocks the JS thread: the socket is non-blocking, each read is a
 * synchronous `recvmsg` (so its errno is ours, see DESIGN.md "Facts that bite"), and
 * between reads the daemon's {@link Reactor} waits for readiness (one wait for every fd
 * the daemon owns), cut short by {@link NetlinkConnection.close}.
 *
 * @module
 */

import { EBADF, EBADMSG, ENOBUFS, ETIMEDOUT, SyscallError } from "../errno.ts";
import {
  AF_NETLINK,
  bindSocket,
  closeFd,
  MSG_TRUNC,
  NETLINK_ADD_MEMBERSHIP,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  openSocket,
  recvMsg,
  sendTo,
  setsockoptInt,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SOCK_RAW,
  sockaddrNl,
  SOL_NETLINK,
  SOL_SOCKET,
} from "../libc.ts";
import { defaultReactor, type Reactor } from "../reactor.ts";
import {
  type DataMessage,
  decodeHeader,
  type NetlinkMessage,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  NLMSG_HDRLEN,
  parseMessages,
} from "./message.ts";

// Room for one recv of a dump: the kernel fills at most ~32 KiB per datagram.
const RECV_BUFFER_BYTES = 64 * 1024;
/** How long an exchange waits for its reply when nobody says otherwise. */
export const DEFAULT_TIMEOUT_MS = 5000;
// A dump the kernel flags as interrupted (the table changed under it) is read again.
const DUMP_ATTEMPTS = 5;

/**
 * A request the kernel refused (or never answered): what was asked, the errno and its
 * name, and the kernel's own explanation when extended acks carried one.
 *
 * @example
 * ```ts
 * try {
 *   await rtnl.addAddress({ index: 3, address: "192.0.2.1", prefixLen: 24 });
 * } catch (e) {
 *   if (e instanceof NetlinkError && e.errnoName === "EEXIST") { } // already there
 *   // e.message: "add 192.0.2.1/24 dev veth0: EEXIST (File exists); kernel: ipv4: Address already assigned"
 * }
 * ```
 */
export class NetlinkError extends SyscallError {
  /** "add", "del", "set", "dump", "get", "find"; empty when `target` says it all. */
  readonly operation: string;
  /** What it was about: `192.0.2.1/24 dev veth0`, `addresses`. */
  readonly target: string;
  /** NLMSGERR_ATTR_MSG, when the kernel sent one. */
  readonly kernelMessage?: string;

  /**
   * Builds the error; the message names operation, target, errno, kernel text and hint.
   *
   * @param call the request type, e.g. `"RTM_NEWADDR"`.
   * @param operation `"add"`, `"del"`, `"dump"`, `"get"`, or `""`.
   * @param target what it was about, e.g. `"192.0.2.1/24 dev veth0"`.
   * @param errno the errno the kernel answered with.
   * @param kernelMessage the kernel's extended-ack text, if any.
   * @param hint what the errno means here, when the code alone would puzzle a reader.
   */
  constructor(
    call: string,
    operation: string,
    target: string,
    errno: number,
    kernelMessage?: string,
    hint?: string,
  ) {
    super(call, errno);
    this.name = "NetlinkError";
    this.operation = operation;
    this.target = target;
    this.kernelMessage = kernelMessage;
    const text = this.message.slice(this.message.indexOf(":") + 2);
    this.message = `${this.request}: ${text}${hint ? `; ${hint}` : ""}${
      kernelMessage ? `; kernel: ${kernelMessage}` : ""
    }`;
  }

  /** The errno's symbolic name, e.g. `"EEXIST"` (the same as `code`). */
  get errnoName(): string {
    return this.code;
  }

  /** The request that failed, as the message names it: `add 192.0.2.1/24 dev veth0`. */
  get request(): string {
    return this.operation ? `${this.operation} ${this.target}` : this.target;
  }
}

/**
 * Options of {@link NetlinkConnection.open}.
 *
 * @example
 * ```ts
 * NetlinkConnection.open(NETLINK_ROUTE, { groups: [RTNLGRP_LINK], rcvBufBytes: 4 << 20 });
 * ```
 */
export interface NetlinkOpenOptions {
  /** Multicast groups to join (by number, so groups above 32 work too). */
  groups?: readonly number[];
  /** Receive buffer to ask for (SO_RCVBUFFORCE, else SO_RCVBUF); event bursts need room. */
  rcvBufBytes?: number;
  /** Default timeout of every exchange; {@link DEFAULT_TIMEOUT_MS} when omitted. */
  timeoutMs?: number;
  /**
   * The port id requests go to: 0, the kernel, unless the other end is a user-space
   * netlink socket (NETLINK_USERSOCK), as when a test plays the kernel.
   */
  peer?: number;
  /** Where the socket's waits happen: the process-wide reactor when omitted. */
  reactor?: Reactor;
}

/**
 * Per-exchange options: how long to wait, and how a failure names the request.
 *
 * @example
 * ```ts
 * await conn.request(msg, { timeoutMs: 1000, what: "add service 192.0.2.10:80" });
 * ```
 */
export interface ExchangeOptions {
  /** How long to wait for the whole reply; the connection's default when omitted. */
  timeoutMs?: number;
  /** The request as errors name it, e.g. `add 192.0.2.1/24 dev veth0`. */
  what?: string;
  /** The message type's name for {@link NetlinkError.call}, e.g. `"CTRL_CMD_GETFAMILY"`. */
  call?: string;
}

/**
 * One request of {@link NetlinkConnection.requestBatch}: the message (its seq, pid and
 * NLM_F_REQUEST | NLM_F_ACK are set on the wire) and how a failure names it.
 *
 * @example
 * ```ts
 * const r: BatchRequest = { msg: buildNewAddr(spec), what: "add 192.0.2.1/24 dev eth0" };
 * ```
 */
export interface BatchRequest {
  readonly msg: Uint8Array;
  /** The request as its error names it, e.g. `add 192.0.2.1/24 dev veth0`. */
  readonly what?: string;
  /** The message type's name for {@link NetlinkError.call}. */
  readonly call?: string;
}

/**
 * Options of {@link NetlinkConnection.requestBatch}.
 *
 * @example
 * ```ts
 * await conn.requestBatch(reqs, { timeoutMs: 2000, maxBytes: 32 * 1024, maxMessages: 128 });
 * ```
 */
export interface BatchOptions {
  /** How long each datagram waits for its acks; the connection's default when omitted. */
  timeoutMs?: number;
  /** Largest datagram to send; {@link BATCH_MAX_BYTES} when omitted. */
  maxBytes?: number;
  /** Most messages in one datagram; {@link BATCH_MAX_MESSAGES} when omitted. */
  maxMessages?: number;
}

/**
 * A batch whose messages are written straight into the datagrams that carry them
 * ({@link NetlinkConnection.requestBatchWritten}): no array of bytes per request. The
 * 11,000 requests of a big IPVS table's start were each a message in an arena, a view
 * of it and a request object, all garbage once copied into their datagram.
 *
 * @example
 * ```ts
 * const w: BatchWriter = {
 *   count: msgs.length,
 *   length: (i) => msgs[i].length,
 *   write: (i, out, at) => out.set(msgs[i], at),
 *   describe: () => ({ type: RTM_NEWADDR }),
 * };
 * ```
 */
export interface BatchWriter {
  /** How many requests. */
  readonly count: number;
  /** The length of request `i`'s message: its nlmsghdr length, at least the header's. */
  length(i: number): number;
  /**
   * Writes request `i`'s message, `length(i)` bytes, at `at` of `out`, whose bytes there
   * are zero (seq, pid and NLM_F_REQUEST | NLM_F_ACK are set after).
   */
  write(i: number, out: Uint8Array, at: number): void;
  /** Request `i` as its failure names it: its message type and {@link BatchRequest}'s names. */
  describe(i: number): { readonly type: number; readonly call?: string; readonly what?: string };
}

/** One request's outcome in a batch: acked, or the error it was refused (or lost) with. */
export type BatchOutcome = { readonly ok: true } | {
  readonly ok: false;
  readonly error: NetlinkError;
};

/**
 * The default datagram size of a batch: the kernel takes datagrams up to the socket's
 * send buffer (~208 KiB), but a smaller one keeps one refused datagram cheap.
 */
export const BATCH_MAX_BYTES = 32 * 1024;
/**
 * The default count of messages per datagram. The kernel handles a whole datagram inside
 * sendmsg and queues its acks before we can read one: each refused request's ack costs
 * ~1 KiB of the receive buffer, and an ack that does not fit is dropped (ENOBUFS, and
 * the datagram's outcomes are lost), so even a datagram refused whole must fit the
 * receive buffer (~200 acks at the default 208 KiB).
 */
export const BATCH_MAX_MESSAGES = 128;

type Mode = "ack" | "dump";

/**
 * One netlink socket of one protocol: exchanges run one at a time, each stamped with the
 * next sequence number and bounded by a timeout; replies to other sequence numbers
 * (late answers to a request that timed out) are skipped.
 *
 * Notifications of joined groups are read with {@link NetlinkConnection.notifications};
 * keep them on a connection of their own (as Rtnl does), because an exchange skips
 * every message that is not its reply.
 *
 * @example
 * ```ts
 * const conn = NetlinkConnection.open(NETLINK_GENERIC);
 * try {
 *   const [reply] = await conn.query(buildGetFamily("nlctrl"));
 * } finally {
 *   await conn.close();
 * }
 * ```
 */
export class NetlinkConnection {
  /** The NETLINK_* protocol the socket speaks. */
  readonly protocol: number;
  #fd: number;
  readonly #reactor: Reactor;
  /** Aborted by close(): ends every wait on the socket. */
  readonly #closing = new AbortController();
  #seq: number;
  #timeoutMs: number;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #buf = new Uint8Array(RECV_BUFFER_BYTES);
  /**
   * The batch datagram, kept for the next one: a fresh 32 KiB array per datagram was
   * ~700 new pages for a big IPVS table's start (86 datagrams), each a page fault that
   * costs tens of microseconds in a small guest.
   */
  #out = new Uint8Array(0);
  #iterating = false;
  #peer: Uint8Array;

  private constructor(
    fd: number,
    protocol: number,
    timeoutMs: number,
    peer: number,
    reactor: Reactor,
  ) {
    this.#fd = fd;
    this.#reactor = reactor;
    this.protocol = protocol;
    this.#timeoutMs = timeoutMs;
    this.#peer = sockaddrNl(peer);
    // Start away from 0 so a stale ack from a previous run (impossible on a fresh socket,
    // but cheap to rule out) and kernel notifications (seq 0) cannot match.
    this.#seq = (Date.now() & 0x3fffffff) + 1;
  }

  /**
   * Opens and binds a socket of `protocol` (NETLINK_ROUTE, NETLINK_GENERIC, …) in the
   * network namespace of the calling thread, with short error acks and the kernel's
   * extended-ack text where the kernel offers them.
   *
   * @example
   * ```ts
   * const conn = NetlinkConnection.open(NETLINK_ROUTE);
   * ```
   * @throws {SyscallError} when the socket cannot be opened, bound or subscribed.
   */
  static open(protocol: number, opts: NetlinkOpenOptions = {}): NetlinkConnection {
    const fd = openSocket(AF_NETLINK, SOCK_RAW, protocol);
    try {
      bindSocket(fd, sockaddrNl());
      // Both are optional comforts (older kernels lack them): shorter error acks, and the
      // kernel's own words in NetlinkError messages.
      trySetsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
      trySetsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
      if (opts.rcvBufBytes !== undefined) {
        if (!trySetsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, opts.rcvBufBytes)) {
          trySetsockopt(fd, SOL_SOCKET, SO_RCVBUF, opts.rcvBufBytes);
        }
      }
      // By number rather than the bind() bitmask: the mask cannot name groups above 32.
      for (const g of opts.groups ?? []) {
        setsockoptInt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g);
      }
    } catch (e) {
      closeFd(fd);
      throw e;
    }
    return new NetlinkConnection(
      fd,
      protocol,
      opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      opts.peer ?? 0,
      opts.reactor ?? defaultReactor(),
    );
  }

  /** True once {@link NetlinkConnection.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends `msg` with NLM_F_REQUEST | NLM_F_ACK set and resolves on the kernel's ack.
   * Any reply messages before the ack are dropped; use {@link NetlinkConnection.query}
   * to keep them.
   *
   * @example
   * ```ts
   * await conn.request(buildNewAddr(spec), { what: "add 192.0.2.1/24 dev eth0" });
   * ```
   * @throws {NetlinkError} with the kernel's errno, ETIMEDOUT, EBADF (closed) or EBADMSG.
   */
  async request(msg: Uint8Array, opts: ExchangeOptions = {}): Promise<void> {
    await this.#exchange(msg, NLM_F_ACK, "ack", opts);
  }

  /**
   * Many requests in few round trips: messages packed into datagrams of at most
   * `maxBytes` and `maxMessages` (the kernel handles every message of a datagram, in
   * order, whatever the earlier ones' outcome), each with its own seq; only the last of
   * a datagram asks for an ack, the kernel sends one for each refused request anyway,
   * and a request not refused before the last one's ack was applied. Resolves with one outcome per request, in order; never
   * rejects for a refused request. When a datagram's acks do not all come within the
   * timeout (or were dropped), its unacked requests fail with ETIMEDOUT (ENOBUFS) and the
   * datagrams not yet sent fail with the same errno, unsent.
   *
   * @example
   * ```ts
   * const outcomes = await conn.requestBatch(specs.map((s) => ({ msg: buildNewAddr(s) })));
   * const refused = outcomes.filter((o) => !o.ok);
   * ```
   */
  requestBatch(
    requests: readonly BatchRequest[],
    opts: BatchOptions = {},
  ): Promise<BatchOutcome[]> {
    // The lengths are read in the queue, as they always were: a bad message rejects.
    return this.#enqueueBatch(() => arrayWriter(requests), opts);
  }

  /**
   * {@link NetlinkConnection.requestBatch} of messages `writer` writes into the
   * datagrams themselves.
   *
   * @example
   * ```ts
   * const outcomes = await conn.requestBatchWritten(writer);
   * ```
   * @throws {RangeError} when a length is shorter than a netlink header.
   */
  requestBatchWritten(writer: BatchWriter, opts: BatchOptions = {}): Promise<BatchOutcome[]> {
    return this.#enqueueBatch(() => writer, opts);
  }

  #enqueueBatch(writer: () => BatchWriter, opts: BatchOptions): Promise<BatchOutcome[]> {
    const run = this.#queue.then(() => this.#batchNow(writer(), opts));
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * A request whose answer is one or more messages (a GET of one object, GETFAMILY):
   * sent with NLM_F_ACK so the ack marks the end; resolves with the reply payloads
   * (the bytes after each nlmsghdr).
   *
   * @example
   * ```ts
   * const [payload] = await conn.query(buildGetFamily("nlctrl"));
   * ```
   * @throws {NetlinkError} as {@link NetlinkConnection.request}.
   */
  async query(msg: Uint8Array, opts: ExchangeOptions = {}): Promise<Uint8Array[]> {
    return (await this.queryMessages(msg, opts)).map((m) => m.payload);
  }

  /**
   * {@link NetlinkConnection.query}, keeping each reply's header (its type tells an
   * rtnetlink NEWLINK from a DELLINK).
   *
   * @example
   * ```ts
   * const [link] = await conn.queryMessages(buildGetLink(1));
   * ```
   * @throws {NetlinkError} as {@link NetlinkConnection.request}.
   */
  queryMessages(msg: Uint8Array, opts: ExchangeOptions = {}): Promise<DataMessage[]> {
    return this.#exchange(msg, NLM_F_ACK, "ack", opts);
  }

  /**
   * A dump (NLM_F_REQUEST | NLM_F_DUMP set): every part up to NLMSG_DONE, as payloads.
   * A dump the kernel flags NLM_F_DUMP_INTR (the table changed while it was read) is
   * asked again, up to 5 times; the last answer is returned even if still flagged.
   *
   * @example
   * ```ts
   * const services = (await conn.dump(buildGetServices())).map(decodeService);
   * ```
   * @throws {NetlinkError} as {@link NetlinkConnection.request}.
   */
  async dump(msg: Uint8Array, opts: ExchangeOptions = {}): Promise<Uint8Array[]> {
    return (await this.dumpMessages(msg, opts)).map((m) => m.payload);
  }

  /**
   * {@link NetlinkConnection.dump}, keeping each part's header.
   *
   * @example
   * ```ts
   * const parts = await conn.dumpMessages(buildGetAddrDump(AF_INET));
   * ```
   * @throws {NetlinkError} as {@link NetlinkConnection.request}.
   */
  async dumpMessages(msg: Uint8Array, opts: ExchangeOptions = {}): Promise<DataMessage[]> {
    for (let attempt = 1;; attempt++) {
      const parts = await this.#exchange(msg, NLM_F_DUMP, "dump", opts);
      const interrupted = parts.some((m) => m.flags & NLM_F_DUMP_INTR);
      if (!interrupted || attempt >= DUMP_ATTEMPTS) return parts;
    }
  }

  /**
   * {@link NetlinkConnection.dump}, each part's payload handed to `decode` as it is read,
   * in the receive buffer itself: `decode` must not keep the view (the next read
   * overwrites it). What it returns is collected in order. For big dumps read often (an
   * IPVS table's destinations, a service at a time): no copy of each datagram, no
   * message kept past its decode.
   *
   * @example
   * ```ts
   * const dests = await conn.dumpDecoded(buildGetDests(family, service), (p) => decodeDest(p, af));
   * ```
   * @throws {NetlinkError} as {@link NetlinkConnection.request}.
   */
  async dumpDecoded<T>(
    msg: Uint8Array,
    decode: (payload: Uint8Array) => T,
    opts: ExchangeOptions = {},
  ): Promise<T[]> {
    for (let attempt = 1;; attempt++) {
      const out: T[] = [];
      let interrupted = false;
      await this.#exchange(msg, NLM_F_DUMP, "dump", opts, (m) => {
        if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
        out.push(decode(m.payload));
      });
      if (!interrupted || attempt >= DUMP_ATTEMPTS) return out;
    }
  }

  /**
   * Messages from the joined groups, in kernel order. An `{ kind: "overrun" }` item
   * means the kernel dropped some (ENOBUFS): re-dump. A datagram too big for the buffer
   * comes as a `malformed` item. Ends when {@link NetlinkConnection.close} is called.
   * One iteration at a time.
   *
   * @example
   * ```ts
   * for await (const m of conn.notifications()) {
   *   if (m.kind === "overrun") resync();
   * }
   * ```
   */
  async *notifications(): AsyncGenerator<NetlinkMessage, void, undefined> {
    if (this.#iterating) throw new Error("NetlinkConnection.notifications() is already iterated");
    this.#iterating = true;
    try {
      while (!this.#closed) {
        let got: ReturnType<typeof recvMsg>;
        try {
          got = recvMsg(this.#fd, this.#buf);
        } catch (e) {
          if (e instanceof SyscallError && e.errno === ENOBUFS) {
            yield { kind: "overrun" };
            continue;
          }
          throw e;
        }
        if (got === null) {
          // close() ends this wait; a wait refused because close() just ran ends the loop too.
          await this.#readable(-1);
          continue;
        }
        if (got.flags & MSG_TRUNC) {
          yield {
            kind: "malformed",
            offset: 0,
            reason: `event datagram truncated (${got.n} bytes)`,
          };
          continue;
        }
        // Copied: the buffer is reused by the next recv while the consumer still holds these.
        for (const m of parseMessages(this.#buf.slice(0, got.n))) {
          yield m;
          if (this.#closed) return;
        }
      }
    } finally {
      this.#iterating = false;
    }
  }

  /**
   * Ends {@link NetlinkConnection.notifications}, fails the waits of pending exchanges
   * (EBADF), and closes the socket once no worker thread is polling it.
   *
   * @example
   * ```ts
   * await conn.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    // Lets the ended waits' callers run before the number can be reused.
    await null;
    closeFd(this.#fd);
  }

  /** Waits (on the reactor) for the socket to be readable, a timeout, or close(). */
  async #readable(timeoutMs: number): Promise<void> {
    try {
      await this.#reactor.readable(this.#fd, timeoutMs, this.#closing.signal);
    } catch {
      // A closed reactor (the process is ending): pause rather than spin on the reads.
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  // -------------------------------------------------------------------------------------

  #exchange(
    msg: Uint8Array,
    extraFlags: number,
    mode: Mode,
    opts: ExchangeOptions,
    each?: (m: DataMessage) => void,
  ): Promise<DataMessage[]> {
    // One exchange in flight per socket: replies are matched by sequence number, but a
    // dump's parts must be read by the one waiter that asked for them.
    const run = this.#queue.then(() => this.#exchangeNow(msg, extraFlags, mode, opts, each));
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Sends `msg` and reads its replies: collected (copied out of the receive buffer),
   * or, with `each`, handed to it in place and not collected.
   */
  async #exchangeNow(
    msg: Uint8Array,
    extraFlags: number,
    mode: Mode,
    opts: ExchangeOptions,
    each?: (m: DataMessage) => void,
  ): Promise<DataMessage[]> {
    const header = decodeHeader(msg, 0);
    if (!header || header.len < NLMSG_HDRLEN || header.len > msg.length) {
      throw new RangeError(`not one netlink message: ${msg.length} bytes`);
    }
    const fail = (errno: number, kernelMessage?: string) =>
      new NetlinkError(
        opts.call ?? `netlink type ${header.type}`,
        "",
        opts.what ?? `${mode === "dump" ? "dump" : "request"} of type ${header.type}`,
        errno,
        kernelMessage,
      );
    if (this.#closed) throw fail(EBADF);
    const seq = this.#seq = (this.#seq + 1) >>> 0;
    const wire = stamp(msg.subarray(0, header.len), seq, NLM_F_REQUEST | extraFlags);
    if (sendTo(this.#fd, wire, this.#peer) === null) throw fail(ENOBUFS);
    const deadline = performance.now() + (opts.timeoutMs ?? this.#timeoutMs);
    const collected: DataMessage[] = [];
    for (;;) {
      // close() may have released the fd while we waited; its number could be reused.
      if (this.#closed) throw fail(EBADF);
      const got = recvMsg(this.#fd, this.#buf);
      if (got === null) {
        const left = deadline - performance.now();
        if (left <= 0) throw fail(ETIMEDOUT);
        await this.#readable(left);
        continue;
      }
      if (got.flags & MSG_TRUNC) throw fail(EBADMSG, "reply truncated");
      // Copied when collected: replies outlive this buffer, which the next recv overwrites.
      const bytes = each === undefined ? this.#buf.slice(0, got.n) : this.#buf.subarray(0, got.n);
      for (const m of parseMessages(bytes)) {
        if (m.kind === "malformed") {
          if (m.header && m.header.seq !== seq) continue;
          throw fail(EBADMSG, m.reason);
        }
        if (!m.header || m.header.seq !== seq) continue; // stale reply or notification
        if (m.kind === "error") {
          if (m.errno === 0) return collected;
          throw fail(m.errno, m.extAckMessage);
        }
        if (m.kind === "done") {
          if (m.errno !== 0) throw fail(m.errno);
          return collected;
        }
        if (m.kind !== "data") continue;
        if (each === undefined) collected.push(m);
        else each(m);
      }
    }
  }

  async #batchNow(writer: BatchWriter, opts: BatchOptions): Promise<BatchOutcome[]> {
    const maxBytes = opts.maxBytes ?? BATCH_MAX_BYTES;
    const maxMessages = Math.max(1, opts.maxMessages ?? BATCH_MAX_MESSAGES);
    const count = writer.count;
    const out: BatchOutcome[] = new Array(count);
    const lens = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      const len = writer.length(i);
      if (!(len >= NLMSG_HDRLEN)) throw new RangeError(`not one netlink message: ${len} bytes`);
      lens[i] = len;
    }
    const fail = (i: number, errno: number, kernelMessage?: string): BatchOutcome => {
      const r = writer.describe(i);
      const type = r.type;
      const error = new NetlinkError(
        r.call ?? `netlink type ${type}`,
        "",
        r.what ?? `request of type ${type}`,
        errno,
        kernelMessage,
      );
      return { ok: false, error };
    };
    let start = 0;
    let abort = 0; // an errno that ends the batch: what follows fails unsent
    while (start < count) {
      let end = start;
      let bytes = 0;
      while (end < count && end - start < maxMessages) {
        const size = align4(lens[end]);
        if (end > start && bytes + size > maxBytes) break;
        bytes += size;
        end++;
      }
      if (abort !== 0 || this.#closed) {
        for (let i = start; i < end; i++) out[i] = fail(i, abort || EBADF);
        start = end;
        continue;
      }
      abort = await this.#sendDatagram(start, end, bytes, writer, lens, out, fail, opts);
      start = end;
    }
    return out;
  }

  // Sends requests [start, end) as one datagram and fills their outcomes; 0, or the errno
  // that should end the batch (acks lost or never sent).
  async #sendDatagram(
    start: number,
    end: number,
    bytes: number,
    writer: BatchWriter,
    lens: readonly number[],
    out: BatchOutcome[],
    fail: (i: number, errno: number, kernelMessage?: string) => BatchOutcome,
    opts: BatchOptions,
  ): Promise<number> {
    if (this.#out.length < bytes) this.#out = new Uint8Array(Math.max(bytes, BATCH_MAX_BYTES));
    // Sent before anything awaits: the next datagram cannot overwrite this one. Zeroed:
    // it holds the last one's bytes, and writers (and the padding) count on zeros.
    const datagram = this.#out.subarray(0, bytes).fill(0);
    const bySeq = new Map<number, number>();
    let at = 0;
    for (let i = start; i < end; i++) {
      const seq = this.#seq = (this.#seq + 1) >>> 0;
      bySeq.set(seq, i);
      // Only the last message asks for an ack; the kernel acks a refused one regardless.
      // Reading one ack per request (one recvmsg each) cost more than the round trips
      // it saved: 3,300 IPVS requests took 1.2-1.9 s in the UML guest.
      writer.write(i, datagram, at);
      stampAt(datagram, at, seq, NLM_F_REQUEST | (i === end - 1 ? NLM_F_ACK : 0), NLM_F_ACK);
      at += align4(lens[i]);
    }
    const failRest = (errno: number, kernelMessage?: string) => {
      for (const i of bySeq.values()) out[i] = fail(i, errno, kernelMessage);
      return errno;
    };
    let sent: number | null;
    try {
      sent = sendTo(this.#fd, datagram, this.#peer);
    } catch (e) {
      if (e instanceof SyscallError) return failRest(e.errno);
      throw e;
    }
    if (sent === null) return failRest(ENOBUFS);
    const deadline = performance.now() + (opts.timeoutMs ?? this.#timeoutMs);
    while (bySeq.size > 0) {
      if (this.#closed) return failRest(EBADF);
      let got: ReturnType<typeof recvMsg>;
      try {
        got = recvMsg(this.#fd, this.#buf);
      } catch (e) {
        // The kernel dropped acks (the receive buffer overflowed): their outcome is unknown.
        if (e instanceof SyscallError && e.errno === ENOBUFS) return failRest(ENOBUFS);
        throw e;
      }
      if (got === null) {
        const left = deadline - performance.now();
        if (left <= 0) return failRest(ETIMEDOUT);
        await this.#readable(left);
        continue;
      }
      if (got.flags & MSG_TRUNC) return failRest(EBADMSG, "reply truncated");
      for (const m of parseMessages(this.#buf.subarray(0, got.n))) {
        if (!m.header) continue;
        const i = bySeq.get(m.header.seq);
        if (i === undefined) continue; // stale reply or notification
        if (m.kind === "malformed") out[i] = fail(i, EBADMSG, m.reason);
        else if (m.kind === "error") {
          out[i] = m.errno === 0 ? OK : fail(i, m.errno, m.extAckMessage);
        } else continue; // a reply before the ack (an echo): the ack still comes
        bySeq.delete(m.header.seq);
        if (i !== end - 1) continue;
        // The last one's ack: the kernel handled the datagram in order, so every earlier
        // request not refused by now was applied.
        for (const j of bySeq.values()) out[j] = OK;
        bySeq.clear();
      }
    }
    return 0;
  }
}

const OK: BatchOutcome = { ok: true };

/** {@link BatchWriter} of ready messages; each one's length read from its header. */
function arrayWriter(requests: readonly BatchRequest[]): BatchWriter {
  const lens = new Array<number>(requests.length);
  for (let i = 0; i < requests.length; i++) {
    const m = requests[i].msg;
    const len = m.length < NLMSG_HDRLEN ? 0 : (m[0] | m[1] << 8 | m[2] << 16 | m[3] << 24) >>> 0;
    if (len < NLMSG_HDRLEN || len > m.length) {
      throw new RangeError(`not one netlink message: ${m.length} bytes`);
    }
    lens[i] = len;
  }
  return {
    count: requests.length,
    length: (i) => lens[i],
    write: (i, out, at) => {
      const m = requests[i].msg;
      out.set(m.length === lens[i] ? m : m.subarray(0, lens[i]), at);
    },
    describe: (i) => {
      const r = requests[i];
      return { type: r.msg[4] | r.msg[5] << 8, call: r.call, what: r.what };
    },
  };
}

/**
 * Stamps the message at `at` of `buf` in place: `flags` or-ed in (`clear` taken out
 * first), our seq, pid 0. Bytes by hand: no view or copy per message of a batch.
 */
function stampAt(buf: Uint8Array, at: number, seq: number, flags: number, clear: number): void {
  const f = ((buf[at + 6] | buf[at + 7] << 8) & ~clear) | flags;
  buf[at + 6] = f & 0xff;
  buf[at + 7] = (f >>> 8) & 0xff;
  for (let i = 0; i < 4; i++) {
    buf[at + 8 + i] = (seq >>> (8 * i)) & 0xff;
    buf[at + 12 + i] = 0;
  }
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** A copy of one message with our seq/** A copy of one message with our seq, pid 0 (the kernel fills it) and `flags` or-ed in. */
function stamp(msg: Uint8Array, seq: number, flags: number): Uint8Array {
  const out = msg.slice();
  const dv = new DataView(out.buffer);
  dv.setUint16(6, dv.getUint16(6, true) | flags, true);
  dv.setUint32(8, seq, true);
  dv.setUint32(12, 0, true);
  return out;
}

function trySetsockopt(fd: number, level: number, name: number, value: number): boolean {
  try {
    setsockoptInt(fd, level, name, value);
    return true;
  } catch {
    return false;
  }
}

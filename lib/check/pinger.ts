/**
 * Echo requests for every ICMP check of the process over one raw socket per family.
 *
 * A raw ICMP socket gets a copy of every ICMP message the host receives, so a socket
 * per check would copy each reply to every one of them; one shared socket, filtered
 * in the kernel to echo replies (`ICMP_FILTER`, `ICMP6_FILTER`), sees each reply once
 * and hands it to the waiting ping by identifier and sequence. The socket is opened
 * by the first ping and closed when the last one ends.
 *
 * @module
 */

import { SyscallError } from "../sys/errno.ts";
import {
  AF_INET,
  AF_INET6,
  closeFd,
  ICMP6_ECHO_REPLY,
  ICMP6_FILTER,
  icmp6FilterPassing,
  ICMP_ECHOREPLY,
  ICMP_FILTER,
  icmpFilterPassing,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  openSocket,
  recvFrom,
  sendTo,
  setsockoptBuf,
  SOCK_RAW,
  sockaddrIn,
  sockaddrIn6,
  SOL_ICMPV6,
  SOL_RAW,
} from "../sys/libc.ts";
import { parseIp } from "../net/addr.ts";
import type { Deadline } from "./deadline.ts";
import { decodeEchoReply, encodeEchoRequest } from "./icmp_codec.ts";
import { checkReactor } from "./reactor.ts";

/** Echo data: recognisable in a capture. */
const ECHO_DATA = new TextEncoder().encode("hacore health check");

interface Pending {
  readonly from: string;
  readonly done: (ok: true) => void;
}

/**
 * Pings over one shared raw socket of one IP version.
 *
 * @example
 * ```ts
 * const r = await pinger4.ping("127.0.0.1", deadline); // { ok: true } or { ok: false, error }
 * ```
 */
export class Pinger {
  readonly #version: 4 | 6;
  readonly #identifier = (Math.random() * 0x10000) & 0xffff;
  #sequence = (Math.random() * 0x10000) & 0xffff;
  #fd = -1;
  readonly #pending = new Map<number, Pending>();
  #loop: Promise<void> | null = null;
  #stopWaiting: AbortController | null = null;

  /** A pinger for IPv4 (ICMP) or IPv6 (ICMPv6). */
  constructor(version: 4 | 6) {
    this.#version = version;
  }

  /**
   * Sends one echo request and waits for its reply until the deadline. Never throws.
   * Without CAP_NET_RAW the error is `ICMP needs root (raw socket): EPERM`.
   *
   * @example
   * ```ts
   * const r = await new Pinger(6).ping("::1", deadline);
   * ```
   */
  async ping(
    host: string,
    deadline: Deadline,
  ): Promise<{ ok: true } | { ok: false; error: string }> {
    const ip = parseIp(host);
    if (ip === null || (ip.family === "ipv4") !== (this.#version === 4)) {
      return { ok: false, error: `not an IPv${this.#version} address: ${host}` };
    }
    if (deadline.expired) return { ok: false, error: deadline.reason() };
    let seq = -1;
    try {
      this.#open();
      seq = this.#nextSequence();
      const packet = encodeEchoRequest(this.#version, this.#identifier, seq, ECHO_DATA);
      const to = this.#version === 4 ? sockaddrIn(ip.bytes) : sockaddrIn6(ip.bytes);
      const replied = new Promise<true>((done) =>
        this.#pending.set(seq, { from: canonical(ip.bytes), done })
      );
      if (sendTo(this.#fd, packet, to) === null) {
        return { ok: false, error: "send buffer full (EAGAIN)" };
      }
      this.#ensureLoop();
      const ok = await Promise.race([replied, deadline.done().then(() => false)]);
      return ok ? { ok: true } : { ok: false, error: deadline.reason() };
    } catch (e) {
      if (e instanceof SyscallError && e.call === "socket") {
        return { ok: false, error: `ICMP needs root (raw socket): ${e.code}` };
      }
      return { ok: false, error: e instanceof SyscallError ? e.code : String(e) };
    } finally {
      if (seq >= 0) this.#pending.delete(seq);
      if (this.#pending.size === 0) {
        if (this.#loop !== null) this.#stopWaiting?.abort();
        else this.#close();
      }
    }
  }

  /** Resolves once the socket is closed and nothing waits on it. */
  async idle(): Promise<void> {
    while (this.#loop !== null) await this.#loop;
  }

  #open(): void {
    if (this.#fd >= 0) return;
    if (this.#version === 4) {
      this.#fd = openSocket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
      setsockoptBuf(this.#fd, SOL_RAW, ICMP_FILTER, icmpFilterPassing([ICMP_ECHOREPLY]));
    } else {
      this.#fd = openSocket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
      setsockoptBuf(this.#fd, SOL_ICMPV6, ICMP6_FILTER, icmp6FilterPassing([ICMP6_ECHO_REPLY]));
    }
  }

  #close(): void {
    if (this.#fd < 0) return;
    closeFd(this.#fd);
    this.#fd = -1;
  }

  #nextSequence(): number {
    for (let i = 0; i < 0x10000; i++) {
      this.#sequence = (this.#sequence + 1) & 0xffff;
      if (!this.#pending.has(this.#sequence)) return this.#sequence;
    }
    throw new Error("65536 pings in flight");
  }

  #ensureLoop(): void {
    if (this.#loop === null) this.#loop = this.#receive();
  }

  async #receive(): Promise<void> {
    const buf = new Uint8Array(2048);
    try {
      while (this.#pending.size > 0) {
        this.#stopWaiting = new AbortController();
        if (!(await checkReactor.readable(this.#fd, this.#stopWaiting.signal))) continue;
        for (;;) {
          let got;
          try {
            got = recvFrom(this.#fd, buf);
          } catch {
            // A pending socket error (rare on raw sockets) is consumed by the read that
            // reported it; wait for the next readiness.
            break;
          }
          if (got === null) break;
          const reply = decodeEchoReply(
            this.#version,
            buf.subarray(0, Math.min(got.n, buf.length)),
          );
          if (reply === null || reply.identifier !== this.#identifier) continue;
          const p = this.#pending.get(reply.sequence);
          if (p === undefined) continue;
          if ("address" in got.from && canonical(got.from.address) !== p.from) continue;
          p.done(true);
        }
      }
    } finally {
      this.#stopWaiting = null;
      this.#loop = null;
      this.#close();
    }
  }
}

function canonical(bytes: Uint8Array): string {
  return bytes.join(",");
}

/** The process-wide IPv4 pinger. */
export const pinger4: Pinger = new Pinger(4);
/** The process-wide IPv6 pinger. */
export const pinger6: Pinger = new Pinger(6);

/**
 * A packet capture read as it is written: `dumpcap -P -w -` (classic pcap on stdout)
 * inside a namespace, parsed here into frames with the kernel's receive timestamps.
 *
 * dumpcap hands packets over in blocks (up to a few hundred ms late), so arrival times
 * mean nothing; the kernel's stamps (CLOCK_REALTIME, µs) are exact and are converted to
 * the benchmark clock with the offset `calibrate` (ip.ts) measures. Only VRRP adverts and ARP
 * are decoded: enough to tell when the master's last advert or its priority-0 advert
 * reached the backup, and when the new master's gratuitous ARP left.
 *
 * @example
 * ```ts
 * const cap = await Capture.start(box, ns, "eth0", "ip proto 112 or arp");
 * await cap.stop();
 * const adverts = cap.frames.map(decodeVrrp).filter((v) => v !== null);
 * ```
 *
 * @module
 */

import type { Sandbox } from "../../../lib/lab/host.ts";
import { WaitTimeout } from "../../../lib/lab/proc.ts";

/**
 * One captured frame.
 *
 * @example
 * ```ts
 * const f: Frame = { realMs: Date.now(), data: new Uint8Array(60) };
 * ```
 */
export interface Frame {
  /** Kernel receive (or send) time, wall-clock ms. */
  readonly realMs: number;
  /** From the Ethernet header on. */
  readonly data: Uint8Array;
}

/**
 * A VRRP advert: who sent it and with which priority.
 *
 * @example
 * ```ts
 * const a: Advert = { realMs: 0, src: "192.0.2.11", vrid: 51, priority: 150 };
 * ```
 */
export interface Advert {
  readonly realMs: number;
  readonly src: string;
  readonly vrid: number;
  readonly priority: number;
}

/**
 * An ARP packet: who claims which address.
 *
 * @example
 * ```ts
 * const a: Arp = { realMs: 0, op: 1, senderIp: "192.0.2.100", senderMac: "02:00:00:00:00:01" };
 * ```
 */
export interface Arp {
  readonly realMs: number;
  /** 1 request, 2 reply. */
  readonly op: number;
  readonly senderIp: string;
  readonly senderMac: string;
}

const ETH_HLEN = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const IPPROTO_VRRP = 112;

const ip4 = (b: Uint8Array, at: number) => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

/**
 * The VRRP advert in `f` (IPv4 only), or null.
 *
 * @example
 * ```ts
 * const a = decodeVrrp(frame);
 * if (a?.priority === 0) console.log(`${a.src} released`);
 * ```
 */
export function decodeVrrp(f: Frame): Advert | null {
  const b = f.data;
  if (b.length < ETH_HLEN + 20 + 8) return null;
  if (((b[12] << 8) | b[13]) !== ETHERTYPE_IPV4) return null;
  const ihl = (b[ETH_HLEN] & 0x0f) * 4;
  if (b[ETH_HLEN + 9] !== IPPROTO_VRRP || b.length < ETH_HLEN + ihl + 8) return null;
  const v = ETH_HLEN + ihl;
  return { realMs: f.realMs, src: ip4(b, ETH_HLEN + 12), vrid: b[v + 1], priority: b[v + 2] };
}

/**
 * The ARP packet in `f` (Ethernet/IPv4), or null.
 *
 * @example
 * ```ts
 * const a = decodeArp(frame);
 * if (a?.senderIp === "192.0.2.100") console.log(`VIP announced by ${a.senderMac}`);
 * ```
 */
export function decodeArp(f: Frame): Arp | null {
  const b = f.data;
  if (b.length < ETH_HLEN + 28 || ((b[12] << 8) | b[13]) !== ETHERTYPE_ARP) return null;
  const a = ETH_HLEN;
  const mac = [...b.subarray(a + 8, a + 14)].map((x) => x.toString(16).padStart(2, "0")).join(
    ":",
  );
  return {
    realMs: f.realMs,
    op: (b[a + 6] << 8) | b[a + 7],
    senderIp: ip4(b, a + 14),
    senderMac: mac,
  };
}

/**
 * Incremental parser of a classic pcap stream (either byte order, µs or ns stamps).
 *
 * @example
 * ```ts
 * const p = new PcapParser();
 * const frames = p.push(chunk);
 * ```
 */
export class PcapParser {
  #buf = new Uint8Array(0);
  #little: boolean | null = null;
  #nanos = false;

  /**
   * Feeds bytes; returns the frames completed by them.
   *
   * @example
   * ```ts
   * for await (const chunk of stream) frames.push(...parser.push(chunk));
   * ```
   */
  push(chunk: Uint8Array): Frame[] {
    const joined = new Uint8Array(this.#buf.length + chunk.length);
    joined.set(this.#buf);
    joined.set(chunk, this.#buf.length);
    let off = 0;
    const dv = new DataView(joined.buffer);
    if (this.#little === null) {
      if (joined.length < 24) {
        this.#buf = joined;
        return [];
      }
      const magicLe = dv.getUint32(0, true);
      const magicBe = dv.getUint32(0, false);
      if (magicLe === 0xa1b2c3d4 || magicLe === 0xa1b23c4d) {
        this.#little = true;
        this.#nanos = magicLe === 0xa1b23c4d;
      } else if (magicBe === 0xa1b2c3d4 || magicBe === 0xa1b23c4d) {
        this.#little = false;
        this.#nanos = magicBe === 0xa1b23c4d;
      } else {
        throw new Error(`not a pcap stream (magic ${magicLe.toString(16)})`);
      }
      off = 24;
    }
    const le = this.#little;
    const out: Frame[] = [];
    while (joined.length - off >= 16) {
      const sec = dv.getUint32(off, le);
      const frac = dv.getUint32(off + 4, le);
      const caplen = dv.getUint32(off + 8, le);
      if (joined.length - off - 16 < caplen) break;
      const realMs = sec * 1000 + (this.#nanos ? frac / 1e6 : frac / 1e3);
      out.push({ realMs, data: joined.slice(off + 16, off + 16 + caplen) });
      off += 16 + caplen;
    }
    this.#buf = joined.slice(off);
    return out;
  }
}

/**
 * A running `dumpcap` whose frames accumulate in {@link Capture.frames}.
 *
 * @example
 * ```ts
 * const cap = await Capture.start(box, ns, "eth0", "ip proto 112");
 * ```
 */
export class Capture {
  /** Every frame so far, in capture order. */
  readonly frames: Frame[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #done: Promise<void>;
  readonly #stderr: string[] = [];

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    const parser = new PcapParser();
    const out = (async () => {
      try {
        for await (const chunk of child.stdout) this.frames.push(...parser.push(chunk));
      } catch {
        // killed: what was read stays
      }
    })();
    const err = (async () => {
      const dec = new TextDecoder();
      let buf = "";
      try {
        for await (const chunk of child.stderr) {
          buf += dec.decode(chunk, { stream: true });
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            this.#stderr.push(buf.slice(0, nl));
            buf = buf.slice(nl + 1);
          }
        }
      } catch {
        // killed
      }
    })();
    this.#done = Promise.all([out, err]).then(() => {});
  }

  /**
   * Starts `dumpcap -q -P -i IFACE -f FILTER -w -` in `ns` and resolves once it
   * captures.
   *
   * @example
   * ```ts
   * const cap = await Capture.start(box, ns, "eth0", "ip proto 112 or arp");
   * ```
   */
  static async start(box: Sandbox, ns: string, iface: string, filter: string): Promise<Capture> {
    const cap = new Capture(
      box.spawn(ns, "dumpcap", "-q", "-P", "-i", iface, "-f", filter, "-w", "-"),
    );
    const deadline = Date.now() + 20_000;
    while (!cap.#stderr.some((l) => l.startsWith("Capturing on"))) {
      if (Date.now() > deadline) {
        throw new WaitTimeout(`dumpcap on ${iface} in ${ns}: ${cap.#stderr.join(" | ")}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return cap;
  }

  /**
   * Waits until a frame stamped at or after `realMs` has been read (dumpcap delivers in
   * blocks), or `timeoutMs` passes; returns whether one was.
   *
   * @example
   * ```ts
   * await cap.caughtUp(event.realMs, 2000);
   * ```
   */
  async caughtUp(realMs: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while ((this.frames.at(-1)?.realMs ?? -Infinity) < realMs) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  /**
   * Drops frames stamped before `realMs`, to bound memory over a long run.
   *
   * @example
   * ```ts
   * cap.prune(trialStartReal - 5000);
   * ```
   */
  prune(realMs: number): void {
    const keep = this.frames.findIndex((f) => f.realMs >= realMs);
    this.frames.splice(0, keep < 0 ? this.frames.length : keep);
  }

  /**
   * Stops dumpcap (SIGINT, so it flushes) and waits for its last frames.
   *
   * @example
   * ```ts
   * await cap.stop();
   * ```
   */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGINT");
    } catch {
      // gone already
    }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // gone
      }
    }, 5000);
    await this.#child.status.catch(() => {});
    clearTimeout(timer);
    await this.#done;
  }
}

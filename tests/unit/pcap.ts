/**
 * A small reader for libpcap captures, enough for the reference captures: classic
 * pcap (either byte order, µs or ns timestamps) and pcapng (section, interface and
 * enhanced/simple packet blocks). The reference README calls every capture "classic
 * libpcap", but the dumpcap-made one is pcapng, so both are read.
 *
 * It throws on a malformed file: a test utility should fail loudly, never return
 * fewer frames than the file holds.
 *
 * @module
 */

/** Link type of Ethernet captures (LINKTYPE_ETHERNET). */
export const LINKTYPE_ETHERNET = 1;

/** One captured frame. */
export interface PcapRecord {
  /** 1-based frame number, as tshark and the index files count. */
  number: number;
  /** Capture time in seconds since the epoch (fractional; ns files keep ~µs precision). */
  time: number;
  /** Whole seconds and the fraction in nanoseconds, for exact arithmetic. */
  seconds: number;
  nanoseconds: number;
  /** Length on the wire; `data.length` is what was captured. */
  originalLength: number;
  data: Uint8Array;
}

/** A whole capture. */
export interface Pcap {
  format: "pcap" | "pcapng";
  /** Link type of the first interface (pcapng) or of the file (pcap). */
  linkType: number;
  records: PcapRecord[];
}

/**
 * Parses a classic pcap or a pcapng file, chosen by its magic number.
 *
 * @example
 * ```ts
 * const cap = parsePcap(await Deno.readFile("x.pcap"));
 * cap.records.length;
 * ```
 */
export function parsePcap(bytes: Uint8Array): Pcap {
  if (bytes.length < 24) throw new Error(`pcap: file of ${bytes.length} bytes has no header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicBE = view.getUint32(0, false);
  if (magicBE === PCAPNG_SHB) return parsePcapng(bytes, view);
  let little: boolean;
  let nanos: boolean;
  switch (magicBE) {
    case 0xa1b2c3d4:
      little = false;
      nanos = false;
      break;
    case 0xd4c3b2a1:
      little = true;
      nanos = false;
      break;
    case 0xa1b23c4d:
      little = false;
      nanos = true;
      break;
    case 0x4d3cb2a1:
      little = true;
      nanos = true;
      break;
    default:
      throw new Error(`pcap: bad magic 0x${magicBE.toString(16)}`);
  }
  const major = view.getUint16(4, little);
  if (major !== 2) throw new Error(`pcap: unsupported version ${major}`);
  const linkType = view.getUint32(20, little) & 0x0fffffff;
  const records: PcapRecord[] = [];
  let off = 24;
  while (off < bytes.length) {
    if (off + 16 > bytes.length) {
      throw new Error(`pcap: truncated record header at offset ${off}`);
    }
    const seconds = view.getUint32(off, little);
    const frac = view.getUint32(off + 4, little);
    const inclLen = view.getUint32(off + 8, little);
    const origLen = view.getUint32(off + 12, little);
    off += 16;
    if (off + inclLen > bytes.length) {
      throw new Error(`pcap: record ${records.length + 1} overruns the file`);
    }
    const nanoseconds = nanos ? frac : frac * 1000;
    records.push({
      number: records.length + 1,
      time: seconds + nanoseconds / 1e9,
      seconds,
      nanoseconds,
      originalLength: origLen,
      data: bytes.slice(off, off + inclLen),
    });
    off += inclLen;
  }
  return { format: "pcap", linkType, records };
}

const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_IDB = 1;
const PCAPNG_SPB = 3;
const PCAPNG_EPB = 6;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const IF_TSRESOL = 9;

interface PcapngInterface {
  linkType: number;
  /** Timestamp units per second. */
  unitsPerSecond: bigint;
}

function parsePcapng(bytes: Uint8Array, view: DataView): Pcap {
  const records: PcapRecord[] = [];
  let interfaces: PcapngInterface[] = [];
  let firstLinkType = -1;
  let little = true;
  let off = 0;
  while (off < bytes.length) {
    if (off + 12 > bytes.length) throw new Error(`pcapng: truncated block at offset ${off}`);
    const typeLE = view.getUint32(off, true);
    if (typeLE === PCAPNG_SHB) {
      // Each section fixes its own byte order and restarts interface numbering.
      const bom = view.getUint32(off + 8, true);
      if (bom === PCAPNG_BYTE_ORDER_MAGIC) little = true;
      else if (view.getUint32(off + 8, false) === PCAPNG_BYTE_ORDER_MAGIC) little = false;
      else throw new Error(`pcapng: bad byte-order magic at offset ${off}`);
      interfaces = [];
    }
    const type = view.getUint32(off, little);
    const length = view.getUint32(off + 4, little);
    if (length < 12 || length % 4 !== 0 || off + length > bytes.length) {
      throw new Error(`pcapng: block at offset ${off} has bad length ${length}`);
    }
    if (view.getUint32(off + length - 4, little) !== length) {
      throw new Error(`pcapng: block at offset ${off} has mismatched trailing length`);
    }
    const body = off + 8;
    const end = off + length - 4;
    if (type === PCAPNG_IDB) {
      const linkType = view.getUint16(body, little);
      let unitsPerSecond = 1_000_000n;
      for (let o = body + 8; o + 4 <= end;) {
        const code = view.getUint16(o, little);
        const len = view.getUint16(o + 2, little);
        if (code === 0) break;
        if (code === IF_TSRESOL && len >= 1) {
          const r = bytes[o + 4];
          unitsPerSecond = r & 0x80 ? 1n << BigInt(r & 0x7f) : 10n ** BigInt(r);
        }
        o += 4 + Math.ceil(len / 4) * 4;
      }
      interfaces.push({ linkType, unitsPerSecond });
      if (firstLinkType < 0) firstLinkType = linkType;
    } else if (type === PCAPNG_EPB) {
      const ifIndex = view.getUint32(body, little);
      const iface = interfaces[ifIndex];
      if (!iface) throw new Error(`pcapng: packet for unknown interface ${ifIndex}`);
      const ts = (BigInt(view.getUint32(body + 4, little)) << 32n) |
        BigInt(view.getUint32(body + 8, little));
      const capLen = view.getUint32(body + 12, little);
      const origLen = view.getUint32(body + 16, little);
      if (body + 20 + capLen > end) throw new Error(`pcapng: packet at offset ${off} overruns`);
      const seconds = Number(ts / iface.unitsPerSecond);
      const nanoseconds = Number(
        ((ts % iface.unitsPerSecond) * 1_000_000_000n) / iface.unitsPerSecond,
      );
      records.push({
        number: records.length + 1,
        time: seconds + nanoseconds / 1e9,
        seconds,
        nanoseconds,
        originalLength: origLen,
        data: bytes.slice(body + 20, body + 20 + capLen),
      });
    } else if (type === PCAPNG_SPB) {
      const origLen = view.getUint32(body, little);
      const capLen = Math.min(origLen, end - body - 4);
      records.push({
        number: records.length + 1,
        time: 0,
        seconds: 0,
        nanoseconds: 0,
        originalLength: origLen,
        data: bytes.slice(body + 4, body + 4 + capLen),
      });
    }
    off += length;
  }
  return { format: "pcapng", linkType: firstLinkType, records };
}

/** Where the reference captures live: `../shared/reference/captures/` from the repo root. */
export const CAPTURE_DIR: URL = new URL("../../../shared/reference/captures/", import.meta.url);

/** The three reference captures, by base name. */
export const CAPTURE_NAMES = [
  "keepalived-vrrpv2",
  "keepalived-vrrpv3",
  "keepalived-v3-ipv6-unicast-v2auth",
] as const;

/** One of `CAPTURE_NAMES`. */
export type CaptureName = typeof CAPTURE_NAMES[number];

/**
 * Why the capture tests cannot run, or null when every file they need is present.
 * Tests pass this to `Deno.test({ ignore })` and print it, so a missing directory
 * shows up as skipped tests with a reason, never as a silent pass.
 *
 * @example
 * ```ts
 * const missing = capturesMissing();
 * Deno.test({ name: "…", ignore: missing !== null, fn() {} });
 * ```
 */
export function capturesMissing(): string | null {
  for (const name of CAPTURE_NAMES) {
    for (const ext of [".pcap", ".index.txt", ".decoded.txt"]) {
      const url = new URL(name + ext, CAPTURE_DIR);
      try {
        Deno.statSync(url);
      } catch (e) {
        return `reference capture ${url.pathname} is not readable (${
          e instanceof Error ? e.name : String(e)
        }); capture tests skipped`;
      }
    }
  }
  return null;
}

/** One line of an `X.index.txt` file. */
export interface IndexLine {
  number: number;
  protocol: string;
  summary: string;
  length: number;
}

/** What tshark said about one frame in `X.decoded.txt`: its bytes and its fields. */
export interface TsharkFrame {
  number: number;
  /** The hex dump at the end of the frame's decode. */
  bytes: Uint8Array;
  /** Every `Name: value` line of the decode, in order, indentation removed. */
  fields: Array<[string, string]>;
}

/** A reference capture with tshark's index and decode beside it. */
export interface ReferenceCapture {
  name: CaptureName;
  pcap: Pcap;
  index: IndexLine[];
  tshark: Map<number, TsharkFrame>;
}

/**
 * Loads a reference capture and its tshark index and decode.
 *
 * @example
 * ```ts
 * const cap = await loadCapture("keepalived-vrrpv2");
 * cap.index.filter((l) => l.protocol === "VRRP").length; // 17
 * ```
 */
export async function loadCapture(name: CaptureName): Promise<ReferenceCapture> {
  const pcap = parsePcap(await Deno.readFile(new URL(`${name}.pcap`, CAPTURE_DIR)));
  const indexText = await Deno.readTextFile(new URL(`${name}.index.txt`, CAPTURE_DIR));
  const index = indexText.split("\n").filter((l) => l.trim() !== "").map((line) => {
    const [number, protocol, summary, length] = line.split("\t");
    if (length === undefined) {
      throw new Error(`${name}.index.txt: bad line ${JSON.stringify(line)}`);
    }
    return { number: Number(number), protocol, summary, length: Number(length) };
  });
  const decoded = await Deno.readTextFile(new URL(`${name}.decoded.txt`, CAPTURE_DIR));
  return { name, pcap, index, tshark: parseTsharkDecode(decoded) };
}

/**
 * Parses `tshark -V -x` output into frames: their hex dump and their field lines.
 *
 * @example
 * ```ts
 * parseTsharkDecode(text).get(5)?.fields.find(([k]) => k === "Priority");
 * ```
 */
export function parseTsharkDecode(text: string): Map<number, TsharkFrame> {
  const frames = new Map<number, TsharkFrame>();
  const chunks = text.split(/^(?=Frame \d+: )/m).filter((c) => c.startsWith("Frame "));
  for (const chunk of chunks) {
    const number = Number(/^Frame (\d+):/.exec(chunk)![1]);
    const hex: number[] = [];
    const fields: Array<[string, string]> = [];
    for (const line of chunk.split("\n")) {
      const dump = /^[0-9a-f]{4} {2}((?:[0-9a-f]{2} ){1,16})/.exec(line);
      if (dump) {
        for (const h of dump[1].trim().split(" ")) hex.push(parseInt(h, 16));
        continue;
      }
      // Bit-field lines read "0011 .... = Name: value"; keep only the name.
      const field = /^\s*(?:[01. ]+ = )?([^:[\]]+?): (.*)$/.exec(line);
      if (field) fields.push([field[1], field[2]]);
    }
    frames.set(number, { number, bytes: new Uint8Array(hex), fields });
  }
  return frames;
}

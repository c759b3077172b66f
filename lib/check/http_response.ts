/**
 * An HTTP/1.x response read incrementally from a byte stream: the status line, the
 * headers, and (only when the check looks at it) the body, framed by
 * `Transfer-Encoding: chunked`, `Content-Length` or the end of the connection, and
 * capped so a huge or endless body cannot eat memory. Pure: feed it bytes.
 *
 * @module
 */

/** The most a response head (status line and headers) may take. */
export const HEAD_CAP_BYTES = 64 * 1024;
/** Chunk-size and trailer lines longer than this are refused. */
const LINE_CAP_BYTES = 4096;

/**
 * Where reading stands: still reading the head or body, done (enough was read), or
 * failed with a reason.
 */
export type ResponsePhase = "head" | "body" | "done" | "error";

type Framing = "none" | "length" | "chunked" | "close";

// Made once: constructing a decoder costs more than decoding a response head.
const LATIN1 = new TextDecoder("latin1");
/** Nothing (shared: never written to). */
const EMPTY = new Uint8Array(0);
type ChunkState = "size" | "data" | "data-end" | "trailer";

/**
 * Reads one response.
 *
 * @example
 * ```ts
 * const r = new HttpResponseReader({ needBody: true, bodyCapBytes: 1 << 20 });
 * r.push(new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
 * r.phase; // "done"
 * r.status; // 200
 * new TextDecoder().decode(r.body()); // "ok"
 * ```
 */
export class HttpResponseReader {
  /** The status code, once the head is read. */
  status = 0;
  /**
   * Header names lower-cased; repeated headers joined with ", ". Filled only when the
   * body is read (`needBody`): a status-only check parses the status line alone.
   */
  readonly headers: Map<string, string> = new Map();
  /** True when the body was longer than the cap (only the first `bodyCapBytes` kept). */
  truncated = false;
  /** Why reading failed, when `phase` is "error". */
  error = "";
  #phase: ResponsePhase = "head";
  readonly #needBody: boolean;
  readonly #cap: number;
  #head: Uint8Array = new Uint8Array(0);
  #framing: Framing = "none";
  #remaining = 0;
  readonly #chunks: Uint8Array[] = [];
  #bodyBytes = 0;
  #chunkState: ChunkState = "size";
  #line = "";
  #sawBytes = false;

  /**
   * A reader at the start of a response.
   *
   * @param opts.needBody false = done after the head (a status-only check).
   * @param opts.bodyCapBytes body bytes kept at most.
   */
  constructor(opts: { needBody: boolean; bodyCapBytes: number }) {
    this.#needBody = opts.needBody;
    this.#cap = opts.bodyCapBytes;
  }

  /** Where reading stands. */
  get phase(): ResponsePhase {
    return this.#phase;
  }

  /** True once nothing more needs reading (done or failed). */
  get finished(): boolean {
    return this.#phase === "done" || this.#phase === "error";
  }

  /**
   * Feeds the next bytes of the stream.
   *
   * @example
   * ```ts
   * for (let b = await s.read(); b !== null && !r.finished; b = await s.read()) r.push(b);
   * ```
   */
  push(bytes: Uint8Array): void {
    if (bytes.length > 0) this.#sawBytes = true;
    let rest = bytes;
    while (rest.length > 0 && !this.finished) {
      rest = this.#phase === "head" ? this.#pushHead(rest) : this.#pushBody(rest);
    }
  }

  /**
   * The stream ended: a body framed by the end of the connection is complete; a
   * response cut short is an error.
   *
   * @example
   * ```ts
   * r.end();
   * ```
   */
  end(): void {
    if (this.finished) return;
    if (this.#phase === "head") {
      this.#fail(
        this.#sawBytes
          ? "connection closed in the response head"
          : "connection closed without a response",
      );
    } else if (this.#framing === "close") {
      this.#phase = "done";
    } else if (this.#framing === "length") {
      this.#fail(`connection closed ${this.#remaining} bytes before the end of the body`);
    } else {
      this.#fail("connection closed in the chunked body");
    }
  }

  /**
   * The body read (up to the cap), in one buffer.
   *
   * @example
   * ```ts
   * const text = new TextDecoder().decode(r.body());
   * ```
   */
  body(): Uint8Array {
    if (this.#chunks.length === 1) return this.#chunks[0];
    const out = new Uint8Array(this.#bodyBytes);
    let off = 0;
    for (const c of this.#chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }

  #fail(why: string): void {
    this.#phase = "error";
    this.error = why;
  }

  #pushHead(bytes: Uint8Array): Uint8Array {
    const before = this.#head.length;
    let joined = bytes;
    if (before > 0) {
      joined = new Uint8Array(before + bytes.length);
      joined.set(this.#head);
      joined.set(bytes, before);
    }
    const end = findHeadEnd(joined, Math.max(0, before - 3));
    if (end === null) {
      if (joined.length > HEAD_CAP_BYTES) this.#fail(`response head over ${HEAD_CAP_BYTES} bytes`);
      else this.#head = joined.slice();
      return EMPTY;
    }
    this.#head = EMPTY;
    const rest = joined.subarray(end.bodyStart);
    // The status code from the bytes of the status line. A status-only check reads no
    // more: the headers matter only to the framing of a body it does not read, and a
    // decode, a split and a match per run were most of what a check allocated.
    const lineLen = lineEnd(joined, end.headEnd);
    const status = statusCode(joined, lineLen);
    if (status < 0) {
      const line = LATIN1.decode(joined.subarray(0, lineLen));
      this.#fail(`not an HTTP/1.x response: "${printable(line.slice(0, 40))}"`);
      return rest;
    }
    // An interim response (100 Continue, 103 Early Hints): the real one follows.
    if (isInterim(status)) return rest;
    this.status = status;
    if (!this.#needBody) {
      this.#phase = "done";
      return rest;
    }
    const lines = LATIN1.decode(joined.subarray(0, end.headEnd)).split(/\r?\n/);
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      const had = this.headers.get(name);
      this.headers.set(name, had === undefined ? value : `${had}, ${value}`);
    }
    const te = this.headers.get("transfer-encoding");
    const cl = this.headers.get("content-length");
    if (status === 204 || status === 304) {
      this.#framing = "none";
    } else if (te !== undefined && /(?:^|,)\s*chunked\s*$/i.test(te)) {
      this.#framing = "chunked";
    } else if (cl !== undefined) {
      // Repeated identical values ("5, 5") are allowed (RFC 9110 §8.6); others are not.
      const values = [...new Set(cl.split(",").map((v) => v.trim()))];
      if (values.length !== 1 || !/^\d{1,15}$/.test(values[0])) {
        this.#fail(`bad Content-Length "${printable(cl.slice(0, 40))}"`);
        return rest;
      }
      this.#framing = "length";
      this.#remaining = Number(values[0]);
    } else {
      this.#framing = "close";
    }
    if (this.#framing === "none" || (this.#framing === "length" && this.#remaining === 0)) {
      this.#phase = "done";
    } else {
      this.#phase = "body";
    }
    return rest;
  }

  #pushBody(bytes: Uint8Array): Uint8Array {
    switch (this.#framing) {
      case "length": {
        const take = Math.min(this.#remaining, bytes.length);
        this.#keep(bytes.subarray(0, take));
        this.#remaining -= take;
        if (this.#remaining === 0) this.#phase = "done";
        return bytes.subarray(take);
      }
      case "close":
        this.#keep(bytes);
        return new Uint8Array(0);
      case "chunked":
        return this.#pushChunked(bytes);
      default:
        this.#phase = "done";
        return bytes;
    }
  }

  /** Keeps body bytes up to the cap; past it the response is done, truncated. */
  #keep(bytes: Uint8Array): void {
    const room = this.#cap - this.#bodyBytes;
    if (bytes.length > room) {
      if (room > 0) this.#chunks.push(bytes.slice(0, room));
      this.#bodyBytes += Math.max(0, room);
      this.truncated = true;
      this.#phase = "done";
      return;
    }
    if (bytes.length > 0) {
      this.#chunks.push(bytes.slice());
      this.#bodyBytes += bytes.length;
    }
  }

  #pushChunked(bytes: Uint8Array): Uint8Array {
    let i = 0;
    while (i < bytes.length && !this.finished) {
      switch (this.#chunkState) {
        case "size":
        case "trailer": {
          const nl = bytes.indexOf(0x0a, i);
          const upto = nl < 0 ? bytes.length : nl;
          this.#line += String.fromCharCode(
            ...bytes.subarray(i, Math.min(upto, i + LINE_CAP_BYTES)),
          );
          if (this.#line.length > LINE_CAP_BYTES) {
            this.#fail("chunk-size line too long");
            return new Uint8Array(0);
          }
          if (nl < 0) return new Uint8Array(0);
          i = nl + 1;
          const line = this.#line.replace(/\r$/, "");
          this.#line = "";
          if (this.#chunkState === "trailer") {
            if (line === "") this.#phase = "done";
            continue;
          }
          const m = /^([0-9a-fA-F]{1,8})[ \t]*(?:;.*)?$/.exec(line);
          if (m === null) {
            this.#fail(`bad chunk size "${printable(line.slice(0, 40))}"`);
            return new Uint8Array(0);
          }
          this.#remaining = parseInt(m[1], 16);
          this.#chunkState = this.#remaining === 0 ? "trailer" : "data";
          break;
        }
        case "data": {
          const take = Math.min(this.#remaining, bytes.length - i);
          this.#keep(bytes.subarray(i, i + take));
          this.#remaining -= take;
          i += take;
          if (this.#remaining === 0) this.#chunkState = "data-end";
          break;
        }
        case "data-end": {
          // The CRLF after the data: a CR is skipped, the LF ends it.
          const c = bytes[i++];
          if (c === 0x0a) this.#chunkState = "size";
          else if (c !== 0x0d) {
            this.#fail("chunk data not followed by CRLF");
            return new Uint8Array(0);
          }
          break;
        }
      }
    }
    return bytes.subarray(i);
  }
}

/**
 * The status code of a response whose first bytes are `b`, as a status-only
 * {@link HttpResponseReader} fed `b` would have it: -1 whenever that reader would not
 * be done with a status (the head is not complete yet, the response is interim, the
 * status line is not HTTP/1.x), so the caller hands the bytes to a reader. No
 * allocation: a plain HTTP check reads its reply into a shared buffer and judges it
 * there, and most replies are one read.
 *
 * @example
 * ```ts
 * statusOfHead(new TextEncoder().encode("HTTP/1.1 204 No Content\r\n\r\n")); // 204
 * statusOfHead(new TextEncoder().encode("HTTP/1.1 200 OK\r\n")); // -1 (head not complete)
 * ```
 */
export function statusOfHead(b: Uint8Array): number {
  const end = findHeadEnd(b, 0);
  if (end === null) return -1;
  const status = statusCode(b, lineEnd(b, end.headEnd));
  return status < 0 || isInterim(status) ? -1 : status;
}

/** An interim response (1xx but 101 Switching Protocols): the real one follows it. */
function isInterim(status: number): boolean {
  return status >= 100 && status < 200 && status !== 101;
}

const HTTP_1 = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e]; // "HTTP/1."

/**
 * The status code of a status line (`b[0, len)`), as `/^HTTP\/1\.[01] (\d{3})(?: |$)/`
 * reads it, or -1 when it is not one.
 */
function statusCode(b: Uint8Array, len: number): number {
  if (len < 12) return -1;
  for (let i = 0; i < HTTP_1.length; i++) if (b[i] !== HTTP_1[i]) return -1;
  if ((b[7] !== 0x30 && b[7] !== 0x31) || b[8] !== 0x20) return -1;
  let status = 0;
  for (let i = 9; i < 12; i++) {
    const d = b[i] - 0x30;
    if (d < 0 || d > 9) return -1;
    status = status * 10 + d;
  }
  return len === 12 || b[12] === 0x20 ? status : -1;
}

/** Where the first line of `b` ends (before its CR LF or LF), at most `limit`. */
function lineEnd(b: Uint8Array, limit: number): number {
  const nl = b.indexOf(0x0a);
  if (nl < 0 || nl > limit) return limit;
  return nl > 0 && b[nl - 1] === 0x0d ? nl - 1 : nl;
}

/** Where the head ends ("\r\n\r\n", or a bare "\n\n"), searching from `from`. */
function findHeadEnd(b: Uint8Array, from: number): { headEnd: number; bodyStart: number } | null {
  for (let i = b.indexOf(0x0a, from); i >= 0; i = b.indexOf(0x0a, i + 1)) {
    // headEnd excludes the line break that ends the last header line.
    const headEnd = i > 0 && b[i - 1] === 0x0d ? i - 1 : i;
    if (b[i + 1] === 0x0a) return { headEnd, bodyStart: i + 2 };
    if (b[i + 1] === 0x0d && b[i + 2] === 0x0a) return { headEnd, bodyStart: i + 3 };
  }
  return null;
}

/**
 * Text safe to put in a one-line detail: control characters and non-ASCII shown as
 * `\xNN`.
 *
 * @example
 * ```ts
 * printable("a\r\nb"); // "a\\x0d\\x0ab"
 * ```
 */
export function printable(s: string): string {
  return s.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f-\uffff]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

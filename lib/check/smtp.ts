/**
 * The SMTP check: healthy when the server greets with 220 and answers
 * `HELO heloName` with 250. The check then says QUIT and closes without waiting.
 *
 * @module
 */

import { checkClock } from "./clock.ts";
import { Deadline } from "./deadline.ts";
import { printable } from "./http_response.ts";
import {
  errorText,
  failed,
  failedFrom,
  formatEndpoint,
  formatMs,
  isRefusal,
  passed,
} from "./result.ts";
import { type ByteStream, connectTcp } from "./stream.ts";
import type { CheckResult, SmtpCheck } from "./types.ts";

const LATIN1 = new TextDecoder("latin1");

/** A reply longer than this (all its lines) is refused. */
const REPLY_CAP_BYTES = 64 * 1024;

/**
 * One SMTP reply: its code and the text of its last line.
 *
 * @example
 * ```ts
 * const r: SmtpReply = { code: 220, text: "mail.example.com ESMTP" };
 * ```
 */
export interface SmtpReply {
  /** The three-digit reply code. */
  readonly code: number;
  /** The text after the code on the last line. */
  readonly text: string;
}

/**
 * Reads replies line by line (RFC 5321 §4.2: `250-more` continues, `250 last` ends).
 *
 * @example
 * ```ts
 * const lines = new SmtpReplyReader();
 * lines.push(new TextEncoder().encode("220-hello\r\n220 ready\r\n"));
 * lines.next(); // { code: 220, text: "ready" }
 * ```
 */
export class SmtpReplyReader {
  #buffered = "";
  #taken = 0;

  /** Feeds bytes from the server. */
  push(bytes: Uint8Array): void {
    this.#buffered += LATIN1.decode(bytes);
  }

  /** The next complete reply, null when more bytes are needed; an error text when malformed. */
  next(): SmtpReply | null | { error: string } {
    for (;;) {
      const nl = this.#buffered.indexOf("\n");
      if (nl < 0) {
        if (this.#taken + this.#buffered.length > REPLY_CAP_BYTES) {
          return { error: "reply too long" };
        }
        return null;
      }
      const line = this.#buffered.slice(0, nl).replace(/\r$/, "");
      this.#buffered = this.#buffered.slice(nl + 1);
      this.#taken += nl + 1;
      const m = /^(\d{3})([ -]|$)(.*)$/.exec(line);
      if (m === null) return { error: `not an SMTP reply: "${printable(line.slice(0, 40))}"` };
      if (m[2] === "-") {
        if (this.#taken > REPLY_CAP_BYTES) return { error: "reply too long" };
        continue;
      }
      this.#taken = 0;
      return { code: Number(m[1]), text: m[3] };
    }
  }
}

/**
 * Runs one SMTP check. Never rejects.
 *
 * @example
 * ```ts
 * const r = await checkSmtp(
 *   { kind: "smtp", target: { host: "127.0.0.1", port: 25 }, heloName: "hacore" }, 1000, new AbortController().signal,
 * );
 * ```
 */
export async function checkSmtp(
  spec: SmtpCheck,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CheckResult> {
  const d = new Deadline(signal, timeoutMs);
  const where = formatEndpoint(spec.target);
  let phase = `connect ${where}`;
  let stream: ByteStream | null = null;
  // A refusal, or a reset before the first byte of the greeting, is definitive.
  let replied = false;
  try {
    stream = await connectTcp(spec.target, d);
    const s = stream;
    const lines = new SmtpReplyReader();
    const reply = async (): Promise<SmtpReply | { error: string }> => {
      for (;;) {
        const r = lines.next();
        if (r !== null) return r;
        const b = await s.read();
        if (b === null) return { error: "connection closed" };
        replied = true;
        lines.push(b);
      }
    };
    phase = `SMTP ${where} greeting`;
    const hello = await reply();
    if ("error" in hello) return failed(`${phase}: ${hello.error}`, d.startedAt);
    if (hello.code !== 220) {
      return failed(`${phase}: ${hello.code} ${printable(hello.text)} (expected 220)`, d.startedAt);
    }
    phase = `SMTP ${where} HELO`;
    await s.write(new TextEncoder().encode(`HELO ${spec.heloName}\r\n`));
    const helo = await reply();
    if ("error" in helo) return failed(`${phase}: ${helo.error}`, d.startedAt);
    if (helo.code !== 250) {
      return failed(`${phase}: ${helo.code} ${printable(helo.text)} (expected 250)`, d.startedAt);
    }
    await s.write(new TextEncoder().encode("QUIT\r\n")).catch(() => {});
    return passed(`SMTP 250 in ${formatMs(checkClock.now() - d.startedAt)}`, d.startedAt);
  } catch (e) {
    const definitive = !d.expired && !replied && isRefusal(e);
    return failedFrom(
      `${phase}: ${d.expired ? d.reason() : errorText(e)}`,
      d.startedAt,
      definitive,
    );
  } finally {
    stream?.close();
    d.dispose();
  }
}

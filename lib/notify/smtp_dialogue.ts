/**
 * The client half of an SMTP dialogue (RFC 5321), without a socket: fed the server's
 * replies, it says what to send next, and when the mail is accepted or refused. The
 * mailer (`mailer.ts`) owns the connection and the clock; this file owns the protocol,
 * so every turn of it is tested as a table.
 *
 * The dialogue is the one keepalived's mail alerts hold: greeting, `HELO`, `MAIL FROM`,
 * one `RCPT TO` per recipient, `DATA`, the message (dot-stuffed, ended by `.`), `QUIT`.
 * A refused recipient is skipped while at least one is accepted.
 *
 * @module
 */

/**
 * One complete server reply: its code and the text of every line (continuations too).
 *
 * @example
 * ```ts
 * const r: SmtpReply = { code: 250, text: ["mail.example.com", "PIPELINING"] };
 * ```
 */
export interface SmtpReply {
  readonly code: number;
  readonly text: readonly string[];
}

/**
 * What the caller does next: write `send` (a line with its CRLF, or the whole message
 * block), finish (`done`: the server accepted the mail), or give up (`fail`: why).
 *
 * @example
 * ```ts
 * const s: SmtpStep = { kind: "send", data: "HELO lb1\r\n" };
 * ```
 */
export type SmtpStep =
  | { readonly kind: "send"; readonly data: string }
  | { readonly kind: "wait" }
  | { readonly kind: "done"; readonly refused: readonly string[] }
  | { readonly kind: "fail"; readonly error: string };

/**
 * One mail to deliver: envelope sender and recipients, and the message text (headers,
 * blank line, body; lines ended by CRLF or LF, not yet dot-stuffed).
 *
 * @example
 * ```ts
 * const m: Envelope = { from: "lb1@example.com", to: ["ops@example.com"], message: "Subject: x\r\n\r\nhello\r\n" };
 * ```
 */
export interface Envelope {
  readonly from: string;
  readonly to: readonly string[];
  readonly message: string;
}

/**
 * Splits what the server sent into complete replies (`250-a`, `250 b` is one reply) and
 * the unfinished rest, to be prepended to the next read.
 *
 * @example
 * ```ts
 * parseReplies("220 mx ready\r\n250-mx\r\n");
 * // { replies: [{ code: 220, text: ["mx ready"] }], rest: "250-mx\r\n" }
 * ```
 */
export function parseReplies(buffer: string): { replies: SmtpReply[]; rest: string } {
  const replies: SmtpReply[] = [];
  let start = 0;
  let text: string[] = [];
  let pos = 0;
  for (;;) {
    const end = buffer.indexOf("\n", pos);
    if (end < 0) break;
    const line = buffer.slice(pos, end).replace(/\r$/, "");
    pos = end + 1;
    const m = /^(\d{3})([ -]?)(.*)$/.exec(line);
    if (m === null) {
      // Not a reply line: keep it as text of a reply the server will finish (or not).
      text.push(line);
      continue;
    }
    text.push(m[3]);
    if (m[2] === "-") continue;
    replies.push({ code: Number(m[1]), text });
    text = [];
    start = pos;
  }
  return { replies, rest: buffer.slice(start) };
}

/**
 * The message as `DATA` carries it: every line ended by CRLF, a leading dot doubled
 * (RFC 5321 §4.5.2), and the final `.` line.
 *
 * @example
 * ```ts
 * dataBlock("a\n.b\n"); // "a\r\n..b\r\n.\r\n"
 * ```
 */
export function dataBlock(message: string): string {
  const lines = message.replace(/\r\n/g, "\n").replace(/\n$/, "").split("\n");
  return lines.map((l) => (l.startsWith(".") ? `.${l}` : l)).join("\r\n") + "\r\n.\r\n";
}

type Phase = "greeting" | "helo" | "mail" | "rcpt" | "data" | "body" | "quit" | "over";

/**
 * One delivery's dialogue. Call {@link SmtpDialogue.onReply} with each reply, in order;
 * it returns what to do. Anything after `done` or `fail` is ignored.
 *
 * @example
 * ```ts
 * const d = new SmtpDialogue("lb1.example.com", envelope);
 * d.onReply({ code: 220, text: ["mx ready"] }); // { kind: "send", data: "HELO lb1.example.com\r\n" }
 * ```
 */
export class SmtpDialogue {
  readonly #helo: string;
  readonly #envelope: Envelope;
  #phase: Phase = "greeting";
  #rcpt = 0;
  readonly #accepted: string[] = [];
  readonly #refused: string[] = [];

  constructor(heloName: string, envelope: Envelope) {
    if (envelope.to.length === 0) throw new RangeError("a mail needs at least one recipient");
    this.#helo = heloName;
    this.#envelope = envelope;
  }

  /** The next step after the server's `reply`. */
  onReply(reply: SmtpReply): SmtpStep {
    const ok = (code: number) => reply.code === code;
    const said = `${reply.code} ${reply.text.join(" / ")}`.trim();
    switch (this.#phase) {
      case "greeting":
        if (!ok(220)) return this.#fail(`the server refused the connection: ${said}`);
        return this.#send("helo", `HELO ${this.#helo}\r\n`);
      case "helo":
        if (!ok(250)) return this.#fail(`HELO ${this.#helo} refused: ${said}`);
        return this.#send("mail", `MAIL FROM:<${this.#envelope.from}>\r\n`);
      case "mail":
        if (!ok(250)) return this.#fail(`MAIL FROM:<${this.#envelope.from}> refused: ${said}`);
        return this.#send("rcpt", `RCPT TO:<${this.#envelope.to[0]}>\r\n`);
      case "rcpt": {
        const who = this.#envelope.to[this.#rcpt];
        if (reply.code === 250 || reply.code === 251) this.#accepted.push(who);
        else this.#refused.push(`${who} (${said})`);
        this.#rcpt++;
        if (this.#rcpt < this.#envelope.to.length) {
          return this.#send("rcpt", `RCPT TO:<${this.#envelope.to[this.#rcpt]}>\r\n`);
        }
        if (this.#accepted.length === 0) {
          return this.#fail(`every recipient was refused: ${this.#refused.join(", ")}`);
        }
        return this.#send("data", "DATA\r\n");
      }
      case "data":
        if (!ok(354)) return this.#fail(`DATA refused: ${said}`);
        return this.#send("body", dataBlock(this.#envelope.message));
      case "body":
        if (!ok(250)) return this.#fail(`the message was refused: ${said}`);
        return this.#send("quit", "QUIT\r\n");
      case "quit":
        // The mail is accepted already; whatever QUIT gets changes nothing.
        this.#phase = "over";
        return { kind: "done", refused: [...this.#refused] };
      case "over":
        return { kind: "wait" };
    }
  }

  /** True once the message was accepted (QUIT's answer is a courtesy). */
  get delivered(): boolean {
    return this.#phase === "quit" || this.#phase === "over";
  }

  /** Recipients the server refused so far, with its reply. */
  get refused(): readonly string[] {
    return [...this.#refused];
  }

  #send(next: Phase, data: string): SmtpStep {
    this.#phase = next;
    return { kind: "send", data };
  }

  #fail(error: string): SmtpStep {
    this.#phase = "over";
    return { kind: "fail", error };
  }
}

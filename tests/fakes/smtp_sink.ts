/**
 * A tiny SMTP server that keeps what it receives: for the mailer's tests on loopback,
 * and, run as a program (`deno run -A smtp_sink.ts HOST PORT`), inside a test's
 * namespace, printing `listening PORT` and then one JSON line per mail.
 *
 * It can also misbehave on purpose: refuse the first N connections' greetings with
 * 421, to exercise the retries.
 *
 * @module
 */

/** One mail as received: envelope and the message text (dot-unstuffed). */
export interface SunkMail {
  readonly helo: string;
  readonly from: string;
  readonly to: string[];
  readonly data: string;
}

/** A running sink. */
export interface SmtpSink {
  readonly port: number;
  readonly mails: SunkMail[];
  /** Connections accepted so far (refused ones included). */
  readonly connections: () => number;
  close(): Promise<void>;
}

/**
 * Starts a sink on `hostname` (port 0 = any free one).
 *
 * @example
 * ```ts
 * const sink = startSmtpSink("127.0.0.1", 0, { onMail: (m) => console.log(m.from) });
 * ```
 */
export function startSmtpSink(
  hostname: string,
  port: number,
  opts: { refuseFirst?: number; onMail?: (m: SunkMail) => void } = {},
): SmtpSink {
  const listener = Deno.listen({ hostname, port, transport: "tcp" });
  const mails: SunkMail[] = [];
  const open = new Set<Deno.Conn>();
  let connections = 0;
  const served: Promise<void>[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      connections++;
      open.add(conn);
      const refuse = connections <= (opts.refuseFirst ?? 0);
      served.push(
        serve(conn, refuse, (m) => {
          mails.push(m);
          opts.onMail?.(m);
        }).catch(() => {}).finally(() => open.delete(conn)),
      );
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    mails,
    connections: () => connections,
    async close() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await loop;
      await Promise.all(served);
    },
  };
}

async function serve(conn: Deno.Conn, refuse: boolean, onMail: (m: SunkMail) => void) {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const say = (line: string) => conn.write(enc.encode(`${line}\r\n`));
  try {
    if (refuse) {
      await say("421 sink.test busy, try later");
      return;
    }
    await say("220 sink.test ESMTP ready");
    let buf = "";
    let helo = "";
    let from = "";
    let to: string[] = [];
    let inData = false;
    let data: string[] = [];
    const chunk = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(chunk);
      if (n === null) return;
      buf += dec.decode(chunk.subarray(0, n));
      let nl: number;
      while ((nl = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (inData) {
          if (line === ".") {
            inData = false;
            onMail({ helo, from, to, data: data.join("\r\n") });
            data = [];
            to = [];
            await say("250 2.0.0 queued");
          } else {
            data.push(line.startsWith("..") ? line.slice(1) : line);
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "HELO" || verb === "EHLO") {
          helo = line.slice(5);
          await say("250 sink.test");
        } else if (line.toUpperCase().startsWith("MAIL FROM:")) {
          from = line.slice(10).replace(/^<|>$/g, "");
          await say("250 2.1.0 ok");
        } else if (line.toUpperCase().startsWith("RCPT TO:")) {
          const who = line.slice(8).replace(/^<|>$/g, "");
          if (who.startsWith("nobody@")) {
            await say("550 5.1.1 no such user");
          } else {
            to.push(who);
            await say("250 2.1.5 ok");
          }
        } else if (verb === "DATA") {
          inData = true;
          await say("354 end with <CRLF>.<CRLF>");
        } else if (verb === "QUIT") {
          await say("221 2.0.0 bye");
          return;
        } else {
          await say("502 5.5.2 not implemented");
        }
      }
    }
  } finally {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

if (import.meta.main) {
  const [host, port] = Deno.args;
  const sink = startSmtpSink(host, Number(port), {
    onMail: (m) => console.log(JSON.stringify(m)),
  });
  console.log(`listening ${sink.port}`);
}

/**
 * The two ends of a long-lived TCP connection for `lvs_more_test.ts`, run inside lab
 * namespaces (`ip netns exec NS deno run -A tests/ipvs/lvs_more_peer.ts ...`):
 *
 * - `echo PORT`: accepts connections and echoes every line back; prints `listening`,
 *   then `accepted N` per connection (the test counts the probes a real server gets).
 * - `client HOST PORT`: one connection, a line every 100 ms, each answer awaited; prints
 *   `ok N` per answer and ends with `error TEXT` (exit 1) when the connection breaks.
 *
 * @module
 */

async function echo(port: number): Promise<void> {
  const listener = Deno.listen({ hostname: "0.0.0.0", port });
  console.log("listening");
  let n = 0;
  for await (const conn of listener) {
    console.log(`accepted ${++n}`);
    void conn.readable.pipeTo(conn.writable).catch(() => {});
  }
}

async function client(host: string, port: number): Promise<void> {
  const conn = await Deno.connect({ hostname: host, port });
  const reader = conn.readable.getReader();
  const enc = new TextEncoder();
  try {
    for (let n = 1;; n++) {
      await conn.write(enc.encode(`line ${n}\n`));
      // Answers are short and sent whole: one read brings the echo (or the reset).
      const got = await reader.read();
      if (got.done) throw new Error("closed by the peer");
      console.log(`ok ${n}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    console.log(`error ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    Deno.exit(1);
  }
}

if (import.meta.main) {
  const [mode, a, b] = Deno.args;
  if (mode === "echo" && /^\d+$/.test(a ?? "")) await echo(Number(a));
  else if (mode === "client" && a && /^\d+$/.test(b ?? "")) await client(a, Number(b));
  else {
    console.error("usage: lvs_more_peer.ts echo PORT | client HOST PORT");
    Deno.exit(2);
  }
}

/**
 * The generic unix-socket line server (lib/sys/line_server.ts) under a protocol of its
 * own: it knows nothing of the control protocol, so any handler rides on it. The control
 * protocol on top is pinned end to end by control_test.ts.
 */
import assert from "node:assert/strict";
import { Logger } from "../../lib/log.ts";
import {
  type LineHandler,
  LineServerError,
  type LineServerOptions,
  startLineServer,
} from "../../lib/sys/line_server.ts";

/** Upper-cases each line; a line "slow X" is answered after a tick, to test ordering. */
const ECHO: LineHandler = {
  line: (peer, line) =>
    line.startsWith("slow ")
      ? new Promise((r) => setTimeout(() => r(`${line.slice(5).toUpperCase()}\n`), 20))
      : `${line.toUpperCase()} from uid ${peer.uid}\n`,
  refusal: (r) => `REFUSED ${r.reason}\n`,
  cutOff: (c) => `CUT ${c.reason}\n`,
};

async function withEcho(
  fn: (path: string, logs: string[]) => Promise<void>,
  opts: Partial<LineServerOptions> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hacore-line-" });
  const path = `${dir}/echo.sock`;
  const logs: string[] = [];
  const logger = new Logger({ level: "debug", sink: (l) => logs.push(l) });
  const server = startLineServer({
    path,
    label: "echo socket",
    owner: "echo",
    handler: ECHO,
    logger,
    ...opts,
  });
  try {
    await fn(path, logs);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Sends `text` (if any), half-closes, and returns everything the server said. */
async function exchange(path: string, text: string): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path });
  if (text !== "") {
    await conn.write(new TextEncoder().encode(text));
    await conn.closeWrite();
  }
  return await new Response(conn.readable).text();
}

Deno.test("line server: any handler's replies, one line per request, in request order", async () => {
  await withEcho(async (path, logs) => {
    const uid = Deno.uid();
    assert.equal(
      await exchange(path, "slow first\nsecond\n\nthird"),
      `FIRST\nSECOND from uid ${uid}\nTHIRD from uid ${uid}\n`,
    );
    assert.ok(logs.some((l) => l.includes("echo socket listening on")));
  });
});

Deno.test("line server: refusals and cut-offs are worded by the handler", async () => {
  await withEcho(async (path) => {
    assert.equal(await exchange(path, "x".repeat(100) + "\n"), "CUT too-large\n");
  }, { maxRequestBytes: 64 });
  await withEcho(async (path) => {
    // Refused at accept, before any request: it is told and closed.
    assert.equal(await exchange(path, ""), "REFUSED uid\n");
  }, { allowedUids: [4242424] });
});

Deno.test("line server: a second server on a live path names the owner", async () => {
  await withEcho((path) => {
    assert.throws(
      () =>
        startLineServer({
          path,
          label: "echo socket",
          owner: "echo",
          handler: ECHO,
          logger: new Logger({ sink: () => {} }),
        }),
      (e) => e instanceof LineServerError && e.message === `another echo is listening on ${path}`,
    );
    return Promise.resolve();
  });
});

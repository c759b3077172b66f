/**
 * The local checks: files and external scripts (exit codes, dynamic weights, quoting,
 * timeouts that kill the whole process group, running as another user).
 */
import assert from "node:assert/strict";
import { checkFile, FILE_CAP_BYTES } from "../../lib/check/file.ts";
import { checkScript, KILL_GRACE_MS } from "../../lib/check/script.ts";
import { lookupUser } from "../../lib/sys/spawn.ts";
import type { ScriptCheck } from "../../lib/check/types.ts";

const never = new AbortController().signal;
const isRoot = Deno.uid() === 0;

function script(command: string, over: Partial<ScriptCheck> = {}): ScriptCheck {
  return { kind: "script", command, user: null, dynamic: false, ...over };
}

/** True while `pid` runs; a zombie (killed, not yet reaped by init) counts as gone. */
function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hacore-check-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------------------------------
// file
// ---------------------------------------------------------------------------------------

Deno.test("file: exists, matches, does not match, missing, not a regular file", async () => {
  await withTempDir(async (dir) => {
    const f = `${dir}/ready`;
    await Deno.writeTextFile(f, "ok: serving");
    const exists = await checkFile({ kind: "file", path: f, expect: null }, 1000, never);
    assert.deepEqual([exists.ok, exists.detail], [true, `file ${f} exists`]);
    const match = await checkFile({ kind: "file", path: f, expect: "^ok: \\w+$" }, 1000, never);
    assert.deepEqual([match.ok, match.detail], [true, `file ${f} matches`]);
    const no = await checkFile({ kind: "file", path: f, expect: "^down" }, 1000, never);
    assert.deepEqual([no.ok, no.detail], [false, `file ${f} does not match /^down/`]);
    const missing = await checkFile(
      { kind: "file", path: `${dir}/gone`, expect: null },
      1000,
      never,
    );
    assert.deepEqual([missing.ok, missing.detail], [false, `file ${dir}/gone: ENOENT`]);
    const directory = await checkFile({ kind: "file", path: dir, expect: null }, 1000, never);
    assert.equal(directory.detail, `file ${dir}: not a regular file`);
  });
});

Deno.test("file: a FIFO is refused without waiting for a writer", async () => {
  await withTempDir(async (dir) => {
    const fifo = `${dir}/fifo`;
    const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(mk.success);
    const r = await checkFile({ kind: "file", path: fifo, expect: "x" }, 1000, never);
    assert.equal(r.detail, `file ${fifo}: not a regular file`);
  });
});

Deno.test("file: only the first 64 KiB are read", async () => {
  await withTempDir(async (dir) => {
    const f = `${dir}/big`;
    await Deno.writeTextFile(f, "head\n" + "x".repeat(FILE_CAP_BYTES) + "TAIL");
    assert.equal(
      (await checkFile({ kind: "file", path: f, expect: "^head" }, 1000, never)).ok,
      true,
    );
    assert.equal(
      (await checkFile({ kind: "file", path: f, expect: "TAIL" }, 1000, never)).ok,
      false,
    );
  });
});

// ---------------------------------------------------------------------------------------
// script
// ---------------------------------------------------------------------------------------

Deno.test("script: exit 0 passes, anything else fails with its code", async () => {
  const ok = await checkScript(script("/bin/true"), 2000, never);
  assert.equal(ok.ok, true, ok.detail);
  assert.match(ok.detail, /^exit 0 in [\d.]+ ms$/);
  const one = await checkScript(script("/bin/false"), 2000, never);
  assert.deepEqual([one.ok, one.detail], [false, "/bin/false: exit 1"]);
  const three = await checkScript(script(`/bin/sh -c "exit 3"`), 2000, never);
  assert.deepEqual([three.ok, three.weight], [false, null]);
  assert.equal(three.detail, "/bin/sh: exit 3");
});

Deno.test("script: bare names are found in the fixed PATH; arguments keep their quotes", async () => {
  const r = await checkScript(
    script(`sh -c 'test "$1" = "two words"' sh "two words"`),
    2000,
    never,
  );
  assert.equal(r.ok, true, r.detail);
});

Deno.test("script: the environment holds only PATH, the directory is /", async () => {
  const r = await checkScript(
    script(`/bin/sh -c 'test -z "$HOME" && test "$PWD" = / && test -n "$PATH"'`),
    2000,
    never,
  );
  assert.equal(r.ok, true, r.detail);
});

Deno.test("script: dynamic: 2..255 pass with weight code-2, 1 fails, 0 passes without weight", async () => {
  const run = (code: number) =>
    checkScript(script(`/bin/sh -c "exit ${code}"`, { dynamic: true }), 2000, never);
  const cases: [number, boolean, number | null][] = [
    [0, true, null],
    [1, false, null],
    [2, true, 0],
    [3, true, 1],
    [
      255,
      true,
      253,
    ],
  ];
  for (const [code, ok, weight] of cases) {
    const r = await run(code);
    assert.deepEqual([r.ok, r.weight], [ok, weight], `exit ${code}: ${r.detail}`);
  }
  assert.match((await run(7)).detail, /^exit 7 \(weight 5\) in /);
});

Deno.test("script: a missing or relative command fails without running anything", async () => {
  assert.equal(
    (await checkScript(script("/nonexistent/check --x"), 1000, never)).detail,
    "cannot run: /nonexistent/check does not exist",
  );
  assert.match((await checkScript(script("./check"), 1000, never)).detail, /relative path/);
  assert.equal((await checkScript(script("   "), 1000, never)).detail, "empty command line");
});

Deno.test("script: a timeout kills the script and what it started (whole process group)", async () => {
  await withTempDir(async (dir) => {
    const pids = `${dir}/pids`;
    const t0 = performance.now();
    const r = await checkScript(
      script(`/bin/sh -c 'sleep 30 & echo $$ $! > ${pids}; wait'`),
      300,
      never,
    );
    const took = performance.now() - t0;
    assert.equal(r.ok, false);
    assert.equal(r.detail, "/bin/sh: timed out after 300 ms (killed)");
    assert.ok(took < 300 + KILL_GRACE_MS + 1500, `took ${took} ms`);
    const [shell, sleeper] = (await Deno.readTextFile(pids)).trim().split(" ").map(Number);
    await new Promise((res) => setTimeout(res, 50));
    assert.equal(alive(shell), false, "the script is gone");
    assert.equal(alive(sleeper), false, "its background child is gone");
  });
});

Deno.test("script: a script ignoring SIGTERM is SIGKILLed after the grace", async () => {
  const t0 = performance.now();
  const r = await checkScript(
    script(`/bin/sh -c 'trap "" TERM; while :; do sleep 0.05; done'`),
    200,
    never,
  );
  const took = performance.now() - t0;
  assert.equal(r.detail, "/bin/sh: timed out after 200 ms (killed)");
  assert.ok(
    took >= 200 + KILL_GRACE_MS - 20 && took < 200 + KILL_GRACE_MS + 1500,
    `took ${took} ms`,
  );
});

Deno.test("script: aborting kills the script at once", async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  const t0 = performance.now();
  const r = await checkScript(script("/bin/sleep 30"), 10_000, ac.signal);
  assert.equal(r.detail, "/bin/sleep: aborted (killed)");
  assert.ok(performance.now() - t0 < 1000);
});

Deno.test("script: output is discarded, not buffered (10 MB of it)", async () => {
  const r = await checkScript(
    script("/bin/sh -c 'head -c 10000000 /dev/zero; echo done >&2'"),
    5000,
    never,
  );
  assert.equal(r.ok, true, r.detail);
});

Deno.test({
  name: `script: user runs it as that user, without root's groups${
    isRoot ? "" : " (skipped: needs root)"
  }`,
  ignore: !isRoot,
  async fn() {
    const nobody = await lookupUser("nobody");
    if ("error" in nobody) {
      console.warn("no user nobody: skipping the run-as part");
      return;
    }
    const r = await checkScript(
      script(
        `/bin/sh -c 'test "$(id -u)" = ${nobody.uid} && test "$(id -g)" = ${nobody.gid} && test -z "$(id -G | tr " " "\\n" | grep -x 0)"'`,
        {
          user: "nobody",
        },
      ),
      2000,
      never,
    );
    assert.equal(r.ok, true, r.detail);
    const ghost = await checkScript(
      script("/bin/true", { user: "no-such-user-hacore" }),
      2000,
      never,
    );
    assert.equal(
      ghost.detail,
      'cannot run /bin/true as no-such-user-hacore: no such user "no-such-user-hacore"',
    );
  },
});

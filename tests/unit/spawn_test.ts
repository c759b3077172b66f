/**
 * The one process spawner notify hooks and script checks share (lib/sys/spawn.ts):
 * what a started program sees, what is kept of its output, and how it is stopped.
 */
import assert from "node:assert/strict";
import { SCRIPT_PATH } from "../../lib/sys/command_line.ts";
import { OUTPUT_CAP_BYTES, spawnProcess, stopProcess } from "../../lib/sys/spawn.ts";

const IS_ROOT = Deno.uid() === 0;

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

function sh(script: string, env: Record<string, string> = { PATH: SCRIPT_PATH }) {
  return { path: "/bin/sh", args: ["-c", script], env };
}

Deno.test("spawnProcess: only the given environment, / as directory, /dev/null as stdin", async () => {
  Deno.env.set("HACORE_SPAWN_TEST_LEAK", "1");
  try {
    const p = spawnProcess(
      sh(`echo "$FOO|\${HACORE_SPAWN_TEST_LEAK:-none}|$(pwd)|$(cat | wc -c)"`, {
        PATH: SCRIPT_PATH,
        FOO: "bar",
      }),
    );
    assert.deepEqual(await p.exit, { exitCode: 0, signal: null });
    assert.equal((await p.output).stdout, "bar|none|/|0\n");
  } finally {
    Deno.env.delete("HACORE_SPAWN_TEST_LEAK");
  }
});

Deno.test("spawnProcess: the tail of stdout and stderr is kept, or nothing when discarded", async () => {
  const noisy = `head -c 10000 /dev/zero | tr '\\0' o; printf END; echo err >&2`;
  const kept = spawnProcess(sh(noisy));
  await kept.exit;
  const { stdout, stderr } = await kept.output;
  assert.equal(stdout.length, OUTPUT_CAP_BYTES);
  assert.ok(stdout.endsWith("oEND"));
  assert.equal(stderr, "err\n");
  const dropped = spawnProcess({ ...sh(noisy), output: "discard" });
  assert.deepEqual(await dropped.exit, { exitCode: 0, signal: null });
  assert.deepEqual(await dropped.output, { stdout: "", stderr: "" });
});

Deno.test("stopProcess: the whole process group goes, what the program started too", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hacore-spawn-" });
  try {
    const pids = `${dir}/pids`;
    const p = spawnProcess(sh(`trap '' TERM; sleep 30 & echo $! > ${pids}; wait`));
    while (!(await Deno.stat(pids).then(() => true, () => false))) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const sleeper = Number((await Deno.readTextFile(pids)).trim());
    const t0 = performance.now();
    await stopProcess(p, 200);
    const took = performance.now() - t0;
    // The shell ignores SIGTERM: it dies by the SIGKILL after the grace.
    assert.deepEqual(await p.exit, { exitCode: null, signal: "SIGKILL" });
    assert.ok(took >= 180 && took < 2000, `took ${took} ms`);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(alive(sleeper), false, "its background child is gone");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "spawnProcess: user runs the program as that uid and gid",
  ignore: !IS_ROOT,
  fn: async () => {
    const p = spawnProcess({ ...sh("echo $(id -u) $(id -g)"), user: { uid: 65534, gid: 65534 } });
    await p.exit;
    assert.equal((await p.output).stdout, "65534 65534\n");
  },
});

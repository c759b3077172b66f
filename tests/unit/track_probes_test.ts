/**
 * The IO probes of the trackers against the real system: a track file in a temp
 * directory (written, replaced by a rename, removed, garbage), and `/proc` scans that
 * count `sleep` children the test starts itself.
 */
import assert from "node:assert/strict";
import {
  FileWatcher,
  parseTrackFile,
  readTrackFile,
  readTrackFileSync,
} from "../../lib/track/file.ts";
import {
  countMatches,
  matcherKey,
  ProcessWatcher,
  scanProcesses,
  scanProcessesSync,
} from "../../lib/track/process.ts";

/** Polls `cond` every 10 ms up to `ms`. */
async function eventually(cond: () => boolean, ms = 3000, what = "condition"): Promise<number> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - t0;
}

Deno.test("track file: integers, whitespace and signs parse; anything else counts as 0", () => {
  assert.deepEqual(parseTrackFile("5\n"), { value: 5, detail: "5" });
  assert.deepEqual(parseTrackFile("  -12  "), { value: -12, detail: "-12" });
  assert.deepEqual(parseTrackFile("+3"), { value: 3, detail: "3" });
  assert.deepEqual(parseTrackFile(""), { value: 0, detail: "empty (counts as 0)" });
  assert.deepEqual(parseTrackFile("abc"), {
    value: 0,
    detail: 'not an integer: "abc" (counts as 0)',
  });
  assert.equal(parseTrackFile("5 6").value, 0);
  assert.equal(parseTrackFile("1.5").value, 0);
  assert.equal(parseTrackFile("99999999999999999999").value, 0);
});

Deno.test("track file: a missing file reads as 0, sync and async", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.deepEqual(readTrackFileSync(`${dir}/nope`), {
      value: 0,
      detail: "missing (counts as 0)",
    });
    assert.deepEqual(await readTrackFile(`${dir}/nope`), {
      value: 0,
      detail: "missing (counts as 0)",
    });
    await Deno.writeTextFile(`${dir}/f`, "7\n");
    assert.equal(readTrackFileSync(`${dir}/f`).value, 7);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("track file watcher: sees writes, renames over it, removal and garbage", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/maint`;
  const seen: string[] = [];
  // A long re-read period: changes must come from the watch.
  const w = new FileWatcher({
    onReading: (p, r) => seen.push(`${p === path ? "maint" : p}=${r.value}`),
    rereadMs: 60_000,
  });
  try {
    w.set([path]);
    assert.deepEqual(w.reading(path), { value: 0, detail: "missing (counts as 0)" });
    await Deno.writeTextFile(path, "5\n");
    const ms = await eventually(() => w.reading(path)?.value === 5, 3000, "value 5");
    assert.ok(ms < 1000, `the watch took ${ms} ms`);
    await Deno.writeTextFile(`${dir}/tmp`, "-3");
    await Deno.rename(`${dir}/tmp`, path);
    await eventually(() => w.reading(path)?.value === -3, 3000, "value -3 after a rename");
    await Deno.writeTextFile(path, "oops");
    await eventually(() => w.reading(path)?.detail.startsWith("not an integer") ?? false);
    assert.equal(w.reading(path)?.value, 0);
    await Deno.remove(path);
    await eventually(() => w.reading(path)?.detail === "missing (counts as 0)");
    assert.deepEqual(seen.filter((s) => s !== "maint=0"), ["maint=5", "maint=-3"]);
  } finally {
    await w.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("track file watcher: the periodic re-read covers a directory that cannot be watched", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/later/maint`;
  const warnings: string[] = [];
  const w = new FileWatcher({
    onReading: () => {},
    rereadMs: 50,
    onWarning: (m) => warnings.push(m),
  });
  try {
    w.set([path]);
    assert.equal(w.reading(path)?.value, 0);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /cannot watch .*later/);
    await Deno.mkdir(`${dir}/later`);
    await Deno.writeTextFile(path, "9");
    await eventually(() => w.reading(path)?.value === 9, 3000, "value 9 from the re-read");
    // Dropping the file forgets it.
    w.set([]);
    assert.equal(w.reading(path), undefined);
  } finally {
    await w.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("process matching: by name (first 15 bytes) or by the whole command line", () => {
  const procs = [
    { comm: "nginx", cmdline: "nginx: master process /usr/sbin/nginx" },
    { comm: "nginx", cmdline: "nginx: worker process" },
    { comm: "averyveryverylo", cmdline: "/opt/averyveryverylongname --x" },
    { comm: "kworker/0:1", cmdline: null },
  ];
  const counts = countMatches([
    { process: "nginx", fullCommand: false },
    { process: "nginx: worker process", fullCommand: true },
    { process: "averyveryverylongname", fullCommand: false },
    { process: "kworker/0:1", fullCommand: true },
    { process: "ngin", fullCommand: false },
  ], procs);
  assert.equal(counts.get("comm:nginx"), 2);
  assert.equal(counts.get("cmdline:nginx: worker process"), 1);
  assert.equal(counts.get(matcherKey({ process: "averyveryverylongname", fullCommand: false })), 1);
  assert.equal(counts.get("cmdline:kworker/0:1"), 0);
  assert.equal(counts.get("comm:ngin"), 0);
});

/** Deno starts a child with its resolved path as argv[0]: name it so, to match it. */
const SLEEP = ["/usr/bin/sleep", "/bin/sleep"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}) ?? "/usr/bin/sleep";

function sleeper(seconds: string): Deno.ChildProcess {
  return new Deno.Command(SLEEP, { args: [seconds], stdout: "null", stderr: "null" }).spawn();
}

Deno.test("process scan: counts the test's own sleep children, quorum 1 vs 2", async () => {
  // An argument no other process on the machine will have.
  const arg = `${1000 + Math.floor(Math.random() * 1000)}.${Deno.pid}`;
  const byCmd = { process: `${SLEEP} ${arg}`, fullCommand: true };
  const byName = { process: "sleep", fullCommand: false };
  const changes: number[] = [];
  let w: ProcessWatcher | null = null;
  const kids: Deno.ChildProcess[] = [];
  try {
    assert.equal(scanProcessesSync([byCmd]).get(matcherKey(byCmd)), 0);
    kids.push(sleeper(arg));
    await eventually(() => scanProcessesSync([byCmd]).get(matcherKey(byCmd)) === 1);
    assert.ok((scanProcessesSync([byName]).get(matcherKey(byName)) ?? 0) >= 1);
    assert.equal((await scanProcesses([byCmd, byName])).get(matcherKey(byCmd)), 1);

    w = new ProcessWatcher({ onCounts: () => changes.push(w!.count(byCmd)!), intervalMs: 50 });
    w.set([byCmd]);
    const quorum = (q: number) => (w!.count(byCmd) ?? 0) >= q;
    assert.equal(w.count(byCmd), 1);
    assert.ok(quorum(1) && !quorum(2), "one sleep: quorum 1 met, quorum 2 not");

    kids.push(sleeper(arg));
    await eventually(() => quorum(2), 3000, "two sleeps");
    kids[0].kill("SIGKILL");
    await kids[0].status;
    await eventually(() => w!.count(byCmd) === 1, 3000, "one sleep again");
    assert.deepEqual(changes.slice(-2), [2, 1]);
  } finally {
    await w?.close();
    for (const k of kids) {
      try {
        k.kill("SIGKILL");
      } catch {
        // already gone
      }
      await k.status;
    }
  }
});

Deno.test("process scan: a missing /proc is a warning, the counts stay", async () => {
  const warnings: string[] = [];
  const w = new ProcessWatcher({
    onCounts: () => {},
    root: "/nonexistent-proc",
    intervalMs: 20,
    onWarning: (m) => warnings.push(m),
  });
  try {
    w.set([{ process: "x", fullCommand: false }]);
    assert.equal(w.count({ process: "x", fullCommand: false }), 0);
    await eventually(() => warnings.length >= 1);
    assert.match(warnings[0], /cannot scan \/nonexistent-proc/);
  } finally {
    await w.close();
  }
});

/**
 * The start's file pages given back (lib/sys/resident.ts): only read-only file mappings
 * with no anonymous page are dropped, and dropping them in this very process shrinks its
 * resident set while everything keeps running.
 */
import assert from "node:assert/strict";
import { droppableMappings, parseSmaps, releaseStartupPages } from "../../lib/sys/resident.ts";

const EXE = "/usr/bin/deno";

function mapping(range: string, perms: string, path: string, rss: number, anon?: number): string {
  const lines = [`${range} ${perms} 00000000 fe:00 42${path === "" ? "" : `    ${path}`}`];
  lines.push(`Size:               1024 kB`, `Rss:                ${rss} kB`);
  if (anon !== undefined) lines.push(`Anonymous:          ${anon} kB`);
  lines.push(`VmFlags: rd mr mw me`);
  return lines.join("\n");
}

Deno.test("droppableMappings: read-only file mappings without anonymous pages, nothing else", () => {
  const smaps = [
    mapping("561200d61000-5612028ef000", "r--p", EXE, 11796, 0),
    mapping("561202b65000-561206859000", "r-xp", EXE, 20940, 0),
    // RELRO: read-only now, but the loader wrote its relocations there.
    mapping("561206859000-56120685a000", "r--p", EXE, 4, 4),
    mapping("56120685a000-561206acb000", "rw-p", EXE, 2504, 60),
    mapping("7fa358400000-7fa3589b9000", "r--s", "/root/.cache/deno/v8_code_cache_v2", 1056, 0),
    mapping("7fa33bdc0000-7fa33bfe6000", "r-xp", `${EXE} (deleted)`, 2112, 0),
    mapping("7fa354000000-7fa35413a000", "rw-p", "", 1244, 1244),
    mapping("7ffcdc7a0000-7ffcdc7a2000", "r-xp", "[vdso]", 8, 0),
    // A kernel that reports no Anonymous line: not known to be clean, kept.
    mapping("7fa35a40d000-7fa35a563000", "r-xp", "/usr/lib/x86_64-linux-gnu/libc.so.6", 1228),
  ].join("\n");
  const kept = droppableMappings(smaps).map((m) => [m.start, m.end, m.path, m.rssKb]);
  assert.deepEqual(kept, [
    [0x561200d61000, 0x5612028ef000, EXE, 11796],
    [0x561202b65000, 0x561206859000, EXE, 20940],
    [0x7fa358400000, 0x7fa3589b9000, "/root/.cache/deno/v8_code_cache_v2", 1056],
    [0x7fa33bdc0000, 0x7fa33bfe6000, `${EXE} (deleted)`, 2112],
  ]);
});

Deno.test("parseSmaps: every mapping with its resident and anonymous sizes, -1 when not reported", () => {
  const smaps = [
    mapping("561206859000-56120685a000", "r--p", EXE, 4, 4),
    mapping("7fa354000000-7fa35413a000", "rw-p", "", 1244, 1244),
    mapping("7fa35a40d000-7fa35a563000", "r-xp", "/usr/lib/x86_64-linux-gnu/libc.so.6", 1228),
  ].join("\n");
  assert.deepEqual(parseSmaps(smaps).map((m) => [m.perms, m.path, m.rssKb, m.anonKb]), [
    ["r--p", EXE, 4, 4],
    ["rw-p", "", 1244, 1244],
    ["r-xp", "/usr/lib/x86_64-linux-gnu/libc.so.6", 1228, -1],
  ]);
});

function exeRssKb(): number {
  const exe = Deno.execPath();
  return droppableMappings(Deno.readTextFileSync("/proc/self/smaps"))
    .filter((m) => m.path === exe)
    .reduce((sum, m) => sum + m.rssKb, 0);
}

Deno.test("releaseStartupPages: this process's executable pages leave the resident set, and it runs on", () => {
  const before = exeRssKb();
  assert.ok(before > 4096, `the runtime's executable has ${before} KiB resident`);
  const r = releaseStartupPages();
  // Read right away: the test's own code maps back only what it runs.
  const after = exeRssKb();
  assert.ok(r.mappings > 0 && r.droppedKb >= before, JSON.stringify(r));
  assert.ok(after < before / 2, `executable resident ${before} KiB before, ${after} KiB after`);
  // Pages come back as they are used: the runtime, the compiler and the FFI still work.
  const text = JSON.stringify({ a: [1, 2, 3], b: "x".repeat(1000) });
  assert.equal(new Function("s", "return JSON.parse(s).a.length")(text), 3);
  assert.equal(Deno.readTextFileSync("/proc/self/stat").split(" ")[0], String(Deno.pid));
  assert.equal(releaseStartupPages().mappings > 0, true, "a second release is harmless");
});

/**
 * The one-file bundle (`scripts/compile.sh --bundle`) runs hacore's commands without
 * the source tree, and nothing on the way to `hacore run` imports a `node:` module
 * (each costs Deno's Node compatibility set-up, ~10 ms of every start): the TLS and
 * digest checks load theirs when they first run.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

async function run(cmd: string, args: string[], cwd?: string) {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("bundle: built without the source tree, it checks a config and names its version", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hacore-bundle-test-" });
  try {
    const js = `${dir}/hacore.js`;
    const built = await run(Deno.execPath(), [
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--minify",
      "--output",
      js,
      `${ROOT}main.ts`,
    ], ROOT);
    assert.equal(built.code, 0, built.stderr);
    // Run from the temp dir with --no-config: no deno.json, lock file or import map.
    const hacore = (...args: string[]) =>
      run(Deno.execPath(), ["run", "-A", "--no-config", js, ...args], dir);
    const version = await hacore("--version");
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^hacore \d+\.\d+\.\d+/);
    const check = await hacore("check", `${ROOT}examples/two-node-web-a.toml`);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /^ok: /);

    const text = await Deno.readTextFile(js);
    // Static imports of node: modules (minified: `from"node:x"`, or a bare `import"node:x"`).
    const statics = text.match(/(?:from|import)\s*"node:[\w/]+"/g) ?? [];
    assert.deepEqual(statics, [], "a static node: import is back on the start path");
    assert.ok(text.includes('import("node:tls")'), "node:tls is still loaded when needed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

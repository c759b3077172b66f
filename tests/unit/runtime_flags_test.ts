/**
 * The V8 flags of lib/sys/runtime_flags.ts: accepted by this Deno's V8, and used by
 * every launcher (the deno.json `run` task, scripts/compile.sh, the labs' startHacore).
 */
import assert from "node:assert/strict";
import { HACORE_V8_FLAGS, v8FlagsArg } from "../../lib/sys/runtime_flags.ts";
import { startHacore } from "../../lib/lab/hacore.ts";
import type { NetnsHost } from "../../lib/lab/host.ts";

const ROOT = new URL("../../", import.meta.url);

Deno.test("runtime flags: one --v8-flags argument that this Deno's V8 accepts", async () => {
  assert.equal(v8FlagsArg(), `--v8-flags=${HACORE_V8_FLAGS.join(",")}`);
  assert.ok(HACORE_V8_FLAGS.every((f) => f.startsWith("--") && !f.includes(",")));
  // Deno refuses a flag V8 does not know ("V8 did not recognize flag"), so a typo or a
  // flag a newer V8 dropped fails here rather than at a daemon's start.
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", v8FlagsArg(), "console.log('ok')"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, err);
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "ok");
});

Deno.test("runtime flags: running the module prints the argument (for shell launchers)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", new URL("lib/sys/runtime_flags.ts", ROOT).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout).trim(), v8FlagsArg());
});

Deno.test("runtime flags: the run task and compile.sh take them from the module", async () => {
  const deno = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  assert.match(deno.tasks.run, /^deno run .*\$\(deno run lib\/sys\/runtime_flags\.ts\) main\.ts$/);
  const compile = await Deno.readTextFile(new URL("scripts/compile.sh", ROOT));
  assert.match(compile, /v8flags="\$\("\$deno" run lib\/sys\/runtime_flags\.ts\)"/);
  assert.match(compile, /"\$deno" compile --allow-all "\$v8flags" /);
});

Deno.test("runtime flags: startHacore passes them to deno run before main.ts", async () => {
  const spawned: string[][] = [];
  const host: NetnsHost = {
    netns: () => Promise.resolve("unused"),
    spawn(_ns, cmd, ...args) {
      spawned.push([cmd, ...args]);
      // Stands in for the daemon: exits at once, its streams piped like the real one's.
      return new Deno.Command("true", { stdout: "piped", stderr: "piped" }).spawn();
    },
  };
  const h = startHacore(host, "ns", "/nonexistent/hacore.toml", {
    name: "node1",
    pidFile: "/nonexistent/node1.pid",
  });
  await h.proc.exited(5000);
  assert.equal(spawned.length, 1);
  const args = spawned[0];
  assert.equal(args[0], Deno.execPath());
  const flagAt = args.indexOf(v8FlagsArg());
  const mainAt = args.findIndex((a) => a.endsWith("/main.ts"));
  assert.ok(flagAt > 0 && mainAt > flagAt, `args: ${args.join(" ")}`);
});

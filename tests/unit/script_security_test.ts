/**
 * Script security against real files: every refusal names the exact path and reason,
 * and nothing a non-root user could change gets through unless allowed. The
 * ownership cases need root (chown); they are skipped, saying so, otherwise.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/mod.ts";
import { checkConfigScripts } from "../../lib/daemon/notify.ts";
import {
  checkScript,
  resolveExecutable,
  SCRIPT_PATH,
  splitCommandLine,
} from "../../lib/sys/script_security.ts";

const IS_ROOT = Deno.uid() === 0;
const NOT_ROOT = IS_ROOT
  ? false
  : (console.log("script_security: not root, ownership tests skipped"), true);
const FIX = "set global.allow_insecure_scripts = true";
const MOVE = `move it to a root-owned directory or ${FIX}`;

/**
 * A root-owned 0700 directory whose every ancestor is root-owned and not writable by
 * others (/run, not /tmp: /tmp itself is mode 1777 and would fail every check).
 */
async function secureDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: "/run", prefix: "hacore-sec-" });
  await Deno.chmod(dir, 0o700);
  return dir;
}

async function script(path: string, mode = 0o700): Promise<string> {
  await Deno.writeTextFile(path, "#!/bin/sh\nexit 0\n");
  await Deno.chmod(path, mode);
  return path;
}

function withDir(name: string, fn: (dir: string) => Promise<void> | void, ignore = NOT_ROOT) {
  Deno.test({
    name,
    ignore,
    fn: async () => {
      const dir = await secureDir();
      try {
        await fn(dir);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

const strict = { allowInsecure: false, label: "notify_master" };

withDir("a root-owned 0700 script in root-owned directories passes", async (dir) => {
  const path = await script(`${dir}/up.sh`);
  const v = checkScript(`${path} master "two words"`, strict);
  assert.deepEqual(v, { ok: true, path, argv: [path, "master", "two words"], warning: null });
});

withDir("a script in a world-writable sticky directory (like /tmp) is refused", async (dir) => {
  await Deno.mkdir(`${dir}/tmp`);
  await Deno.chmod(`${dir}/tmp`, 0o1777);
  const path = await script(`${dir}/tmp/x.sh`);
  const v = checkScript(path, strict);
  assert.deepEqual(v, {
    ok: false,
    error: `notify_master: ${path} is in ${dir}/tmp, which is writable by all users ` +
      `(mode 1777); ${MOVE}`,
  });
});

withDir("a world-writable directory further up is named as 'under'", async (dir) => {
  await Deno.mkdir(`${dir}/open/sub`, { recursive: true });
  await Deno.chmod(`${dir}/open`, 0o777);
  const path = await script(`${dir}/open/sub/x.sh`);
  const v = checkScript(path, strict);
  assert.equal(v.ok, false);
  assert.equal(
    !v.ok && v.error,
    `notify_master: ${path} is under ${dir}/open, which is writable by all users (mode 0777); ${MOVE}`,
  );
});

withDir("a group-writable script (non-root group) is refused", async (dir) => {
  const path = await script(`${dir}/x.sh`, 0o770);
  await Deno.chown(path, 0, 65534);
  await Deno.chmod(path, 0o770);
  const v = checkScript(path, strict);
  const group = groupName(65534);
  assert.deepEqual(v, {
    ok: false,
    error: `notify_master: ${path} is writable by group ${group} (gid 65534, mode 0770); ` +
      `chmod go-w it or ${FIX}`,
  });
});

withDir("a group-writable script whose group is root passes", async (dir) => {
  const path = await script(`${dir}/x.sh`, 0o770);
  await Deno.chown(path, 0, 0);
  assert.equal(checkScript(path, strict).ok, true);
});

withDir("a world-writable script is refused", async (dir) => {
  const path = await script(`${dir}/x.sh`, 0o757);
  const v = checkScript(path, strict);
  assert.equal(
    !v.ok && v.error,
    `notify_master: ${path} is writable by all users (mode 0757); chmod go-w it or ${FIX}`,
  );
});

withDir("a script owned by nobody is refused", async (dir) => {
  const path = await script(`${dir}/x.sh`, 0o755);
  await Deno.chown(path, 65534, 0);
  const v = checkScript(path, strict);
  assert.equal(
    !v.ok && v.error,
    `notify_master: ${path} is owned by nobody (uid 65534), not root; chown root it or ${FIX}`,
  );
});

withDir("a script in a directory owned by nobody is refused", async (dir) => {
  await Deno.mkdir(`${dir}/home`, { mode: 0o755 });
  await Deno.chown(`${dir}/home`, 65534, 65534);
  const path = await script(`${dir}/home/x.sh`);
  const v = checkScript(path, strict);
  assert.equal(
    !v.ok && v.error,
    `notify_master: ${path} is in ${dir}/home, which is owned by nobody (uid 65534), not root; ${MOVE}`,
  );
});

withDir("a symlink in a safe place to a script in an unsafe one is refused", async (dir) => {
  await Deno.mkdir(`${dir}/tmp`);
  await Deno.chmod(`${dir}/tmp`, 0o1777);
  const target = await script(`${dir}/tmp/x.sh`);
  await Deno.symlink(target, `${dir}/link.sh`);
  const v = checkScript(`${dir}/link.sh`, strict);
  assert.equal(
    !v.ok && v.error,
    `notify_master: ${target} is in ${dir}/tmp, which is writable by all users (mode 1777); ${MOVE}`,
  );
});

withDir("a missing script is refused whatever allowInsecure says", (dir) => {
  for (const allowInsecure of [false, true]) {
    const v = checkScript(`${dir}/nope.sh arg`, { allowInsecure, label: "notify" });
    assert.deepEqual(v, { ok: false, error: `notify: ${dir}/nope.sh does not exist` });
  }
});

withDir("a script without an execute bit is refused", async (dir) => {
  const path = await script(`${dir}/x.sh`, 0o600);
  const v = checkScript(path, strict);
  assert.deepEqual(v, {
    ok: false,
    error: `notify_master: ${path} is not executable (mode 0600); chmod +x it`,
  });
});

withDir("a directory is not a script", (dir) => {
  const v = checkScript(dir, strict);
  assert.deepEqual(v, { ok: false, error: `notify_master: ${dir} is not a regular file` });
});

withDir("allowInsecure lets an insecure script through, with a warning naming why", async (dir) => {
  await Deno.mkdir(`${dir}/tmp`);
  await Deno.chmod(`${dir}/tmp`, 0o1777);
  const path = await script(`${dir}/tmp/x.sh`);
  const v = checkScript(`${path} a`, { allowInsecure: true, label: "notify_backup" });
  assert.deepEqual(v, {
    ok: true,
    path,
    argv: [path, "a"],
    warning: `notify_backup: ${path} is in ${dir}/tmp, which is writable by all users ` +
      `(mode 1777); running it anyway (global.allow_insecure_scripts = true)`,
  });
});

Deno.test("a bare name is looked up in the fixed PATH, first match wins", () => {
  const expected = SCRIPT_PATH.split(":").map((d) => `${d}/true`).find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  assert.ok(expected, "no true(1) in PATH");
  assert.deepEqual(resolveExecutable("true"), { path: expected });
  const v = checkScript("true --flag", { allowInsecure: false });
  assert.equal(v.ok, true);
  assert.equal(v.ok && v.path, expected);
  assert.deepEqual(v.ok && v.argv, ["true", "--flag"]);
});

Deno.test("a bare name not in PATH, a relative path and an empty line are refused", () => {
  assert.deepEqual(checkScript("hacore-no-such-command-x", strict), {
    ok: false,
    error: `notify_master: "hacore-no-such-command-x" not found in ${SCRIPT_PATH}; ` +
      `give an absolute path`,
  });
  assert.deepEqual(checkScript("./x.sh", strict), {
    ok: false,
    error: `notify_master: "./x.sh" is a relative path; give an absolute path`,
  });
  assert.deepEqual(checkScript("   ", strict), {
    ok: false,
    error: "notify_master: empty command line",
  });
});

Deno.test("command lines split like keepalived's: whitespace, quotes, no shell", () => {
  assert.deepEqual(splitCommandLine("/bin/n"), ["/bin/n"]);
  assert.deepEqual(splitCommandLine("  /bin/n   a\tb  "), ["/bin/n", "a", "b"]);
  assert.deepEqual(splitCommandLine(`/bin/n "two words" 'single quoted'`), [
    "/bin/n",
    "two words",
    "single quoted",
  ]);
  assert.deepEqual(splitCommandLine(`/bin/n 'it''s' a"b c"d ""`), ["/bin/n", "its", "ab cd", ""]);
  assert.deepEqual(splitCommandLine(`/bin/n "say \\"hi\\"" 'no \\escape'`), [
    "/bin/n",
    `say "hi"`,
    "no \\escape",
  ]);
  assert.deepEqual(splitCommandLine("/bin/n $HOME `id` a|b ;"), [
    "/bin/n",
    "$HOME",
    "`id`",
    "a|b",
    ";",
  ]);
  assert.deepEqual(splitCommandLine(String.raw`/bin/n a\ b`), ["/bin/n", "a b"]);
});

withDir("checkConfigScripts reports every bad hook of instances and groups", async (dir) => {
  const good = await script(`${dir}/good.sh`);
  await Deno.mkdir(`${dir}/tmp`);
  await Deno.chmod(`${dir}/tmp`, 0o1777);
  const bad = await script(`${dir}/tmp/bad.sh`);
  const toml = (allow: boolean) => `
[global]
allow_insecure_scripts = ${allow}

[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
priority = 100
virtual_ipaddress = ["192.0.2.100/24"]
notify_master = "${good} master"
notify_backup = "${dir}/missing.sh"
notify = "${bad}"

[vrrp_instance.VI_2]
interface = "eth0"
virtual_router_id = 52
priority = 100
virtual_ipaddress = ["192.0.2.101/24"]

[vrrp_sync_group.SG]
group = ["VI_1", "VI_2"]
notify_fault = "${bad} fault"
`;
  const load = (allow: boolean) => {
    const r = parseConfig(toml(allow), "t.toml");
    if (!r.ok) throw new Error(r.errors.map((e) => e.message).join("; "));
    return r.config;
  };
  const insecure = `is in ${dir}/tmp, which is writable by all users (mode 1777); ${MOVE}`;
  assert.deepEqual(checkConfigScripts(load(false)), [
    `vrrp_instance.VI_1.notify_backup: ${dir}/missing.sh does not exist`,
    `vrrp_instance.VI_1.notify: ${bad} ${insecure}`,
    `vrrp_sync_group.SG.notify_fault: ${bad} ${insecure}`,
  ]);
  // Allowed: only what cannot run at all is left.
  assert.deepEqual(checkConfigScripts(load(true)), [
    `vrrp_instance.VI_1.notify_backup: ${dir}/missing.sh does not exist`,
  ]);
});

function groupName(gid: number): string {
  for (const line of Deno.readTextFileSync("/etc/group").split("\n")) {
    const f = line.split(":");
    if (f[2] === String(gid)) return f[0];
  }
  return String(gid);
}

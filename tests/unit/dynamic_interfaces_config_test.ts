import assert from "node:assert/strict";
import { checkCommand } from "../../lib/cli/check.ts";
import { formatConfigError, importKeepalived, parseConfig } from "../../lib/config/mod.ts";
import { parseKeepalived } from "../../lib/config/keepalived/mod.ts";

const VI_TOML = `[vrrp_instance.VI_1]
interface = "eth9"
virtual_router_id = 51
virtual_ipaddress = ["192.0.2.1/24"]
`;

const VI_CONF =
  `vrrp_instance VI_1 {\n interface eth9\n virtual_router_id 51\n virtual_ipaddress {\n  192.0.2.1/24\n }\n}\n`;

function keepalived(global: string) {
  return parseKeepalived(`global_defs {\n${global}\n}\n${VI_CONF}`, "/k/keepalived.conf", {
    configId: "x",
  });
}

Deno.test("TOML dynamic_interfaces and allow_if_changes set the two global flags, off by default", () => {
  const off = parseConfig(VI_TOML, "a.toml");
  assert.ok(off.ok);
  assert.equal(off.config.global.dynamicInterfaces, false);
  assert.equal(off.config.global.allowIfChanges, false);
  const on = parseConfig(
    `[global]\ndynamic_interfaces = true\nallow_if_changes = true\n${VI_TOML}`,
    "a.toml",
  );
  assert.ok(on.ok, on.ok ? "" : on.errors.map(formatConfigError).join("\n"));
  assert.equal(on.config.global.dynamicInterfaces, true);
  assert.equal(on.config.global.allowIfChanges, true);
});

Deno.test("TOML allow_if_changes without dynamic_interfaces is refused, naming both", () => {
  const r = parseConfig(`[global]\nallow_if_changes = true\n${VI_TOML}`, "a.toml");
  assert.ok(!r.ok);
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0].line, 2);
  assert.match(
    formatConfigError(r.errors[0]),
    /global\.allow_if_changes: expected dynamic_interfaces = true/,
  );
});

Deno.test("keepalived dynamic_interfaces [allow_if_changes] carries over without a warning", () => {
  const bare = keepalived(" dynamic_interfaces");
  assert.ok(bare.ok, bare.ok ? "" : bare.errors.map(formatConfigError).join("\n"));
  assert.deepEqual(bare.warnings ?? [], []);
  assert.equal(bare.config.global.dynamicInterfaces, true);
  assert.equal(bare.config.global.allowIfChanges, false);
  const allow = keepalived(" dynamic_interfaces allow_if_changes");
  assert.ok(allow.ok);
  assert.equal(allow.config.global.dynamicInterfaces, true);
  assert.equal(allow.config.global.allowIfChanges, true);
});

Deno.test("keepalived dynamic_interfaces with another word is refused naming it", () => {
  const r = keepalived(" dynamic_interfaces allow_changes");
  assert.ok(!r.ok);
  assert.match(
    r.errors[0].message,
    /"dynamic_interfaces": expected nothing or "allow_if_changes", got "allow_changes"/,
  );
  assert.equal(r.errors[0].line, 2);
});

Deno.test("hacore import writes dynamic_interfaces and allow_if_changes, and the TOML reads back the same", () => {
  const src = `global_defs {\n dynamic_interfaces allow_if_changes\n}\n${VI_CONF}`;
  const r = importKeepalived(src, "/k/keepalived.conf", { configId: "x" });
  assert.ok(r.ok);
  assert.match(r.toml, /^dynamic_interfaces = true # from keepalived\.conf:2$/m);
  assert.match(r.toml, /^allow_if_changes = true # from keepalived\.conf:2$/m);
  const back = parseConfig(r.toml, "imported.toml");
  assert.ok(back.ok);
  assert.equal(back.config.global.dynamicInterfaces, true);
  assert.equal(back.config.global.allowIfChanges, true);
});

async function checkOutput(text: string): Promise<{ code: number; err: string }> {
  const file = await Deno.makeTempFile({ suffix: ".toml" });
  await Deno.writeTextFile(file, text);
  const err: string[] = [];
  const { log, error } = console;
  console.log = () => {};
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    return { code: await checkCommand([file]), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
    await Deno.remove(file);
  }
}

Deno.test("hacore check notes a missing interface under dynamic_interfaces, and warns without it", async () => {
  const missing = VI_TOML.replace("eth9", "hacore-nope9");
  const noted = await checkOutput(`[global]\ndynamic_interfaces = true\n${missing}`);
  assert.equal(noted.code, 0);
  assert.match(
    noted.err,
    /note: .*"hacore-nope9" does not exist on this host yet; .*wait in FAULT/,
  );
  assert.doesNotMatch(noted.err, /warning/);
  const warned = await checkOutput(missing);
  assert.equal(warned.code, 0);
  assert.match(warned.err, /warning: .*"hacore-nope9" does not exist on this host$/m);
});

/**
 * Keeps the keepalived.conf corpus's ground truth honest: runs keepalived 2.2.7's own
 * config test on each file and compares with what `tests/fixtures/keepalived/corpus.ts`
 * records, so the hacore reader is measured against keepalived, not against memory.
 *
 * How keepalived is run: `keepalived -t -l -f FILE -i CONFIG_ID` (-t: check the config
 * and exit, 5 on any complaint; -l: complaints to the console; -i: the config id that
 * selects `@id` lines), inside a fresh namespace holding `eth0` and `eth1` (a veth
 * pair), so a complaint is about the file, never about this host's interfaces. The
 * LVS sections need no IPVS for -t.
 *
 * A second test keeps the keyword table honest the same way: every keyword it lists is
 * one keepalived knows in that section (and a checker keyword in exactly the checker
 * blocks the table names), apart from those of features Debian's build leaves out.
 *
 * Skipped with the reason where namespaces or keepalived are missing; under CI=true a
 * missing keepalived is a failure, since CI installs it (scripts/deps.sh).
 *
 * @module
 */
import assert from "node:assert/strict";
import { CORPUS } from "../fixtures/keepalived/corpus.ts";
import { CHECKER_SECTION, KEYWORDS } from "../../lib/config/keepalived/keywords.ts";
import { parseKeepalived } from "../../lib/config/keepalived/mod.ts";
import { hasCommand, ipNs, run, withLab } from "./helpers.ts";
import { peerTest } from "./peers.ts";

const DIR = new URL("../fixtures/keepalived/", import.meta.url).pathname;

const NAME = "keepalived -t agrees with the corpus's recorded ground truth";

if (Deno.env.get("CI") === "true" && !hasCommand("keepalived")) {
  Deno.test(NAME, () => {
    throw new Error("keepalived is not installed: run scripts/deps.sh");
  });
} else {
  peerTest(NAME, ["keepalived"], async () => {
    await withLab(async (lab) => {
      const ns = await lab.netns();
      await ipNs(ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1");
      await ipNs(ns, "link", "set", "eth0", "up");
      await ipNs(ns, "link", "set", "eth1", "up");
      for (const entry of CORPUS) {
        const r = await run("ip", [
          "netns",
          "exec",
          ns,
          "keepalived",
          "-t",
          "-l",
          "-f",
          `${DIR}${entry.file}`,
          "-i",
          entry.configId,
        ]);
        const said = `${r.stdout}${r.stderr}`;
        const what = `${entry.file} --config-id ${entry.configId}:\n${said}`;
        assert.equal(r.code, entry.keepalivedExit, what);
        if (entry.keepalived === "accepts") assert.equal(said.trim(), "", what);
        for (const s of entry.keepalivedSays) assert.ok(said.includes(s), `no "${s}" in ${what}`);
      }
    });
  });
}

/** Keywords of keepalived features (nftables, ipsets, D-Bus) the tested build leaves out. */
const NOT_BUILT = new Set([
  "vrrp_ipsets",
  "vrrp_nftables",
  "vrrp_nftables_priority",
  "enable_dbus_instance",
]);

const CHECKERS = [
  "TCP_CHECK",
  "HTTP_GET",
  "SSL_GET",
  "MISC_CHECK",
  "DNS_CHECK",
  "SMTP_CHECK",
  "UDP_CHECK",
  "PING_CHECK",
];

const inRealServer = (inner: string) =>
  `virtual_server 192.0.2.1 80 {\nreal_server 192.0.2.2 80 {\n${inner}}\n}\n`;

const WRAP: Record<string, (body: string) => string> = {
  "(top level)": (b) => b,
  global_defs: (b) => `global_defs {\n${b}}\n`,
  vrrp_script: (b) => `vrrp_script s {\n${b}}\n`,
  vrrp_track_process: (b) => `vrrp_track_process p {\n${b}}\n`,
  track_file: (b) => `track_file f {\n${b}}\n`,
  vrrp_instance: (b) => `vrrp_instance V {\n${b}}\n`,
  authentication: (b) => `vrrp_instance V {\nauthentication {\n${b}}\n}\n`,
  vrrp_sync_group: (b) => `vrrp_sync_group G {\n${b}}\n`,
  virtual_server: (b) => `virtual_server 192.0.2.1 80 {\n${b}}\n`,
  real_server: inRealServer,
  url: (b) => inRealServer(`HTTP_GET {\nurl {\n${b}}\n}\n`),
};

/** True when keepalived calls `keyword` unknown where `wrap` puts it, in every shape tried. */
async function unknownTo(
  dir: string,
  wrap: (b: string) => string,
  keyword: string,
): Promise<boolean> {
  for (const shape of [`${keyword} 1\n`, `${keyword} x {\n}\n`, `${keyword} {\n}\n`]) {
    const file = `${dir}/probe.conf`;
    await Deno.writeTextFile(file, wrap(shape));
    const r = await run("keepalived", ["-t", "-l", "-f", file]);
    if (!/Unknown keyword/.test(r.stdout + r.stderr)) return false;
  }
  return true;
}

const KEYWORD_TEST = "every keyword of the table is one keepalived knows, where the table says";
if (Deno.env.get("CI") === "true" && !hasCommand("keepalived")) {
  Deno.test(KEYWORD_TEST, () => {
    throw new Error("keepalived is not installed: run scripts/deps.sh");
  });
} else {
  peerTest(KEYWORD_TEST, ["keepalived"], async () => {
    const dir = await Deno.makeTempDir({ prefix: "hacore-kwprobe-" });
    try {
      const wrong: string[] = [];
      for (const k of KEYWORDS.filter((k) => !NOT_BUILT.has(k.keyword))) {
        if (k.section !== CHECKER_SECTION) {
          if (await unknownTo(dir, WRAP[k.section], k.keyword)) {
            wrong.push(`${k.section}/${k.keyword}`);
          }
          continue;
        }
        for (const checker of CHECKERS) {
          const unknown = await unknownTo(
            dir,
            (b) => inRealServer(`${checker} {\n${b}}\n`),
            k.keyword,
          );
          const listed = k.checkers === undefined || k.checkers.includes(checker);
          if (unknown === listed) {
            wrong.push(`${checker}/${k.keyword} (${listed ? "listed" : "not listed"})`);
          }
        }
      }
      assert.deepEqual(wrong, [], "the keyword table disagrees with keepalived");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

const SAMPLES = "/usr/share/doc/keepalived/samples";

peerTest(
  "keepalived's own sample configs read without a crash, each problem with its file and line",
  ["keepalived"],
  async () => {
    let read = 0;
    for (const e of Deno.readDirSync(SAMPLES)) {
      if (!e.name.startsWith("keepalived.conf.")) continue;
      const file = `${SAMPLES}/${e.name}`;
      const r = parseKeepalived(await Deno.readTextFile(file), file, { configId: "lb-a" });
      read++;
      for (const p of [...r.warnings, ...(r.ok ? [] : r.errors)]) {
        assert.ok(p.message !== "", `${file}: an empty message`);
        assert.ok(p.file !== "" && p.line !== null, `${file}: no place for "${p.message}"`);
      }
    }
    assert.ok(read > 10, `only ${read} samples in ${SAMPLES}`);
  },
  () => {
    try {
      Deno.statSync(SAMPLES);
      return null;
    } catch {
      return `no ${SAMPLES}`;
    }
  },
);

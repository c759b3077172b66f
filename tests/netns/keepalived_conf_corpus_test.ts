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
 * Skipped with the reason where namespaces or keepalived are missing; under CI=true a
 * missing keepalived is a failure, since CI installs it (scripts/deps.sh).
 *
 * @module
 */
import assert from "node:assert/strict";
import { CORPUS } from "../fixtures/keepalived/corpus.ts";
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

/**
 * The IPVS guest itself: the kernel there has the IPVS generic netlink family, and a table
 * programmed with ipvsadm inside a fresh namespace is listed back there and nowhere else.
 * These pin what every later LVS test relies on.
 *
 * @module
 */

import assert from "node:assert/strict";
import { run, runOk, withLab } from "../netns/helpers.ts";
import { ipvsTest } from "./guest.ts";

/** `ipvsadm ARGS` inside `ns`, throwing with its stderr unless it exits 0. */
function ipvsadm(ns: string, ...args: string[]): Promise<string> {
  return runOk("ip", ["netns", "exec", ns, "ipvsadm", ...args]);
}

ipvsTest("the kernel offers the IPVS generic netlink family", async () => {
  await withLab(async (lab) => {
    const ns = await lab.netns();
    const r = await run("ip", ["netns", "exec", ns, "genl", "ctrl", "get", "name", "IPVS"]);
    assert.equal(r.code, 0, `genl ctrl get name IPVS: ${r.stderr}`);
    assert.match(r.stdout, /Name: IPVS\b/);
    assert.match(r.stdout, /ID: 0x[0-9a-f]+/);
  });
});

ipvsTest(
  "a service and real server added with ipvsadm in a namespace are listed there",
  async () => {
    await withLab(async (lab) => {
      const ns = await lab.netns();
      await ipvsadm(ns, "-A", "-t", "10.9.0.1:80", "-s", "rr");
      await ipvsadm(ns, "-a", "-t", "10.9.0.1:80", "-r", "10.9.0.2:80", "-g", "-w", "3");
      const listed = await ipvsadm(ns, "-Ln");
      assert.match(listed, /^TCP {2}10\.9\.0\.1:80 rr\s*$/m);
      assert.match(listed, /^ {2}-> 10\.9\.0\.2:80\s+Route\s+3\s+0\s+0\s*$/m);
    });
  },
);

ipvsTest("a namespace's IPVS table is its own and goes with it", async () => {
  const initial = await runOk("ipvsadm", ["-Ln"]);
  let ns = "";
  await withLab(async (lab) => {
    ns = await lab.netns();
    await ipvsadm(ns, "-A", "-u", "10.9.0.1:53", "-s", "wrr");
    assert.match(await ipvsadm(ns, "-Ln"), /^UDP {2}10\.9\.0\.1:53 wrr/m);
    assert.equal(await runOk("ipvsadm", ["-Ln"]), initial, "the initial namespace's table changed");
  });
  const left = await runOk("ip", ["netns", "list"]);
  assert.ok(!left.split("\n").some((l) => l.split(" ")[0] === ns), `${ns} survived cleanup`);
});

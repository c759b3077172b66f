/**
 * `hacore lab --lvs` on a kernel without IPVS (this host's, and CI's): it refuses at once
 * and names the guest command that has IPVS. Inside the guest the story itself runs
 * (`tests/ipvs/lvs_lab_test.ts`), so this one is for hosts only.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ipvsSkipReason } from "../ipvs/guest.ts";

Deno.test({
  name: "hacore lab --lvs refuses on a kernel without IPVS and names the guest that has it",
  ignore: ipvsSkipReason() === null || Deno.uid() !== 0,
  async fn() {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../../main.ts", import.meta.url).pathname, "lab", "--lvs"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, err);
    assert.match(err, /no IPVS/);
    assert.match(err, /scripts\/vm\/run\.sh -- deno run -A main\.ts lab --lvs/);
  },
});

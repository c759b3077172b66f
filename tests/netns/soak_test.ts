/**
 * The soak in CI (issue 14, item 6): `scripts/bench/soak.ts` for 2 minutes (three nodes,
 * a client, rotating loss, link flaps, kill -9, reloads, operator verbs). Two minutes
 * cannot show a slow leak (the hour-long run, by hand, does: see the README); they do
 * show a crash, an invalid config accepted, a VIP held twice with nothing to explain it,
 * and fds or threads that pile up per action. They also show that the steady node
 * (node2 by default, never killed) keeps its one process and that its V8 heap is
 * sampled through the control socket, which the hour's "no growth" judgement needs.
 */

import assert from "node:assert/strict";
import type { SoakReport } from "../../scripts/bench/soak.ts";
import { leftoverNamespaces, netnsTest } from "./helpers.ts";

const SOAK = new URL("../../scripts/bench/soak.ts", import.meta.url).pathname;
const DURATION_S = Number(Deno.env.get("HACORE_SOAK_SECONDS") ?? 120);

netnsTest(
  `a ${DURATION_S} s soak: no crash, every dual holder explained, no fd or thread growth, a steady node2 with its heap sampled`,
  async () => {
    const json = await Deno.makeTempFile({ prefix: "hacore-soak-", suffix: ".json" });
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", SOAK, "--duration", String(DURATION_S), "--seed", "7", "--json", json],
        stdin: "null",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      console.log(text.trim());
      assert.ok(
        out.code === 0 || out.code === 3,
        `soak exited ${out.code}: ${new TextDecoder().decode(out.stderr)}`,
      );
      const r = JSON.parse(await Deno.readTextFile(json)) as SoakReport;
      assert.deepEqual(r.crashes, [], "no daemon exited but those we killed");
      assert.equal(r.reloads.invalidAccepted, 0, "every invalid config was refused");
      assert.ok(r.reloads.valid + r.reloads.invalidRefused > 0, "reloads happened");
      assert.ok((r.actions.kill ?? 0) + (r.actions.flap ?? 0) > 0, JSON.stringify(r.actions));
      assert.deepEqual(r.dual.unexplained, [], "every dual-holder episode has a cause");
      assert.ok(r.client.attempts > DURATION_S * 20, `the client ran: ${r.client.attempts}`);
      for (const g of r.resources) {
        // The steady node is judged by the steady rule, over its whole life (a 2-minute
        // run is too short for it): its threads and fds swing with mastership, which it
        // takes on every disruption of node1, and it is not restarted to reset them.
        if (g.spanS < 30 || r.steady.some((s) => s.node === g.node)) continue;
        assert.ok(g.fdRise <= 3, `${g.node}: fd floor rose by ${g.fdRise}`);
        assert.ok(g.threadRise <= 2, `${g.node}: thread floor rose by ${g.threadRise}`);
        // Loose: two minutes are mostly warm-up for V8.
        assert.ok(g.rssGrowthKiB < 32 * 1024, `${g.node}: RSS +${g.rssGrowthKiB} KiB`);
      }
      // The script's own RSS bound (5 % or 4 MiB) is for the hour; two minutes of V8
      // warm-up can pass it, so here only the loose bound above counts.
      const st = r.steady.find((s) => s.node === "node2");
      assert.ok(st, "node2 is steady by default");
      assert.equal(st.processes, 1, "the steady node was never killed nor restarted");
      const heap = st.samples.filter((s) => typeof s.heapUsedKiB === "number");
      assert.ok(heap.length >= 0.8 * st.samples.length, `heap read ${heap.length} times`);
      for (const s of heap) {
        assert.ok(s.heapUsedKiB! > 1024 && s.heapTotalKiB! >= s.heapUsedKiB!, JSON.stringify(s));
      }
      const others = r.verdict.problems.filter((p) => !/RSS grew|(rss|heapUsed)KiB grew/.test(p));
      assert.deepEqual(others, [], "no other problem");
    } finally {
      await Deno.remove(json).catch(() => {});
    }
  },
);

netnsTest("no namespace of this run is left behind", async () => {
  assert.deepEqual(await leftoverNamespaces(), []);
});

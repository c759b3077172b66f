/**
 * The VIP guard's packet sockets on a real kernel: claims from another host arrive,
 * a stopped watch parks its socket (closing a packet socket waits for an RCU grace
 * period, which would stall the daemon's loop on every transition out of Master) and
 * hears nothing while parked, a new watch of the interface reuses it, and closing the
 * guard leaves no descriptor behind.
 *
 * @module
 */

import assert from "node:assert/strict";
import { PacketAnnouncer } from "../../lib/sys/announcer.ts";
import type { VipClaim } from "../../lib/sys/ports.ts";
import { Reactor } from "../../lib/sys/reactor.ts";
import { PacketVipGuard } from "../../lib/sys/vip_guard.ts";
import { inNetns, netnsTest, withLab } from "./helpers.ts";

function openFds(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond() && performance.now() < end) await new Promise((r) => setTimeout(r, 5));
  return cond();
}

netnsTest(
  "VIP guard: a stopped watch parks its socket quietly and the next watch reuses it",
  async () => {
    await withLab(async (lab) => {
      const ns = await lab.netns();
      const [mine, peer] = await lab.veth(ns, ns);
      const reactor = new Reactor();
      const guard = new PacketVipGuard(reactor);
      const announcer = new PacketAnnouncer();
      const fdsBefore = openFds();
      const claims: VipClaim[] = [];
      const claim = () => inNetns(ns, () => announcer.garp(peer, "192.0.2.100"));
      try {
        let stop = inNetns(ns, () => guard.watch(mine, (c) => claims.push(c)));
        claim();
        assert.ok(await until(() => claims.length > 0, 2000), "a claim while watched");
        assert.equal(claims[0].address, "192.0.2.100");
        assert.equal(claims[0].kind, "garp");

        const t0 = performance.now();
        stop();
        const stopMs = performance.now() - t0;
        assert.ok(
          stopMs < 20,
          `stopping a watch took ${stopMs.toFixed(1)} ms (a close waits ~100)`,
        );
        assert.equal(guard.watchCount(), 0);
        const seen = claims.length;
        claim();
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(claims.length, seen, "nothing heard while parked");

        const fdsParked = openFds();
        stop = inNetns(ns, () => guard.watch(mine, (c) => claims.push(c)));
        assert.equal(openFds(), fdsParked, "the parked socket is reused, not a new one opened");
        claim();
        assert.ok(await until(() => claims.length > seen, 2000), "a claim after re-watching");
        assert.equal(claims.length, seen + 1, "the claim sent while parked was not queued");
        stop();
      } finally {
        await guard.close();
        announcer.close();
        await reactor.close();
      }
      assert.ok(openFds() <= fdsBefore, "no descriptor left after close");
    });
  },
);

/**
 * keepalived's `unicast_ttl` on real sockets: a unicast advert sent with TTL 64 arrives
 * with TTL 64; multicast and default unicast adverts keep the RFC's 255.
 */
import assert from "node:assert/strict";
import type { ReceivedPacket } from "../../lib/daemon/ports.ts";
import { SystemTransportFactory } from "../../lib/sys/transport.ts";
import { encodeAdvert } from "../../lib/vrrp/packet.ts";
import { inNetns, ipNs, netnsTest, withLab } from "./helpers.ts";

const GROUP = "224.0.0.18";

function advert(src: string, dst: string, vrid: number): Uint8Array {
  return encodeAdvert(
    {
      version: 3,
      vrid,
      priority: 100,
      intervalMs: 1000,
      addresses: ["198.51.100.1"],
      authType: 0,
      authData: new Uint8Array(0),
    },
    { family: "ipv4", src, dst },
    "pseudo-header",
  );
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 3000;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

netnsTest(
  "unicast_ttl: a unicast advert leaves with the TTL asked for; multicast keeps 255",
  async () => {
    await withLab(async (lab) => {
      const nsA = await lab.netns();
      const nsB = await lab.netns();
      const [a, b] = await lab.veth(nsA, nsB);
      await ipNs(nsA, "addr", "add", "192.0.2.1/24", "dev", a);
      await ipNs(nsB, "addr", "add", "192.0.2.2/24", "dev", b);
      const factory = new SystemTransportFactory();
      const atB: ReceivedPacket[] = [];
      try {
        const tA = inNetns(
          nsA,
          () => factory.open({ interface: a, family: "ipv4", group: GROUP }, () => {}),
        );
        inNetns(
          nsB,
          () => factory.open({ interface: b, family: "ipv4", group: GROUP }, (p) => atB.push(p)),
        );
        tA.send(advert("192.0.2.1", "192.0.2.2", 1), "192.0.2.2", "192.0.2.1", undefined, 64);
        tA.send(advert("192.0.2.1", "192.0.2.2", 2), "192.0.2.2", "192.0.2.1");
        tA.send(advert("192.0.2.1", GROUP, 3), GROUP, "192.0.2.1");
        await waitFor(() => atB.length >= 3, `3 packets at B, got ${atB.length}`);
        const ttlOf = (vrid: number) => atB.find((p) => p.bytes[1] === vrid)?.ttl;
        assert.deepEqual([ttlOf(1), ttlOf(2), ttlOf(3)], [64, 255, 255]);
      } finally {
        await factory.close();
      }
    });
  },
);

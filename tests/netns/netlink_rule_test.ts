/**
 * Policy routing rules through Rtnl against a real kernel, in a throwaway namespace:
 * added with hacore's protocol, seen by `ip rule`, dumped back, deleted.
 *
 * @module
 */
import assert from "node:assert/strict";
import { AF_INET, AF_INET6 } from "../../lib/sys/libc.ts";
import { FR_ACT_BLACKHOLE, RTPROT_HACORE } from "../../lib/sys/netlink/rtnl_codec.ts";
import { NetlinkError, Rtnl } from "../../lib/sys/netlink/rtnl.ts";
import { inNetns, ipJson, netnsTest, withLab } from "./helpers.ts";

netnsTest(
  "rules are added with hacore's protocol, seen by `ip rule`, dumped and deleted",
  async () => {
    await withLab(async (lab) => {
      const ns = await lab.netns();
      const [a] = await lab.veth(ns, ns);
      const rtnl = inNetns(ns, () => Rtnl.open({ groups: [] }));
      try {
        await rtnl.addRule({ src: "10.0.0.0", srcLen: 24, iifname: a, priority: 100, table: 200 });
        await rtnl.addRule({ src: "10.2.0.0", srcLen: 16, fwmark: 7, priority: 101, table: 1000 });
        await rtnl.addRule({
          family: AF_INET6,
          dst: "2001:db8::",
          dstLen: 32,
          priority: 102,
          action: FR_ACT_BLACKHOLE,
        });
        const shown = await ipJson(ns, "rule", "show") as {
          priority: number;
          src?: string;
          table?: string;
          iif?: string;
          protocol?: string;
        }[];
        const r100 = shown.find((r) => r.priority === 100);
        assert.deepEqual([r100?.src, r100?.table, r100?.iif], ["10.0.0.0", "200", a]);
        const v4 = (await rtnl.dumpRules(AF_INET)).filter((r) => r.protocol === RTPROT_HACORE);
        assert.deepEqual(
          v4.map((r) => [r.priority, r.src, r.srcLen, r.table, r.fwmark]),
          [[100, "10.0.0.0", 24, 200, undefined], [101, "10.2.0.0", 16, 1000, 7]],
        );
        const v6 = (await rtnl.dumpRules(AF_INET6)).find((r) => r.priority === 102);
        assert.deepEqual([v6?.dst, v6?.action, v6?.protocol], [
          "2001:db8::",
          FR_ACT_BLACKHOLE,
          RTPROT_HACORE,
        ]);

        await rtnl.delRule({ src: "10.0.0.0", srcLen: 24, priority: 100 });
        await rtnl.delRule({ src: "10.2.0.0", srcLen: 16, priority: 101, table: 1000 });
        await rtnl.delRule({ family: AF_INET6, priority: 102 });
        assert.equal(
          [...await rtnl.dumpRules(AF_INET), ...await rtnl.dumpRules(AF_INET6)]
            .some((r) => r.protocol === RTPROT_HACORE),
          false,
        );
        await assert.rejects(
          rtnl.delRule({ src: "10.0.0.0", srcLen: 24, priority: 100 }),
          (e: unknown) => e instanceof NetlinkError && e.code === "ENOENT",
        );
      } finally {
        await rtnl.close();
      }
    });
  },
);

/**
 * Nothing the network sends can take hacore down or move its VIP: a live master on a
 * real kernel is flooded from a peer namespace with garbage and with near-valid adverts
 * that each break one rule (checksum, TTL, version, address list, length, VRID), all
 * claiming a higher priority. It must stay master, keep its VIP, log the drops
 * rate-limited, and still obey the first fully valid higher-priority advert after.
 */

import assert from "node:assert/strict";
import { closeFd, IPPROTO_VRRP, sendTo, sockaddrIn } from "../../lib/sys/libc.ts";
import { parseIpv4 } from "../../lib/net/addr.ts";
import { internetChecksum, ipv4PseudoHeader } from "../../lib/net/checksum.ts";
import { decodeAdvert, encodeAdvert } from "../../lib/vrrp/packet.ts";
import type { OutgoingAdvert } from "../../lib/vrrp/types.ts";
import { createRng } from "../../lib/sim/rng.ts";
import { leftoverNamespaces, netnsTest, openVrrpSender } from "./helpers.ts";
import {
  addressWatcher,
  buildLan,
  hacoreConfigToml,
  hacoreFromToml,
  LAN_IFACE,
  only,
  sleep,
  waitForHolders,
  withPeerLab,
} from "./peers.ts";

const VIP = "192.0.2.100";
const GROUP = "224.0.0.18";
const ATTACKER = "192.0.2.12";
const FLOOD = 10_000;

function advert(over: Partial<OutgoingAdvert> = {}): OutgoingAdvert {
  return {
    version: 3,
    vrid: 51,
    priority: 200,
    intervalMs: 100,
    addresses: [VIP],
    authType: 0,
    authData: new Uint8Array(0),
    ...over,
  };
}

const encode = (a: OutgoingAdvert) =>
  encodeAdvert(a, { family: "ipv4", src: ATTACKER, dst: GROUP }, "pseudo-header");

/** Rewrites the v3/IPv4 checksum after a mutation, so the packet breaks only its own rule. */
function resum(b: Uint8Array): Uint8Array {
  b[6] = 0;
  b[7] = 0;
  const pseudo = ipv4PseudoHeader(parseIpv4(ATTACKER)!, parseIpv4(GROUP)!, IPPROTO_VRRP, b.length);
  const sum = internetChecksum(pseudo, b);
  b[6] = sum >> 8;
  b[7] = sum & 0xff;
  return b;
}

/** Near-valid adverts, each breaking exactly one rule, all claiming priority 200 > 150. */
function hostile(): { name: string; bytes: Uint8Array }[] {
  const badSum = encode(advert());
  badSum[6] ^= 0xff;
  // Version 2 header on a v3 instance: decodes (as v2 without auth it would be too
  // short, so the bytes are a real v2 advert) and is refused by the instance.
  const v2 = encodeAdvert(
    advert({ version: 2, intervalMs: 1000, authData: new Uint8Array(8) }),
    { family: "ipv4", src: ATTACKER, dst: GROUP },
    "pseudo-header",
  );
  const truncated = encode(advert()).slice(0, 9);
  const longer = new Uint8Array(encode(advert()).length + 4);
  longer.set(encode(advert()));
  return [
    { name: "checksum", bytes: badSum },
    { name: "version", bytes: v2 },
    { name: "address-list", bytes: encode(advert({ addresses: ["192.0.2.99"] })) },
    { name: "truncated", bytes: truncated },
    { name: "length", bytes: longer },
    { name: "other vrid", bytes: encode(advert({ vrid: 52 })) },
    {
      name: "zero interval",
      bytes: (() => {
        const b = encode(advert());
        b[4] = 0;
        b[5] = 0;
        return resum(b);
      })(),
    },
  ];
}

Deno.test("robustness: each hostile packet breaks exactly the rule it is named after", () => {
  const ctx = { family: "ipv4" as const, src: ATTACKER, dst: GROUP, ttl: 255 };
  const seen = hostile().map((k) => {
    const r = decodeAdvert(k.bytes, ctx, { checksumMode: "auto" });
    return `${k.name}: ${r.ok ? `ok v${r.advert.version} vrid ${r.advert.vrid}` : r.error.reason}`;
  });
  assert.deepEqual(seen, [
    "checksum: checksum",
    "version: ok v2 vrid 51", // decodes; the v3 instance refuses it
    "address-list: ok v3 vrid 51", // decodes; the instance refuses it
    "truncated: truncated",
    "length: length",
    "other vrid: ok v3 vrid 52", // decodes; no instance serves VRID 52
    "zero interval: interval",
  ]);
});

netnsTest(
  "a flood of garbage and rule-breaking adverts leaves the master up, master and holding its VIP; a valid advert still counts",
  () =>
    withPeerLab(async (lab) => {
      const lan = await buildLan(lab, {
        nodes: [{ name: "a", address: "192.0.2.11/24" }, { name: "x", address: `${ATTACKER}/24` }],
      });
      const [a, x] = lan.nodes;
      const dir = await lab.tempDir();
      const watcher = addressWatcher("a", a.ns, LAN_IFACE, VIP);
      const h = await hacoreFromToml(
        lab,
        dir,
        a.ns,
        "a",
        hacoreConfigToml({ routerId: "a", priority: 150, vips: [`${VIP}/24`] }),
      );
      await h.waitState("MASTER", 10_000);
      await waitForHolders([watcher], only("a"), 2000, "a to hold the VIP");

      const open = (ttl: number) => openVrrpSender(x.ns, LAN_IFACE, { ttl });
      const tx = open(255);
      const tx64 = open(64);
      try {
        const to = sockaddrIn(GROUP);
        const rng = createRng(7);
        const kinds = hostile();
        const sendSome = (fd: number, bytes: Uint8Array) => {
          // A full socket buffer (EAGAIN, null) just means the flood outran the link.
          sendTo(fd, bytes, to);
        };
        for (let i = 0; i < FLOOD; i++) {
          const pick = i % 4;
          if (pick === 0) {
            const junk = new Uint8Array(rng.int(0, 120));
            for (let j = 0; j < junk.length; j++) junk[j] = rng.int(0, 255);
            sendSome(tx, junk);
          } else if (pick === 1) {
            // Fully valid but for the TTL: a router must not trust an advert from off-link.
            sendSome(tx64, encode(advert()));
          } else {
            sendSome(tx, kinds[i % kinds.length].bytes);
          }
          if (i % 500 === 499) await sleep(5); // let the receive buffer drain
        }
        await sleep(500);

        assert.equal(h.proc.status, null, `hacore exited during the flood${h.proc.tail()}`);
        assert.equal(h.state(), "MASTER");
        assert.deepEqual(h.transitions.map((t) => t.to), ["BACKUP", "MASTER"]);
        assert.deepEqual(
          await waitForHolders([watcher], only("a"), 1000, "a to still hold the VIP").then((s) =>
            s.holders
          ),
          ["a"],
        );
        const drops = h.proc.lines.filter((l) => /dropped (a packet|an advert) from/.test(l.text));
        for (
          const reason of [
            "checksum: got",
            "ip.ttl: got 64",
            "address-list: addresses [192.0.2.99]",
            "version: VRRPv2 advert, this instance runs VRRPv3",
            "length: got 16 bytes",
            "interval",
          ]
        ) {
          assert.ok(
            drops.some((l) => l.text.toLowerCase().includes(reason.toLowerCase())),
            `no drop logged for ${reason}:\n${drops.map((l) => l.text).join("\n")}`,
          );
        }
        // One line per reason per 10 s window, whatever the flood's size.
        assert.ok(drops.length <= 20, `${drops.length} drop lines for ${FLOOD} packets`);

        // The first fully valid, higher-priority advert still moves a to BACKUP: the
        // drops above were validation, not deafness.
        const from = h.transitions.length;
        sendSome(tx, encode(advert()));
        const t = await h.waitState("BACKUP", 2000, { fromIndex: from });
        assert.equal(t.reason, "higher-priority");
        console.log(`  ${FLOOD} hostile packets: still master; ${drops.length} drop log lines`);
        if (Deno.env.get("HACORE_SHOW_DROPS")) {
          for (const l of drops) console.log(`    ${l.text}`);
        }
      } finally {
        closeFd(tx);
        closeFd(tx64);
      }
    }),
);

netnsTest("robustness: no namespace of this run is left behind", async () => {
  assert.deepEqual(await leftoverNamespaces(), []);
});

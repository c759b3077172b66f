/** keepalived's `unicast_ttl`: the config, and the intake that does not check a unicast advert's TTL. */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/mod.ts";
import { routePacket } from "../../lib/daemon/packet_intake.ts";
import { makeInstance } from "../../lib/daemon/instance.ts";
import type { ReceivedPacket } from "../../lib/daemon/ports.ts";
import { encodeAdvert } from "../../lib/vrrp/packet.ts";

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

Deno.test("a unicast instance takes an advert whatever its TTL, as keepalived; a multicast one drops TTL 64", () => {
  const config = (extra: string) => {
    const r = parseConfig(
      `[vrrp_instance.VI_1]\ninterface = "eth0"\nvirtual_router_id = 1\nversion = 3\nvirtual_ipaddress = ["198.51.100.1/24"]\n${extra}`,
      "a.toml",
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.config;
  };
  const packet = (dst: string): ReceivedPacket => ({
    bytes: advert("192.0.2.1", dst, 1),
    src: "192.0.2.1",
    dst,
    ttl: 64,
  });
  const primaries = new Map([["eth0", { ipv4: "192.0.2.2" }]]);
  for (
    const [extra, dst, kind] of [
      [`unicast_peer = ["192.0.2.1"]\nunicast_ttl = 64`, "192.0.2.2", "deliver"],
      ["", GROUP, "drop"],
    ] as const
  ) {
    const c = config(extra);
    const inst = makeInstance(c.instances[0], c, primaries);
    assert.ok(typeof inst !== "string", String(inst));
    const routes = routePacket({
      iface: "eth0",
      family: "ipv4",
      packet: packet(dst),
      candidates: [inst],
      retiring: [],
      checksumMode: "auto",
    });
    assert.equal(routes[0]?.kind, kind, `${extra || "multicast"}: ${JSON.stringify(routes[0])}`);
  }
});

Deno.test("unicast_ttl: 1..255 on an IPv4 unicast instance; a warning without peers", () => {
  const base =
    `[vrrp_instance.VI_1]\ninterface = "eth0"\nvirtual_router_id = 1\nvirtual_ipaddress = ["198.51.100.1/24"]\n`;
  const ok = parseConfig(`${base}unicast_peer = ["192.0.2.1"]\nunicast_ttl = 10\n`, "a.toml");
  assert.ok(ok.ok);
  assert.equal(ok.config.instances[0].unicastTtl, 10);
  const bad = parseConfig(`${base}unicast_peer = ["192.0.2.1"]\nunicast_ttl = 0\n`, "a.toml");
  assert.ok(!bad.ok);
  const lonely = parseConfig(`${base}unicast_ttl = 10\n`, "a.toml");
  assert.ok(lonely.ok);
  assert.match(
    lonely.warnings?.[0]?.message ?? "",
    /unicast_ttl has no effect without unicast_peer/,
  );
});

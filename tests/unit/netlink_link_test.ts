/**
 * Link requests of the rtnetlink codec against iproute2: creating a virtual-MAC macvlan,
 * tagging it with an alias, bringing it up and deleting it produce the bytes `ip` sends
 * for the same commands (captured with strace by tests/fixtures/netlink/capture.sh), and
 * the parser reads back what the builders wrote (kind, macvlan mode, alias).
 */

import assert from "node:assert/strict";
import {
  buildDelLink,
  buildNewMacvlan,
  buildSetLink,
  decodeHeader,
  encodeAttr,
  IFF_UP,
  IFLA_IFALIAS,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_LINKINFO,
  IFLA_MACVLAN_MODE,
  type LinkMessage,
  MACVLAN_MODE_BRIDGE,
  MACVLAN_MODE_PRIVATE,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  parseRtnlMessages as parseMessages,
  RTM_DELLINK,
  RTM_NEWLINK,
  withSeqPid,
} from "../../lib/sys/netlink/rtnl_codec.ts";

const FIXTURES = new URL("../fixtures/netlink/", import.meta.url);

/** The blocks of a capture.sh fixture: one byte array per syscall buffer. */
function loadBlocks(name: string): Uint8Array[] {
  const text = Deno.readTextFileSync(new URL(name, FIXTURES));
  const body = text.split("\n").filter((l) => !l.startsWith("#")).join("\n");
  return body.split(/^--$/m)
    .map((b) => b.trim())
    .filter((b) => b.length > 0)
    .map((b) => Uint8Array.from(b.split(/\s+/), (h) => parseInt(h, 16)));
}

/**
 * The last message of `type` iproute2 sent (its name lookup comes first), cut to its
 * nlmsg_len, seq and pid zeroed.
 */
function sentMessage(name: string, type: number): Uint8Array {
  const hits = loadBlocks(name).flatMap((block) => {
    const h = decodeHeader(block, 0);
    return h && h.type === type ? [withSeqPid(block.subarray(0, h.len), 0, 0)] : [];
  });
  if (hits.length === 0) throw new Error(`${name}: no message of type ${type}`);
  return hits[hits.length - 1];
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

function onlyLink(buf: Uint8Array): LinkMessage {
  const msgs = parseMessages(buf);
  assert.equal(msgs.length, 1);
  const m = msgs[0];
  assert.equal(m.kind, "link", JSON.stringify(m));
  return m as LinkMessage;
}

// va is ifindex 3 in the capture namespace; the macvlan became ifindex 4.
const SPEC = {
  name: "vrrp.51",
  parentIndex: 3,
  mac: "00:00:5e:00:01:33",
  mode: MACVLAN_MODE_BRIDGE,
};

Deno.test("buildNewMacvlan matches `ip link add link va name vrrp.51 address 00:00:5e:00:01:33 type macvlan mode bridge`", () => {
  assert.equal(hex(buildNewMacvlan(SPEC)), hex(sentMessage("link_add_macvlan.hex", RTM_NEWLINK)));
});

Deno.test("buildSetLink up matches `ip link set dev vrrp.51 up`", () => {
  assert.equal(
    hex(buildSetLink(4, { up: true })),
    hex(sentMessage("link_set_up.hex", RTM_NEWLINK)),
  );
});

Deno.test('buildSetLink alias matches `ip link set dev vrrp.51 alias "hacore vmac"`', () => {
  assert.equal(
    hex(buildSetLink(4, { alias: "hacore vmac" })),
    hex(sentMessage("link_set_alias.hex", RTM_NEWLINK)),
  );
});

Deno.test("buildDelLink matches `ip link del dev vrrp.51`", () => {
  assert.equal(hex(buildDelLink(4)), hex(sentMessage("link_del.hex", RTM_DELLINK)));
});

Deno.test("buildNewMacvlan: the parser reads back name, parent, MAC, kind and mode", () => {
  const buf = buildNewMacvlan({ ...SPEC, mode: MACVLAN_MODE_PRIVATE }, { seq: 9 });
  const m = onlyLink(buf);
  assert.equal(m.header.flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  assert.equal(m.header.seq, 9);
  assert.equal(m.name, "vrrp.51");
  assert.equal(m.link, 3);
  assert.equal(m.mac, "00:00:5e:00:01:33");
  assert.equal(m.linkKind, "macvlan");
  assert.equal(m.macvlanMode, MACVLAN_MODE_PRIVATE);
  assert.equal(m.index, 0);
});

Deno.test("buildSetLink: up, down and alias land in ifi_flags, ifi_change and IFLA_IFALIAS", () => {
  const up = onlyLink(buildSetLink(7, { up: true }));
  assert.deepEqual([up.index, up.flags, up.change], [7, IFF_UP, IFF_UP]);
  const down = onlyLink(buildSetLink(7, { up: false }));
  assert.deepEqual([down.flags, down.change], [0, IFF_UP]);
  const alias = onlyLink(buildSetLink(7, { alias: "hacore vmac" }));
  assert.deepEqual([alias.flags, alias.change, alias.alias], [0, 0, "hacore vmac"]);
});

Deno.test("a link's macvlan mode is read only for macvlans; a kernel-style alias with its NUL reads the same", () => {
  const mode = new Uint8Array(4);
  new DataView(mode.buffer).setUint32(0, MACVLAN_MODE_BRIDGE, true);
  const info = (kind: string) =>
    encodeAttr(
      IFLA_LINKINFO,
      Uint8Array.from([
        ...encodeAttr(IFLA_INFO_KIND, new TextEncoder().encode(`${kind}\0`)),
        ...encodeAttr(IFLA_INFO_DATA, encodeAttr(IFLA_MACVLAN_MODE, mode)),
      ]),
    );
  const msg = (attrs: Uint8Array) => {
    const head = buildDelLink(5); // any link message: header and ifinfomsg
    const out = new Uint8Array(head.length + attrs.length);
    out.set(head);
    out.set(attrs, head.length);
    new DataView(out.buffer).setUint32(0, out.length, true);
    return out;
  };
  const mv = onlyLink(
    msg(
      Uint8Array.from([
        ...info("macvlan"),
        ...encodeAttr(IFLA_IFALIAS, new TextEncoder().encode("hacore vmac\0")),
      ]),
    ),
  );
  assert.equal(mv.macvlanMode, MACVLAN_MODE_BRIDGE);
  assert.equal(mv.alias, "hacore vmac");
  assert.equal(onlyLink(msg(info("ipvlan"))).macvlanMode, undefined);
});

Deno.test("link builders name what is wrong with their input", () => {
  assert.throws(
    () => buildNewMacvlan({ ...SPEC, name: "a-name-that-is-too-long" }),
    /interface name/,
  );
  assert.throws(() => buildNewMacvlan({ ...SPEC, name: "a b" }), /interface name/);
  assert.throws(() => buildNewMacvlan({ ...SPEC, mac: "00:00:5e:00:01" }), /MAC "00:00:5e:00:01"/);
  assert.throws(() => buildNewMacvlan({ ...SPEC, parentIndex: 0 }), /parent index 0/);
  assert.throws(() => buildSetLink(0, { up: true }), /link index 0/);
  assert.throws(() => buildSetLink(4, { alias: "x".repeat(256) }), /alias is 256 bytes/);
  assert.throws(() => buildDelLink(-1), /link index -1/);
});

/**
 * rtnetlink and raw VRRP sockets against the real kernel, inside network
 * namespaces this file creates and always deletes.
 *
 * How code runs "inside" a namespace: {@link inNetns} moves the JS thread there with
 * setns(2) through FFI, opens sockets, and moves it back before returning. A socket
 * belongs to the namespace it was created in for its whole life, so one test process can
 * hold an rtnetlink socket in one namespace and raw sockets in two others, drive them all
 * with one event loop, and check them with `ip -n`. That is simpler and sturdier than
 * spawning `ip netns exec … deno run` helpers and coordinating them over pipes: no second
 * process to start, time, or kill, and failures surface as ordinary assertions.
 */

import assert from "node:assert/strict";
import { EADDRNOTAVAIL, EEXIST } from "../../lib/sys/errno.ts";
import {
  AF_INET,
  AF_INET6,
  AF_NETLINK,
  bindSocket,
  bindToDevice,
  buildCmsgs,
  closeFd,
  cmsgInt,
  decodeIn6Pktinfo,
  getSockName,
  ifNameToIndex,
  in6Pktinfo,
  IP_MULTICAST_IF,
  IP_MULTICAST_LOOP,
  IP_MULTICAST_TTL,
  ipMreqn,
  IPPROTO_VRRP,
  IPV6_HOPLIMIT,
  IPV6_MULTICAST_HOPS,
  IPV6_MULTICAST_IF,
  IPV6_MULTICAST_LOOP,
  IPV6_PKTINFO,
  IPV6_RECVHOPLIMIT,
  IPV6_RECVPKTINFO,
  joinGroupV4,
  joinGroupV6,
  NETLINK_GENERIC,
  NETLINK_ROUTE,
  NETLINK_USERSOCK,
  openSocket,
  recvFrom,
  recvMsg,
  sendMsg,
  sendTo,
  setsockoptBuf,
  setsockoptInt,
  SO_RCVBUF,
  SOCK_RAW,
  sockaddrIn,
  sockaddrIn6,
  sockaddrNl,
  SOL_IP,
  SOL_IPV6,
  SOL_SOCKET,
  SyscallError,
} from "../../lib/sys/libc.ts";
import {
  type AddrMessage,
  buildGetAddrDump,
  buildNewAddr,
  hacoreLabel,
  IFA_F_NODAD,
  IFA_PROTO_HACORE,
  IFF_LOWER_UP,
  IFF_RUNNING,
  IFF_UP,
  isHacoreAddress,
  kernelSupportsIfaProto,
  type LinkMessage,
  type RtnlMessage as NetlinkMessage,
  RTPROT_HACORE,
} from "../../lib/sys/netlink/rtnl_codec.ts";
import { NetlinkError, Rtnl } from "../../lib/sys/netlink/rtnl.ts";
import { NetlinkConnection } from "../../lib/sys/netlink/connection.ts";
import {
  buildGetFamily,
  CTRL_CMD_GETFAMILY,
  encodeGenlMessage,
  GENL_ID_CTRL,
  parseFamilyReply,
} from "../../lib/sys/netlink/genl.ts";
import { resolveGenlFamily } from "../../lib/sys/netlink/genl_conn.ts";
import {
  attrString,
  concatBytes,
  decodeHeader,
  encodeNlMessage,
  type NlHeader,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSGERR_ATTR_MSG,
} from "../../lib/sys/netlink/message.ts";
import { Reactor } from "../../lib/sys/reactor.ts";
import {
  inNetns,
  ipJson,
  ipNs,
  type Lab,
  leftoverNamespaces,
  netnsTest,
  withLab,
} from "./helpers.ts";

const EVENT_TIMEOUT_MS = 3000;
// IPv4 header offsets (RFC 791): a raw IPv4 socket hands us the header as received.
const IPV4_TTL_OFFSET = 8;
const IPV4_PROTOCOL_OFFSET = 9;
const IPV4_SRC_OFFSET = 12;
const VRRP_TTL = 255;

/** Reads events until one matches, failing after a timeout. */
async function waitEvent<T extends NetlinkMessage>(
  it: AsyncIterator<NetlinkMessage>,
  match: (m: NetlinkMessage) => m is T,
  what: string,
): Promise<T> {
  const deadline = performance.now() + EVENT_TIMEOUT_MS;
  const seen: string[] = [];
  while (performance.now() < deadline) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), deadline - performance.now());
    });
    const r = await Promise.race([it.next(), timeout]);
    clearTimeout(timer);
    if (r === "timeout") break;
    if (r.done) break;
    if (match(r.value)) return r.value;
    seen.push(r.value.kind === "addr" ? `addr ${r.value.address}` : r.value.kind);
  }
  throw new Error(`no ${what} within ${EVENT_TIMEOUT_MS} ms; saw: ${seen.join(", ") || "nothing"}`);
}

/** A namespace with a veth pair inside it, and an Rtnl opened there. */
async function rtnlLab(
  lab: Lab,
): Promise<{ ns: string; a: string; b: string; idx: number; rtnl: Rtnl }> {
  const ns = await lab.netns();
  const [a, b] = await lab.veth(ns, ns);
  const { rtnl, idx } = inNetns(ns, () => ({ rtnl: Rtnl.open(), idx: ifNameToIndex(a) }));
  return { ns, a, b, idx, rtnl };
}

interface IpJsonAddr {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number; label?: string }[];
}

// ---------------------------------------------------------------------------------------
// rtnetlink
// ---------------------------------------------------------------------------------------

netnsTest(
  "an added address carries label and hacore tag in a dump, in `ip -j addr`, and as an event",
  async () => {
    await withLab(async (lab) => {
      const { ns, a, idx, rtnl } = await rtnlLab(lab);
      try {
        const events = rtnl.events()[Symbol.asyncIterator]();
        await rtnl.addAddress({
          index: idx,
          address: "192.0.2.10",
          prefixLen: 24,
          label: hacoreLabel(a),
        });
        await rtnl.addAddress({
          index: idx,
          address: "2001:db8::10",
          prefixLen: 64,
          flags: IFA_F_NODAD,
        });

        const ev = await waitEvent(
          events,
          (m): m is AddrMessage => m.kind === "addr" && !m.deleted && m.address === "192.0.2.10",
          "RTM_NEWADDR for 192.0.2.10",
        );
        assert.equal(ev.index, idx);
        assert.equal(ev.label, hacoreLabel(a));

        const dump = await rtnl.dumpAddresses();
        const v4 = dump.find((m) => m.address === "192.0.2.10");
        const v6 = dump.find((m) => m.address === "2001:db8::10");
        assert.ok(v4 && v6, "both addresses in the dump");
        assert.equal(v4.label, hacoreLabel(a));
        assert.equal(v4.prefixLen, 24);
        assert.ok(v6.flags & IFA_F_NODAD);
        assert.equal(isHacoreAddress(v4), true);
        if (kernelSupportsIfaProto(Deno.osRelease())) {
          // The kernel keeps IFA_PROTO for both families, so IPv6 (no labels) is tagged too.
          assert.equal(v4.proto, IFA_PROTO_HACORE);
          assert.equal(v6.proto, IFA_PROTO_HACORE);
          assert.equal(isHacoreAddress(v6), true);
        }
        // Kernel-made addresses are never mistaken for ours.
        assert.ok(
          dump.filter((m) => m.address?.startsWith("fe80:")).every((m) => !isHacoreAddress(m)),
        );

        const shown = await ipJson(ns, "addr", "show", "dev", a) as IpJsonAddr[];
        const info = shown[0].addr_info.find((x) => x.local === "192.0.2.10");
        assert.ok(info, "ip -j addr show lists it");
        assert.equal(info.prefixlen, 24);
        assert.equal(info.label, hacoreLabel(a));
        assert.ok(shown[0].addr_info.some((x) => x.local === "2001:db8::10"));
      } finally {
        await rtnl.close();
      }
    });
  },
);

netnsTest("an address deleted by hand with `ip addr del` arrives as RTM_DELADDR", async () => {
  await withLab(async (lab) => {
    const { ns, a, idx, rtnl } = await rtnlLab(lab);
    try {
      const events = rtnl.events()[Symbol.asyncIterator]();
      await rtnl.addAddress({
        index: idx,
        address: "192.0.2.20",
        prefixLen: 24,
        label: hacoreLabel(a),
      });
      await ipNs(ns, "addr", "del", "192.0.2.20/24", "dev", a);
      const del = await waitEvent(
        events,
        (m): m is AddrMessage => m.kind === "addr" && m.deleted && m.address === "192.0.2.20",
        "RTM_DELADDR for 192.0.2.20",
      );
      assert.equal(del.index, idx);
      assert.equal(isHacoreAddress(del), true, "the tag survives into the delete notification");
      assert.equal(
        (await rtnl.dumpAddresses(AF_INET)).some((m) => m.address === "192.0.2.20"),
        false,
      );
    } finally {
      await rtnl.close();
    }
  });
});

netnsTest(
  "`ip link set … down` arrives as RTM_NEWLINK without IFF_RUNNING and IFF_LOWER_UP",
  async () => {
    await withLab(async (lab) => {
      const { ns, a, b, idx, rtnl } = await rtnlLab(lab);
      try {
        const events = rtnl.events()[Symbol.asyncIterator]();
        const before = (await rtnl.dumpLinks()).find((l) => l.index === idx);
        assert.ok(before);
        assert.equal(before.name, a);
        assert.equal(before.linkKind, "veth");
        assert.equal(
          before.flags & (IFF_UP | IFF_RUNNING | IFF_LOWER_UP),
          IFF_UP | IFF_RUNNING | IFF_LOWER_UP,
        );

        // Peer down: our end stays administratively up but loses carrier (what a pulled
        // cable looks like to VRRP).
        await ipNs(ns, "link", "set", b, "down");
        const lost = await waitEvent(
          events,
          (m): m is LinkMessage =>
            m.kind === "link" && m.index === idx && !(m.flags & IFF_LOWER_UP),
          `RTM_NEWLINK for ${a} without carrier`,
        );
        assert.ok(lost.flags & IFF_UP);
        assert.equal(lost.flags & (IFF_RUNNING | IFF_LOWER_UP), 0);

        // Our end down: not even administratively up.
        await ipNs(ns, "link", "set", a, "down");
        const down = await waitEvent(
          events,
          (m): m is LinkMessage => m.kind === "link" && m.index === idx && !(m.flags & IFF_UP),
          `RTM_NEWLINK for ${a} down`,
        );
        assert.equal(down.flags & (IFF_UP | IFF_RUNNING | IFF_LOWER_UP), 0);
        assert.equal((await rtnl.getLink(idx))?.name, a);
        assert.equal(await rtnl.getLink(9999), null);
      } finally {
        await rtnl.close();
      }
    });
  },
);

netnsTest("routes are added with hacore's protocol, seen by `ip route`, and deleted", async () => {
  await withLab(async (lab) => {
    const { ns, a, idx, rtnl } = await rtnlLab(lab);
    try {
      await rtnl.addAddress({ index: idx, address: "192.0.2.30", prefixLen: 24 });
      await rtnl.addAddress({
        index: idx,
        address: "2001:db8::30",
        prefixLen: 64,
        flags: IFA_F_NODAD,
      });
      await rtnl.addRoute({ dst: "198.51.100.0", dstLen: 24, gateway: "192.0.2.1", oif: idx });
      await rtnl.addRoute({ dst: "2001:db8:1::", dstLen: 48, gateway: "2001:db8::1", oif: idx });
      await rtnl.addRoute({ dst: "203.0.113.0", dstLen: 24, oif: idx, table: 1000 });

      const v4 = await rtnl.dumpRoutes(AF_INET);
      const r = v4.find((x) => x.dst === "198.51.100.0");
      assert.ok(r);
      assert.deepEqual([r.dstLen, r.gateway, r.oif, r.protocol], [
        24,
        "192.0.2.1",
        idx,
        RTPROT_HACORE,
      ]);
      assert.equal(v4.find((x) => x.dst === "203.0.113.0")?.table, 1000);
      assert.ok(
        (await rtnl.dumpRoutes(AF_INET6)).some((x) => x.dst === "2001:db8:1::" && x.dstLen === 48),
      );

      const shown = await ipJson(ns, "route", "show", "dev", a) as {
        dst: string;
        gateway?: string;
      }[];
      assert.ok(shown.some((x) => x.dst === "198.51.100.0/24" && x.gateway === "192.0.2.1"));

      await assert.rejects(
        rtnl.addRoute({ dst: "198.51.100.0", dstLen: 24, gateway: "192.0.2.1", oif: idx }),
        (e: unknown) => e instanceof NetlinkError && e.errno === EEXIST,
      );
      await rtnl.delRoute({ dst: "198.51.100.0", dstLen: 24, oif: idx });
      await rtnl.delRoute({ dst: "2001:db8:1::", dstLen: 48, oif: idx });
      await rtnl.delRoute({ dst: "203.0.113.0", dstLen: 24, oif: idx, table: 1000 });
      assert.equal(
        (await rtnl.dumpRoutes(AF_INET)).some((x) => x.protocol === RTPROT_HACORE),
        false,
      );
      await assert.rejects(
        rtnl.delRoute({ dst: "198.51.100.0", dstLen: 24, oif: idx }),
        (e: unknown) => e instanceof NetlinkError && e.code === "ESRCH",
      );
    } finally {
      await rtnl.close();
    }
  });
});

netnsTest("refused requests name the operation, address, interface and errno", async () => {
  await withLab(async (lab) => {
    const { a, idx, rtnl } = await rtnlLab(lab);
    try {
      await rtnl.addAddress({ index: idx, address: "192.0.2.40", prefixLen: 24 });
      const twice = await rtnl.addAddress({ index: idx, address: "192.0.2.40", prefixLen: 24 })
        .then(() => null, (e: unknown) => e);
      assert.ok(twice instanceof NetlinkError, `expected NetlinkError, got ${twice}`);
      assert.equal(twice.code, "EEXIST");
      assert.equal(twice.errno, EEXIST);
      assert.equal(twice.operation, "add");
      assert.ok(
        twice.message.startsWith(`add 192.0.2.40/24 dev ${a}: EEXIST (File exists)`),
        twice.message,
      );
      assert.ok(twice instanceof SyscallError);

      await assert.rejects(
        rtnl.delAddress({ index: idx, address: "192.0.2.99", prefixLen: 24 }),
        (e: unknown) =>
          e instanceof NetlinkError && e.errno === EADDRNOTAVAIL &&
          e.message.startsWith(`del 192.0.2.99/24 dev ${a}: EADDRNOTAVAIL`),
      );
      await assert.rejects(
        rtnl.addAddress({ index: 9999, address: "192.0.2.41", prefixLen: 24, ifname: "ghost0" }),
        (e: unknown) =>
          e instanceof NetlinkError && e.code === "ENODEV" && e.message.includes("dev ghost0"),
      );
      // The socket stays usable after errors.
      await rtnl.delAddress({ index: idx, address: "192.0.2.40", prefixLen: 24 });
    } finally {
      await rtnl.close();
    }
  });
});

netnsTest("closing an Rtnl ends an events() iteration promptly", async () => {
  await withLab(async (lab) => {
    const { rtnl } = await rtnlLab(lab);
    const it = rtnl.events()[Symbol.asyncIterator]();
    const pending = it.next();
    await new Promise((r) => setTimeout(r, 20));
    const t0 = performance.now();
    await rtnl.close();
    const r = await pending;
    assert.equal(r.done, true);
    assert.ok(performance.now() - t0 < 100, `took ${performance.now() - t0} ms`);
  });
});

// ---------------------------------------------------------------------------------------
// Raw VRRP sockets
// ---------------------------------------------------------------------------------------

/** Two namespaces joined by a veth pair, addressed, and their interface indexes. */
async function pairLab(lab: Lab) {
  const nsA = await lab.netns();
  const nsB = await lab.netns();
  const [a, b] = await lab.veth(nsA, nsB);
  await ipNs(nsA, "addr", "add", "192.0.2.1/24", "dev", a);
  await ipNs(nsB, "addr", "add", "192.0.2.2/24", "dev", b);
  const idxA = inNetns(nsA, () => ifNameToIndex(a));
  const idxB = inNetns(nsB, () => ifNameToIndex(b));
  return { nsA, nsB, a, b, idxA, idxB };
}

// A VRRPv3 advert for VRID 7, priority 100, one IPv4 address (RFC 5798 §5.1); its
// checksum does not matter here: the kernel delivers protocol 112 unexamined.
const ADVERT = Uint8Array.of(0x31, 7, 100, 1, 0, 100, 0, 0, 192, 0, 2, 100);

netnsTest(
  "a raw IPPROTO_VRRP socket sends to 224.0.0.18 across a veth pair with TTL 255",
  async () => {
    await withLab(async (lab) => {
      const { nsA, nsB, a, b, idxA, idxB } = await pairLab(lab);
      const tx = inNetns(nsA, () => openSocket(AF_INET, SOCK_RAW, IPPROTO_VRRP));
      const rx = inNetns(nsB, () => openSocket(AF_INET, SOCK_RAW, IPPROTO_VRRP));
      const reactor = new Reactor();
      try {
        bindToDevice(tx, a);
        setsockoptBuf(tx, SOL_IP, IP_MULTICAST_IF, ipMreqn("0.0.0.0", idxA));
        setsockoptInt(tx, SOL_IP, IP_MULTICAST_TTL, VRRP_TTL);
        setsockoptInt(tx, SOL_IP, IP_MULTICAST_LOOP, 0);

        bindToDevice(rx, b);
        setsockoptInt(rx, SOL_SOCKET, SO_RCVBUF, 256 * 1024);
        joinGroupV4(rx, "224.0.0.18", idxB);

        assert.equal(sendTo(tx, ADVERT, sockaddrIn("224.0.0.18")), ADVERT.length);

        const buf = new Uint8Array(2048);
        let got: ReturnType<typeof recvFrom> = null;
        const deadline = performance.now() + EVENT_TIMEOUT_MS;
        while (!got && performance.now() < deadline) {
          got = recvFrom(rx, buf);
          if (!got) await reactor.readable(rx, deadline - performance.now());
        }
        assert.ok(got, "advert received");
        const ihl = (buf[0] & 0x0f) * 4;
        assert.equal(buf[IPV4_TTL_OFFSET], VRRP_TTL, "TTL 255 as sent");
        assert.equal(buf[IPV4_PROTOCOL_OFFSET], IPPROTO_VRRP);
        assert.deepEqual(Array.from(buf.subarray(IPV4_SRC_OFFSET, IPV4_SRC_OFFSET + 4)), [
          192,
          0,
          2,
          1,
        ]);
        assert.deepEqual(buf.slice(ihl, got.n), ADVERT);
        assert.equal(got.from.family, AF_INET);
        assert.equal(recvFrom(rx, buf), null, "nothing else queued: EAGAIN is null");
      } finally {
        await reactor.close();
        closeFd(tx);
        closeFd(rx);
      }
    });
  },
);

netnsTest(
  "a raw IPv6 VRRP socket receives ff02::12 with hop limit 255 and packet info",
  async () => {
    await withLab(async (lab) => {
      const { nsA, nsB, a, b, idxA, idxB } = await pairLab(lab);
      const tx = inNetns(nsA, () => openSocket(AF_INET6, SOCK_RAW, IPPROTO_VRRP));
      const rx = inNetns(nsB, () => openSocket(AF_INET6, SOCK_RAW, IPPROTO_VRRP));
      const reactor = new Reactor();
      try {
        bindToDevice(tx, a);
        setsockoptInt(tx, SOL_IPV6, IPV6_MULTICAST_IF, idxA);
        setsockoptInt(tx, SOL_IPV6, IPV6_MULTICAST_HOPS, VRRP_TTL);
        setsockoptInt(tx, SOL_IPV6, IPV6_MULTICAST_LOOP, 0);

        bindToDevice(rx, b);
        joinGroupV6(rx, "ff02::12", idxB);
        setsockoptInt(rx, SOL_IPV6, IPV6_RECVHOPLIMIT, 1);
        setsockoptInt(rx, SOL_IPV6, IPV6_RECVPKTINFO, 1);

        const buf = new Uint8Array(2048);
        const control = new Uint8Array(256);
        let got: ReturnType<typeof recvMsg> = null;
        const deadline = performance.now() + EVENT_TIMEOUT_MS;
        // The link-local source may still be settling right after the link came up; resend
        // until something arrives rather than sleeping a fixed time.
        while (!got && performance.now() < deadline) {
          try {
            // sendmsg with IPV6_PKTINFO naming the outgoing interface, as a daemon picking
            // its source per packet would.
            const pktinfo = { level: SOL_IPV6, type: IPV6_PKTINFO, data: in6Pktinfo("::", idxA) };
            sendMsg(tx, ADVERT, sockaddrIn6("ff02::12", 0, idxA), buildCmsgs([pktinfo]));
          } catch (e) {
            if (!(e instanceof SyscallError && e.code === "EADDRNOTAVAIL")) throw e;
          }
          await reactor.readable(rx, 200);
          got = recvMsg(rx, buf, control);
        }
        assert.ok(got, "advert received");
        assert.deepEqual(buf.slice(0, got.n), ADVERT, "raw IPv6 sockets strip the header");
        const hop = got.cmsgs.find((c) => c.level === SOL_IPV6 && c.type === IPV6_HOPLIMIT);
        assert.ok(hop, "IPV6_HOPLIMIT cmsg present");
        assert.equal(cmsgInt(hop.data), VRRP_TTL);
        const info = got.cmsgs.find((c) => c.level === SOL_IPV6 && c.type === IPV6_PKTINFO);
        assert.ok(info, "IPV6_PKTINFO cmsg present");
        assert.equal(decodeIn6Pktinfo(info.data)?.ifindex, idxB);
        assert.equal(got.from.family, AF_INET6);
      } finally {
        await reactor.close();
        closeFd(tx);
        closeFd(rx);
      }
    });
  },
);

netnsTest("socket errors name the call, the socket and the errno", async () => {
  await withLab(async (lab) => {
    const ns = await lab.netns();
    const fd = inNetns(ns, () => openSocket(AF_INET, SOCK_RAW, IPPROTO_VRRP));
    try {
      const err = (() => {
        try {
          bindToDevice(fd, "nope0");
        } catch (e) {
          return e;
        }
        return null;
      })();
      assert.ok(err instanceof SyscallError);
      assert.equal(err.call, "setsockopt");
      assert.equal(err.code, "ENODEV");
      assert.equal(
        err.message,
        "setsockopt(AF_INET raw/112, SO_BINDTODEVICE nope0): ENODEV (No such device)",
      );
      assert.throws(
        () => inNetns(ns, () => ifNameToIndex("nope0")),
        /if_nametoindex\(nope0\): ENODEV/,
      );
    } finally {
      closeFd(fd);
    }
  });
});

// ---------------------------------------------------------------------------------------
// Generic netlink
// ---------------------------------------------------------------------------------------

/** True when this kernel has IPVS (built in or loaded): then the family must resolve. */
function hostHasIpvs(): boolean {
  try {
    return Deno.readTextFileSync("/proc/net/ip_vs").length >= 0;
  } catch {
    return false;
  }
}

netnsTest(
  "a fresh namespace resolves nlctrl through the genl layer; IPVS only where the kernel has it",
  async () => {
    await withLab(async (lab) => {
      const ns = await lab.netns();
      const conn = inNetns(ns, () => NetlinkConnection.open(NETLINK_GENERIC));
      try {
        const ctrl = await resolveGenlFamily(conn, "nlctrl");
        assert.deepEqual([ctrl.id, ctrl.name], [GENL_ID_CTRL, "nlctrl"]);
        assert.ok(ctrl.mcastGroups.has("notify"), JSON.stringify([...ctrl.mcastGroups]));
        const missing = await resolveGenlFamily(conn, "hc-no-such").catch((e) => e);
        assert.ok(missing instanceof NetlinkError, String(missing));
        assert.equal(missing.errnoName, "ENOENT");
        assert.match(missing.message, /"hc-no-such".*family not found/);
        if (hostHasIpvs()) {
          assert.equal((await resolveGenlFamily(conn, "IPVS")).name, "IPVS");
        } else {
          await assert.rejects(
            () => resolveGenlFamily(conn, "IPVS"),
            (e: unknown) =>
              e instanceof NetlinkError && e.errnoName === "ENOENT" &&
              /find generic netlink family "IPVS": ENOENT .*family not found/.test(e.message),
          );
        }
      } finally {
        await conn.close();
      }
    });
  },
);

netnsTest(
  "a genl dump through NetlinkConnection lists every family, nlctrl among them",
  async () => {
    await withLab(async (lab) => {
      const ns = await lab.netns();
      const conn = inNetns(ns, () => NetlinkConnection.open(NETLINK_GENERIC));
      try {
        const parts = await conn.dump(encodeGenlMessage({
          family: GENL_ID_CTRL,
          cmd: CTRL_CMD_GETFAMILY,
          version: 1,
          flags: NLM_F_REQUEST | NLM_F_DUMP,
          attrs: [],
        }));
        const names = parts.map((p) => parseFamilyReply(p)).map((f) =>
          typeof f === "string" ? f : f.name
        );
        assert.ok(names.includes("nlctrl"), names.join(", "));
        assert.ok(names.length > 1, names.join(", "));
      } finally {
        await conn.close();
      }
    });
  },
);

netnsTest(
  "a decoded dump hands every part to its decoder, in order, as a copied dump returns them",
  async () => {
    await withLab(async (lab) => {
      const ns = await lab.netns();
      // Enough addresses for the dump to span several datagrams (~32 KiB each): the
      // receive buffer is reused between them, and each part is decoded before the next.
      const batch = await Deno.makeTempFile({ prefix: "hacore-addrs-" });
      try {
        const lines = [];
        for (let i = 0; i < 1000; i++) {
          lines.push(`addr add 10.77.${i >> 8}.${i & 255}/32 dev lo`);
        }
        await Deno.writeTextFile(batch, lines.join("\n") + "\n");
        await ipNs(ns, "-batch", batch);
      } finally {
        await Deno.remove(batch);
      }
      const conn = inNetns(ns, () => NetlinkConnection.open(NETLINK_ROUTE));
      try {
        const copied = await conn.dump(buildGetAddrDump(AF_INET));
        const sizes: number[] = [];
        const decoded = await conn.dumpDecoded(buildGetAddrDump(AF_INET), (p) => {
          sizes.push(p.length);
          return Array.from(p).join(",");
        });
        assert.ok(copied.length > 1000, `${copied.length} addresses dumped`);
        assert.equal(decoded.length, copied.length);
        assert.deepEqual(decoded, copied.map((p) => Array.from(p).join(",")));
        assert.deepEqual(sizes, copied.map((p) => p.length));
        const bytes = sizes.reduce((a, b) => a + b, 0);
        assert.ok(bytes > 32 * 1024, `${bytes} bytes: more than one datagram holds`);
      } finally {
        await conn.close();
      }
    });
  },
);

netnsTest(
  "a closed NetlinkConnection refuses an exchange with EBADF naming the request",
  async () => {
    await withLab(async (lab) => {
      const ns = await lab.netns();
      const conn = inNetns(ns, () => NetlinkConnection.open(NETLINK_GENERIC));
      await conn.close();
      await assert.rejects(
        () => conn.query(buildGetFamily("nlctrl"), { what: "get family nlctrl" }),
        (e: unknown) =>
          e instanceof NetlinkError && e.errnoName === "EBADF" && e.request === "get family nlctrl",
      );
    });
  },
);

// ---------------------------------------------------------------------------------------
// NetlinkConnection against a fake kernel: a NETLINK_USERSOCK socket that answers (or
// not) exactly as a test needs, which the real kernel cannot be made to do.
// ---------------------------------------------------------------------------------------

interface FakeKernel {
  fd: number;
  pid: number;
}

function fakeKernel(ns: string): FakeKernel {
  return inNetns(ns, () => {
    const fd = openSocket(AF_NETLINK, SOCK_RAW, NETLINK_USERSOCK);
    bindSocket(fd, sockaddrNl());
    const me = getSockName(fd);
    return { fd, pid: "pid" in me ? me.pid : 0 };
  });
}

/** The next request the fake kernel receives, and the port id that sent it. */
async function nextRequest(k: FakeKernel): Promise<{ header: NlHeader; from: number }> {
  const buf = new Uint8Array(4096);
  for (let i = 0; i < 400; i++) {
    const got = recvMsg(k.fd, buf);
    if (got && "pid" in got.from) return { header: decodeHeader(buf, 0)!, from: got.from.pid };
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("the fake kernel got no request");
}

function answer(k: FakeKernel, to: number, ...msgs: Uint8Array[]): void {
  sendTo(k.fd, concatBytes(msgs), sockaddrNl(to));
}

const FAKE_TYPE = 0x30;
const text = (s: string) => new TextEncoder().encode(s);

netnsTest("an exchange nobody answers fails with ETIMEDOUT once its timeout is up", async () => {
  await withLab(async (lab) => {
    const ns = await lab.netns();
    const k = fakeKernel(ns);
    const conn = inNetns(ns, () => NetlinkConnection.open(NETLINK_USERSOCK, { peer: k.pid }));
    try {
      const t0 = performance.now();
      await assert.rejects(
        () =>
          conn.request(encodeNlMessage(FAKE_TYPE, 0, new Uint8Array(4)), {
            timeoutMs: 150,
            what: "ping the fake kernel",
          }),
        (e: unknown) =>
          e instanceof NetlinkError && e.errnoName === "ETIMEDOUT" &&
          e.message.startsWith("ping the fake kernel: ETIMEDOUT"),
      );
      const took = performance.now() - t0;
      assert.ok(took >= 140 && took < 1500, `took ${took} ms`);
    } finally {
      await conn.close();
      closeFd(k.fd);
    }
  });
});

netnsTest(
  "a dump gathers parts across datagrams up to DONE, skips stale replies, and re-asks an interrupted one",
  async () => {
    await withLab(async (lab) => {
      const ns = await lab.netns();
      const k = fakeKernel(ns);
      const conn = inNetns(ns, () => NetlinkConnection.open(NETLINK_USERSOCK, { peer: k.pid }));
      try {
        const dumping = conn.dump(encodeNlMessage(FAKE_TYPE, 0, new Uint8Array(4)));
        const first = await nextRequest(k);
        assert.equal(first.header.flags & (NLM_F_REQUEST | NLM_F_DUMP), NLM_F_REQUEST | NLM_F_DUMP);
        const s1 = first.header.seq;
        const done = (seq: number) =>
          encodeNlMessage(NLMSG_DONE, NLM_F_MULTI, new Uint8Array(4), seq);
        answer(
          k,
          first.from,
          encodeNlMessage(FAKE_TYPE, NLM_F_MULTI | NLM_F_DUMP_INTR, text("torn"), s1),
          done(s1),
        );
        const second = await nextRequest(k);
        const s2 = second.header.seq;
        assert.notEqual(s2, s1);
        answer(
          k,
          second.from,
          encodeNlMessage(FAKE_TYPE, NLM_F_MULTI, text("late"), s1),
          encodeNlMessage(FAKE_TYPE, NLM_F_MULTI, text("one."), s2),
        );
        answer(k, second.from, encodeNlMessage(FAKE_TYPE, NLM_F_MULTI, text("two."), s2), done(s2));
        const parts = await dumping;
        assert.deepEqual(parts.map((p) => new TextDecoder().decode(p)), ["one.", "two."]);
      } finally {
        await conn.close();
        closeFd(k.fd);
      }
    });
  },
);

netnsTest(
  "a query returns the replies before the ack; a refusal carries errno name, request and the kernel's text",
  async () => {
    await withLab(async (lab) => {
      const ns = await lab.netns();
      const k = fakeKernel(ns);
      const conn = inNetns(ns, () => NetlinkConnection.open(NETLINK_USERSOCK, { peer: k.pid }));
      /** NLMSG_ERROR for `req`: capped echo, and the text as NLMSGERR_ATTR_MSG when given. */
      const nlerr = (req: NlHeader, errno: number, msg?: string) => {
        const body = new Uint8Array(4 + 16);
        const dv = new DataView(body.buffer);
        dv.setInt32(0, -errno, true);
        dv.setUint32(4, req.len, true);
        dv.setUint16(8, req.type, true);
        dv.setUint32(12, req.seq, true);
        const tlvs = msg === undefined ? [] : [attrString(NLMSGERR_ATTR_MSG, msg)];
        const flags = NLM_F_CAPPED | (msg === undefined ? 0 : NLM_F_ACK_TLVS);
        return encodeNlMessage(NLMSG_ERROR, flags, concatBytes([body, ...tlvs]), req.seq);
      };
      try {
        const querying = conn.query(encodeNlMessage(FAKE_TYPE, 0, new Uint8Array(4)));
        const q = await nextRequest(k);
        assert.ok(q.header.flags & NLM_F_ACK, "a query asks for an ack");
        answer(k, q.from, encodeNlMessage(FAKE_TYPE, 0, text("its."), q.header.seq));
        answer(k, q.from, nlerr(q.header, 0));
        assert.deepEqual((await querying).map((p) => new TextDecoder().decode(p)), ["its."]);

        const refused = conn.request(encodeNlMessage(FAKE_TYPE, 0, new Uint8Array(4)), {
          what: "add thing 7",
        }).catch((e) => e);
        const r = await nextRequest(k);
        answer(k, r.from, nlerr(r.header, EEXIST, "fake: thing 7 exists"));
        const e = await refused;
        assert.ok(e instanceof NetlinkError, String(e));
        assert.deepEqual(
          [e.errno, e.errnoName, e.request, e.kernelMessage],
          [EEXIST, "EEXIST", "add thing 7", "fake: thing 7 exists"],
        );
        assert.equal(e.message, "add thing 7: EEXIST (File exists); kernel: fake: thing 7 exists");
      } finally {
        await conn.close();
        closeFd(k.fd);
      }
    });
  },
);

// Last in the file: Deno runs a file's tests in order.
netnsTest(
  "a batch of 200 address adds applies all but the one that exists, reported at its index",
  async () => {
    await withLab(async (lab) => {
      const { ns, a, idx, rtnl } = await rtnlLab(lab);
      const conn = inNetns(ns, () => NetlinkConnection.open(NETLINK_ROUTE));
      try {
        const addr = (i: number) => `198.51.${100 + (i >> 8)}.${i & 255}`;
        await rtnl.addAddress({ index: idx, address: addr(117), prefixLen: 32 });
        const requests = Array.from({ length: 200 }, (_, i) => ({
          msg: buildNewAddr({ index: idx, family: AF_INET, prefixLen: 32, address: addr(i) }),
          what: `add ${addr(i)}/32 dev ${a}`,
          call: "RTM_NEWADDR",
        }));
        // Small datagrams, so the batch spans several of them.
        const outcomes = await conn.requestBatch(requests, { maxMessages: 64 });
        assert.equal(outcomes.length, 200);
        const refused = outcomes.flatMap((o, i) => (o.ok ? [] : [{ i, error: o.error }]));
        assert.deepEqual(refused.map((r) => r.i), [117]);
        const e = refused[0].error;
        assert.equal(e.errnoName, "EEXIST");
        assert.equal(e.call, "RTM_NEWADDR");
        assert.ok(e.message.startsWith(`add ${addr(117)}/32 dev ${a}: EEXIST`), e.message);
        const held = (await ipJson(ns, "-4", "addr", "show", "dev", a) as IpJsonAddr[])
          .flatMap((l) => l.addr_info.map((x) => x.local));
        assert.equal(new Set(held).size, 200);
        for (let i = 0; i < 200; i++) assert.ok(held.includes(addr(i)), addr(i));
        // The connection goes on with ordinary exchanges after a batch.
        await conn.request(
          buildNewAddr({ index: idx, family: AF_INET, prefixLen: 32, address: "198.51.101.200" }),
        );
      } finally {
        await conn.close();
        await rtnl.close();
      }
    });
  },
);

netnsTest("a batch nobody acks fails every request with ETIMEDOUT, sending no more", async () => {
  await withLab(async (lab) => {
    const ns = await lab.netns();
    const k = fakeKernel(ns);
    const conn = inNetns(ns, () => NetlinkConnection.open(NETLINK_USERSOCK, { peer: k.pid }));
    try {
      const requests = Array.from({ length: 5 }, (_, i) => ({
        msg: encodeNlMessage(FAKE_TYPE, 0, new Uint8Array(4)),
        what: `ping ${i}`,
      }));
      const batch = conn.requestBatch(requests, { maxMessages: 3, timeoutMs: 150 });
      const first = await nextRequest(k);
      // The first datagram holds three requests; the fake kernel acks only the first.
      answer(k, first.from, encodeNlMessage(NLMSG_ERROR, 0, new Uint8Array(20), first.header.seq));
      const outcomes = await batch;
      assert.deepEqual(
        outcomes.map((o) => (o.ok ? "ok" : o.error.message)),
        ["ok", ...[1, 2, 3, 4].map((i) => `ping ${i}: ETIMEDOUT (Connection timed out)`)],
      );
      assert.equal(recvMsg(k.fd, new Uint8Array(4096)), null, "a second datagram was sent");
    } finally {
      await conn.close();
      closeFd(k.fd);
    }
  });
});

netnsTest("no namespace of this run is left behind", async () => {
  assert.deepEqual(await leftoverNamespaces(), []);
});

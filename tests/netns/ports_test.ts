/**
 * The production ports (lib/sys/mod.ts) against the real kernel, inside network
 * namespaces this file creates and always deletes: raw VRRP transports, rtnetlink
 * addresses and their events, packet-socket announcements and the interfaces' own
 * addresses. What goes on the wire is captured with tshark on the receiving side and
 * decoded twice, by tshark and by our own codec.
 *
 * Sockets are opened inside a namespace with {@link inNetns} (the port objects open
 * theirs in the calling thread's namespace, or through the `openRtnl` hook), then driven
 * from the host namespace: a socket keeps its namespace for life.
 */

import assert from "node:assert/strict";
import type { KernelEvent, ReceivedPacket } from "../../lib/daemon/ports.ts";
import { RtnlAddressPort } from "../../lib/sys/addresses.ts";
import { PacketAnnouncer } from "../../lib/sys/announcer.ts";
import { decodeArp, encodeGratuitousArp } from "../../lib/net/arp.ts";
import { EADDRNOTAVAIL, EBADF, EEXIST, ENODEV } from "../../lib/sys/errno.ts";
import { decodeEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV6, parseMac } from "../../lib/net/ether.ts";
import { interfaceInfo, primariesFrom, readPrimaryAddresses } from "../../lib/sys/interfaces.ts";
import { AF_INET6, MSG_TRUNC, type RecvMsgResult, SyscallError } from "../../lib/sys/libc.ts";
import { createSystemPorts } from "../../lib/sys/mod.ts";
import { decodeNaFrame, encodeUnsolicitedNa } from "../../lib/net/ndisc.ts";
import {
  type AddrMessage,
  hacoreLabel,
  IFA_F_NODAD,
  IFA_F_SECONDARY,
  IFA_F_TENTATIVE,
  IFA_PROTO_HACORE,
  kernelSupportsIfaProto,
  type LinkMessage,
} from "../../lib/sys/netlink/rtnl_codec.ts";
import { NetlinkError, Rtnl, type RtnlOptions } from "../../lib/sys/netlink/rtnl.ts";
import {
  parseV4,
  parseV6,
  POLL_FRESH_MS,
  SystemTransportFactory,
} from "../../lib/sys/transport.ts";
import { Reactor } from "../../lib/sys/reactor.ts";
import { parseIp } from "../../lib/net/addr.ts";
import { decodeIpv4Header, decodeIpv6Header, encodeIpv4Header } from "../../lib/net/ip.ts";
import {
  decodeAdvert,
  encodeAdvert,
  VRRP_GROUP_IPV4,
  VRRP_GROUP_IPV6,
} from "../../lib/vrrp/packet.ts";
import { parsePcap } from "../unit/pcap.ts";
import {
  hasCommand,
  inNetns,
  ipJson,
  ipNs,
  type Lab,
  leftoverNamespaces,
  netnsTest,
  run,
  runOk,
  withLab,
} from "./helpers.ts";

const WAIT_MS = 5000;
const CAPTURE_LIMIT_S = 20;
const VRRP_PROTO = 112;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every 10 ms until it holds, failing after WAIT_MS with `what`. */
async function waitFor(cond: () => boolean, what: () => string): Promise<void> {
  const deadline = performance.now() + WAIT_MS;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await sleep(10);
  }
}

/** Like {@link waitFor}, for conditions that need an async look (a dump, `ip -j`). */
async function waitForAsync(cond: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = performance.now() + WAIT_MS;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Opens rtnetlink sockets inside `ns`, for the ports' `openRtnl` hook. */
function rtnlIn(ns: string): (o: RtnlOptions) => Rtnl {
  return (o) => inNetns(ns, () => Rtnl.open(o));
}

/** Two namespaces joined by a veth pair, with IPv4 addresses A=192.0.2.1, B=192.0.2.2. */
async function pairLab(lab: Lab) {
  const nsA = await lab.netns();
  const nsB = await lab.netns();
  const [a, b] = await lab.veth(nsA, nsB);
  await ipNs(nsA, "addr", "add", "192.0.2.1/24", "dev", a);
  await ipNs(nsB, "addr", "add", "192.0.2.2/24", "dev", b);
  return { nsA, nsB, a, b };
}

interface IpJsonAddr {
  ifname: string;
  ifindex: number;
  address?: string;
  mtu?: number;
  addr_info: {
    family: string;
    local: string;
    prefixlen: number;
    scope: string;
    label?: string;
    broadcast?: string;
    tentative?: boolean;
  }[];
}

/** The kernel's own (usable) link-local address of `dev`, waiting for it to appear. */
async function linkLocal(ns: string, dev: string): Promise<string> {
  let found: string | undefined;
  await waitForAsync(async () => {
    const shown = await ipJson(ns, "addr", "show", "dev", dev) as IpJsonAddr[];
    found = shown[0]?.addr_info.find((x) =>
      x.family === "inet6" && x.scope === "link" && !x.tentative
    )?.local;
    return found !== undefined;
  }, `a link-local address on ${dev}`);
  return found!;
}

async function macOf(ns: string, dev: string): Promise<string> {
  const shown = await ipJson(ns, "link", "show", "dev", dev) as IpJsonAddr[];
  assert.ok(shown[0]?.address, `${dev} has a MAC`);
  return shown[0].address;
}

/** A real VRRPv3 advert for `vrid` whose checksum covers `src` and `dst`. */
function advert(family: "ipv4" | "ipv6", src: string, dst: string, vrid: number): Uint8Array {
  return encodeAdvert(
    {
      version: 3,
      vrid,
      priority: 100 + vrid,
      intervalMs: 1000,
      addresses: [family === "ipv4" ? `198.51.100.${vrid}` : `2001:db8:100::${vrid}`],
      authType: 0,
      authData: new Uint8Array(0),
    },
    { family, src, dst },
    "pseudo-header",
  );
}

interface Capture {
  /** Resolves when tshark has written `count` packets and exited. */
  readonly done: Promise<void>;
}

/**
 * Starts tshark inside `ns` on `iface`, writing `count` packets matching `filter` to
 * `file`, and resolves once it reports that it is capturing. The Lab kills it on failure.
 */
async function capture(
  lab: Lab,
  ns: string,
  iface: string,
  filter: string,
  count: number,
  file: string,
): Promise<Capture> {
  const child = lab.spawn(
    ns,
    "tshark",
    "-i",
    iface,
    "-f",
    filter,
    "-c",
    String(count),
    "-a",
    `duration:${CAPTURE_LIMIT_S}`,
    "-w",
    file,
  );
  let stderr = "";
  let onReady = () => {};
  const ready = new Promise<void>((r) => onReady = r);
  const dec = new TextDecoder();
  const errDone = (async () => {
    for await (const chunk of child.stderr) {
      stderr += dec.decode(chunk);
      if (stderr.includes("Capturing on")) onReady();
    }
  })();
  const outDone = (async () => {
    for await (const _ of child.stdout) {
      // tshark -w prints nothing here; read it anyway so the pipe is released.
    }
  })();
  const done = (async () => {
    const [status] = await Promise.all([child.status, errDone, outDone]);
    if (!status.success) throw new Error(`tshark exited ${status.code}: ${stderr.trim()}`);
  })();
  const started = await Promise.race([ready.then(() => true), done.then(() => false)]);
  if (!started) throw new Error(`tshark stopped before capturing: ${stderr.trim()}`);
  // "Capturing on" is printed as dumpcap starts; give the socket a moment to be attached.
  await sleep(300);
  return { done };
}

/** `tshark -r file` with extra arguments; throws on failure. */
function tsharkRead(file: string, ...args: string[]): Promise<string> {
  return runOk("tshark", ["-r", file, ...args]);
}

/** Fails when tshark's verbose decode has a warning or a bad checksum anywhere. */
async function assertNoTsharkWarnings(file: string): Promise<void> {
  const verbose = await tsharkRead(file, "-V");
  const bad = verbose.split("\n").filter((l) =>
    /Bad checksum|\[Expert Info \((Warning|Error)/i.test(l) || /incorrect, should be/.test(l)
  );
  assert.deepEqual(bad, [], `tshark found problems:\n${bad.join("\n")}`);
}

function tsharkSkip(): string | null {
  return hasCommand("tshark") ? null : "tshark is not installed";
}

// ---------------------------------------------------------------------------------------
// Transports
// ---------------------------------------------------------------------------------------

netnsTest(
  "IPv4 transport: multicast, unicast and a secondary source arrive byte for byte with TTL 255 and TOS 0xc0",
  async () => {
    const noTshark = tsharkSkip();
    await withLab(async (lab) => {
      const { nsA, nsB, a, b } = await pairLab(lab);
      // A second address on A: the kernel flags it secondary and would never pick it as a
      // source on its own.
      await ipNs(nsA, "addr", "add", "192.0.2.3/24", "dev", a);
      const factory = new SystemTransportFactory();
      const atA: ReceivedPacket[] = [];
      const atB: ReceivedPacket[] = [];
      const dir = await Deno.makeTempDir({ prefix: "hacore-ports-" });
      try {
        const tA = inNetns(
          nsA,
          () =>
            factory.open(
              { interface: a, family: "ipv4", group: VRRP_GROUP_IPV4 },
              (p) => atA.push(p),
            ),
        );
        inNetns(
          nsB,
          () =>
            factory.open(
              { interface: b, family: "ipv4", group: VRRP_GROUP_IPV4 },
              (p) => atB.push(p),
            ),
        );
        const file = `${dir}/v4.pcapng`;
        const cap = noTshark ? null : await capture(lab, nsB, b, `ip proto ${VRRP_PROTO}`, 3, file);

        const sends = [
          { vrid: 1, src: "192.0.2.1", dst: VRRP_GROUP_IPV4 },
          { vrid: 2, src: "192.0.2.1", dst: "192.0.2.2" },
          { vrid: 3, src: "192.0.2.3", dst: VRRP_GROUP_IPV4 },
        ].map((s) => ({ ...s, bytes: advert("ipv4", s.src, s.dst, s.vrid) }));
        for (const s of sends) tA.send(s.bytes, s.dst, s.src);

        await waitFor(() => atB.length >= sends.length, () => `3 packets at B, got ${atB.length}`);
        const macA = await macOf(nsA, a);
        for (const s of sends) {
          // The unicast one may overtake or trail the others while ARP resolves.
          const got = atB.find((p) => p.bytes[1] === s.vrid);
          assert.ok(got, `VRID ${s.vrid} received`);
          assert.equal(
            got.srcMac,
            macA,
            `VRID ${s.vrid}: the sender's MAC, from the packet socket`,
          );
          assert.deepEqual(got.bytes, s.bytes, `VRID ${s.vrid}: exactly the bytes sent`);
          assert.equal(got.src, s.src, `VRID ${s.vrid}: source as given`);
          assert.equal(got.dst, s.dst);
          assert.equal(got.ttl, 255);
          const check = decodeAdvert(got.bytes, { family: "ipv4", ...got }, {
            checksumMode: "pseudo-header",
          });
          assert.ok(check.ok, `VRID ${s.vrid} decodes: ${!check.ok && check.error.message}`);
        }
        assert.deepEqual(atA, [], "our own multicast is not looped back");
        assert.equal(factory.stats().received, 3);
        assert.equal(factory.stats().malformed, 0);

        if (cap) {
          await cap.done;
          await assertNoTsharkWarnings(file);
          const fields = await tsharkRead(
            file,
            "-T",
            "fields",
            "-E",
            "separator=,",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "ip.ttl",
            "-e",
            "ip.dsfield",
            "-e",
            "vrrp.virt_rtr_id",
            "-e",
            "vrrp.checksum.status",
          );
          const rows = fields.trim().split("\n").map((l) => l.split(",")).sort((x, y) =>
            Number(x[4]) - Number(y[4])
          );
          assert.deepEqual(rows, [
            ["192.0.2.1", "224.0.0.18", "255", "0xc0", "1", "1"],
            ["192.0.2.1", "192.0.2.2", "255", "0xc0", "2", "1"],
            ["192.0.2.3", "224.0.0.18", "255", "0xc0", "3", "1"],
          ]);
          const summary = await tsharkRead(file);
          assert.equal(summary.match(/VRRP.*Announcement \(v3\)/g)?.length, 3, summary);

          // And with our own decoder, from the frames tshark wrote.
          const frames = parsePcap(await Deno.readFile(file)).records;
          assert.equal(frames.length, 3);
          for (const f of frames) {
            const eth = decodeEthernet(f.data);
            assert.ok(eth.ok);
            const ip = decodeIpv4Header(eth.payload);
            assert.ok(ip.ok, "a valid IPv4 header (checksum included)");
            assert.equal(ip.tos, 0xc0);
            assert.equal(ip.ttl, 255);
            assert.equal(ip.protocol, VRRP_PROTO);
            assert.equal(ip.df, false, "DF clear, as keepalived sends");
            const s = sends.find((x) => x.vrid === ip.payload[1]);
            assert.ok(s);
            assert.equal(ip.src, s.src);
            assert.equal(ip.dst, s.dst);
            assert.deepEqual(ip.payload, s.bytes);
          }
        } else {
          console.warn(`wire check SKIPPED: ${noTshark}`);
        }
      } finally {
        await factory.close();
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
);

netnsTest(
  "IPv6 transport: ff02::12 and unicast from link-local sources, hop limit 255, destination reported",
  async () => {
    const noTshark = tsharkSkip();
    await withLab(async (lab) => {
      const { nsA, nsB, a, b } = await pairLab(lab);
      const llA = await linkLocal(nsA, a);
      const llB = await linkLocal(nsB, b);
      const factory = new SystemTransportFactory();
      const atA: ReceivedPacket[] = [];
      const atB: ReceivedPacket[] = [];
      const dir = await Deno.makeTempDir({ prefix: "hacore-ports-" });
      try {
        const tA = inNetns(
          nsA,
          () =>
            factory.open(
              { interface: a, family: "ipv6", group: VRRP_GROUP_IPV6 },
              (p) => atA.push(p),
            ),
        );
        inNetns(
          nsB,
          () =>
            factory.open(
              { interface: b, family: "ipv6", group: VRRP_GROUP_IPV6 },
              (p) => atB.push(p),
            ),
        );
        const file = `${dir}/v6.pcapng`;
        const cap = noTshark
          ? null
          : await capture(lab, nsB, b, `ip6 proto ${VRRP_PROTO}`, 2, file);

        const sends = [
          { vrid: 1, src: llA, dst: VRRP_GROUP_IPV6 },
          { vrid: 2, src: llA, dst: llB },
        ].map((s) => ({ ...s, bytes: advert("ipv6", s.src, s.dst, s.vrid) }));
        for (const s of sends) tA.send(s.bytes, s.dst, s.src);

        await waitFor(() => atB.length >= sends.length, () => `2 packets at B, got ${atB.length}`);
        const macA = await macOf(nsA, a);
        for (const s of sends) {
          const got = atB.find((p) => p.bytes[1] === s.vrid);
          assert.ok(got, `VRID ${s.vrid} received`);
          assert.deepEqual(got.bytes, s.bytes);
          assert.equal(got.src, llA);
          assert.equal(got.dst, s.dst, "destination from the IPv6 header");
          assert.equal(got.ttl, 255, "hop limit from the IPv6 header");
          assert.equal(got.srcMac, macA, "the sender's MAC, from the packet socket");
          const check = decodeAdvert(got.bytes, { family: "ipv6", ...got }, {
            checksumMode: "auto",
          });
          assert.ok(check.ok, `VRID ${s.vrid} decodes: ${!check.ok && check.error.message}`);
        }
        assert.deepEqual(atA, []);

        if (cap) {
          await cap.done;
          await assertNoTsharkWarnings(file);
          const fields = await tsharkRead(
            file,
            "-T",
            "fields",
            "-E",
            "separator=,",
            "-e",
            "ipv6.src",
            "-e",
            "ipv6.dst",
            "-e",
            "ipv6.hlim",
            "-e",
            "ipv6.tclass",
            "-e",
            "vrrp.virt_rtr_id",
            "-e",
            "vrrp.checksum.status",
          );
          const rows = fields.trim().split("\n").map((l) => l.split(",")).sort((x, y) =>
            Number(x[4]) - Number(y[4])
          );
          assert.deepEqual(rows, [
            [llA, "ff02::12", "255", "0x000000c0", "1", "1"],
            [llA, llB, "255", "0x000000c0", "2", "1"],
          ]);
          for (const f of parsePcap(await Deno.readFile(file)).records) {
            const eth = decodeEthernet(f.data);
            assert.ok(eth.ok && eth.etherType === ETHERTYPE_IPV6);
            const ip = decodeIpv6Header(eth.payload);
            assert.ok(ip.ok);
            assert.equal(ip.trafficClass, 0xc0);
            assert.equal(ip.hopLimit, 255);
            assert.equal(ip.src, llA);
            assert.deepEqual(ip.payload, sends.find((s) => s.vrid === ip.payload[1])?.bytes);
          }
        } else {
          console.warn(`wire check SKIPPED: ${noTshark}`);
        }
      } finally {
        await factory.close();
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
);

netnsTest(
  "closing a transport while the poll loop waits stops the loop within 100 ms; others keep receiving",
  async () => {
    await withLab(async (lab) => {
      const { nsA, nsB, a, b } = await pairLab(lab);
      const factory = new SystemTransportFactory();
      const atB4: ReceivedPacket[] = [];
      const atB6: ReceivedPacket[] = [];
      try {
        const tA = inNetns(
          nsA,
          () => factory.open({ interface: a, family: "ipv4", group: VRRP_GROUP_IPV4 }, () => {}),
        );
        const tB4 = inNetns(
          nsB,
          () =>
            factory.open(
              { interface: b, family: "ipv4", group: VRRP_GROUP_IPV4 },
              (p) => atB4.push(p),
            ),
        );
        const tB6 = inNetns(
          nsB,
          () =>
            factory.open(
              { interface: b, family: "ipv6", group: VRRP_GROUP_IPV6 },
              (p) => atB6.push(p),
            ),
        );
        assert.equal(factory.openCount(), 3);
        await sleep(30); // the loop is parked in poll(2) now

        // One of three closes: the loop re-waits on the other two.
        tB6.close();
        tB6.close(); // idempotent
        assert.equal(factory.openCount(), 2);
        const bytes = advert("ipv4", "192.0.2.1", VRRP_GROUP_IPV4, 9);
        tA.send(bytes, VRRP_GROUP_IPV4, "192.0.2.1");
        await waitFor(() => atB4.length === 1, () => "the advert at B after closing B's v6");
        assert.deepEqual(atB4[0].bytes, bytes);
        assert.deepEqual(atB6, []);
        assert.throws(
          () => tB6.send(bytes, VRRP_GROUP_IPV6, "fe80::1"),
          (e: unknown) => e instanceof SyscallError && e.errno === EBADF,
        );

        // The last ones close while the loop waits: it must notice at once.
        await sleep(30);
        const t0 = performance.now();
        tA.close();
        tB4.close();
        await factory.settled();
        const elapsed = performance.now() - t0;
        assert.ok(elapsed < 100, `the loop took ${elapsed.toFixed(1)} ms to stop`);
        assert.equal(factory.openCount(), 0);

        // A closed factory loop starts again with the next transport.
        const again = inNetns(
          nsB,
          () =>
            factory.open(
              { interface: b, family: "ipv4", group: VRRP_GROUP_IPV4 },
              (p) => atB4.push(p),
            ),
        );
        const tA2 = inNetns(
          nsA,
          () => factory.open({ interface: a, family: "ipv4", group: VRRP_GROUP_IPV4 }, () => {}),
        );
        tA2.send(bytes, VRRP_GROUP_IPV4, "192.0.2.1");
        await waitFor(() => atB4.length === 2, () => "the advert on a reopened transport");
        again.close();
        tA2.close();
        await factory.settled();
      } finally {
        await factory.close();
      }
      // Deno's sanitizers now check that no poll op or socket resource is left pending.
    });
  },
);

netnsTest(
  "drainNow reads a socket unless the reactor's wait covered it just now; nothing is lost either way",
  async () => {
    await withLab(async (lab) => {
      const { nsA, nsB, a, b } = await pairLab(lab);
      const reactor = new Reactor();
      const factory = new SystemTransportFactory({ reactor });
      const atB: number[] = [];
      const group = { family: "ipv4" as const, group: VRRP_GROUP_IPV4 };
      const tA = inNetns(nsA, () => factory.open({ interface: a, ...group }, () => {}));
      inNetns(nsB, () => factory.open({ interface: b, ...group }, (p) => atB.push(p.bytes[1])));
      try {
        // Opened after the last wait: not covered, so a queued packet is read at once.
        tA.send(advert("ipv4", "192.0.2.1", VRRP_GROUP_IPV4, 1), VRRP_GROUP_IPV4, "192.0.2.1");
        await waitFor(() => factory.drainNow() > 0 || atB.length > 0, () => "VRID 1 at B");
        const onTimer = (vrid: number, stallMs: number) =>
          new Promise<{ got: number; staleMs: number }>((resolve) => {
            reactor.at(reactor.nowMs() + 5, () => {
              tA.send(
                advert("ipv4", "192.0.2.1", VRRP_GROUP_IPV4, vrid),
                VRRP_GROUP_IPV4,
                "192.0.2.1",
              );
              const end = performance.now() + stallMs;
              while (performance.now() < end) { /* a late timer */ }
              const got = factory.drainNow();
              resolve({ got, staleMs: reactor.nowMs() - reactor.lastPolledMs });
            });
          });
        // A timer late after its wake (a stall): the socket is read before it acts.
        const late = await onTimer(2, 2 * POLL_FRESH_MS + 1);
        assert.equal(late.got, 1, "a stale wake's drainNow must read the queued advert");
        // On a fresh wake the read is skipped (when it was read, the wake had gone stale).
        const fresh = await onTimer(3, 0);
        assert.ok(fresh.got === 0 || fresh.staleMs >= POLL_FRESH_MS, JSON.stringify(fresh));
        await waitFor(() => atB.includes(3), () => `VRID 3 at B, got ${atB}`);
        assert.deepEqual(atB.filter((v) => v === 3), [3], "delivered once, by the next wake");
      } finally {
        await factory.close();
        await reactor.close();
      }
    });
  },
);

netnsTest("opening a transport names what is wrong", async () => {
  await withLab(async (lab) => {
    const ns = await lab.netns();
    const factory = new SystemTransportFactory();
    try {
      assert.throws(
        () =>
          inNetns(
            ns,
            () =>
              factory.open(
                { interface: "nope0", family: "ipv4", group: VRRP_GROUP_IPV4 },
                () => {},
              ),
          ),
        (e: unknown) => e instanceof SyscallError && e.errno === ENODEV && /nope0/.test(e.message),
      );
      assert.throws(
        () =>
          inNetns(
            ns,
            () =>
              factory.open({ interface: "lo", family: "ipv4", group: VRRP_GROUP_IPV6 }, () => {}),
          ),
        RangeError,
      );
      assert.equal(factory.openCount(), 0);
    } finally {
      await factory.close();
    }
  });
});

netnsTest(
  "without the packet socket (linkLayer: false) packets arrive as before, with no MAC",
  async () => {
    await withLab(async (lab) => {
      const { nsA, nsB, a, b } = await pairLab(lab);
      const factory = new SystemTransportFactory({ linkLayer: false });
      const atB: ReceivedPacket[] = [];
      try {
        const req = (dev: string) => ({
          interface: dev,
          family: "ipv4" as const,
          group: VRRP_GROUP_IPV4,
        });
        const tA = inNetns(nsA, () => factory.open(req(a), () => {}));
        inNetns(nsB, () => factory.open(req(b), (p) => atB.push(p)));
        tA.send(advert("ipv4", "192.0.2.1", VRRP_GROUP_IPV4, 7), VRRP_GROUP_IPV4, "192.0.2.1");
        await waitFor(() => atB.length === 1, () => `1 packet at B, got ${atB.length}`);
        assert.equal(atB[0].src, "192.0.2.1");
        assert.equal(atB[0].srcMac, undefined);
      } finally {
        await factory.close();
      }
    });
  },
);

netnsTest(
  "the packet socket hears only protocol 112 for our group, and not another host's frames",
  async () => {
    await withLab(async (lab) => {
      const { nsA, nsB, a, b } = await pairLab(lab);
      const factory = new SystemTransportFactory();
      const atB: ReceivedPacket[] = [];
      try {
        const req = (dev: string) => ({
          interface: dev,
          family: "ipv4" as const,
          group: VRRP_GROUP_IPV4,
        });
        const tA = inNetns(nsA, () => factory.open(req(a), () => {}));
        inNetns(nsB, () => factory.open(req(b), (p) => atB.push(p)));
        // Another group (B never joined it) and ordinary traffic: neither reaches onPacket.
        tA.send(advert("ipv4", "192.0.2.1", "224.0.0.99", 8), "224.0.0.99", "192.0.2.1");
        await new Deno.Command("ip", {
          args: ["netns", "exec", nsA, "ping", "-c", "2", "-i", "0.2", "-W", "1", "192.0.2.2"],
          stdout: "null",
          stderr: "null",
        }).output();
        tA.send(advert("ipv4", "192.0.2.1", VRRP_GROUP_IPV4, 9), VRRP_GROUP_IPV4, "192.0.2.1");
        await waitFor(() => atB.length >= 1, () => `the advert at B, got ${atB.length}`);
        await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(atB.map((p) => p.bytes[1]), [9]);
        assert.ok(factory.stats().notForUs >= 1, "the other group was seen and skipped");
        assert.equal(factory.stats().malformed, 0);
      } finally {
        await factory.close();
      }
    });
  },
);

Deno.test("parseV4 cuts Ethernet padding off and refuses unreadable IP headers", () => {
  const payload = advert("ipv4", "192.0.2.1", VRRP_GROUP_IPV4, 5);
  const header = encodeIpv4Header({
    src: "192.0.2.1",
    dst: VRRP_GROUP_IPV4,
    ttl: 254,
    tos: 0xc0,
    protocol: VRRP_PROTO,
    id: 1,
    payloadLength: payload.length,
    df: false,
  });
  const buf = new Uint8Array(100);
  buf.set(header);
  buf.set(payload, header.length);
  const padded = header.length + payload.length + 6; // trailing bytes, as a short frame has
  const got = (n: number, flags = 0): RecvMsgResult => ({
    n,
    flags,
    cmsgs: [],
    from: { family: 2, raw: new Uint8Array(0) },
  });
  assert.deepEqual(parseV4(buf, got(padded)), {
    bytes: payload,
    src: "192.0.2.1",
    dst: VRRP_GROUP_IPV4,
    ttl: 254,
    // Every field at once, unknown ones undefined: one hidden class for every packet.
    srcMac: undefined,
    atMs: undefined,
    repeats: undefined,
  });
  assert.equal(parseV4(buf, got(padded, MSG_TRUNC)), null, "truncated");
  assert.equal(parseV4(buf, got(10)), null, "shorter than a header");
  const corrupt = buf.slice();
  corrupt[10] ^= 0xff; // header checksum
  assert.equal(parseV4(corrupt, got(padded)), null, "bad header checksum");
});

Deno.test("parseV6 needs the hop limit and packet info control messages", () => {
  const payload = advert("ipv6", "fe80::1", VRRP_GROUP_IPV6, 5);
  const buf = new Uint8Array(100);
  buf.set(payload);
  const from = {
    family: AF_INET6,
    address: parseIp("fe80::1")!.bytes,
    port: 0,
    scopeId: 2,
  } as const;
  const hop = { level: 41, type: 52, data: Uint8Array.of(255, 0, 0, 0) };
  const info = new Uint8Array(20);
  info.set(parseIp(VRRP_GROUP_IPV6)!.bytes);
  const pkt = { level: 41, type: 50, data: info };
  const got = (cmsgs: RecvMsgResult["cmsgs"]): RecvMsgResult => ({
    n: payload.length,
    flags: 0,
    from,
    cmsgs,
  });
  assert.deepEqual(parseV6(buf, got([hop, pkt])), {
    bytes: payload,
    src: "fe80::1",
    dst: VRRP_GROUP_IPV6,
    ttl: 255,
    // Every field at once, unknown ones undefined: one hidden class for every packet.
    srcMac: undefined,
    atMs: undefined,
    repeats: undefined,
  });
  assert.equal(parseV6(buf, got([pkt])), null, "no hop limit");
  assert.equal(parseV6(buf, got([hop])), null, "no destination");
});

// ---------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------

netnsTest(
  "addresses: VIPs go in tagged, hand-made ones are not hacore's, and watch reports changes",
  async () => {
    await withLab(async (lab) => {
      const ns = await lab.netns();
      const [a, b] = await lab.veth(ns, ns);
      await ipNs(ns, "addr", "add", "192.0.2.1/24", "dev", a);
      const port = RtnlAddressPort.open({ openRtnl: rtnlIn(ns) });
      const events: KernelEvent[] = [];
      const stop = port.watch((e) => events.push(e));
      const seen = (match: (e: KernelEvent) => boolean, what: string) =>
        waitFor(() => events.some(match), () => `${what}; saw ${JSON.stringify(events)}`);
      try {
        const label = `${a}:v`.length <= 15 ? `${a}:v` : hacoreLabel(a);
        await port.add({
          address: "192.0.2.100",
          prefix: 24,
          dev: a,
          label,
          scope: "global",
          family: "ipv4",
        });
        await port.add({
          address: "2001:db8::100",
          prefix: 64,
          dev: a,
          label: null,
          scope: "global",
          family: "ipv6",
        });
        // Seeing our own add also proves the watch is past its baseline.
        await seen(
          (e) => e.kind === "addr-added" && e.interface === a && e.address === "192.0.2.100",
          "addr-added for the v4 VIP",
        );

        const listed = await port.list(a);
        const byAddr = new Map(listed.map((x) => [x.address, x]));
        assert.deepEqual(byAddr.get("192.0.2.1"), {
          dev: a,
          address: "192.0.2.1",
          prefix: 24,
          family: "ipv4",
          label: a,
          hacore: false,
        }, "an address made with `ip addr add` is not hacore's");
        assert.deepEqual(byAddr.get("192.0.2.100"), {
          dev: a,
          address: "192.0.2.100",
          prefix: 24,
          family: "ipv4",
          label,
          hacore: true,
        });
        const v6 = byAddr.get("2001:db8::100");
        assert.ok(v6);
        if (kernelSupportsIfaProto(Deno.osRelease())) assert.equal(v6.hacore, true);
        assert.equal(v6.label, null);
        assert.ok(listed.every((x) => x.dev === a));
        assert.ok((await port.list()).some((x) => x.address === "192.0.2.100"));
        assert.deepEqual(await port.list("nope0"), []);

        // What the kernel holds, in its own words.
        const dump = await port.rtnl.dumpAddresses();
        const d4 = dump.find((m) => m.local === "192.0.2.100");
        const d6 = dump.find((m) => m.address === "2001:db8::100");
        assert.ok(d4 && d6);
        assert.equal(d4.broadcast, "192.0.2.255");
        assert.equal(d4.scope, 0);
        assert.ok(d6.flags & IFA_F_NODAD, "IPv6 VIP without DAD");
        assert.equal(d6.flags & IFA_F_TENTATIVE, 0, "usable at once");
        if (kernelSupportsIfaProto(Deno.osRelease())) {
          assert.equal(d4.proto, IFA_PROTO_HACORE);
          assert.equal(d6.proto, IFA_PROTO_HACORE);
        }
        const shown = await ipJson(ns, "addr", "show", "dev", a) as IpJsonAddr[];
        const vip = shown[0].addr_info.find((x) => x.local === "192.0.2.100");
        assert.equal(vip?.label, label);
        assert.equal(vip?.broadcast, "192.0.2.255");

        await assert.rejects(
          port.add({
            address: "192.0.2.100",
            prefix: 24,
            dev: a,
            label: null,
            scope: "global",
            family: "ipv4",
          }),
          (e: unknown) => e instanceof NetlinkError && e.errno === EEXIST,
        );
        await assert.rejects(
          port.add({
            address: "192.0.2.9",
            prefix: 24,
            dev: "nope0",
            label: null,
            scope: "global",
            family: "ipv4",
          }),
          (e: unknown) =>
            e instanceof NetlinkError && e.errno === ENODEV &&
            e.message.startsWith("add 192.0.2.9/24 dev nope0: ENODEV"),
        );

        // Deleted by hand: the daemon must hear of it.
        await ipNs(ns, "addr", "del", "192.0.2.100/24", "dev", a);
        await seen(
          (e) => e.kind === "addr-removed" && e.interface === a && e.address === "192.0.2.100",
          "addr-removed after `ip addr del`",
        );

        // The peer end goes down: our end loses carrier.
        await ipNs(ns, "link", "set", b, "down");
        await seen((e) => e.kind === "link-down" && e.interface === a, `link-down for ${a}`);
        await ipNs(ns, "link", "set", b, "up");
        await seen((e) => e.kind === "link-up" && e.interface === a, `link-up for ${a}`);
        const downs = events.filter((e) => e.kind === "link-down" && e.interface === a);
        assert.equal(downs.length, 1, "one transition, one event");

        await port.remove(v6);
        assert.equal((await port.list(a)).some((x) => x.address === "2001:db8::100"), false);
        await assert.rejects(
          port.remove(v6),
          (e: unknown) => e instanceof NetlinkError && e.errno === EADDRNOTAVAIL,
        );
        await seen(
          (e) => e.kind === "addr-removed" && e.address === "2001:db8::100",
          "addr-removed for the v6 VIP",
        );

        // After stop(), nothing more is delivered.
        stop();
        const count = events.length;
        await ipNs(ns, "addr", "add", "192.0.2.50/24", "dev", a);
        await ipNs(ns, "link", "set", b, "down");
        await sleep(200);
        assert.equal(
          events.length,
          count,
          `events after stop: ${JSON.stringify(events.slice(count))}`,
        );
      } finally {
        stop();
        await port.close();
      }
    });
  },
);

netnsTest("addresses: without IFA_PROTO an IPv4 VIP gets hacore's label", async () => {
  await withLab(async (lab) => {
    const ns = await lab.netns();
    const [a] = await lab.veth(ns, ns);
    const port = RtnlAddressPort.open({ openRtnl: rtnlIn(ns), ifaProto: false });
    try {
      await port.add({
        address: "192.0.2.101",
        prefix: 24,
        dev: a,
        label: null,
        scope: "global",
        family: "ipv4",
      });
      const got = (await port.list(a)).find((x) => x.address === "192.0.2.101");
      assert.equal(got?.label, hacoreLabel(a));
      assert.equal(got?.hacore, true);
      await port.remove(got);
    } finally {
      await port.close();
    }
  });
});

netnsTest("addresses: events lost to a full socket buffer are reported as resync", async () => {
  await withLab(async (lab) => {
    const ns = await lab.netns();
    const [a] = await lab.veth(ns, ns);
    const port = RtnlAddressPort.open({ openRtnl: rtnlIn(ns) });
    const events: KernelEvent[] = [];
    const stop = port.watch((e) => events.push(e));
    const dir = await Deno.makeTempDir({ prefix: "hacore-ports-" });
    try {
      await port.add({
        address: "192.0.2.1",
        prefix: 24,
        dev: a,
        label: null,
        scope: "global",
        family: "ipv4",
      });
      await waitFor(() => events.some((e) => e.kind === "addr-added"), () => "the watch is live");
      // Thousands of link changes while the JS thread cannot read: each RTM_NEWLINK
      // carries the link's whole description, so the socket buffer runs out quickly.
      const lines: string[] = [];
      for (let i = 0; i < 8000; i++) lines.push(`link set dev ${a} alias hacore-overrun-${i}`);
      await Deno.writeTextFile(`${dir}/batch`, lines.join("\n") + "\n");
      const marker = `${dir}/done`;
      const child = lab.spawn(ns, "sh", "-c", `ip -batch ${dir}/batch; touch ${marker}`);
      const deadline = Date.now() + 20_000;
      // Deliberately blocking: the event loop must not drain the socket meanwhile.
      while (Date.now() < deadline) {
        try {
          Deno.statSync(marker);
          break;
        } catch {
          // still running
        }
      }
      const status = await child.status;
      assert.ok(status.success, "ip -batch succeeded");
      await waitFor(
        () => events.some((e) => e.kind === "resync"),
        () => `a resync event (${events.length} events seen)`,
      );
      // The watch keeps working after the overrun.
      const before = events.length;
      await ipNs(ns, "addr", "del", "192.0.2.1/24", "dev", a);
      await waitFor(
        () =>
          events.slice(before).some((e) => e.kind === "addr-removed" && e.address === "192.0.2.1"),
        () => "events after the resync",
      );
    } finally {
      stop();
      await port.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
});

// ---------------------------------------------------------------------------------------
// Announcer
// ---------------------------------------------------------------------------------------

netnsTest(
  "announcer: gratuitous ARP and unsolicited NA arrive as the encoders built them",
  async () => {
    await withLab(async (lab) => {
      const { nsA, nsB, a, b } = await pairLab(lab);
      const mac = await macOf(nsA, a);
      const macBytes = parseMac(mac)!;
      const announcer = new PacketAnnouncer();
      const dir = await Deno.makeTempDir({ prefix: "hacore-ports-" });
      const noTshark = tsharkSkip();
      try {
        const file = `${dir}/announce.pcapng`;
        // Only ARP and neighbour advertisements (ICMPv6 type 136); the kernel's own
        // router solicitations and MLD reports are not ours.
        const cap = noTshark
          ? null
          : await capture(lab, nsB, b, "arp or (icmp6 and ip6[40] == 136)", 2, file);
        inNetns(nsA, () => {
          announcer.garp(a, "192.0.2.100");
          announcer.unsolicitedNa(a, "2001:db8::100");
        });
        assert.throws(
          () => inNetns(nsA, () => announcer.garp("nope0", "192.0.2.100")),
          (e: unknown) => e instanceof SyscallError && e.errno === ENODEV,
        );
        assert.throws(() => inNetns(nsA, () => announcer.garp(a, "2001:db8::1")), RangeError);
        if (!cap) {
          console.warn(`wire check SKIPPED: ${noTshark}`);
          return;
        }
        await cap.done;
        await assertNoTsharkWarnings(file);
        const summary = await tsharkRead(file);
        assert.match(summary, /ARP.*Gratuitous ARP for 192\.0\.2\.100 \(Request\)/);
        assert.match(
          summary,
          new RegExp(`Neighbor Advertisement 2001:db8::100 \\(rtr, ovr\\) is at ${mac}`),
        );

        const frames = parsePcap(await Deno.readFile(file)).records.map((r) => r.data);
        const arp = frames.find((f) => decodeEthernet(f).ok && f[12] === 0x08 && f[13] === 0x06);
        const na = frames.find((f) =>
          (decodeEthernet(f) as { etherType?: number }).etherType ===
            ETHERTYPE_IPV6
        );
        assert.ok(arp && na, "both frames captured");
        assert.deepEqual(arp, encodeGratuitousArp({ senderMac: macBytes, ip: "192.0.2.100" }));
        assert.deepEqual(
          na,
          encodeUnsolicitedNa({
            srcMac: macBytes,
            srcIp: "2001:db8::100",
            targetIp: "2001:db8::100",
            router: true,
          }),
        );
        assert.equal(na.length, 86);
        const arpDecoded = decodeArp(arp);
        assert.ok(arpDecoded.ok && arpDecoded.gratuitous);
        assert.equal((decodeEthernet(arp) as { etherType?: number }).etherType, ETHERTYPE_ARP);
        const naDecoded = decodeNaFrame(na);
        assert.ok(naDecoded.ok);
        assert.deepEqual(
          [naDecoded.router, naDecoded.solicited, naDecoded.override, naDecoded.src],
          [true, false, true, "2001:db8::100"],
        );
      } finally {
        announcer.close();
        assert.equal(announcer.closed, true);
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
);

// ---------------------------------------------------------------------------------------
// Primaries and interface facts
// ---------------------------------------------------------------------------------------

netnsTest(
  "primaries: the v4 primary is neither a secondary nor a VIP; the v6 one is the kernel's link-local",
  async () => {
    await withLab(async (lab) => {
      const ns = await lab.netns();
      const [a, b] = await lab.veth(ns, ns);
      const llA = await linkLocal(ns, a);
      const port = RtnlAddressPort.open({ openRtnl: rtnlIn(ns) });
      try {
        await ipNs(ns, "addr", "add", "192.0.2.1/24", "dev", a);
        await ipNs(ns, "addr", "add", "192.0.2.5/24", "dev", a); // secondary
        const vip = (address: string, dev: string, family: "ipv4" | "ipv6", prefix: number) =>
          port.add({ address, prefix, dev, label: null, scope: "global", family });
        await vip("192.0.2.100", a, "ipv4", 24);
        // A link-local VIP (keepalived's lab had fe80::61): newer than the kernel's own,
        // so listed before it.
        await vip("fe80::61", a, "ipv6", 64);
        // On b a VIP comes first and so becomes the subnet's primary; the real address
        // added after it is flagged secondary and must still be chosen.
        await vip("198.51.100.100", b, "ipv4", 24);
        await ipNs(ns, "addr", "add", "198.51.100.2/24", "dev", b);

        const dump = await port.rtnl.dumpAddresses();
        const real = dump.find((m) => m.local === "198.51.100.2");
        assert.ok(real && real.flags & IFA_F_SECONDARY, "the kernel flags it secondary");
        const idxA = (await port.interfaceInfo(a))?.index;
        const order = dump.filter((m) => m.index === idxA && m.address?.startsWith("fe80:"))
          .map((m) => m.address);
        assert.equal(order[0], "fe80::61", `the VIP is listed first: ${order}`);

        const primaries = await port.primaries();
        assert.deepEqual(primaries.get(a), { ipv4: "192.0.2.1", ipv6: llA });
        assert.equal(primaries.get(b)?.ipv4, "198.51.100.2");
        assert.equal(primaries.get(b)?.ipv6, await linkLocal(ns, b));
        assert.deepEqual(primaries.get("lo"), { ipv4: "127.0.0.1" });
        assert.deepEqual(await readPrimaryAddresses(port.rtnl), primaries);

        const info = await port.interfaceInfo(a);
        const shown = (await ipJson(ns, "link", "show", "dev", a) as IpJsonAddr[])[0];
        assert.deepEqual(info, {
          name: a,
          index: shown.ifindex,
          mac: shown.address,
          up: true,
          running: true,
          lowerUp: true,
          mtu: shown.mtu,
        });
        assert.equal(await interfaceInfo(port.rtnl, "nope0"), null);
        await ipNs(ns, "link", "set", b, "down");
        const down = await port.interfaceInfo(a);
        assert.deepEqual([down?.up, down?.running, down?.lowerUp], [true, false, false]);
      } finally {
        await port.close();
      }
    });
  },
);

Deno.test("primariesFrom skips tentative and failed link-locals and hacore's addresses", () => {
  const header = { len: 0, type: 0, flags: 0, seq: 0, pid: 0 };
  const link = (index: number, name: string): LinkMessage => ({
    kind: "link",
    header,
    deleted: false,
    family: 0,
    linkType: 1,
    index,
    flags: 0,
    change: 0,
    name,
  });
  const addr = (
    index: number,
    family: number,
    address: string,
    flags = 0,
    proto?: number,
  ): AddrMessage => ({
    kind: "addr",
    header,
    deleted: false,
    family,
    prefixLen: family === 2 ? 24 : 64,
    flags,
    scope: 0,
    index,
    address,
    local: family === 2 ? address : undefined,
    proto,
  });
  const p = primariesFrom([link(2, "eth0"), link(3, "eth1")], [
    addr(2, 2, "192.0.2.100", 0, IFA_PROTO_HACORE),
    addr(2, 2, "192.0.2.11", IFA_F_SECONDARY),
    addr(2, 10, "fe80::1", IFA_F_TENTATIVE),
    addr(2, 10, "fe80::61", 0, IFA_PROTO_HACORE),
    addr(2, 10, "2001:db8::11"),
    addr(2, 10, "fe80::11"),
  ]);
  assert.deepEqual(p.get("eth0"), { ipv4: "192.0.2.11", ipv6: "fe80::11" });
  assert.deepEqual(p.get("eth1"), {});
});

// ---------------------------------------------------------------------------------------
// Assembly
// ---------------------------------------------------------------------------------------

netnsTest("createSystemPorts opens everything and close() leaves nothing pending", async () => {
  await withLab(async (lab) => {
    const { nsA, nsB, a, b } = await pairLab(lab);
    const ports = await createSystemPorts({ openRtnl: rtnlIn(nsA) });
    const peer = new SystemTransportFactory();
    const got: ReceivedPacket[] = [];
    try {
      const primaries = await ports.primaries();
      const src = primaries.get(a)?.ipv4;
      assert.equal(src, "192.0.2.1");
      const events: KernelEvent[] = [];
      ports.addresses.watch((e) => events.push(e));
      const t = inNetns(
        nsA,
        () =>
          ports.transports.open({ interface: a, family: "ipv4", group: VRRP_GROUP_IPV4 }, () => {}),
      );
      inNetns(
        nsB,
        () =>
          peer.open({ interface: b, family: "ipv4", group: VRRP_GROUP_IPV4 }, (p) => got.push(p)),
      );
      const bytes = advert("ipv4", src, VRRP_GROUP_IPV4, 7);
      t.send(bytes, VRRP_GROUP_IPV4, src);
      await waitFor(() => got.length === 1, () => "the advert at the peer");
      inNetns(nsA, () => ports.announcer.garp(a, "192.0.2.100"));
      await sleep(30);
    } finally {
      const t0 = performance.now();
      await ports.close();
      await ports.close(); // idempotent
      assert.ok(performance.now() - t0 < 200, `close took ${performance.now() - t0} ms`);
      await peer.close();
    }
  });
});

netnsTest("the host namespace was never touched", async () => {
  // Every test above works in namespaces of its own; an address or link with this run's
  // name prefix in the host namespace would mean one leaked.
  const r = await run("ip", ["-j", "addr", "show"]);
  assert.equal(r.code, 0);
  const links = JSON.parse(r.stdout) as IpJsonAddr[];
  assert.deepEqual(links.filter((l) => l.ifname.startsWith(`hc-${Deno.pid}-`)), []);
  assert.equal(
    links.some((l) => l.addr_info.some((x) => x.local === "192.0.2.100")),
    false,
  );
});

// Last in the file: Deno runs a file's tests in order.
netnsTest("no namespace of this run is left behind", async () => {
  assert.deepEqual(await leftoverNamespaces(), []);
});

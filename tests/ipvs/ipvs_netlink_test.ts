/**
 * hacore's IPVS driver (`openIpvs`) against the guest's real 6.1 kernel, each test in a
 * fresh network namespace (IPVS tables are per namespace): what it adds reads back through
 * its own dump and through `ipvsadm -Ln`, edits happen in place, deletes go, every
 * scheduler and forwarding method the kernel has is accepted, and the kernel's refusals
 * come back naming the operation and the entry.
 *
 * @module
 */

import assert from "node:assert/strict";
import { inNetns, runOk, withLab } from "../netns/helpers.ts";
import { ipvsTest } from "./guest.ts";
import { openIpvs } from "../../lib/sys/ipvs.ts";
import type { IpvsOp, IpvsPort } from "../../lib/sys/ports.ts";
import {
  AF_INET,
  AF_INET6,
  IP_VS_CONN_F_DROUTE,
  IP_VS_CONN_F_LOCALNODE,
  IP_VS_CONN_F_MASQ,
  IP_VS_CONN_F_TUNNEL,
  IP_VS_CONN_F_TUNNEL_TYPE_GRE,
  IP_VS_CONN_F_TUNNEL_TYPE_GUE,
  IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
  IP_VS_SVC_F_HASHED,
  IP_VS_SVC_F_ONEPACKET,
  IP_VS_SVC_F_PERSISTENT,
  IP_VS_SVC_F_SCHED_MH_FALLBACK,
  IP_VS_SVC_F_SCHED_MH_PORT,
  IP_VS_SVC_F_SCHED_SH_FALLBACK,
  IP_VS_SVC_F_SCHED_SH_PORT,
  IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
  IPPROTO_TCP,
  IPPROTO_UDP,
  type IpvsDest,
  type IpvsService,
  type IpvsServiceEntry,
} from "../../lib/sys/netlink/ipvs_types.ts";

/**
 * Runs `fn` with an IPVS port whose socket lives in a fresh namespace `ns`. The socket is
 * opened with the thread inside `ns` (a netlink socket belongs to the namespace it was
 * made in for life); openIpvs opens it before its first await, so the synchronous part
 * of the call is all that runs inside.
 */
async function withIpvs(fn: (ipvs: IpvsPort, ns: string) => Promise<void>): Promise<void> {
  await withLab(async (lab) => {
    const ns = await lab.netns();
    const { opening } = inNetns(ns, () => ({ opening: openIpvs({ timeoutMs: 5000 }) }));
    const ipvs = await opening;
    try {
      await fn(ipvs, ns);
    } finally {
      await ipvs.close();
    }
  });
}

function ipvsadm(ns: string, ...args: string[]): Promise<string> {
  return runOk("ip", ["netns", "exec", ns, "ipvsadm", ...args]);
}

const web: IpvsService = {
  af: AF_INET,
  protocol: IPPROTO_TCP,
  address: "10.9.0.1",
  port: 80,
  fwmark: 0,
  scheduler: "wlc",
  flags: 0,
  timeoutS: 0,
  netmask: 32,
  persistenceEngine: null,
};

function dest(address: string, forward: IpvsDest["forward"], weight = 1): IpvsDest {
  return {
    af: address.includes(":") ? AF_INET6 : AF_INET,
    address,
    port: 80,
    forward,
    weight,
    uThreshold: 0,
    lThreshold: 0,
    tunnelType: IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
    tunnelPort: 0,
    tunnelFlags: 0,
  };
}

// What the model holds of a dumped destination, without the kernel's counters.
function configured(d: IpvsDest): IpvsDest {
  const { activeConns: _a, inactConns: _i, persistConns: _p, stats: _s, ...rest } = d;
  return rest;
}

function find(table: readonly IpvsServiceEntry[], s: IpvsService): IpvsServiceEntry {
  const e = table.find((x) =>
    x.service.af === s.af && x.service.fwmark === s.fwmark &&
    x.service.protocol === s.protocol && x.service.address === s.address &&
    x.service.port === s.port
  );
  assert.ok(e, `service ${s.address}:${s.port} fwmark ${s.fwmark} not in the dump`);
  return e;
}

ipvsTest(
  "a v4 TCP service with DR, NAT and tunnel servers: add, read back, edit, delete",
  async () => {
    await withIpvs(async (ipvs, ns) => {
      const dr = dest("10.9.0.2", IP_VS_CONN_F_DROUTE, 3);
      const nat = {
        ...dest("10.9.0.3", IP_VS_CONN_F_MASQ),
        port: 8080,
        uThreshold: 100,
        lThreshold: 10,
      };
      const tun = dest("10.9.0.4", IP_VS_CONN_F_TUNNEL);
      await ipvs.addService(web);
      for (const d of [dr, nat, tun]) await ipvs.addDest(web, d);

      const [entry] = await ipvs.dump();
      assert.deepEqual(entry.service, { ...web, flags: IP_VS_SVC_F_HASHED });
      assert.deepEqual(
        entry.dests.map(configured).sort((a, b) => a.address.localeCompare(b.address)),
        [dr, nat, tun],
      );
      for (const d of entry.dests) {
        assert.equal(d.activeConns, 0);
        assert.equal(d.inactConns, 0);
        assert.equal(d.persistConns, 0);
        assert.equal(d.stats?.conns, 0n);
      }
      const listed = await ipvsadm(ns, "-Ln");
      assert.match(listed, /^TCP {2}10\.9\.0\.1:80 wlc\s*$/m);
      assert.match(listed, /-> 10\.9\.0\.2:80\s+Route\s+3\s+0\s+0/);
      assert.match(listed, /-> 10\.9\.0\.3:8080\s+Masq\s+1\s+0\s+0/);
      assert.match(listed, /-> 10\.9\.0\.4:80\s+Tunnel\s+1\s+0\s+0/);

      // Scheduler, flags and persistence in place.
      const edited = {
        ...web,
        scheduler: "rr",
        flags: IP_VS_SVC_F_PERSISTENT,
        timeoutS: 60,
        netmask: 24,
      };
      await ipvs.editService(edited);
      // Weight, method and thresholds in place.
      const nat2 = {
        ...nat,
        forward: IP_VS_CONN_F_DROUTE,
        weight: 7,
        uThreshold: 50,
        lThreshold: 5,
      } as const;
      await ipvs.editDest(web, nat2);
      const [after] = await ipvs.dump();
      assert.deepEqual(after.service, {
        ...edited,
        flags: IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_HASHED,
      });
      assert.deepEqual(
        after.dests.map(configured).find((d) => d.address === "10.9.0.3"),
        nat2,
      );
      assert.match(
        await ipvsadm(ns, "-Ln"),
        /^TCP {2}10\.9\.0\.1:80 rr persistent 60 mask 255\.255\.255\.0\s*$/m,
      );

      await ipvs.delDest(web, dr);
      assert.deepEqual(
        (await ipvs.dump())[0].dests.map((d) => d.address).sort(),
        ["10.9.0.3", "10.9.0.4"],
      );
      await ipvs.delService(web);
      assert.deepEqual(await ipvs.dump(), []);
      assert.doesNotMatch(await ipvsadm(ns, "-Ln"), /TCP/);
    });
  },
);

ipvsTest("IPv6, fwmark, one-packet and SIP-persistence services read back as added", async () => {
  await withIpvs(async (ipvs, ns) => {
    const v6: IpvsService = {
      ...web,
      af: AF_INET6,
      address: "2001:db8::1",
      port: 443,
      scheduler: "mh",
      flags: IP_VS_SVC_F_SCHED_MH_FALLBACK | IP_VS_SVC_F_SCHED_MH_PORT | IP_VS_SVC_F_PERSISTENT,
      timeoutS: 300,
      netmask: 64,
    };
    const fwm: IpvsService = { ...web, protocol: 0, address: "0.0.0.0", port: 0, fwmark: 7 };
    const fwm6: IpvsService = { ...fwm, af: AF_INET6, address: "::", fwmark: 8, netmask: 128 };
    const udp: IpvsService = {
      ...web,
      protocol: IPPROTO_UDP,
      port: 53,
      flags: IP_VS_SVC_F_ONEPACKET,
    };
    const sip: IpvsService = {
      ...web,
      protocol: IPPROTO_UDP,
      port: 5060,
      flags: IP_VS_SVC_F_PERSISTENT,
      timeoutS: 360,
      persistenceEngine: "sip",
    };
    for (const s of [v6, fwm, fwm6, udp, sip]) await ipvs.addService(s);
    const d6 = { ...dest("2001:db8::2", IP_VS_CONN_F_MASQ), port: 8443 };
    await ipvs.addDest(v6, d6);
    await ipvs.addDest(fwm, dest("10.9.0.2", IP_VS_CONN_F_DROUTE));
    await ipvs.addDest(fwm6, dest("2001:db8::3", IP_VS_CONN_F_DROUTE));

    const table = await ipvs.dump();
    assert.equal(table.length, 5);
    for (const s of [v6, fwm, fwm6, udp, sip]) {
      assert.deepEqual(find(table, s).service, { ...s, flags: s.flags | IP_VS_SVC_F_HASHED });
    }
    assert.deepEqual(find(table, v6).dests.map(configured), [d6]);
    assert.deepEqual(find(table, fwm).dests.map(configured), [
      dest("10.9.0.2", IP_VS_CONN_F_DROUTE),
    ]);
    assert.deepEqual(find(table, fwm6).dests.map(configured), [
      dest("2001:db8::3", IP_VS_CONN_F_DROUTE),
    ]);
    const listed = await ipvsadm(ns, "-Ln");
    assert.match(
      listed,
      /^TCP {2}\[2001:db8::1\]:443 mh \(mh-fallback,mh-port\) persistent 300 mask 64/m,
    );
    assert.match(listed, /^FWM {2}7 wlc\s*$/m);
    assert.match(listed, /^FWM {2}8 IPv6 wlc\s*$/m);
    assert.match(listed, /^UDP {2}10\.9\.0\.1:53 wlc ops\s*$/m);
    assert.match(listed, /^UDP {2}10\.9\.0\.1:5060 wlc persistent 360 pe sip\s*$/m);
    assert.match(listed, /-> \[2001:db8::2\]:8443\s+Masq/);
  });
});

ipvsTest(
  "every scheduler the kernel has is accepted and read back, sh/mh with their flags",
  async () => {
    await withIpvs(async (ipvs) => {
      const schedulers = [
        "rr",
        "wrr",
        "lc",
        "wlc",
        "lblc",
        "lblcr",
        "dh",
        "sh",
        "sed",
        "nq",
        "fo",
        "ovf",
        "mh",
      ];
      const flagsOf = (s: string) =>
        s === "sh"
          ? IP_VS_SVC_F_SCHED_SH_FALLBACK | IP_VS_SVC_F_SCHED_SH_PORT
          : s === "mh"
          ? IP_VS_SVC_F_SCHED_MH_FALLBACK | IP_VS_SVC_F_SCHED_MH_PORT
          : 0;
      const services = schedulers.map((scheduler, i) => ({
        ...web,
        port: 1000 + i,
        scheduler,
        flags: flagsOf(scheduler),
      }));
      for (const s of services) await ipvs.addService(s);
      const table = await ipvs.dump();
      for (const s of services) {
        assert.deepEqual(find(table, s).service, { ...s, flags: s.flags | IP_VS_SVC_F_HASHED });
      }
      // And a scheduler changed in place on a live service.
      await ipvs.editService({ ...services[0], scheduler: "sh", flags: IP_VS_SVC_F_SCHED_SH_PORT });
      assert.equal(find(await ipvs.dump(), services[0]).service.scheduler, "sh");
    });
  },
);

ipvsTest(
  "every forwarding method is accepted: NAT, local, tunnel (ipip, gue, gre, v4 behind v6), direct routing",
  async () => {
    await withIpvs(async (ipvs, ns) => {
      await ipvs.addService(web);
      const gue = {
        ...dest("10.9.0.5", IP_VS_CONN_F_TUNNEL),
        tunnelType: IP_VS_CONN_F_TUNNEL_TYPE_GUE,
        tunnelPort: 6080,
        tunnelFlags: IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
      } as const;
      const gre = {
        ...dest("10.9.0.6", IP_VS_CONN_F_TUNNEL),
        tunnelType: IP_VS_CONN_F_TUNNEL_TYPE_GRE,
      } as const;
      const wanted: IpvsDest[] = [
        dest("10.9.0.2", IP_VS_CONN_F_MASQ),
        dest("10.9.0.3", IP_VS_CONN_F_LOCALNODE),
        dest("10.9.0.4", IP_VS_CONN_F_TUNNEL),
        gue,
        gre,
        dest("10.9.0.7", IP_VS_CONN_F_DROUTE),
      ];
      for (const d of wanted) await ipvs.addDest(web, d);
      const got = (await ipvs.dump())[0].dests.map(configured);
      assert.deepEqual(got.sort((a, b) => a.address.localeCompare(b.address)), wanted);
      // An IPv4 server tunnelled behind an IPv6 service keeps its own family.
      const v6 = { ...web, af: AF_INET6, address: "2001:db8::1", netmask: 128 } as const;
      await ipvs.addService(v6);
      await ipvs.addDest(v6, dest("10.9.0.8", IP_VS_CONN_F_TUNNEL));
      assert.deepEqual(find(await ipvs.dump(), v6).dests.map(configured), [
        dest("10.9.0.8", IP_VS_CONN_F_TUNNEL),
      ]);
      const listed = await ipvsadm(ns, "-Ln");
      assert.match(listed, /-> 10\.9\.0\.3:80\s+Local/);
      assert.match(listed, /-> 10\.9\.0\.5:80\s+Tunnel/);
      assert.match(listed, /-> 10\.9\.0\.7:80\s+Route/);
    });
  },
);

ipvsTest("timeouts are set and read back; info names the version and table size", async () => {
  await withIpvs(async (ipvs, ns) => {
    await ipvs.setTimeouts({ tcpS: 901, tcpFinS: 121, udpS: 301 });
    assert.deepEqual(await ipvs.timeouts(), { tcpS: 901, tcpFinS: 121, udpS: 301 });
    assert.match(await ipvsadm(ns, "-L", "--timeout"), /Timeout \(tcp tcpfin udp\): 901 121 301/);
    // 0 leaves a timeout as it is.
    await ipvs.setTimeouts({ tcpS: 0, tcpFinS: 0, udpS: 60 });
    assert.deepEqual(await ipvs.timeouts(), { tcpS: 901, tcpFinS: 121, udpS: 60 });
    const info = await ipvs.info();
    const banner = /IP Virtual Server version (\S+) \(size=(\d+)\)/.exec(await ipvsadm(ns, "-Ln"));
    assert.ok(banner);
    assert.deepEqual(info, { version: banner[1], connTableSize: Number(banner[2]) });
  });
});

ipvsTest(
  "traffic through a service shows in its 64-bit counters, and zero clears them",
  async () => {
    await withIpvs(async (ipvs, ns) => {
      // A local client reaches a local server through the service (IPVS schedules locally
      // originated connections too), so the counters move without a second namespace.
      await runOk("ip", ["-n", ns, "addr", "add", "10.9.0.1/32", "dev", "lo"]);
      const listener = inNetns(ns, () => Deno.listen({ hostname: "127.0.0.1", port: 8080 }));
      try {
        const svc = { ...web, scheduler: "rr" };
        const server = { ...dest("127.0.0.1", IP_VS_CONN_F_MASQ), port: 8080 };
        await ipvs.addService(svc);
        await ipvs.addDest(svc, server);
        const served = (async () => {
          const c = await listener.accept();
          await c.write(new TextEncoder().encode("hello\n"));
          c.close();
        })();
        const client = await runOk("ip", [
          "netns",
          "exec",
          ns,
          "bash",
          "-c",
          "exec 3<>/dev/tcp/10.9.0.1/80 && head -c 6 <&3",
        ]);
        await served;
        assert.equal(client, "hello\n");
        // The kernel folds its per-CPU counters into what it reports every 2 s.
        let stats = (await ipvs.dump())[0].dests[0].stats;
        for (let i = 0; i < 40 && (stats?.conns ?? 0n) === 0n; i++) {
          await new Promise((r) => setTimeout(r, 100));
          stats = (await ipvs.dump())[0].dests[0].stats;
        }
        assert.ok(stats, "no dest stats");
        assert.equal(stats.conns, 1n);
        assert.ok(
          stats.inpkts >= 3n && stats.outpkts >= 2n,
          `packets ${stats.inpkts}/${stats.outpkts}`,
        );
        // Three handshake/payload/close packets at 52+ bytes each, at the least.
        assert.ok(
          stats.inbytes > 150n && stats.outbytes > 100n,
          `bytes ${stats.inbytes}/${stats.outbytes}`,
        );
        // ipvsadm reads the same counters the same way.
        const exact = await ipvsadm(ns, "-Ln", "--stats", "--exact");
        assert.match(
          exact,
          new RegExp(
            `-> 127\\.0\\.0\\.1:8080\\s+1\\s+${stats.inpkts}\\s+${stats.outpkts}\\s+${stats.inbytes}\\s+${stats.outbytes}`,
          ),
        );

        await ipvs.zero(svc);
        assert.equal((await ipvs.dump())[0].dests[0].stats?.conns, 0n);
        await ipvs.zero();
        await assert.rejects(
          ipvs.zero({ ...svc, port: 81 }),
          (e: Error) => e.message.startsWith("zero counters of TCP 10.9.0.1:81: ESRCH"),
        );
      } finally {
        listener.close();
      }
    });
  },
);

ipvsTest("sync daemons: master and backup start, are listed, and stop", async () => {
  await withIpvs(async (ipvs, ns) => {
    assert.deepEqual(await ipvs.syncDaemons(), []);
    await ipvs.startSyncDaemon({ state: "master", ifname: "lo", syncId: 5 });
    await ipvs.startSyncDaemon({ state: "backup", ifname: "lo", syncId: 6 });
    const running = [...await ipvs.syncDaemons()].sort((a, b) => a.state.localeCompare(b.state));
    assert.deepEqual(running, [
      { state: "backup", ifname: "lo", syncId: 6 },
      { state: "master", ifname: "lo", syncId: 5 },
    ]);
    assert.match(await ipvsadm(ns, "-L", "--daemon"), /master sync daemon \(mcast=lo, syncid=5/);
    await ipvs.stopSyncDaemon("master");
    assert.deepEqual(await ipvs.syncDaemons(), [{ state: "backup", ifname: "lo", syncId: 6 }]);
    await ipvs.stopSyncDaemon("backup");
    assert.deepEqual(await ipvs.syncDaemons(), []);
  });
});

ipvsTest(
  "the kernel's refusals name the operation, the entry and what the errno means",
  async () => {
    await withIpvs(async (ipvs) => {
      const refused = async (p: Promise<void>, message: string) => {
        const e = await p.then(() => null, (e: Error) => e);
        assert.ok(e, `not refused; wanted: ${message}`);
        assert.equal(e.message, message);
      };
      await ipvs.addService(web);
      await refused(ipvs.addService(web), "add service TCP 10.9.0.1:80: EEXIST (File exists)");
      const d = dest("10.0.0.2", IP_VS_CONN_F_DROUTE);
      await ipvs.addDest(web, d);
      await refused(
        ipvs.addDest(web, d),
        "add destination 10.0.0.2:80 to TCP 10.9.0.1:80: EEXIST (File exists)",
      );
      const missing = { ...web, port: 99 };
      await refused(
        ipvs.delService(missing),
        "delete service TCP 10.9.0.1:99: ESRCH (No such process); no such service",
      );
      await refused(
        ipvs.addDest(missing, d),
        "add destination 10.0.0.2:80 to TCP 10.9.0.1:99: ESRCH (No such process); no such service",
      );
      await refused(
        ipvs.delDest(web, { ...d, address: "10.0.0.9" }),
        "delete destination 10.0.0.9:80 from TCP 10.9.0.1:80: ENOENT (No such file or directory)" +
          "; no such destination in the service",
      );
      await refused(
        ipvs.addService({ ...web, port: 82, scheduler: "nope" }),
        "add service TCP 10.9.0.1:82: ENOENT (No such file or directory); unknown scheduler or" +
          " persistence engine (is its ip_vs_* module available?)",
      );
      await refused(
        ipvs.stopSyncDaemon("master"),
        "stop master sync daemon: ESRCH (No such process); no such sync daemon is running",
      );
    });
  },
);

ipvsTest(
  "a batch of 3,300 operations applies in order; refused ones are reported at their index, named as their own calls name them",
  async () => {
    await withIpvs(async (ipvs, ns) => {
      const services = Array.from({ length: 300 }, (_, i) => ({
        ...web,
        address: `10.9.${1 + (i >> 8)}.${i & 255}`,
      }));
      const ops: IpvsOp[] = services.flatMap((service): IpvsOp[] => [
        { op: "addService", service },
        ...Array.from({ length: 10 }, (_, j): IpvsOp => ({
          op: "addDest",
          service,
          dest: dest(`10.10.0.${1 + j}`, IP_VS_CONN_F_DROUTE, 1 + j),
        })),
      ]);
      // Refused in the middle: a service added twice, and one whose scheduler is unknown
      // (its destinations then find no service).
      const bad = { ...web, address: "10.9.9.9", scheduler: "nope" };
      ops.splice(1650, 0, { op: "addService", service: services[3] });
      ops.splice(2000, 0, { op: "addService", service: bad }, {
        op: "addDest",
        service: bad,
        dest: dest("10.10.0.1", IP_VS_CONN_F_DROUTE),
      });
      const t0 = performance.now();
      const outcomes = await ipvs.applyBatch(ops);
      const took = performance.now() - t0;
      const refused = outcomes.flatMap((o, i) => (o.ok ? [] : [[i, o.error.message]]));
      assert.deepEqual(refused, [
        [1650, "add service TCP 10.9.1.3:80: EEXIST (File exists)"],
        [
          2000,
          "add service TCP 10.9.9.9:80: ENOENT (No such file or directory); unknown scheduler " +
          "or persistence engine (is its ip_vs_* module available?)",
        ],
        [
          2001,
          "add destination 10.10.0.1:80 to TCP 10.9.9.9:80: ESRCH (No such process); no such service",
        ],
      ]);
      const table = await ipvs.dump();
      assert.equal(table.length, 300);
      assert.equal(table.reduce((n, e) => n + e.dests.length, 0), 3000);
      assert.deepEqual(
        find(table, services[299]).dests.map((d) => d.weight).sort((a, b) => a - b),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      );
      const listed = await ipvsadm(ns, "-Ln");
      assert.equal(listed.split("\n").filter((l) => l.includes("-> 10.10.0.")).length, 3000);
      console.log(`applyBatch: ${ops.length} operations in ${took.toFixed(0)} ms`);
    });
  },
);

ipvsTest(
  "a dump in slices: the service list, then the destinations of the services asked; a service gone since has none",
  async () => {
    await withIpvs(async (ipvs) => {
      const other: IpvsService = { ...web, address: "10.9.0.9" };
      await ipvs.addService(web);
      await ipvs.addService(other);
      await ipvs.addDest(web, dest("10.9.0.2", IP_VS_CONN_F_DROUTE, 3));
      await ipvs.addDest(other, dest("10.9.0.3", IP_VS_CONN_F_DROUTE));
      const services = await ipvs.dumpServices();
      assert.deepEqual(services.map((s) => s.address).sort(), ["10.9.0.1", "10.9.0.9"]);
      const listed = services.find((s) => s.address === other.address)!;
      const [entry] = await ipvs.dumpDests([listed]);
      assert.equal(entry.service, listed);
      assert.deepEqual(entry.dests.map(configured), [dest("10.9.0.3", IP_VS_CONN_F_DROUTE)]);
      // Read whole, a dump is the same list with each one's destinations.
      const whole = await ipvs.dump();
      assert.deepEqual(whole.map((e) => e.service), services);
      assert.deepEqual(find(whole, web).dests.map(configured), [
        dest("10.9.0.2", IP_VS_CONN_F_DROUTE, 3),
      ]);
      await ipvs.delService(other);
      assert.deepEqual(await ipvs.dumpDests([listed]), [{ service: listed, dests: [] }]);
    });
  },
);

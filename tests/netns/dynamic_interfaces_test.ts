/**
 * `dynamic_interfaces` on a real kernel: hacore starts with its instance's interface
 * missing (FAULT, status names the interface), takes over once the veth is created,
 * falls back to FAULT (VIP gone, no crash, no log flood) when it is deleted, and comes
 * back when it is re-created with a new ifindex, against a keepalived peer on the same
 * VRID through a bridge, so interop is shown after the re-creation too.
 *
 * Topology: hacore in `nsH` (its `dyn0` veth, created and deleted by the test), keepalived
 * in `nsK` (its own veth, never touched), both veths' other ends on a bridge in `nsB`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { call, makeRequest } from "../../lib/control/client.ts";
import type { KernelEvent } from "../../lib/daemon/ports.ts";
import { logMessage } from "../../lib/lab/hacore.ts";
import { RtnlAddressPort } from "../../lib/sys/addresses.ts";
import { Rtnl } from "../../lib/sys/netlink/rtnl.ts";
import { inNetns, ipJson, ipNs, netnsTest, withLab } from "./helpers.ts";
import {
  hacoreFromToml,
  type PeerLab,
  peerTest,
  sleep,
  startKeepalivedFile,
  wallMs,
  withPeerLab,
} from "./peers.ts";

const IFACE = "dyn0";
const VIP = "192.0.2.100";
/** hacore's address on each creation of dyn0: a different one the second time. */
const H_IP = ["192.0.2.11", "192.0.2.13"];
const K_IP = "192.0.2.12";

/** Whether `ns` has `address` on `dev` (false when `dev` does not exist). */
async function hasAddress(ns: string, dev: string, address: string): Promise<boolean> {
  try {
    const links = await ipJson(ns, "addr", "show", "dev", dev) as {
      addr_info?: { local: string }[];
    }[];
    return links.some((l) => (l.addr_info ?? []).some((a) => a.local === address));
  } catch {
    return false;
  }
}

async function ifindex(ns: string, dev: string): Promise<number> {
  const links = await ipJson(ns, "link", "show", "dev", dev) as { ifindex: number }[];
  return links[0].ifindex;
}

/** Creates hacore's veth into the bridge, with `ip`, both ends up. */
async function createIface(nsH: string, nsB: string, br: string, port: string, ip: string) {
  await ipNs(nsB, "link", "add", port, "type", "veth", "peer", "name", IFACE, "netns", nsH);
  await ipNs(nsB, "link", "set", port, "master", br, "up");
  await ipNs(nsH, "addr", "add", `${ip}/24`, "dev", IFACE);
  await ipNs(nsH, "link", "set", IFACE, "up");
}

async function statusOf(socket: string) {
  const s = await call(socket, makeRequest({ cmd: "status" }));
  return s.instances[0];
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>) {
  const deadline = wallMs() + timeoutMs;
  while (wallMs() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** `use_vmac`: the VIP lives on macvlan `vrrp.51` over dyn0, made again after each creation. */
const VMAC = "vrrp.51";

async function scenario(lab: PeerLab, vmac: boolean) {
  /** Where hacore's VIP is: on dyn0, or on its macvlan. */
  const vipDev = vmac ? VMAC : IFACE;
  const [nsH, nsK, nsB] = [await lab.netns(), await lab.netns(), await lab.netns()];
  const dir = await lab.tempDir();
  await ipNs(nsB, "link", "add", "br0", "type", "bridge");
  await ipNs(nsB, "link", "set", "br0", "up");
  await ipNs(nsB, "link", "add", "kport", "type", "veth", "peer", "name", "kdyn0", "netns", nsK);
  await ipNs(nsB, "link", "set", "kport", "master", "br0", "up");
  await ipNs(nsK, "addr", "add", `${K_IP}/24`, "dev", "kdyn0");
  await ipNs(nsK, "link", "set", "kdyn0", "up");

  const kaConf = `${dir}/ka.conf`;
  await Deno.writeTextFile(
    kaConf,
    `global_defs {
  router_id ka
  vrrp_version 3
  vrrp_garp_master_delay 0
}
vrrp_instance VI_1 {
  state BACKUP
  interface kdyn0
  virtual_router_id 51
  priority 100
  advert_int 0.5
  virtual_ipaddress {
    ${VIP}/24
  }
}
`,
  );
  const ka = await startKeepalivedFile(lab, dir, nsK, "ka", kaConf);
  await ka.waitState("MASTER", 10_000);

  const socket = `${dir}/h.sock`;
  const h = await hacoreFromToml(
    lab,
    dir,
    nsH,
    "h",
    `[global]
vrrp_version = 3
dynamic_interfaces = true
control_socket = "${socket}"
vrrp_garp_master_delay = 0

[vrrp_instance.VI_1]
interface = "${IFACE}"
virtual_router_id = 51
priority = 150
advert_int = 0.5
virtual_ipaddress = ["${VIP}/24"]
${vmac ? "use_vmac = true\n" : ""}`,
  );

  // 1. Missing at start: FAULT, and status says why.
  await h.waitState("FAULT", 15_000);
  await until("the control socket", 10_000, async () => {
    try {
      await statusOf(socket);
      return true;
    } catch {
      return false;
    }
  });
  const waiting = await statusOf(socket);
  assert.equal(waiting.state, "fault");
  assert.ok(waiting.faults.includes(`interface ${IFACE} missing`), waiting.faults.join());

  // 2. Created: hacore (150) takes over from keepalived (100) and holds the VIP.
  let from = h.transitions.length;
  const kFrom = ka.states.length;
  await createIface(nsH, nsB, "br0", "hport", H_IP[0]);
  const firstIndex = await ifindex(nsH, IFACE);
  await h.waitState("MASTER", 10_000, { fromIndex: from });
  await ka.waitState("BACKUP", 10_000, kFrom);
  await until("the VIP on hacore", 5000, () => hasAddress(nsH, vipDev, VIP));
  assert.deepEqual((await statusOf(socket)).faults, []);

  // 3. Deleted: FAULT, VIP gone, keepalived takes over, no crash, no log flood.
  from = h.transitions.length;
  const kBack = ka.states.length;
  await ipNs(nsH, "link", "del", IFACE);
  await h.waitState("FAULT", 10_000, { fromIndex: from });
  await ka.waitState("MASTER", 10_000, kBack);
  await until("the VIP on keepalived", 5000, () => hasAddress(nsK, "kdyn0", VIP));
  const linesAfter = h.proc.lines.length;
  await sleep(3000);
  const gone = await statusOf(socket);
  assert.equal(gone.state, "fault");
  assert.ok(gone.faults.includes(`interface ${IFACE} missing`), gone.faults.join());
  const logged = h.proc.lines.slice(linesAfter).map((l) => logMessage(l.text).msg);
  assert.ok(logged.length < 5, `log flood while the interface is gone:\n${logged.join("\n")}`);

  // 4. Re-created (new ifindex, new address): back to MASTER, keepalived to BACKUP.
  from = h.transitions.length;
  const kAgain = ka.states.length;
  await createIface(nsH, nsB, "br0", "hport2", H_IP[1]);
  assert.notEqual(await ifindex(nsH, IFACE), firstIndex, "the test meant a new ifindex");
  await h.waitState("MASTER", 10_000, { fromIndex: from });
  await ka.waitState("BACKUP", 10_000, kAgain);
  await until("the VIP back on hacore", 5000, () => hasAddress(nsH, vipDev, VIP));
  assert.ok(!(await hasAddress(nsK, "kdyn0", VIP)), "keepalived let the VIP go");
  const back = await statusOf(socket);
  assert.equal(back.state, "master");
  assert.deepEqual(back.faults, []);
  // Nothing went wrong on the way (the one failed priority-0 advert of the deletion is a
  // warning). With a virtual MAC, the reconcile the parent's link-down asks for may try the
  // macvlan before the deletion's own event arrives: that one try fails, once.
  const errors = h.proc.lines.map((l) => logMessage(l.text)).filter((m) => m.level === "error")
    .map((m) => m.msg);
  const racing =
    `VI_1: cannot set up virtual MAC ${VMAC}: ${VMAC}: its parent interface ${IFACE} does not exist`;
  const unexpected = errors.filter((m) => !(vmac && m === racing));
  assert.deepEqual(unexpected, []);
  assert.ok(errors.length <= 1, errors.join("\n"));
}

peerTest(
  "dynamic_interfaces: missing at start → FAULT; created → MASTER over keepalived; deleted → FAULT, VIP gone; re-created → MASTER again",
  ["keepalived"],
  () => withPeerLab((lab) => scenario(lab, false)),
);

peerTest(
  "dynamic_interfaces with use_vmac: the macvlan is made over the interface once it exists, and again over the re-created one",
  ["keepalived"],
  () => withPeerLab((lab) => scenario(lab, true)),
);

netnsTest(
  "the address watch tells a deleted link from one gone down (removed), even a link that was down, and what a macvlan sits on",
  async () => {
    await withLab(async (lab) => {
      const ns = await lab.netns();
      const [up] = await lab.veth(ns, ns);
      // A pair never set up: its deletion is the one a link-down used not to tell.
      await ipNs(ns, "link", "add", "quiet0", "type", "veth", "peer", "name", "quiet1");
      const port = RtnlAddressPort.open({ openRtnl: (o) => inNetns(ns, () => Rtnl.open(o)) });
      const events: KernelEvent[] = [];
      const stop = port.watch((e) => events.push(e));
      const find = (kind: string, dev: string) =>
        events.find((e) => e.kind === kind && "interface" in e && e.interface === dev) as
          | { removed?: boolean; over?: string }
          | undefined;
      const removed = (dev: string) =>
        events.some((e) => e.kind === "link-down" && e.interface === dev && e.removed === true);
      try {
        // Past the watch's baseline: its own link dump has seen both links.
        await until("the watch's baseline", 5000, async () => {
          await ipNs(ns, "addr", "replace", "192.0.2.9/32", "dev", "quiet0");
          return events.some((e) => e.kind === "addr-added");
        });
        await ipNs(ns, "link", "set", up, "down");
        await until("link-down", 5000, () => Promise.resolve(find("link-down", up) !== undefined));
        const plainDown = find("link-down", up);
        assert.equal(plainDown?.removed, undefined, "a link set down is not removed");
        assert.equal(plainDown?.over, undefined, "a veth sits on nothing");
        await ipNs(ns, "link", "del", up);
        await ipNs(ns, "link", "del", "quiet0");
        await until("both removals", 5000, () => Promise.resolve(removed(up) && removed("quiet0")));

        // A macvlan says what it sits on, coming up and going away (allow_if_changes).
        const [base] = await lab.veth(ns, ns);
        await ipNs(ns, "link", "add", "mv0", "link", base, "type", "macvlan");
        await ipNs(ns, "link", "set", "mv0", "up");
        await until("mv0 up", 5000, () => Promise.resolve(find("link-up", "mv0") !== undefined));
        assert.equal(find("link-up", "mv0")?.over, base);
        await ipNs(ns, "link", "del", "mv0");
        await until("mv0 removed", 5000, () => Promise.resolve(removed("mv0")));
        assert.equal(find("link-down", "mv0")?.over, base);
      } finally {
        stop();
        await port.close();
      }
    });
  },
);

/**
 * A LAN made of namespaces: one bridge in a namespace of its own (never in the root
 * namespace, so nothing a lab does can leak onto the host's network), and one namespace
 * per node and per client, each with an `eth0` plugged into the bridge by a veth pair.
 *
 * ```
 *   node ns            bridge ns                 client ns
 *   eth0 ──veth── p1 ─┐
 *   eth0 ──veth── p2 ─┼─ br0 ─┬─ c1 ──veth── eth0
 *   ...               ┘       ┘
 * ```
 *
 * Each node's bridge port is its "cable": {@link Lan.cut} takes the port down (a pulled
 * cable or a dead machine, as the rest of the LAN sees it), {@link Lan.plug} brings it back.
 *
 * @example
 * ```ts
 * const lan = await buildLan(host, { nodes: [{ name: "node1", address: "192.0.2.11/24" }] });
 * await lan.cut(lan.nodes[0]);
 * ```
 *
 * @module
 */

import { ipIn, type NetnsHost } from "./host.ts";

/** Name of the bridge inside the bridge namespace. */
const BRIDGE = "br0";
/**
 * Name of every node's and client's interface inside its own namespace.
 *
 * @example
 * ```ts
 * await ipIn(ns, "addr", "show", "dev", LAN_IFACE);
 * ```
 */
export const LAN_IFACE = "eth0";

/**
 * One namespace on the LAN.
 *
 * @example
 * ```ts
 * const m: LanMember = { name: "node1", ns: "hl-1-2", address: "192.0.2.11/24", port: "p1" };
 * ```
 */
export interface LanMember {
  /** Human name ("node1", "client"). */
  readonly name: string;
  readonly ns: string;
  /** Address with prefix on its `eth0`. */
  readonly address: string;
  /** Its veth end in the bridge namespace: the "cable". */
  readonly port: string;
}

/**
 * A member to create: a name and an address with its prefix.
 *
 * @example
 * ```ts
 * const spec: MemberSpec = { name: "node1", address: "192.0.2.11/24" };
 * ```
 */
export interface MemberSpec {
  readonly name: string;
  readonly address: string;
}

/**
 * What {@link buildLan} makes.
 *
 * @example
 * ```ts
 * const opts: LanOptions = { nodes: [{ name: "a", address: "192.0.2.11/24" }], client: { name: "client", address: "192.0.2.50/24" } };
 * ```
 */
export interface LanOptions {
  readonly nodes: readonly MemberSpec[];
  /** A client namespace too, when given. */
  readonly client?: MemberSpec;
}

/**
 * A built LAN: its bridge namespace, nodes and optional client.
 *
 * @example
 * ```ts
 * const lan: Lan = await buildLan(host, { nodes });
 * lan.nodes.map((n) => n.ns);
 * ```
 */
export interface Lan {
  readonly bridgeNs: string;
  readonly bridge: string;
  readonly nodes: readonly LanMember[];
  readonly client: LanMember | null;
  /** Pulls a member's cable: its bridge port goes down, its eth0 loses carrier. */
  cut(member: LanMember): Promise<void>;
  /** Plugs it back in. */
  plug(member: LanMember): Promise<void>;
  /** Adds one more member (a late node), plugged in and addressed. */
  add(spec: MemberSpec): Promise<LanMember>;
}

async function attach(
  host: NetnsHost,
  bridgeNs: string,
  spec: MemberSpec,
  port: string,
): Promise<LanMember> {
  const ns = await host.netns();
  // Made in the bridge namespace with the peer created straight inside the member's:
  // the pair never exists in the root namespace, so its names cannot clash there.
  await ipIn(
    bridgeNs,
    "link",
    "add",
    port,
    "type",
    "veth",
    "peer",
    "name",
    LAN_IFACE,
    "netns",
    ns,
  );
  await ipIn(bridgeNs, "link", "set", port, "master", BRIDGE);
  await ipIn(bridgeNs, "link", "set", port, "up");
  await ipIn(ns, "addr", "add", spec.address, "dev", LAN_IFACE);
  await ipIn(ns, "link", "set", LAN_IFACE, "up");
  return { name: spec.name, ns, address: spec.address, port };
}

/**
 * Builds the bridge namespace, then one namespace per node and the client's, all wired
 * to the bridge and addressed.
 *
 * @example
 * ```ts
 * const lan = await buildLan(host, {
 *   nodes: [{ name: "a", address: "192.0.2.11/24" }, { name: "b", address: "192.0.2.12/24" }],
 *   client: { name: "client", address: "192.0.2.50/24" },
 * });
 * ```
 */
export async function buildLan(host: NetnsHost, opts: LanOptions): Promise<Lan> {
  const bridgeNs = await host.netns();
  // No multicast snooping: the bridge floods VRRP's groups (224.0.0.18, ff02::12) to every
  // port as a plain switch would, whatever MLD reports it has or has not seen.
  await ipIn(bridgeNs, "link", "add", BRIDGE, "type", "bridge", "mcast_snooping", "0");
  await ipIn(bridgeNs, "link", "set", BRIDGE, "up");
  let ports = 0;
  const nextPort = () => `p${++ports}`;
  const nodes: LanMember[] = [];
  for (const spec of opts.nodes) nodes.push(await attach(host, bridgeNs, spec, nextPort()));
  const client = opts.client ? await attach(host, bridgeNs, opts.client, nextPort()) : null;
  return {
    bridgeNs,
    bridge: BRIDGE,
    nodes,
    client,
    cut: (m) => ipIn(bridgeNs, "link", "set", m.port, "down").then(() => {}),
    plug: (m) => ipIn(bridgeNs, "link", "set", m.port, "up").then(() => {}),
    add: (spec) => attach(host, bridgeNs, spec, nextPort()),
  };
}

/**
 * The address part of `a.b.c.d/len`.
 *
 * @example
 * ```ts
 * bareAddress("192.0.2.11/24"); // "192.0.2.11"
 * ```
 */
export function bareAddress(withPrefix: string): string {
  return withPrefix.split("/")[0];
}

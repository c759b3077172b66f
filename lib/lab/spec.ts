/**
 * What `hacore lab` runs: the nodes, each with its hacore config, and the VIP the client
 * probes. Either the embedded default or a small TOML lab spec:
 *
 * ```toml
 * # my-lab.toml: a lab spec for `hacore lab my-lab.toml`
 * vip = "192.0.2.100"        # optional: the address the client probes and the lab
 *                            # watches; default: the first VIP of the first node's config
 *
 * [[node]]
 * name = "a"                 # optional: "node1", "node2", ... by position
 * config = "a.toml"          # a hacore config; relative paths are from this file
 * address = "192.0.2.11/24"  # optional: 192.0.2.11/24, .12, ... by position
 *
 * [[node]]
 * config = "b.toml"
 * ```
 *
 * Each node's config runs unchanged inside its own namespace, where the only interface
 * is `eth0` (on the 192.0.2.0/24 LAN, with the client at 192.0.2.50): so its instances
 * and VIPs must use `eth0`, and the VIP must be in 192.0.2.0/24 for the client to reach
 * it. At least two nodes, at most nine. A config may hold several instances; the lab's
 * story (priorities, preemption, timers) follows each node's first one, and its VIP is
 * the one the client probes.
 *
 * The embedded default: three nodes, priorities 150/100/50, VRRPv3 with 100 ms adverts
 * (Master_Down_Interval ~361 ms for the priority-100 backup: quick, yet slow enough to
 * watch the client fail and recover), preemption on, VIP 192.0.2.100/24.
 *
 * @example
 * ```ts
 * const spec = await loadLabSpec("my-lab.toml");
 * if (!spec.ok) console.error(spec.errors.join("\n"));
 * ```
 *
 * @module
 */

import { parse } from "smol-toml";
import { formatConfigError, loadConfig, parseConfig } from "../config/mod.ts";
import type { Config } from "../config/schema.ts";
import { masterDownIntervalMs } from "../vrrp/timing.ts";
import { hacoreConfigToml } from "./hacore.ts";
import { LAN_IFACE } from "./topology.ts";

/**
 * The client's address on the lab LAN.
 *
 * @example
 * ```ts
 * CLIENT_ADDRESS; // "192.0.2.50/24"
 * ```
 */
export const CLIENT_ADDRESS = "192.0.2.50/24";
/**
 * The VIP of the embedded default lab.
 *
 * @example
 * ```ts
 * DEFAULT_VIP; // "192.0.2.100"
 * ```
 */
export const DEFAULT_VIP = "192.0.2.100";
const MAX_NODES = 9;

/**
 * One node of a lab: where it sits and what it runs.
 *
 * @example
 * ```ts
 * const n: LabNode = { name: "node1", address: "192.0.2.11/24", configToml: "...", configFile: null, config };
 * ```
 */
export interface LabNode {
  readonly name: string;
  readonly address: string;
  /** The config's text (written into the lab's temp dir). */
  readonly configToml: string;
  /** Where it came from, or null for a generated one. */
  readonly configFile: string | null;
  /** The validated config. */
  readonly config: Config;
}

/**
 * A whole lab.
 *
 * @example
 * ```ts
 * const spec: LabSpec = defaultLabSpec();
 * spec.nodes.length; // 3
 * ```
 */
export interface LabSpec {
  /** "embedded default" or the spec file's path. */
  readonly source: string;
  readonly nodes: readonly LabNode[];
  readonly vip: string;
}

/**
 * A spec or every problem found in it.
 *
 * @example
 * ```ts
 * const r: SpecResult = await loadLabSpec("lab.toml");
 * ```
 */
export type SpecResult = { ok: true; spec: LabSpec } | { ok: false; errors: string[] };

/**
 * The default position-based address of node `i` (0-based): 192.0.2.11/24, .12, ...
 *
 * @example
 * ```ts
 * nodeAddress(0); // "192.0.2.11/24"
 * ```
 */
export function nodeAddress(i: number): string {
  return `192.0.2.${11 + i}/24`;
}

/**
 * The embedded default lab: node1/node2/node3 at priorities 150/100/50, VRRPv3, 100 ms
 * adverts, VIP 192.0.2.100/24.
 *
 * @example
 * ```ts
 * defaultLabSpec().nodes.map((n) => n.name); // ["node1", "node2", "node3"]
 * ```
 */
export function defaultLabSpec(): LabSpec {
  const nodes = [150, 100, 50].map((priority, i): LabNode => {
    const name = `node${i + 1}`;
    const configToml = hacoreConfigToml({
      routerId: name,
      priority,
      version: 3,
      advertIntS: 0.1,
      vips: [`${DEFAULT_VIP}/24`],
    });
    const r = validateNodeConfig(configToml, `${name}.toml`);
    if (!r.ok) throw new Error(`the embedded lab config is invalid: ${r.errors.join("; ")}`);
    return { name, address: nodeAddress(i), configToml, configFile: null, config: r.config };
  });
  return { source: "embedded default", nodes, vip: DEFAULT_VIP };
}

function validateNodeConfig(
  text: string,
  file: string,
): { ok: true; config: Config } | { ok: false; errors: string[] } {
  const r = parseConfig(text, file);
  if (!r.ok) return { ok: false, errors: r.errors.map(formatConfigError) };
  return labFit(r.config, file);
}

/** The lab's own limits on a node config: one interface, and a VIP the client can reach. */
function labFit(
  config: Config,
  file: string,
): { ok: true; config: Config } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  if (config.instances.length === 0) errors.push(`${file}: no vrrp_instance`);
  for (const vi of config.instances) {
    if (vi.interface !== LAN_IFACE) {
      errors.push(
        `${file}: vrrp_instance.${vi.name}.interface is "${vi.interface}"; in a lab node the only interface is "${LAN_IFACE}"`,
      );
    }
    for (const v of [...vi.vips, ...vi.excludedVips]) {
      if (v.dev !== LAN_IFACE) {
        errors.push(`${file}: VIP ${v.address} of ${vi.name} is on "${v.dev}", not "${LAN_IFACE}"`);
      }
    }
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config };
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/**
 * Reads and checks a lab spec file and every node config it names. Reports every
 * problem at once.
 *
 * @example
 * ```ts
 * const r = await loadLabSpec("examples/lab/lab.toml");
 * ```
 */
export async function loadLabSpec(file: string): Promise<SpecResult> {
  let doc: Record<string, unknown>;
  try {
    doc = parse(await Deno.readTextFile(file));
  } catch (e) {
    return { ok: false, errors: [`${file}: ${(e as Error).message.split("\n")[0]}`] };
  }
  const errors: string[] = [];
  for (const key of Object.keys(doc)) {
    if (key !== "vip" && key !== "node") {
      errors.push(`${file}: unknown key "${key}" (expected "vip" and [[node]] tables)`);
    }
  }
  const raw = doc.node;
  if (!Array.isArray(raw) || raw.length < 2 || raw.length > MAX_NODES) {
    errors.push(`${file}: expected 2 to ${MAX_NODES} [[node]] tables`);
    return { ok: false, errors };
  }
  const nodes: LabNode[] = [];
  const names = new Set<string>();
  for (const [i, entry] of raw.entries()) {
    const where = `${file}: node ${i + 1}`;
    if (typeof entry !== "object" || entry === null) {
      errors.push(`${where}: not a table`);
      continue;
    }
    const n = entry as Record<string, unknown>;
    for (const key of Object.keys(n)) {
      if (!["name", "config", "address"].includes(key)) {
        errors.push(`${where}: unknown key "${key}" (expected name, config, address)`);
      }
    }
    const name = n.name ?? `node${i + 1}`;
    if (typeof name !== "string" || !/^[A-Za-z0-9_.-]{1,32}$/.test(name)) {
      errors.push(`${where}: name must be 1-32 letters, digits, "_", "." or "-"`);
      continue;
    }
    if (names.has(name)) errors.push(`${where}: name "${name}" is used twice`);
    names.add(name);
    const address = n.address ?? nodeAddress(i);
    if (typeof address !== "string" || !/^192\.0\.2\.\d{1,3}\/24$/.test(address)) {
      errors.push(`${where}: address must be in 192.0.2.0/24, written with /24`);
      continue;
    }
    if (typeof n.config !== "string") {
      errors.push(`${where}: config (the hacore config file of this node) is required`);
      continue;
    }
    const path = n.config.startsWith("/") ? n.config : `${dirOf(file)}/${n.config}`;
    const loaded = await loadConfig(path);
    if (!loaded.ok) {
      errors.push(...loaded.errors.map(formatConfigError));
      continue;
    }
    const fit = labFit(loaded.config, path);
    if (!fit.ok) {
      errors.push(...fit.errors);
      continue;
    }
    nodes.push({
      name,
      address,
      configToml: await Deno.readTextFile(path),
      configFile: path,
      config: loaded.config,
    });
  }
  const addresses = nodes.map((n) => n.address.split("/")[0]);
  if (new Set(addresses).size !== addresses.length) {
    errors.push(`${file}: two nodes share an address`);
  }
  if (addresses.includes(CLIENT_ADDRESS.split("/")[0])) {
    errors.push(`${file}: ${CLIENT_ADDRESS} is the client's address`);
  }
  let vip = doc.vip;
  if (vip === undefined) vip = nodes[0]?.config.instances[0]?.vips[0]?.address;
  if (typeof vip !== "string" || !/^192\.0\.2\.\d{1,3}$/.test(vip)) {
    errors.push(`${file}: vip must be an address in 192.0.2.0/24 (the client's LAN)`);
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, spec: { source: file, nodes, vip: vip as string } };
}

/**
 * The longest Master_Down_Interval any node of the lab may wait (lowest priority,
 * longest interval), in ms: the lab scales its deadlines by it.
 *
 * @example
 * ```ts
 * worstMasterDownMs(defaultLabSpec()); // 380.46875 (priority 50 at 100 ms)
 * ```
 */
export function worstMasterDownMs(spec: LabSpec): number {
  let worst = 0;
  for (const n of spec.nodes) {
    for (const vi of n.config.instances) {
      worst = Math.max(
        worst,
        masterDownIntervalMs(vi.version, Math.min(vi.priority, 254), vi.advertIntervalMs),
      );
    }
  }
  return worst;
}

/**
 * The Master_Down_Interval of `node`'s first instance: how long it waits, as a backup,
 * before taking over from a silent master.
 *
 * @example
 * ```ts
 * masterDownOf(defaultLabSpec().nodes[1]); // 360.9375
 * ```
 */
export function masterDownOf(node: LabNode): number {
  const vi = node.config.instances[0];
  return masterDownIntervalMs(vi.version, Math.min(vi.priority, 254), vi.advertIntervalMs);
}

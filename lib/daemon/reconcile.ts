/**
 * Desired VIPs versus the kernel's addresses → the operations that make the kernel
 * match, and the conflicts an operator must hear about. Pure: the daemon reads the
 * kernel, calls {@link reconcile}, and applies `ops` in order.
 *
 * Rules:
 * - an instance holds its VIPs (advertised and excluded) exactly while the engine says
 *   `holdingVips`: a Backup never holds one, and a VIP deleted by hand while Master
 *   comes back at the next reconcile;
 * - hacore never removes an address it did not install (not `hacore`-tagged), whatever
 *   it is: such an address equal to a VIP is reported as a `foreign` conflict instead
 *   (it is a duplicate address on the LAN whenever another router is Master);
 * - an address hacore installed that no instance wants (a stale VIP after a restart or
 *   a config change, or one on the wrong interface) is removed;
 * - a VIP configured in two instances is a misconfiguration (`shared`): it is held
 *   while either instance wants it, so the two never fight over it, and reported.
 *
 * Addresses are identified by (interface, address). A hacore address with the wrong
 * prefix is replaced (removed, then added). Labels are not compared: on kernels
 * without `IFA_PROTO` the label is hacore's tag, so it legitimately differs from the
 * configured one.
 *
 * @example
 * ```ts
 * const plan = reconcile(
 *   [{ name: "VI_1", holding: true, vips: [vip], excluded: [] }],
 *   await addresses.list(),
 * );
 * for (const op of plan.ops) op.op === "add" ? await addresses.add(op.spec) : await addresses.remove(op.address);
 * ```
 *
 * @module
 */

import type { Vip } from "../config/schema.ts";
import { canonicalIp, type Family, parseIp } from "../net/addr.ts";
import type { AddressSpec, KernelAddress } from "./ports.ts";

/**
 * What one instance wants: its VIPs and whether it holds them now.
 *
 * @example
 * ```ts
 * const want: InstanceVips = { name: "VI_1", holding: false, vips: vi.vips, excluded: vi.excludedVips };
 * ```
 */
export interface InstanceVips {
  readonly name: string;
  readonly holding: boolean;
  /** Advertised VIPs. */
  readonly vips: readonly Vip[];
  /** `virtual_ipaddress_excluded`: held with the VIPs, not advertised. */
  readonly excluded: readonly Vip[];
}

/**
 * One change to make to the kernel.
 * - `add`: install `spec` for `instance`;
 * - `remove`: delete a hacore address: `released` (its instance no longer holds it),
 *   `leftover` (no instance has it on that interface), or `replace` (wrong prefix; an
 *   `add` follows).
 *
 * @example
 * ```ts
 * const op: AddressOp = { op: "add", instance: "VI_1", spec: { ...vip, family: "ipv4" } };
 * ```
 */
export type AddressOp =
  | { readonly op: "add"; readonly instance: string; readonly spec: AddressSpec }
  | {
    readonly op: "remove";
    readonly instance: string | null;
    readonly why: "released" | "leftover" | "replace";
    readonly address: KernelAddress;
  };

/**
 * Something wrong that hacore will not fix on its own.
 * - `foreign`: an address hacore did not install equals a VIP; it is left alone;
 * - `shared`: one VIP is configured in several instances.
 *
 * @example
 * ```ts
 * const c: Conflict = { kind: "shared", address: "192.0.2.100", instances: ["VI_1", "VI_2"] };
 * ```
 */
export type Conflict =
  | {
    readonly kind: "foreign";
    readonly address: KernelAddress;
    readonly instances: readonly string[];
  }
  | { readonly kind: "shared"; readonly address: string; readonly instances: readonly string[] };

/**
 * The result of {@link reconcile}: operations in the order to apply them (removals
 * first, so a replaced address is gone before it is added back), the conflicts, and
 * the wanted VIPs that will be present once `ops` succeed.
 *
 * @example
 * ```ts
 * const { ops, conflicts, held } = reconcile(instances, kernel);
 * ```
 */
export interface ReconcilePlan {
  readonly ops: readonly AddressOp[];
  readonly conflicts: readonly Conflict[];
  /** `vipKey(dev, address)` of every wanted VIP present after the ops. */
  readonly held: ReadonlySet<string>;
}

/**
 * The key reconcile identifies an address by: interface and canonical address.
 *
 * @example
 * ```ts
 * vipKey("eth0", "2001:DB8::1"); // "eth0|2001:db8::1"
 * ```
 */
export function vipKey(dev: string, address: string): string {
  return `${dev}|${canonicalIp(address) ?? address}`;
}

/**
 * A one-line description of a conflict, for logs and status.
 *
 * @example
 * ```ts
 * describeConflict({ kind: "shared", address: "192.0.2.100", instances: ["VI_1", "VI_2"] });
 * // "192.0.2.100 is a VIP of several instances (VI_1, VI_2): held while any of them is master"
 * ```
 */
export function describeConflict(c: Conflict): string {
  if (c.kind === "shared") {
    return `${c.address} is a VIP of several instances (${
      c.instances.join(", ")
    }): held while any of them is master`;
  }
  const a = c.address;
  return `${a.address}/${a.prefix} on ${a.dev} was not installed by hacore but is a VIP of ${
    c.instances.join(", ")
  }: left alone (a duplicate address whenever another router is master)`;
}

interface Claim {
  instance: string;
  holding: boolean;
  vip: Vip;
  family: Family;
}

/**
 * Computes the operations that bring `kernel` to the state `instances` want. See the
 * module documentation for the rules.
 *
 * @example
 * ```ts
 * const vip = { address: "192.0.2.100", prefix: 24, dev: "eth0", label: null, scope: "global" } as const;
 * reconcile([{ name: "VI_1", holding: true, vips: [vip], excluded: [] }], []).ops;
 * // [{ op: "add", instance: "VI_1", spec: { ...vip, family: "ipv4" } }]
 * ```
 */
export function reconcile(
  instances: readonly InstanceVips[],
  kernel: readonly KernelAddress[],
): ReconcilePlan {
  // Claims by canonical address, in config order (instances, then VIPs, then excluded).
  const claims = new Map<string, Claim[]>();
  for (const inst of instances) {
    for (const vip of [...inst.vips, ...inst.excluded]) {
      const parsed = parseIp(vip.address);
      if (parsed === null) continue; // validated config never has one; nothing to hold
      const addr = canonicalIp(vip.address)!;
      const list = claims.get(addr) ?? [];
      // The same instance listing an address twice is refused by the config; ignore it here.
      if (!list.some((c) => c.instance === inst.name)) {
        list.push({ instance: inst.name, holding: inst.holding, vip, family: parsed.family });
      }
      claims.set(addr, list);
    }
  }

  const conflicts: Conflict[] = [];
  for (const [addr, list] of claims) {
    if (list.length > 1) {
      conflicts.push({ kind: "shared", address: addr, instances: list.map((c) => c.instance) });
    }
  }

  // The one place each wanted address should be: the first holding claim's.
  const wanted = new Map<string, Claim>();
  for (const [addr, list] of claims) {
    const holder = list.find((c) => c.holding);
    if (holder) wanted.set(addr, holder);
  }

  const removes: AddressOp[] = [];
  const present = new Set<string>(); // vipKey of wanted addresses already right in the kernel
  for (const k of kernel) {
    const addr = canonicalIp(k.address) ?? k.address;
    const list = claims.get(addr);
    if (!k.hacore) {
      if (list) {
        conflicts.push({ kind: "foreign", address: k, instances: list.map((c) => c.instance) });
        const w = wanted.get(addr);
        // Already there, just not ours: adding it again would fail (EEXIST) anyway.
        if (w && w.vip.dev === k.dev) present.add(vipKey(k.dev, addr));
      }
      continue;
    }
    const w = wanted.get(addr);
    if (w === undefined) {
      const instance = list?.[0]?.instance ?? null;
      removes.push({ op: "remove", instance, why: list ? "released" : "leftover", address: k });
    } else if (w.vip.dev !== k.dev) {
      removes.push({ op: "remove", instance: w.instance, why: "leftover", address: k });
    } else if (w.vip.prefix !== k.prefix) {
      removes.push({ op: "remove", instance: w.instance, why: "replace", address: k });
    } else {
      present.add(vipKey(k.dev, addr));
    }
  }

  const adds: AddressOp[] = [];
  const held = new Set<string>(present);
  for (const [addr, w] of wanted) {
    const key = vipKey(w.vip.dev, addr);
    if (present.has(key)) continue;
    adds.push({ op: "add", instance: w.instance, spec: { ...w.vip, family: w.family } });
    held.add(key);
  }
  return { ops: [...removes, ...adds], conflicts, held };
}

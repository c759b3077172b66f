/**
 * The real server's side of LVS-DR (and TUN): the director forwards packets addressed
 * to the VIP unchanged, so every real server must accept the VIP as its own (on `lo`,
 * as a host address) and must never answer ARP for it, or the LAN's clients would
 * reach a real server directly instead of the director. The ARP part is two sysctls on
 * `lo` and `all`: `arp_ignore = 1` (answer only for addresses of the interface asked)
 * and `arp_announce = 2` (never source ARP from an address of another interface).
 *
 * Operators write shell scripts for this and forget to undo it. This subsystem holds
 * the VIPs (tagged as hacore's, like every address hacore installs), puts back a VIP
 * deleted by hand, sets the sysctls, shows all of it in status, and at stop removes
 * the VIPs and restores every sysctl to the value it found. It needs no VRRP instance.
 *
 * @module
 */

import type { Config } from "../config/schema.ts";
import type { RealServerRoleConfig, RealServerVip } from "../config/lvs_roles.ts";
import type { ReloadOutcome } from "../control/api.ts";
import type { RealServerRoleStatus } from "../control/status.ts";
import type { Logger } from "../log.ts";
import type { AddressPort, KernelAddress, KernelEvent } from "../sys/ports.ts";
import type { Sysctls } from "../sys/vmac.ts";

/** The ARP sysctls the role sets, per interface (`lo` or its own, and `all`). */
const ARP_KEYS = ["arp_ignore", "arp_announce"] as const;

/**
 * The sysctl paths (under /proc/sys) and values `cfg` wants.
 *
 * @example
 * ```ts
 * roleSysctls({ vips: [], interface: "lo", arpIgnore: 1, arpAnnounce: 2 });
 * // [["net/ipv4/conf/lo/arp_ignore", 1], ["net/ipv4/conf/lo/arp_announce", 2],
 * //  ["net/ipv4/conf/all/arp_ignore", 1], ["net/ipv4/conf/all/arp_announce", 2]]
 * ```
 */
export function roleSysctls(cfg: RealServerRoleConfig): [string, number][] {
  const out: [string, number][] = [];
  for (const dev of [cfg.interface, "all"]) {
    for (const key of ARP_KEYS) {
      out.push([
        `net/ipv4/conf/${dev}/${key}`,
        key === "arp_ignore" ? cfg.arpIgnore : cfg.arpAnnounce,
      ]);
    }
  }
  return out;
}

/**
 * True when `a` is one of the role's VIPs as hacore installs it: on the role's
 * interface, host prefix, tagged as hacore's. The daemon hides these from the VRRP
 * reconciler, which would otherwise take them for leftovers of an earlier run.
 *
 * @example
 * ```ts
 * ownsAddress(cfg, { dev: "lo", address: "192.0.2.100", prefix: 32, family: "ipv4", label: null, hacore: true });
 * ```
 */
export function ownsAddress(cfg: RealServerRoleConfig | null, a: KernelAddress): boolean {
  return cfg !== null && a.hacore && a.dev === cfg.interface &&
    cfg.vips.some((v) => v.address === a.address && v.prefix === a.prefix);
}

/**
 * Where the role keeps the sysctl values it found, so that a run killed before it
 * could restore them (kill -9, a crash) leaves them for the next run to restore, which
 * would otherwise take hacore's own values for the originals.
 *
 * @example
 * ```ts
 * const store: RoleStateStore = fileStateStore("/run/hacore/real_server_role.json");
 * ```
 */
export interface RoleStateStore {
  /** The saved originals (sysctl path to value), or null when none are saved. */
  load(): Promise<Record<string, number> | null>;
  save(previous: Record<string, number>): Promise<void>;
  clear(): Promise<void>;
}

/**
 * A {@link RoleStateStore} in one JSON file (beside the control socket in production).
 *
 * @example
 * ```ts
 * fileStateStore("/run/hacore/real_server_role.json");
 * ```
 */
export function fileStateStore(path: string): RoleStateStore {
  return {
    async load() {
      let text: string;
      try {
        text = await Deno.readTextFile(path);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return null;
        throw e;
      }
      const v: unknown = JSON.parse(text);
      if (typeof v !== "object" || v === null) return null;
      const out: Record<string, number> = {};
      for (const [k, n] of Object.entries(v)) if (Number.isInteger(n)) out[k] = n as number;
      return out;
    },
    async save(previous) {
      // At boot the control socket's directory may not be made yet.
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")) || "/", {
        recursive: true,
        mode: 0o700,
      });
      await Deno.writeTextFile(path, `${JSON.stringify(previous)}\n`, { mode: 0o600 });
    },
    async clear() {
      await Deno.remove(path).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    },
  };
}

/**
 * What {@link RealServerRole} needs from the daemon.
 *
 * @example
 * ```ts
 * const deps: RealServerRoleDeps = { config: config.realServerRole!, addresses, sysctls: procSysctls, log };
 * ```
 */
export interface RealServerRoleDeps {
  readonly config: RealServerRoleConfig;
  readonly addresses: Pick<AddressPort, "list" | "add" | "remove">;
  readonly sysctls: Pick<Sysctls, "read" | "write">;
  readonly log: Logger;
  readonly clock: { nowMs(): number };
  /** Keeps the originals across a crash; none by default (tests). */
  readonly state?: RoleStateStore;
  /** After a failed address or sysctl change, the retry comes this late; 1 s by default. */
  readonly retryMs?: number;
}

/**
 * The real-server role subsystem; see the module notes. Fits the daemon's `Subsystem`.
 *
 * @example
 * ```ts
 * const role = new RealServerRole(deps);
 * await role.start(guard);
 * // ... at stop:
 * await role.close(); // VIPs removed, sysctls restored
 * ```
 */
export class RealServerRole {
  readonly name = "real_server_role";
  readonly #d: RealServerRoleDeps;
  #config: RealServerRoleConfig | null;
  /** Sysctl path to the value found before hacore first set it. */
  readonly #previous = new Map<string, number | null>();
  /** Sysctl path to the value last written or read. */
  readonly #current = new Map<string, number | null>();
  /** VIPs found on the interface at the last reconcile. */
  #held = new Set<string>();
  /** VIPs the role added and must remove (a reload may drop them from the config). */
  readonly #added = new Map<string, RealServerVip & { dev: string }>();
  #dirty = true;
  #retryAtMs: number | null = null;
  #lastError: string | null = null;
  #closed = false;
  /** The state store has been read (its originals win over what the kernel holds now). */
  #loaded = false;

  /** A role for `deps.config`; nothing is touched until {@link start}. */
  constructor(deps: RealServerRoleDeps) {
    this.#d = deps;
    this.#config = deps.config;
  }

  /** Sets the sysctls and adds the VIPs. */
  async start(guard: (work: () => Promise<void>) => Promise<void>): Promise<void> {
    const c = this.#config;
    if (c !== null) {
      this.#d.log.notice(
        `real server role: ${c.vips.length} VIP${c.vips.length === 1 ? "" : "s"} on ${c.interface}`,
      );
    }
    await guard(() => this.#reconcile());
  }

  nextDeadlineMs(): number | null {
    if (this.#closed) return null;
    if (this.#dirty) return this.#d.clock.nowMs();
    return this.#retryAtMs;
  }

  /** A VIP deleted behind hacore's back is put back; a resync re-reads everything. */
  onKernel(event: KernelEvent): void {
    const c = this.#config;
    if (c === null) return;
    if (event.kind === "resync") this.#dirty = true;
    else if (
      event.kind === "addr-removed" && event.interface === c.interface &&
      c.vips.some((v) => v.address === event.address)
    ) this.#dirty = true;
  }

  async advance(): Promise<void> {
    if (this.#closed) return;
    const retry = this.#retryAtMs !== null && this.#d.clock.nowMs() >= this.#retryAtMs;
    if (this.#dirty || retry) await this.#reconcile();
  }

  /** The new VIPs and sysctl values apply in the next turn; dropped VIPs are removed. */
  reload(next: Config, _facts: unknown): ReloadOutcome {
    const before = this.#config;
    const after = next.realServerRole;
    if (JSON.stringify(before) === JSON.stringify(after)) {
      return { ok: true, errors: [], changes: [] };
    }
    this.#config = after;
    this.#dirty = true;
    const was = new Set(before?.vips.map((v) => v.address) ?? []);
    const now = new Set(after?.vips.map((v) => v.address) ?? []);
    const changes = [
      ...[...now].filter((a) => !was.has(a)).map((a) => `real_server_role: + VIP ${a}`),
      ...[...was].filter((a) => !now.has(a)).map((a) => `real_server_role: - VIP ${a}`),
    ];
    if (changes.length === 0) changes.push("real_server_role: settings changed");
    return { ok: true, errors: [], changes };
  }

  status(_nowMs: number): RealServerRoleStatus {
    const c = this.#config;
    return {
      interface: c?.interface ?? "",
      vips: (c?.vips ?? []).map((v) => ({
        address: v.address,
        prefix: v.prefix,
        held: this.#held.has(v.address),
      })),
      sysctls: (c === null ? [] : roleSysctls(c)).map(([path]) => ({
        name: path.replaceAll("/", "."),
        value: this.#current.get(path) ?? null,
        previous: this.#previous.get(path) ?? null,
      })),
      lastError: this.#lastError,
    };
  }

  stopBudgetMs(): number {
    return 0;
  }

  shutdown(): void {}

  settled(): boolean {
    return true;
  }

  /** Removes the VIPs it added and puts every sysctl back to the value it found. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const { addresses, sysctls, log } = this.#d;
    let kernel: KernelAddress[] = [];
    try {
      kernel = await addresses.list();
    } catch (e) {
      log.error(`real server role: cannot read addresses at stop: ${errorText(e)}`);
    }
    for (const v of this.#added.values()) {
      const k = kernel.find((a) => a.dev === v.dev && a.address === v.address && a.hacore);
      if (k === undefined) continue;
      try {
        await addresses.remove(k);
        log.info(`real server role: removed ${v.address}/${v.prefix} dev ${v.dev}`);
      } catch (e) {
        log.error(`real server role: cannot remove ${v.address}: ${errorText(e)}`);
      }
    }
    this.#added.clear();
    this.#held.clear();
    let restored = true;
    for (const [path, old] of this.#previous) {
      if (old === null || this.#current.get(path) === old) continue;
      try {
        await sysctls.write(path, old);
        this.#current.set(path, old);
        log.info(`real server role: restored ${path.replaceAll("/", ".")} = ${old}`);
      } catch (e) {
        restored = false;
        log.error(`real server role: cannot restore ${path}: ${errorText(e)}`);
      }
    }
    // Kept when a restore failed, so the next run tries again.
    if (restored) {
      await this.#d.state?.clear().catch((e) =>
        log.warn(`real server role: cannot remove its state file: ${errorText(e)}`)
      );
    }
  }

  /** The originals a run that did not stop cleanly saved, once. */
  async #loadState(): Promise<void> {
    if (this.#loaded) return;
    this.#loaded = true;
    try {
      const saved = await this.#d.state?.load();
      for (const [path, value] of Object.entries(saved ?? {})) this.#previous.set(path, value);
      if (saved) this.#d.log.notice("real server role: restoring the sysctls an earlier run set");
    } catch (e) {
      this.#d.log.warn(`real server role: cannot read its state file: ${errorText(e)}`);
    }
  }

  /** Saves the originals (numbers only) before changing anything. */
  async #saveState(): Promise<void> {
    const store = this.#d.state;
    if (store === undefined) return;
    const out: Record<string, number> = {};
    for (const [path, v] of this.#previous) if (v !== null) out[path] = v;
    await store.save(out);
  }

  /** Sysctls first (so the VIP never answers ARP), then the VIPs, then the dropped ones out. */
  async #reconcile(): Promise<void> {
    this.#dirty = false;
    this.#retryAtMs = null;
    const errors: string[] = [];
    const c = this.#config;
    if (c !== null) await this.#setSysctls(c, errors);
    await this.#setAddresses(c, errors);
    this.#lastError = errors.length === 0 ? null : errors.join("; ");
    if (errors.length > 0) {
      for (const e of errors) this.#d.log.error(`real server role: ${e}`);
      this.#retryAtMs = this.#d.clock.nowMs() + (this.#d.retryMs ?? 1_000);
    }
  }

  async #setSysctls(c: RealServerRoleConfig, errors: string[]): Promise<void> {
    const { sysctls, log } = this.#d;
    await this.#loadState();
    const known = this.#previous.size;
    const wanted = roleSysctls(c);
    try {
      for (const [path] of wanted) {
        if (!this.#previous.has(path)) this.#previous.set(path, await sysctls.read(path));
      }
    } catch (e) {
      errors.push(`cannot read the sysctls before setting them: ${errorText(e)}`);
      return;
    }
    if (this.#previous.size !== known) {
      // Without the file a crash cannot be undone later, but a stop still restores them.
      await this.#saveState().catch((e) =>
        log.warn(`real server role: cannot save the original sysctls: ${errorText(e)}`)
      );
    }
    for (const [path, value] of wanted) {
      try {
        const now = await sysctls.read(path);
        if (now === null) {
          errors.push(`sysctl ${path.replaceAll("/", ".")} does not exist`);
          continue;
        }
        if (now !== value) {
          await sysctls.write(path, value);
          log.info(`real server role: ${path.replaceAll("/", ".")} = ${value} (was ${now})`);
        }
        this.#current.set(path, value);
      } catch (e) {
        errors.push(`cannot set ${path}: ${errorText(e)}`);
      }
    }
  }

  async #setAddresses(c: RealServerRoleConfig | null, errors: string[]): Promise<void> {
    const { addresses, log } = this.#d;
    let kernel: KernelAddress[];
    try {
      kernel = await addresses.list();
    } catch (e) {
      errors.push(`cannot read addresses: ${errorText(e)}`);
      return;
    }
    const held = new Set<string>();
    for (const v of c?.vips ?? []) {
      const found = kernel.find((a) => a.dev === c!.interface && a.address === v.address);
      if (found !== undefined) {
        // Ours from a run that did not stop cleanly: adopted, so this stop removes it.
        if (found.hacore) this.#added.set(v.address, { ...v, dev: c!.interface });
        held.add(v.address);
        continue;
      }
      try {
        await addresses.add({
          address: v.address,
          prefix: v.prefix,
          dev: c!.interface,
          label: null,
          scope: "global",
          family: v.family,
        });
        this.#added.set(v.address, { ...v, dev: c!.interface });
        held.add(v.address);
        log.info(`real server role: added ${v.address}/${v.prefix} dev ${c!.interface}`);
      } catch (e) {
        errors.push(`cannot add ${v.address}/${v.prefix} dev ${c!.interface}: ${errorText(e)}`);
      }
    }
    // VIPs a reload dropped (or moved to another interface) go.
    for (const [addr, v] of [...this.#added]) {
      if (c !== null && c.interface === v.dev && c.vips.some((x) => x.address === addr)) continue;
      const k = kernel.find((a) => a.dev === v.dev && a.address === addr && a.hacore);
      try {
        if (k !== undefined) await addresses.remove(k);
        this.#added.delete(addr);
        log.info(`real server role: removed ${addr}/${v.prefix} dev ${v.dev}`);
      } catch (e) {
        errors.push(`cannot remove ${addr}: ${errorText(e)}`);
      }
    }
    this.#held = held;
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

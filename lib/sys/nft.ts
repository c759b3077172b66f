/**
 * `accept` / `no_accept` enforced with nftables, as keepalived's `vrrp_nftables` does:
 * RFC 5798 §6.4.3 says a master that does not own its addresses and is not in Accept
 * Mode must not accept packets addressed to them. So while such an instance holds its
 * VIPs, hacore drops IP traffic to them in one table of its own, `inet hacore`.
 *
 * What still works: ARP (not IP, so never seen by an `inet` table: the VIP answers it),
 * IPv6 neighbour solicitations and advertisements to the VIP (neighbour discovery of
 * the VIP), and VRRP itself (sent to the multicast group, not to a VIP).
 *
 * The table is written whole on every change, in one `nft -f` batch (`add table`,
 * `delete table`, then the table): atomic, idempotent, and a leftover table from a
 * crashed daemon is replaced by the first write, or removed by the empty one. Writes run
 * in the background, one at a time, always with the latest wanted set: the daemon's
 * loop never waits on `nft`.
 *
 * @module
 */

import { parseIp } from "../net/addr.ts";
import { OUTPUT_CAP_BYTES, spawnProcess } from "./spawn.ts";
import { SCRIPT_PATH } from "./command_line.ts";
import { ENOENT } from "./errno.ts";
import { NetlinkConnection, NetlinkError } from "./netlink/connection.ts";
import { attrString, encodeNlMessage, NLM_F_REQUEST } from "./netlink/message.ts";

/** The name of hacore's table, as nfnetlink asks for it (the family goes apart). */
const NFT_TABLE_NAME = "hacore";
/** The table hacore owns, as `nft` names it; nothing else in the ruleset is touched. */
export const NFT_TABLE = `inet ${NFT_TABLE_NAME}`;

// nfnetlink, as far as asking whether a table exists takes it (linux/netfilter/*.h).
/** The netlink protocol of netfilter (nfnetlink). */
export const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_GETTABLE = 1;
const NFPROTO_INET = 1;
const NFNETLINK_V0 = 0;
const NFTA_TABLE_NAME = 1;
/** The probe's socket: a second at most, it is only ever a shortcut. */
const NFNL_OPEN = { timeoutMs: 1000 };

/**
 * NFT_MSG_GETTABLE for one table (`struct nfgenmsg`, then its name), as `nft list
 * table` asks the kernel.
 *
 * @example
 * ```ts
 * buildGetTable(1, "hacore"); // inet hacore
 * ```
 */
export function buildGetTable(family: number, name: string): Uint8Array {
  const attr = attrString(NFTA_TABLE_NAME, name);
  const payload = new Uint8Array(4 + attr.length);
  payload[0] = family;
  payload[1] = NFNETLINK_V0; // res_id (big-endian 0) stays zero
  payload.set(attr, 4);
  return encodeNlMessage((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, NLM_F_REQUEST, payload);
}

/**
 * Whether the kernel holds hacore's table, asked over nfnetlink (on the connection
 * `open` gives, which this closes): no process to start
 * for the common case of a clean start and stop (starting `nft` costs milliseconds of
 * the loop, hundreds in a small guest). Null when the kernel cannot say (no nf_tables,
 * no permission): then `nft` is run as before and tells.
 *
 * @example
 * ```ts
 * if ((await nftTableExists()) === false) console.log("nothing to remove");
 * ```
 */
export async function nftTableExists(
  open: () => NetlinkConnection = () => NetlinkConnection.open(NETLINK_NETFILTER, NFNL_OPEN),
): Promise<boolean | null> {
  let conn: NetlinkConnection;
  try {
    conn = open();
  } catch {
    return null;
  }
  try {
    await conn.query(buildGetTable(NFPROTO_INET, NFT_TABLE_NAME), {
      what: `table ${NFT_TABLE}`,
      call: "NFT_MSG_GETTABLE",
    });
    return true;
  } catch (e) {
    return e instanceof NetlinkError && e.errno === ENOENT ? false : null;
  } finally {
    await conn.close();
  }
}

/**
 * The addresses whose traffic is dropped: those of every master in no-accept mode.
 * Reported back through `onError` when `nft` fails; `close` removes the table.
 *
 * @example
 * ```ts
 * const filter: AcceptFilter = new NftAcceptFilter({ onError: (m) => log.warn(m) });
 * filter.set(["192.0.2.10"]);
 * await filter.close();
 * ```
 */
export interface AcceptFilter {
  /** The addresses to drop from now on (canonical text, either family); returns at once. */
  set(addresses: readonly string[]): void;
  /** Waits for pending writes, then removes the table. */
  close(): Promise<void>;
}

/**
 * The `nft -f` batch that makes the kernel hold exactly `addresses` as dropped; with
 * none, the batch only removes the table. Pure, so the text is tested as it is.
 *
 * @example
 * ```ts
 * nftBatch([]); // "add table inet hacore\ndelete table inet hacore\n"
 * nftBatch(["192.0.2.10"]).includes("elements = { 192.0.2.10 }"); // true
 * ```
 */
export function nftBatch(addresses: readonly string[]): string {
  const reset = `add table ${NFT_TABLE}\ndelete table ${NFT_TABLE}\n`;
  const v4: string[] = [];
  const v6: string[] = [];
  for (const a of new Set(addresses)) {
    const ip = parseIp(a);
    if (ip === null) throw new RangeError(`not an IP address: ${JSON.stringify(a)}`);
    (ip.family === "ipv4" ? v4 : v6).push(a);
  }
  if (v4.length === 0 && v6.length === 0) return reset;
  const set = (name: string, type: string, members: string[]) =>
    `  set ${name} {\n    type ${type}\n` +
    (members.length === 0 ? "" : `    elements = { ${members.sort().join(", ")} }\n`) +
    "  }\n";
  return reset +
    `table ${NFT_TABLE} {\n` +
    set("vips4", "ipv4_addr", v4) +
    set("vips6", "ipv6_addr", v6) +
    "  chain input {\n" +
    "    type filter hook input priority filter; policy accept;\n" +
    "    ip daddr @vips4 counter drop\n" +
    // Neighbour discovery of the VIP itself must keep working, as ARP does for IPv4.
    "    ip6 daddr @vips6 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n" +
    "    ip6 daddr @vips6 counter drop\n" +
    "  }\n" +
    "}\n";
}

/**
 * Runs one batch; resolves with null or the error text. The default runner of
 * {@link NftAcceptFilter}: `nft -f` on a temporary file, through the shared spawner.
 */
export type NftRunner = (batch: string) => Promise<string | null>;

/**
 * `nft -f FILE` with the batch in a fresh temporary file; null on success, else `nft`'s
 * last words.
 *
 * @example
 * ```ts
 * await runNft(nftBatch([])); // null: the table is gone (or was never there)
 * ```
 */
export async function runNft(batch: string): Promise<string | null> {
  const file = await Deno.makeTempFile({ prefix: "hacore-nft-" });
  try {
    await Deno.writeTextFile(file, batch);
    const nft = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"].find((p) => isFile(p));
    if (nft === undefined) {
      // Without nft there can be no table of ours to remove; only drops need it.
      return batch.includes("{") ? "nft not found (install nftables to enforce no_accept)" : null;
    }
    const p = spawnProcess({ path: nft, args: ["-f", file], env: { PATH: SCRIPT_PATH } });
    const exit = await p.exit;
    const { stderr } = await p.output;
    if (exit.exitCode === 0) return null;
    const last = stderr.trim().split("\n").slice(0, 2).join(" / ").slice(0, OUTPUT_CAP_BYTES);
    return `nft exited ${exit.exitCode ?? exit.signal}: ${last}`;
  } finally {
    await Deno.remove(file).catch(() => {});
  }
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Options of {@link NftAcceptFilter}.
 *
 * @example
 * ```ts
 * const opts: NftAcceptFilterOptions = { onError: (m) => log.warn(m) };
 * ```
 */
export interface NftAcceptFilterOptions {
  /** Told of a failed write (the next change tries again); must not throw. */
  readonly onError: (message: string) => void;
  /**
   * Where a failed removal goes while this run never wrote a table: with nothing of
   * ours to remove, a kernel or an `nft` without `inet` tables (a User-Mode Linux guest,
   * a minimal host) is worth a debug line, not a warning at every start and stop.
   */
  readonly onQuietError?: (message: string) => void;
  /** Told of each applied set, e.g. to log it. */
  readonly onApplied?: (addresses: readonly string[]) => void;
  /** {@link runNft} by default. */
  readonly run?: NftRunner;
  /**
   * Holds a first write that only removes a leftover table (an empty set, before
   * anything was applied) until {@link NftAcceptFilter.releaseLeftover}, then waits
   * `leftoverDelayMs` more. Starting `nft` costs milliseconds of CPU that a daemon
   * joining its LAN (or applying a big IPVS table) should not spend on a table that,
   * if it exists at all, holds no address of this run. A non-empty set writes at once.
   * False (default): no hold.
   */
  readonly holdLeftover?: boolean;
  /** See {@link NftAcceptFilterOptions.holdLeftover}; 0 by default. */
  readonly leftoverDelayMs?: number;
  /**
   * Whether the table exists now (true/false), or null when unknown: a removal of a
   * table known to be absent starts no `nft`. Unknown by default ({@link nftTableExists}
   * in `hacore run`).
   */
  readonly tableExists?: () => Promise<boolean | null>;
  /**
   * Runs `fn` in `delayMs`, returning a cancel: the daemon's reactor in `hacore run`
   * (a first `setTimeout` loads Deno's Node timers, ~8 ms of the loop); an unreferenced
   * `setTimeout` by default.
   */
  readonly schedule?: (delayMs: number, fn: () => void) => () => void;
}

function unrefTimeout(delayMs: number, fn: () => void): () => void {
  const timer = setTimeout(fn, delayMs);
  // A pending removal must not keep a finished process alive (close removes anyway).
  Deno.unrefTimer(timer);
  return () => clearTimeout(timer);
}

/**
 * The {@link AcceptFilter} over `nft`: the first write (even of nothing) replaces any
 * leftover table; a set equal to the last applied one writes nothing.
 *
 * @example
 * ```ts
 * const filter = new NftAcceptFilter({ onError: (m) => log.warn(m) });
 * filter.set([]); // removes a leftover table from an earlier run
 * ```
 */
export class NftAcceptFilter implements AcceptFilter {
  readonly #onError: (message: string) => void;
  readonly #onApplied: (addresses: readonly string[]) => void;
  readonly #run: NftRunner;
  /** Sorted, joined: what the kernel holds; null before the first write or after a failure. */
  #applied: string | null = null;
  #wanted: string[] = [];
  #worker: Promise<void> | null = null;
  #closed = false;

  /** True once this run wrote a table with addresses in it. */
  #wroteTable = false;
  readonly #onQuietError: (message: string) => void;
  readonly #leftoverDelayMs: number;
  readonly #schedule: (delayMs: number, fn: () => void) => () => void;
  readonly #tableExists: () => Promise<boolean | null>;
  /** Cancels the pending leftover removal; null when none is pending. */
  #leftoverTimer: (() => void) | null = null;
  /** A first empty write waits for {@link NftAcceptFilter.releaseLeftover}. */
  #leftoverHeld: boolean;

  constructor(opts: NftAcceptFilterOptions) {
    this.#onError = opts.onError;
    this.#onQuietError = opts.onQuietError ?? opts.onError;
    this.#onApplied = opts.onApplied ?? (() => {});
    this.#run = opts.run ?? runNft;
    this.#leftoverDelayMs = opts.leftoverDelayMs ?? 0;
    this.#schedule = opts.schedule ?? unrefTimeout;
    this.#leftoverHeld = opts.holdLeftover === true;
    this.#tableExists = opts.tableExists ?? (() => Promise.resolve(null));
  }

  /**
   * Lets a held leftover removal go, `leftoverDelayMs` from now (see
   * {@link NftAcceptFilterOptions.holdLeftover}); nothing when none is held.
   *
   * @example
   * ```ts
   * await daemon.start();
   * filter.releaseLeftover();
   * ```
   */
  releaseLeftover(): void {
    if (!this.#leftoverHeld) return;
    this.#leftoverHeld = false;
    if (this.#closed) return;
    this.#leftoverTimer = this.#schedule(this.#leftoverDelayMs, () => {
      this.#leftoverTimer = null;
      if (!this.#closed) this.#kick();
    });
  }

  /** See {@link AcceptFilter.set}. */
  set(addresses: readonly string[]): void {
    if (this.#closed) return;
    this.#wanted = [...new Set(addresses)].sort();
    this.#kick();
  }

  /** See {@link AcceptFilter.close}: the table is removed whatever was applied. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#cancelLeftover();
    await this.#worker;
    // Already removed by the last write, or never there: no process to start at stop.
    if (this.#applied === "" || (this.#applied === null && await this.#absent())) return;
    const error = await this.#run(nftBatch([])).catch((e) => String(e));
    if (error !== null) this.#failed(`cannot remove table ${NFT_TABLE}: ${error}`, true);
    this.#applied = "";
  }

  /** Resolves once the latest wanted set is written (or failed). */
  async idle(): Promise<void> {
    if (this.#leftoverHeld || this.#leftoverTimer !== null) {
      this.#leftoverHeld = false;
      this.#cancelLeftover();
      this.#kick();
    }
    while (this.#worker !== null) await this.#worker;
  }

  #failed(message: string, removal: boolean): void {
    if (removal && !this.#wroteTable) this.#onQuietError(message);
    else this.#onError(message);
  }

  #kick(): void {
    if (this.#worker !== null) return;
    const onlyLeftover = this.#wanted.length === 0 && this.#applied === null;
    if (onlyLeftover && (this.#leftoverHeld || this.#leftoverTimer !== null)) return;
    // A set to enforce: the table is replaced now, which removes any leftover too.
    this.#leftoverHeld = false;
    this.#cancelLeftover();
    this.#worker = this.#drain().finally(() => (this.#worker = null));
  }

  /** True when the table is known to be absent (see {@link NftAcceptFilterOptions.tableExists}). */
  async #absent(): Promise<boolean> {
    return (await this.#tableExists().catch(() => null)) === false;
  }

  #cancelLeftover(): void {
    if (this.#leftoverTimer === null) return;
    this.#leftoverTimer();
    this.#leftoverTimer = null;
  }

  async #drain(): Promise<void> {
    for (;;) {
      const wanted = this.#wanted;
      const key = wanted.join(" ");
      if (key === this.#applied) return;
      if (key === "" && this.#applied === null && await this.#absent()) {
        // Nothing to remove: nothing to run, nothing to tell.
        this.#applied = "";
        continue;
      }
      const error = await this.#run(nftBatch(wanted)).catch((e) => String(e));
      if (error !== null) {
        this.#applied = null;
        this.#failed(`cannot write table ${NFT_TABLE} (no_accept): ${error}`, wanted.length === 0);
        return;
      }
      if (wanted.length > 0) this.#wroteTable = true;
      this.#applied = key;
      this.#onApplied(wanted);
    }
  }
}

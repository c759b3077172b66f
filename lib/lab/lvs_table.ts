/**
 * The IPVS table as a lab sees it from outside the director: read from the kernel of the
 * director's namespace, never from the daemon's opinion, as `vip.ts` does for addresses.
 *
 * Two readers of one shape:
 * - {@link readIpvsTable}: `ipvsadm -Ln` once (what a person would type; also printed
 *   as is in the story);
 * - {@link startTableWatch}: this file run as a script inside the namespace, reading
 *   `/proc/net/ip_vs` every few milliseconds and printing each change as one JSON line
 *   with its time. One process start instead of one per poll (a process costs tens of
 *   milliseconds in the UML guest), so "the server left the table N ms after the kill"
 *   is measured to a few milliseconds.
 *
 * ```sh
 * deno run -A lib/lab/lvs_table.ts [EVERY_MS]
 * ```
 *
 * @example
 * ```ts
 * const watch = await startTableWatch(host, dir1Ns);
 * const seen = await watch.waitFor((t) => !hasDest(t, "192.0.2.22"), 2000, "web2 out");
 * ```
 *
 * @module
 */

import { runChecked } from "./host.ts";
import type { NetnsHost } from "./host.ts";
import { LineProc, wallMs } from "./proc.ts";

/**
 * One real server of a service, as the kernel lists it.
 *
 * @example
 * ```ts
 * const d: TableDest = { address: "192.0.2.21", port: 8080, forward: "Route", weight: 1, active: 0, inactive: 0 };
 * ```
 */
export interface TableDest {
  readonly address: string;
  readonly port: number;
  /** `Route` (DR), `Masq` (NAT), `Tunnel`, `Local`. */
  readonly forward: string;
  readonly weight: number;
  readonly active: number;
  readonly inactive: number;
}

/**
 * One virtual service with its real servers.
 *
 * @example
 * ```ts
 * const s: TableService = { protocol: "TCP", address: "192.0.2.100", port: 8080, scheduler: "rr", dests: [] };
 * ```
 */
export interface TableService {
  /** `TCP`, `UDP`, `SCTP`, or `FWM` (then `address` is the mark in decimal, port 0). */
  readonly protocol: string;
  readonly address: string;
  readonly port: number;
  readonly scheduler: string;
  readonly dests: readonly TableDest[];
}

/** The whole table of one namespace. */
export type IpvsTableView = readonly TableService[];

/** `C0000264` → `192.0.2.100`; a 32-digit hex IPv6 address is written in groups. */
function hexAddress(hex: string): string {
  if (hex.length === 8) {
    return [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(".");
  }
  return (hex.match(/.{4}/g) ?? []).map((g) => parseInt(g, 16).toString(16)).join(":");
}

/** `192.0.2.100:8080`, `[2001:db8::1]:80` or `C0000264:1F90` → address and port. */
function endpoint(text: string, hex: boolean): { address: string; port: number } {
  const v6 = /^\[(.*)\]:(\d+)$/.exec(text);
  if (v6) return { address: v6[1], port: Number(v6[2]) };
  const i = text.lastIndexOf(":");
  const addr = text.slice(0, i);
  const port = text.slice(i + 1);
  return hex
    ? { address: hexAddress(addr), port: parseInt(port, 16) }
    : { address: addr, port: Number(port) };
}

/**
 * Parses `ipvsadm -Ln` output, or `/proc/net/ip_vs` (the same layout with hex addresses
 * and ports), into services in listed order.
 *
 * @example
 * ```ts
 * parseIpvsList("TCP  192.0.2.100:8080 rr\n  -> 192.0.2.21:8080 Route 1 0 0\n")[0].dests.length; // 1
 * ```
 */
export function parseIpvsList(text: string): IpvsTableView {
  const out: { service: Omit<TableService, "dests">; dests: TableDest[] }[] = [];
  const hex = /^IP Virtual Server/.test(text) && !/\d+\.\d+\.\d+\.\d+:\d+/.test(text) &&
    /[0-9A-F]{8}:[0-9A-F]{4}/.test(text);
  for (const line of text.split("\n")) {
    const dest = /^\s+->\s+(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    if (dest && out.length > 0 && dest[1] !== "RemoteAddress:Port") {
      const ep = endpoint(dest[1], hex);
      out.at(-1)!.dests.push({
        ...ep,
        forward: dest[2],
        weight: Number(dest[3]),
        active: Number(dest[4]),
        inactive: Number(dest[5]),
      });
      continue;
    }
    const svc = /^(TCP|UDP|SCTP|FWM)\s+(\S+)\s+(\S+)/.exec(line);
    if (!svc) continue;
    const ep = svc[1] === "FWM"
      ? { address: String(hex ? parseInt(svc[2], 16) : Number(svc[2])), port: 0 }
      : endpoint(svc[2], hex);
    out.push({ service: { protocol: svc[1], ...ep, scheduler: svc[3] }, dests: [] });
  }
  return out.map((s) => ({ ...s.service, dests: s.dests }));
}

/**
 * The dest `address` (any port) of service `vip:port`, or null when it is not listed.
 *
 * @example
 * ```ts
 * findDest(table, "192.0.2.100", 8080, "192.0.2.22")?.weight; // 0 when inhibited
 * ```
 */
export function findDest(
  table: IpvsTableView,
  vip: string,
  port: number,
  address: string,
): TableDest | null {
  const svc = table.find((s) => s.address === vip && s.port === port);
  return svc?.dests.find((d) => d.address === address) ?? null;
}

/**
 * The dest addresses of service `vip:port` in listed order; null when the service is absent.
 *
 * @example
 * ```ts
 * destAddresses(table, "192.0.2.100", 8080); // ["192.0.2.21", "192.0.2.22", "192.0.2.23"]
 * ```
 */
export function destAddresses(table: IpvsTableView, vip: string, port: number): string[] | null {
  const svc = table.find((s) => s.address === vip && s.port === port);
  return svc ? svc.dests.map((d) => d.address) : null;
}

/**
 * Runs `ipvsadm ARGS` inside `ns` and returns its stdout (throws on failure).
 *
 * @example
 * ```ts
 * console.log(await ipvsadmIn(ns, "-Ln"));
 * ```
 */
export function ipvsadmIn(ns: string, ...args: string[]): Promise<string> {
  return runChecked("ip", ["netns", "exec", ns, "ipvsadm", ...args]);
}

/**
 * The IPVS table of `ns`, by `ipvsadm -Ln`.
 *
 * @example
 * ```ts
 * const table = await readIpvsTable(ns);
 * ```
 */
export async function readIpvsTable(ns: string): Promise<IpvsTableView> {
  return parseIpvsList(await ipvsadmIn(ns, "-Ln"));
}

/**
 * One IPVS connection entry, as `ipvsadm -Lnc` lists it.
 *
 * @example
 * ```ts
 * const c: IpvsConnection = { protocol: "TCP", state: "ESTABLISHED", client: "192.0.2.50:40000", virtual: "192.0.2.100:9000", dest: "192.0.2.21:9000" };
 * ```
 */
export interface IpvsConnection {
  readonly protocol: string;
  readonly state: string;
  readonly client: string;
  readonly virtual: string;
  readonly dest: string;
}

/**
 * Parses `ipvsadm -Lnc` output.
 *
 * @example
 * ```ts
 * parseIpvsConnections("TCP 14:59  ESTABLISHED 192.0.2.50:4000 192.0.2.100:9000 192.0.2.21:9000\n")[0].state; // "ESTABLISHED"
 * ```
 */
export function parseIpvsConnections(text: string): IpvsConnection[] {
  const out: IpvsConnection[] = [];
  for (const line of text.split("\n")) {
    const m = /^(TCP|UDP|SCTP)\s+\S+\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)/.exec(line);
    if (m) out.push({ protocol: m[1], state: m[2], client: m[3], virtual: m[4], dest: m[5] });
  }
  return out;
}

/**
 * A table as a watcher saw it, and when.
 *
 * @example
 * ```ts
 * const s: TableSighting = { table: [], atMs: wallMs() };
 * ```
 */
export interface TableSighting {
  readonly table: IpvsTableView;
  /** {@link wallMs} of the read that first showed it. */
  readonly atMs: number;
}

/**
 * A running table watcher: every change of one namespace's table, as it happens.
 *
 * @example
 * ```ts
 * const w: TableWatch = await startTableWatch(host, ns);
 * w.current().length;
 * ```
 */
export interface TableWatch {
  readonly proc: LineProc;
  /** Every distinct table seen, in order (the first is the table at the start). */
  readonly history: TableSighting[];
  /** The latest table seen. */
  current(): IpvsTableView;
  /**
   * The first table (seen at or after `sinceMs`, or still to come) for which `pred`
   * holds; throws after `timeoutMs`.
   */
  waitFor(
    pred: (t: IpvsTableView) => boolean,
    timeoutMs: number,
    what: string,
    sinceMs?: number,
  ): Promise<TableSighting>;
  stop(): Promise<void>;
}

const SCRIPT = new URL(import.meta.url).pathname;

/**
 * Starts a watcher of `ns`'s IPVS table (this file as a script) polling every `everyMs`,
 * and resolves once it has printed the first table.
 *
 * @example
 * ```ts
 * const w = await startTableWatch(host, ns, 5);
 * ```
 */
export async function startTableWatch(
  host: NetnsHost,
  ns: string,
  everyMs = 5,
  label = ns,
): Promise<TableWatch> {
  const proc = new LineProc(
    `ipvs watch ${label}`,
    host.spawn(
      ns,
      Deno.execPath(),
      "run",
      // Deno grants /proc only with all permissions.
      "--allow-all",
      SCRIPT,
      String(everyMs),
    ),
  );
  const history: TableSighting[] = [];
  proc.onLine((l) => {
    if (l.stream !== "stdout") return;
    try {
      const v = JSON.parse(l.text) as { t: number; table: IpvsTableView };
      if (typeof v.t === "number" && Array.isArray(v.table)) {
        history.push({ table: v.table, atMs: v.t });
      }
    } catch {
      // not one of ours
    }
  });
  await proc.waitFor(() => history[0], 20_000, "the first table");
  return {
    proc,
    history,
    current: () => history.at(-1)!.table,
    waitFor(pred, timeoutMs, what, sinceMs = -Infinity) {
      // The sighting in force at `sinceMs` counts too: the table may already be so.
      const from = Math.max(0, history.findLastIndex((s) => s.atMs <= sinceMs));
      return proc.waitFor(
        () => history.slice(from).find((s) => pred(s.table)),
        timeoutMs,
        what,
      );
    },
    async stop() {
      try {
        proc.child.kill("SIGTERM");
      } catch {
        // exited already
      }
      await proc.exited(2000).catch(() => {});
    },
  };
}

async function watch(everyMs: number): Promise<void> {
  let last = "";
  const enc = new TextEncoder();
  for (;;) {
    const t = wallMs();
    const table = parseIpvsList(await Deno.readTextFile("/proc/net/ip_vs"));
    // Connection counters move with every client request; only the table's shape is news.
    const key = JSON.stringify(table.map((s) => ({
      ...s,
      dests: s.dests.map((d) => [d.address, d.port, d.forward, d.weight]),
    })));
    if (key !== last) {
      last = key;
      const bytes = enc.encode(`${JSON.stringify({ t, table })}\n`);
      for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

if (import.meta.main) {
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  await watch(Number(Deno.args[0] ?? "5") || 5);
}

/**
 * Waits until `watch`'s table satisfies `pred` and has not changed for `quietMs`, and
 * returns that table's sighting; throws after `timeoutMs`. A director that just started
 * may still be settling (first checks, quorum); acting on its first full table would
 * measure the settling, not the action.
 *
 * @example
 * ```ts
 * await waitSteady(watch, (t) => t.length === 1, 1000, 20_000, "one service, settled");
 * ```
 */
export async function waitSteady(
  watch: TableWatch,
  pred: (t: IpvsTableView) => boolean,
  quietMs: number,
  timeoutMs: number,
  what: string,
): Promise<TableSighting> {
  const deadline = wallMs() + timeoutMs;
  for (;;) {
    const left = deadline - wallMs();
    if (left <= 0) throw new Error(`timed out waiting for ${what} within ${timeoutMs} ms`);
    const seen = await watch.waitFor(pred, left, what, wallMs());
    const quietUntil = Math.max(seen.atMs, wallMs()) + quietMs;
    await new Promise((r) => setTimeout(r, Math.max(0, quietUntil - wallMs())));
    if (watch.history.at(-1) === seen || watch.history.at(-1)!.atMs <= seen.atMs) return seen;
  }
}

/**
 * How `hacore status` shows a daemon to a person: a table with one row per instance and
 * indented lines under it for what does not fit a column (VIPs, the last transition, why
 * the priority differs, faults, error counters), and for `hacore status NAME` one
 * instance in full: history, every counter with its MIB name, the override, hook runs.
 *
 * Pure: text in, text out. The caller decides width, Unicode and colour (see
 * {@link outputStyle}); nothing here looks at the terminal or the clock, so the output
 * is fixed for a fixed snapshot and the tests compare it verbatim.
 *
 * `hacore status --json` does not come through here: it prints the daemon's
 * `DaemonStatus` exactly as received, so scripts see stable field names (documented in
 * the README, "Status JSON").
 *
 * @example
 * ```ts
 * const status = await call(path, { v: 1, cmd: "status" });
 * console.log(renderStatus(status, { width: 100, unicode: true, color: false }));
 * ```
 *
 * @module
 */

import type {
  DaemonStatus,
  DrainStatus,
  ForeignSenderStatus,
  InstanceStatus,
  LvsStatus,
  RealServerStatus,
  VipClaimStatus,
  VipStatus,
  VirtualServerStatus,
} from "../control/status.ts";
import { contributionsText, type TrackerStatus } from "../track/priority.ts";
import { DROP_COUNTER, RFC6527_NAME } from "../vrrp/packet.ts";
import type {
  HookRun,
  InstanceDetail,
  PriorityOverride,
  TransitionRecord,
} from "../control/api.ts";

/**
 * An instance as the renderer reads it: the daemon's fields, with the operator fields
 * optional so that a snapshot from a daemon without them still renders.
 *
 * @example
 * ```ts
 * const i: InstanceView = status.instances[0];
 * i.override?.kind; // "demote"
 * ```
 */
export type InstanceView =
  & Omit<InstanceStatus, "override" | "maintenance" | "foreignSenders" | "trackers">
  & {
    readonly override?: PriorityOverride | null;
    readonly maintenance?: boolean;
    /** Absent from a daemon that predates trackers. */
    readonly trackers?: readonly TrackerStatus[];
    readonly foreignSenders?: readonly ForeignSenderStatus[];
  };

/**
 * A snapshot as the renderer reads it (see {@link InstanceView}).
 *
 * @example
 * ```ts
 * const s: StatusView = await call(path, { v: 1, cmd: "status" });
 * ```
 */
export type StatusView =
  & Omit<DaemonStatus, "instances" | "maintenance" | "configFile" | "startedAtWall" | "version">
  & {
    readonly instances: readonly InstanceView[];
    readonly maintenance?: boolean;
    readonly configFile?: string;
    readonly startedAtWall?: string;
    readonly version?: string;
  };

/**
 * How to draw: width in columns, Unicode marks or ASCII, ANSI colour or none.
 *
 * @example
 * ```ts
 * const o: RenderOptions = { width: 100, unicode: true, color: false };
 * ```
 */
export interface RenderOptions {
  /** Target width; lines wrap to it where they can. 100 by default. */
  readonly width?: number;
  /** `✓`, `→`, `·` when true; `+`, `->`, `,` when false. True by default. */
  readonly unicode?: boolean;
  /** ANSI colours for states and errors. False by default. */
  readonly color?: boolean;
  /** "Now" on the wall clock, for the uptime in the header; omitted when absent. */
  readonly nowWall?: Date;
}

/**
 * Decides Unicode and colour from the environment the way CLI tools agree on: colour
 * only on a terminal and only without `NO_COLOR` (or with `TERM=dumb`); Unicode when
 * the locale (`LC_ALL`, else `LC_CTYPE`, else `LANG`) says UTF-8.
 *
 * @example
 * ```ts
 * outputStyle({ LANG: "en_US.UTF-8" }, true); // { unicode: true, color: true }
 * outputStyle({ LANG: "C", NO_COLOR: "1" }, true); // { unicode: false, color: false }
 * ```
 */
export function outputStyle(
  env: Readonly<Record<string, string | undefined>>,
  isTty: boolean,
): { unicode: boolean; color: boolean } {
  const locale = [env.LC_ALL, env.LC_CTYPE, env.LANG].find((v) => v !== undefined && v !== "") ??
    "";
  const unicode = /utf-?8/i.test(locale);
  const color = isTty && (env.NO_COLOR ?? "") === "" && env.TERM !== "dumb";
  return { unicode, color };
}

// -------------------------------------------------------------------------------------
// Small formatters

/**
 * A duration for people, shortest unit that keeps it exact enough: `0.4s`, `9.9s`,
 * `45s`, `3m12s`, `2h03m`, `3d04h`.
 *
 * @example
 * ```ts
 * formatDuration(192_000); // "3m12s"
 * formatDuration(350); // "0.4s"
 * ```
 */
export function formatDuration(ms: number): string {
  const t = Number.isFinite(ms) && ms > 0 ? ms : 0;
  if (t < 10_000) return `${(Math.round(t / 100) / 10).toFixed(1)}s`;
  const s = Math.floor(t / 1000);
  if (s < 60) return `${s}s`;
  const two = (n: number) => String(n).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d${two(Math.floor(s / 3600) % 24)}h`;
}

/**
 * An advert interval: `100ms`, `1s`, `1.5s`.
 *
 * @example
 * ```ts
 * formatInterval(1000); // "1s"
 * formatInterval(250); // "250ms"
 * ```
 */
export function formatInterval(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return `${Number((ms / 1000).toFixed(2))}s`;
}

/**
 * Counters that count normal operation, not trouble: the table leaves them out (the
 * detail view shows them all).
 *
 * @example
 * ```ts
 * NORMAL_COUNTERS.has("advertisementsReceived"); // true
 * ```
 */
export const NORMAL_COUNTERS: ReadonlySet<string> = new Set([
  "masterTransitions",
  "advertisementsSent",
  "advertisementsReceived",
  "priorityZeroSent",
  "priorityZeroReceived",
]);

/**
 * The MIB object operators know each counter by: RFC 6527 (VRRPv3 MIB) where it has
 * one, RFC 2787 (VRRPv2 MIB) for the v2 authentication counters. The drop counters come
 * from the codec's own table (`RFC6527_NAME`, `DROP_COUNTER`); the rest are listed here.
 * A counter absent from this table is hacore's own (sent adverts, kernel errors).
 *
 * @example
 * ```ts
 * COUNTER_MIB_NAME.checksumErrors; // "vrrpv3RouterChecksumErrors"
 * COUNTER_MIB_NAME.masterTransitions; // "vrrpv3StatisticsMasterTransitions"
 * ```
 */
export const COUNTER_MIB_NAME: Readonly<Record<string, string>> = Object.freeze((() => {
  const t: Record<string, string> = {
    masterTransitions: "vrrpv3StatisticsMasterTransitions",
    advertisementsReceived: "vrrpv3StatisticsRcvdAdvertisements",
    priorityZeroSent: "vrrpv3StatisticsSentPriZeroPackets",
    priorityZeroReceived: "vrrpv3StatisticsRcvdPriZeroPackets",
  };
  for (const [reason, counter] of Object.entries(DROP_COUNTER)) {
    const mib = RFC6527_NAME[reason as keyof typeof RFC6527_NAME];
    // Names with a note ("... (not in a MIB)") are not MIB objects.
    if (!/\s/.test(mib)) t[counter] ??= mib;
  }
  return t;
})());

/** Detail view order: the engine's counters as RFC 6527 lists them, then the daemon's. */
const COUNTER_ORDER = [
  "masterTransitions",
  "advertisementsReceived",
  "advertisementsSent",
  "priorityZeroReceived",
  "priorityZeroSent",
  "advertiseIntervalErrors",
  "ipTtlErrors",
  "invalidTypePackets",
  "addressListErrors",
  "packetLengthErrors",
  "checksumErrors",
  "versionErrors",
  "vridErrors",
  "authFailures",
  "invalidAuthType",
  "unicastPeerErrors",
];

function sortCounters(names: string[]): string[] {
  const rank = (n: string) => {
    const i = COUNTER_ORDER.indexOf(n);
    return i < 0 ? COUNTER_ORDER.length : i;
  };
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

// -------------------------------------------------------------------------------------
// Drawing helpers

interface Style {
  readonly width: number;
  readonly unicode: boolean;
  readonly color: boolean;
  readonly nowWall?: Date;
}

function style(o: RenderOptions): Style {
  return {
    width: Math.max(20, o.width ?? 100),
    unicode: o.unicode ?? true,
    color: o.color ?? false,
    nowWall: o.nowWall,
  };
}

const ANSI = { red: 31, green: 32, yellow: 33, cyan: 36, bold: 1, dim: 2 } as const;

function paint(st: Style, text: string, c: keyof typeof ANSI): string {
  return st.color ? `\x1b[${ANSI[c]}m${text}\x1b[0m` : text;
}

function stateColor(state: string): keyof typeof ANSI {
  switch (state) {
    case "master":
      return "green";
    case "fault":
      return "red";
    case "init":
      return "yellow";
    default:
      return "cyan";
  }
}

function arrow(st: Style): string {
  return st.unicode ? "→" : "->";
}

function dot(st: Style): string {
  return st.unicode ? " · " : ", ";
}

/**
 * Packs `items` into lines of at most `width` columns: the first line starts with
 * `first`, the others with `rest` (same length, so items line up). An item longer than
 * a line gets a line of its own rather than being cut.
 */
function pack(items: readonly string[], width: number, first: string, rest: string, sep = "  ") {
  const lines: string[] = [];
  let line = first;
  let len = visible(first);
  let empty = true;
  for (const item of items) {
    const n = visible(item);
    if (!empty && len + sep.length + n > width) {
      lines.push(line);
      line = rest;
      len = visible(rest);
      empty = true;
    }
    line += (empty ? "" : sep) + item;
    len += (empty ? 0 : sep.length) + n;
    empty = false;
  }
  lines.push(line);
  return lines;
}

/** Columns a string takes: colour codes take none (every mark used here takes one). */
function visible(s: string): number {
  // deno-lint-ignore no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, "").length;
}

/** Wraps prose at spaces (for long reasons and details). */
function wrapText(text: string, width: number, first: string, rest: string): string[] {
  return pack(text.split(/ +/).filter((w) => w !== ""), width, first, rest, " ");
}

function upper(s: string): string {
  return s.toUpperCase();
}

function vipText(v: VipStatus, iface: string): string {
  return `${v.address}/${v.prefix}${v.dev !== iface ? ` dev ${v.dev}` : ""}${
    v.excluded ? " (excluded)" : ""
  }`;
}

function vipMark(st: Style, held: boolean): string {
  if (held) return paint(st, st.unicode ? "✓" : "+", "green");
  return "-";
}

function masterCell(i: InstanceView): string {
  if (i.state === "master") return "self";
  const m = i.lastMaster;
  if (m === null) return "none heard";
  return `${m.ip} (${m.priority}) ${formatDuration(m.agoMs)} ago`;
}

function versionCell(i: InstanceView): string {
  return i.family === "ipv6" ? `v${i.version} ipv6` : `v${i.version}`;
}

function priorityCell(i: InstanceView): string {
  const p = i.priority;
  return p.effective === p.base ? String(p.base) : `${p.effective}/${p.base}`;
}

/** Why the effective priority is not the configured one, or null when it is. */
function priorityWhy(i: InstanceView, nodeMaintenance: boolean): string | null {
  const p = i.priority;
  const why: string[] = [];
  if (i.maintenance === true || nodeMaintenance) why.push("maintenance: never takes over");
  if (i.override) {
    why.push(
      `${i.override.kind}d to ${i.override.priority} by the operator (hacore resume ${i.name})`,
    );
  }
  const moved = contributionsText(i.trackers ?? []);
  if (moved !== "") why.push(`trackers ${moved}`);
  if (why.length === 0 && p.effective === p.base) return null;
  if (why.length === 0) why.push("tracker weights");
  return `priority ${p.effective}, base ${p.base}: ${why.join("; ")}`;
}

function trackerMark(st: Style, t: TrackerStatus): string {
  if (t.state === "up") return paint(st, st.unicode ? "✓" : "+", "green");
  return paint(st, st.unicode ? "✗" : "-", "red");
}

/** A tracker in the table: mark, name (`G:name` for a group's), value, and FAULT. */
function trackerItem(st: Style, t: TrackerStatus): string {
  const name = t.group === null ? t.name : `${t.group}:${t.name}`;
  const value = t.value !== null ? `=${t.value}` : "";
  const fault = t.fault ? ` ${paint(st, "FAULT", "red")}` : "";
  return `${trackerMark(st, t)} ${name}${value}${fault}`;
}

/** What a tracker does to the priority, for the detail view. */
function trackerEffect(t: TrackerStatus): string {
  if (t.fault) return "FAULT";
  const signed = (n: number) => (n > 0 ? `+${n}` : String(n));
  if (t.group !== null) return t.kind === "file" ? "faults unless 0" : "faults when down";
  if (t.kind === "file") {
    return t.weight === 0
      ? "faults unless 0"
      : `${t.value ?? 0} × ${t.weight} = ${signed(t.contribution)}`;
  }
  if (t.weight === 0) return "faults when down";
  return `weight ${signed(t.weight)}, now ${signed(t.contribution)}`;
}

function errorCounters(counters: Readonly<Record<string, number>>): string[] {
  const names = Object.keys(counters).filter((k) => counters[k] !== 0 && !NORMAL_COUNTERS.has(k));
  return sortCounters(names).map((k) => `${k} ${counters[k]}`);
}

function transitionText(
  st: Style,
  t: { from: string; to: string; reason: string; detail: string },
): string {
  const why = t.detail !== "" ? `${t.reason}: ${t.detail}` : t.reason;
  return `${upper(t.from)} ${arrow(st)} ${upper(t.to)} (${why})`;
}

function header(s: StatusView, st: Style): string {
  const parts = [`hacore${s.version ? ` ${s.version}` : ""}`, s.phase];
  if (s.startedAtWall && st.nowWall) {
    const up = st.nowWall.getTime() - Date.parse(s.startedAtWall);
    if (Number.isFinite(up)) parts.push(`up ${formatDuration(up)}`);
  }
  if (s.configFile) parts.push(s.configFile);
  const n = s.instances.length;
  parts.push(`${n} instance${n === 1 ? "" : "s"}`);
  let line = parts.join(dot(st));
  if (s.maintenance) {
    line += `${dot(st)}${paint(st, "MAINTENANCE: every instance stays backup", "yellow")}`;
  }
  return line;
}

// -------------------------------------------------------------------------------------
// The table

const COLUMNS = ["NAME", "IFACE", "VRID", "VER", "STATE", "PRIO", "MASTER (PRIO) HEARD", "ADVERT"];
const RIGHT = new Set(["VRID", "PRIO"]);

interface Row {
  cells: string[];
  /** Column index → colour of its text. */
  colors: Map<number, keyof typeof ANSI>;
  sub: string[];
}

function instanceRow(i: InstanceView, s: StatusView, st: Style): Row {
  const cells = [
    i.name,
    i.interface,
    String(i.vrid),
    versionCell(i),
    `${upper(i.state)} ${formatDuration(i.inStateMs)}`,
    priorityCell(i),
    masterCell(i),
    formatInterval(i.advertIntervalMs),
  ];
  return {
    cells,
    colors: new Map([[4, stateColor(i.state)]]),
    sub: subLines(i, s, st, "  "),
  };
}

/** The indented lines under an instance (or its block in the narrow layout). */
function subLines(i: InstanceView, s: StatusView, st: Style, indent: string): string[] {
  const w = st.width;
  const out: string[] = [];
  const label = (l: string) => `${indent}${l.padEnd(7)}`;
  const cont = " ".repeat(label("").length);
  if (i.vips.length > 0) {
    const items = i.vips.map((v) => `${vipMark(st, v.held)} ${vipText(v, i.interface)}`);
    out.push(...pack(items, w, label("vips"), cont));
  } else {
    out.push(`${label("vips")}none`);
  }
  const t = i.lastTransition;
  if (t !== null) {
    out.push(
      ...wrapText(
        `${formatDuration(s.nowMs - t.atMs)} ago: ${transitionText(st, t)}`,
        w,
        label("last"),
        cont,
      ),
    );
  }
  const why = priorityWhy(i, s.maintenance === true);
  if (why !== null) out.push(...wrapText(why, w, label("prio"), cont));
  const trackers = i.trackers ?? [];
  if (trackers.length > 0) {
    out.push(...pack(trackers.map((t) => trackerItem(st, t)), w, label("track"), cont));
  }
  if (i.faults.length > 0) {
    out.push(...pack(i.faults, w, paint(st, label("faults"), "red"), cont, ", "));
  }
  if (i.masterAdvertIntervalMs !== i.advertIntervalMs && i.state !== "master") {
    out.push(
      `${label("advert")}the master advertises every ${formatInterval(i.masterAdvertIntervalMs)}`,
    );
  }
  for (const f of i.foreignSenders ?? []) {
    const first = `${indent}foreign `;
    out.push(...wrapText(foreignText(f), w, paint(st, first, "red"), " ".repeat(first.length)));
  }
  if (i.vipClaim) {
    const first = `${indent}claimed `;
    const text = vipClaimText(i.vipClaim, i.counters.vipConflicts ?? 0);
    out.push(...wrapText(text, w, paint(st, first, "red"), " ".repeat(first.length)));
  }
  const errs = errorCounters(i.counters);
  if (errs.length > 0) out.push(...pack(errs, w, paint(st, label("errors"), "red"), cont, ", "));
  return out;
}

/**
 * A foreign sender in one line: who, what differs, how often and since when.
 *
 * @example
 * ```ts
 * foreignText(f); // "192.0.2.99 (priority 150): VIPs 192.0.2.11 vs ours 192.0.2.10; 12 adverts, first 12s ago, last 0.4s ago"
 * ```
 */
export function foreignText(f: ForeignSenderStatus): string {
  return `${f.source} (priority ${f.priority}): ${f.differences.join("; ")}; ${f.count} advert${
    f.count === 1 ? "" : "s"
  }, first ${formatDuration(f.firstSeenAgoMs)} ago, last ${formatDuration(f.lastSeenAgoMs)} ago`;
}

/**
 * The VIP guard's last conflict in one line: which VIP, by whom, how, when, how many.
 *
 * @example
 * ```ts
 * vipClaimText(c, 5); // "192.0.2.100 by 02:00:00:00:00:66 (garp) at 2026-01-01T00:00:00.000Z; 5 conflicts"
 * ```
 */
export function vipClaimText(c: VipClaimStatus, conflicts: number): string {
  return `${c.address} by ${c.mac} (${c.kind}) at ${c.at}; ${conflicts} conflict${
    conflicts === 1 ? "" : "s"
  }`;
}

function footer(s: StatusView, st: Style): string[] {
  const out: string[] = [];
  const node = Object.keys(s.counters).filter((k) => s.counters[k] !== 0);
  if (node.length > 0) {
    out.push(
      ...pack(
        sortCounters(node).map((k) => `${k} ${s.counters[k]}`),
        st.width,
        "node: ",
        "      ",
        ", ",
      ),
    );
  }
  for (const c of s.conflicts) {
    out.push(...wrapText(c, st.width, paint(st, "conflict: ", "red"), "          "));
  }
  return out;
}

/**
 * The `hacore status` table. At the given width when the columns fit; narrower, each
 * instance becomes a block of `key value` lines instead, so nothing is cut.
 *
 * @example
 * ```ts
 * renderStatus(status, { width: 100, unicode: false });
 * // hacore 0.1.0, running, up 2h03m, /etc/hacore/hacore.toml, 1 instance
 * // NAME    IFACE  VRID  VER  STATE         PRIO  MASTER (PRIO) HEARD  ADVERT
 * // VI_web  eth0     51  v3   MASTER 3m12s   150  self                 1s
 * //   vips   + 192.0.2.100/24
 * ```
 */
export function renderStatus(status: StatusView, opts: RenderOptions = {}): string {
  const st = style(opts);
  const lines = [header(status, st)];
  const lvs = status.lvs;
  if (status.instances.length === 0) {
    if (lvs === undefined && status.realServerRole === undefined) {
      lines.push("no instances configured");
    }
  } else {
    const rows = status.instances.map((i) => instanceRow(i, status, st));
    const widths = COLUMNS.map((h, c) => Math.max(h.length, ...rows.map((r) => r.cells[c].length)));
    const tableWidth = widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
    if (tableWidth <= st.width) {
      const cell = (text: string, c: number, color?: keyof typeof ANSI) => {
        const padded = RIGHT.has(COLUMNS[c]) ? text.padStart(widths[c]) : text.padEnd(widths[c]);
        return color ? paint(st, padded, color) : padded;
      };
      lines.push(paint(st, COLUMNS.map((h, c) => cell(h, c)).join("  ").trimEnd(), "bold"));
      for (const r of rows) {
        lines.push(r.cells.map((t, c) => cell(t, c, r.colors.get(c))).join("  ").trimEnd());
        lines.push(...r.sub);
      }
    } else {
      for (const i of status.instances) lines.push(...narrowBlock(i, status, st));
    }
  }
  if (lvs !== undefined) lines.push(...virtualServerLines(lvs, st));
  lines.push(...lvsRoleLines(status, st));
  lines.push(...footer(status, st));
  return lines.join("\n");
}

// -------------------------------------------------------------------------------------
// Shared probes, connection sync, the real-server role, preflight

/**
 * The lines of the LVS roles beside the virtual servers: how many probes serve how
 * many checks, the sync daemon against its instance, the real-server role's VIPs and
 * sysctls, and the preflight findings from start.
 */
function lvsRoleLines(s: StatusView, st: Style): string[] {
  const out: string[] = [];
  const c = s.checks;
  if (c !== undefined && c.checks > 0) {
    const shared = c.checks - c.probes;
    out.push(
      `checks: ${c.probes} probe${c.probes === 1 ? "" : "s"} for ${c.checks} check${
        c.checks === 1 ? "" : "s"
      }${shared > 0 ? ` (${shared} shared)` : ""}`,
    );
  }
  const y = s.lvsSync;
  if (y !== undefined) {
    const kernel = y.kernel.length === 0 ? "none" : y.kernel.join("+");
    const off = y.role !== "none" && !y.kernel.includes(y.role);
    const text =
      `lvs sync: ${y.role} (${y.instance} ${y.instanceState ?? "unknown"}) on ${y.interface}` +
      ` id ${y.syncId}, kernel ${kernel}` + (y.lastError === null ? "" : `: ${y.lastError}`);
    out.push(off || y.lastError !== null ? paint(st, text, "red") : text);
  }
  const r = s.realServerRole;
  if (r !== undefined) {
    const mark = (held: boolean) => held ? (st.unicode ? "✓" : "+") : "-";
    const vips = r.vips.map((v) => `${mark(v.held)} ${v.address}/${v.prefix}`);
    out.push(...pack(vips, st.width, `real server role: ${r.interface} `, "  ", "  "));
    const sys = r.sysctls.map((x) =>
      `${x.name.replace("net.ipv4.conf.", "")}=${x.value ?? "?"}${
        x.previous !== null && x.previous !== x.value ? ` (was ${x.previous})` : ""
      }`
    );
    if (sys.length > 0) out.push(...pack(sys, st.width, "  sysctl ", "         ", ", "));
    if (r.lastError !== null) out.push(paint(st, `  error: ${r.lastError}`, "red"));
  }
  for (const p of s.preflight ?? []) out.push(...wrapText(p, st.width, "", "  "));
  return out;
}

// -------------------------------------------------------------------------------------
// Virtual servers

function quorumText(v: VirtualServerStatus): string {
  const band = v.hysteresis === 0 ? `${v.quorum}` : `${v.quorum}±${v.hysteresis}`;
  return `quorum ${v.quorumUp ? "up" : "DOWN"} ${v.liveWeight}/${band}`;
}

function vsHead(v: VirtualServerStatus, st: Style): string {
  const facts = [v.endpoint, v.protocol, v.scheduler, v.method, quorumText(v)];
  if (v.sorryActive) facts.push(paint(st, `sorry server ${v.sorryServer} in use`, "yellow"));
  if (!v.checksActive) facts.push("checks suspended (ha_suspend)");
  if (v.servicesInKernel < v.servicesWanted) {
    facts.push(paint(st, `${v.servicesInKernel}/${v.servicesWanted} services in kernel`, "red"));
  }
  return `${v.name}  ${facts.join("  ")}`;
}

function weightCell(w: number | null): string {
  return w === null ? "-" : String(w);
}

function rsLine(r: RealServerStatus, st: Style, indent: string): string {
  const failing = r.checks.find((c) => !c.up && c.lastError !== null) ??
    r.checks.find((c) => !c.up);
  const health = r.up ? paint(st, "up", "green") : paint(st, "down", "red") +
    (failing === undefined
      ? ""
      : ` (${failing.kind}${failing.lastError ? `: ${failing.lastError}` : ""})`);
  const mark = r.up ? (st.unicode ? "✓" : "+") : "-";
  return `${indent}${mark} ${hostPortText(r.address, r.port)}  ${health}  weight ${
    weightCell(r.desiredWeight)
  }/${
    weightCell(r.kernelWeight)
  }  conns ${r.activeConns}/${r.inactConns}  ${r.cps} cps ${r.inBps}/${r.outBps} Bps${
    r.drain ? `  ${paint(st, drainText(r.drain), "yellow")}` : ""
  }`;
}

/**
 * A drain for people: `draining (operator): 3 conns left, 41 s left`, `drained
 * (maintenance)`.
 *
 * @example
 * ```ts
 * drainText({ entry: "x", state: "drained", reason: "operator", connections: 0, timeLeftMs: null });
 * // "drained (operator)"
 * ```
 */
export function drainText(d: DrainStatus): string {
  if (d.state === "drained") return `drained (${d.reason})`;
  const left = d.timeLeftMs === null ? "" : `, ${Math.ceil(d.timeLeftMs / 1000)} s left`;
  return `draining (${d.reason}): ${d.connections} conn${
    d.connections === 1 ? "" : "s"
  } left${left}`;
}

function hostPortText(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

function virtualServerLines(lvs: LvsStatus, st: Style): string[] {
  if (lvs.virtualServers.length === 0) return [];
  const out = [paint(st, "VIRTUAL SERVER", "bold")];
  for (const v of lvs.virtualServers) {
    out.push(vsHead(v, st));
    for (const r of v.realServers) out.push(rsLine(r, st, "  "));
  }
  // Drains of entries no config server stands for (removed servers, old services).
  const shown = new Set(
    lvs.virtualServers.flatMap((v) => v.realServers.flatMap((r) => r.drain ? [r.drain.entry] : [])),
  );
  for (const d of lvs.drains ?? []) {
    if (!shown.has(d.entry)) out.push(`  ${d.entry}  ${paint(st, drainText(d), "yellow")}`);
  }
  for (const f of lvs.foreign ?? []) out.push(`  ${f}  foreign (not hacore's, left alone)`);
  const c = Object.keys(lvs.counters).filter((k) => lvs.counters[k] !== 0).sort();
  if (c.length > 0) {
    out.push(...pack(c.map((k) => `${k} ${lvs.counters[k]}`), st.width, "lvs: ", "     ", ", "));
  }
  const drift = lvs.drift ?? [];
  if (drift.length > 0) out.push(`lvs drift repaired: ${drift[drift.length - 1].repair} (latest)`);
  if (lvs.keepOnStop) out.push("lvs: the table stays in place at stop (keep-lvs)");
  return out;
}

/**
 * `hacore status NAME` for a virtual server: its settings and quorum, then each real
 * server with every check's state and last error, weights, connections, totals and rates.
 *
 * @example
 * ```ts
 * renderVirtualServer(status.lvs!.virtualServers[0], { unicode: false });
 * // web  192.0.2.100:80  tcp  wlc  DR  quorum up 3/2
 * // + 192.0.2.11:80  up  weight 1/1  conns 0/0  0 cps 0/0 Bps
 * ```
 */
export function renderVirtualServer(v: VirtualServerStatus, opts: RenderOptions = {}): string {
  const st = style(opts);
  const out = [vsHead(v, st)];
  out.push(`  sorry server: ${v.sorryServer ?? "none"}${v.sorryActive ? " (in use)" : ""}`);
  out.push(`  services in kernel: ${v.servicesInKernel} of ${v.servicesWanted}`);
  for (const r of v.realServers) {
    out.push(rsLine(r, st, ""));
    for (const c of r.checks) {
      out.push(`    ${c.kind}: ${c.up ? "up" : "down"}${c.lastError ? ` (${c.lastError})` : ""}`);
    }
    out.push(
      `    totals: ${r.conns} conns, in ${r.inPackets} pkts ${r.inBytes} B, out ${r.outPackets} pkts ${r.outBytes} B`,
    );
  }
  return out.join("\n");
}

function narrowBlock(i: InstanceView, s: StatusView, st: Style): string[] {
  const head = `${i.name}  ${paint(st, upper(i.state), stateColor(i.state))} ${
    formatDuration(i.inStateMs)
  }`;
  const facts = [
    `${i.interface}`,
    `vrid ${i.vrid}`,
    versionCell(i),
    `prio ${priorityCell(i)}`,
    `master ${masterCell(i)}`,
    `advert ${formatInterval(i.advertIntervalMs)}`,
  ];
  return [head, ...pack(facts, st.width, "  ", "  ", ", "), ...subLines(i, s, st, "  ")];
}

// -------------------------------------------------------------------------------------
// One instance in full

function hookOutcome(h: HookRun): string {
  if (h.error !== null) return `not run: ${h.error}`;
  if (h.timedOut) return `timed out${h.signal ? ` (killed, ${h.signal})` : ""}`;
  if (h.exitCode !== null) return `exit ${h.exitCode}`;
  if (h.signal !== null) return `killed by ${h.signal}`;
  return "unknown";
}

function durationText(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(1)}ms` : formatDuration(ms);
}

/**
 * `hacore status NAME`: every field of one instance, its transition history with wall
 * times and reasons, every counter (zeros included) with its MIB name, the override
 * and the recent hook runs.
 *
 * @example
 * ```ts
 * const d = await call(path, { v: 1, cmd: "detail", instance: "VI_web" });
 * console.log(renderDetail(d, { unicode: false }));
 * ```
 */
export function renderDetail(detail: InstanceDetail, opts: RenderOptions = {}): string {
  const st = style(opts);
  const i = detail.summary as InstanceView;
  const out: string[] = [];
  const kv = (k: string, v: string) =>
    out.push(...wrapText(v, st.width, `  ${k.padEnd(13)}`, " ".repeat(15)));

  out.push(
    `${paint(st, i.name, "bold")}: ${paint(st, upper(i.state), stateColor(i.state))} for ${
      formatDuration(i.inStateMs)
    }`,
  );
  kv("interface", `${i.interface} (${i.family}, ${i.transport})`);
  kv("vrid", `${i.vrid}, VRRPv${i.version}`);
  kv(
    "priority",
    i.priority.effective === i.priority.base
      ? `${i.priority.effective}`
      : `${i.priority.effective} (configured ${i.priority.base})`,
  );
  const ov = detail.override ?? i.override ?? null;
  kv(
    "override",
    ov === null
      ? "none"
      : `${ov.kind} to priority ${ov.priority} (hacore resume ${i.name} clears it)`,
  );
  if (i.maintenance !== undefined) {
    kv("maintenance", i.maintenance ? "on: never takes over" : "off");
  }
  kv("faults", i.faults.length > 0 ? i.faults.join(", ") : "none");
  const m = i.lastMaster;
  kv(
    "master",
    i.state === "master"
      ? `self${
        m !== null
          ? ` (last other master heard: ${m.ip}, priority ${m.priority}, ${
            formatDuration(m.agoMs)
          } ago)`
          : ""
      }`
      : m === null
      ? "none heard"
      : `${m.ip}, priority ${m.priority}, heard ${formatDuration(m.agoMs)} ago`,
  );
  kv(
    "advert",
    `every ${formatInterval(i.advertIntervalMs)}${
      i.masterAdvertIntervalMs !== i.advertIntervalMs
        ? ` (the master's: ${formatInterval(i.masterAdvertIntervalMs)})`
        : ""
    }, ${i.transport}`,
  );
  kv("holding VIPs", i.holdingVips ? "yes" : "no");
  if (i.foreignSenders !== undefined) {
    if (i.foreignSenders.length === 0) kv("foreign", "none");
    for (const f of i.foreignSenders) kv("foreign", foreignText(f));
  }
  if (i.vipClaim) kv("vip claimed", vipClaimText(i.vipClaim, i.counters.vipConflicts ?? 0));
  if (i.vips.length === 0) kv("vips", "none");
  i.vips.forEach((v, n) => {
    const text = `${vipMark(st, v.held)} ${vipText(v, "")}`;
    out.push(`  ${(n === 0 ? "vips" : "").padEnd(13)}${text}`);
  });

  const trackers = i.trackers ?? [];
  if (i.trackers !== undefined) {
    out.push("", `trackers (${trackers.length})`);
    if (trackers.length === 0) out.push("  none");
    const rows = trackers.map((t) => ({
      t,
      label: t.label,
      state: t.state,
      effect: trackerEffect(t),
    }));
    const labelW = Math.max(0, ...rows.map((r) => r.label.length));
    const effectW = Math.max(0, ...rows.map((r) => r.effect.length));
    for (const r of rows) {
      const state = r.state === "up" ? paint(st, "up  ", "green") : paint(st, "down", "red");
      const effect = r.t.fault
        ? paint(st, r.effect.padEnd(effectW), "red")
        : r.effect.padEnd(effectW);
      const lead = `  ${r.label.padEnd(labelW)}  ${state}  ${effect}  `;
      out.push(...wrapText(r.t.detail, st.width, lead, " ".repeat(visible(lead))));
    }
  }

  out.push("", `history (${detail.history.length}, oldest first; at most 50 are kept)`);
  if (detail.history.length === 0) out.push("  none");
  const hist = detail.history.map((t: TransitionRecord) => ({
    when: t.wallTime,
    move: `${upper(t.from)} ${arrow(st)} ${upper(t.to)}`,
    why: t.detail !== "" ? `${t.reason}: ${t.detail}` : t.reason,
  }));
  const moveW = Math.max(0, ...hist.map((h) => h.move.length));
  for (const h of hist) {
    const lead = `  ${h.when}  ${h.move.padEnd(moveW)}  `;
    out.push(...wrapText(h.why, st.width, lead, " ".repeat(lead.length)));
  }

  out.push("", "counters (MIB object, value, hacore name)");
  const names = sortCounters(Object.keys(detail.counters));
  if (names.length === 0) out.push("  none");
  const mib = (n: string) => COUNTER_MIB_NAME[n] ?? "(hacore's own)";
  const mibW = Math.max(0, ...names.map((n) => mib(n).length));
  const valW = Math.max(0, ...names.map((n) => String(detail.counters[n]).length));
  for (const n of names) {
    const v = detail.counters[n];
    const val = String(v).padStart(valW);
    const colored = v !== 0 && !NORMAL_COUNTERS.has(n) ? paint(st, val, "red") : val;
    out.push(`  ${mib(n).padEnd(mibW)}  ${colored}  ${n}`);
  }

  out.push("", `hook runs (${detail.hooks.length}, oldest first)`);
  if (detail.hooks.length === 0) out.push("  none");
  for (const h of detail.hooks) {
    const outcome = hookOutcome(h);
    const ok = h.error === null && !h.timedOut && h.exitCode === 0;
    const lead = `  ${h.startedAt}  ${h.hook} (${h.state}${
      h.target === "GROUP" ? `, group ${h.name}` : ""
    })  ${ok ? outcome : paint(st, outcome, "red")} after ${durationText(h.durationMs)}`;
    out.push(lead);
    out.push(...wrapText(h.command, st.width, "      ", "      "));
  }
  return out.join("\n");
}

/**
 * Prometheus metrics and a liveness probe over HTTP: `GET /metrics` in the text
 * exposition format 0.0.4, `GET /healthz` for load balancers and orchestrators.
 *
 * Everything is read from {@link DaemonControl} at scrape time; nothing here keeps
 * state of its own, so a scrape always agrees with `hacore status` and the module can
 * be tested against a fake. Families (all prefixed `hacore_`):
 *
 * | family                                    | type    | labels                                |
 * | ----------------------------------------- | ------- | ------------------------------------- |
 * | `hacore_up`                               | gauge   |                                       |
 * | `hacore_build_info`                       | gauge   | version                               |
 * | `hacore_live`                             | gauge   |                                       |
 * | `hacore_start_time_seconds`               | gauge   |                                       |
 * | `hacore_maintenance`                      | gauge   |                                       |
 * | `hacore_vip_conflicts`                    | gauge   |                                       |
 * | `hacore_process_resident_memory_bytes`    | gauge   |                                       |
 * | `hacore_process_heap_used_bytes`          | gauge   |                                       |
 * | `hacore_process_heap_total_bytes`         | gauge   |                                       |
 * | `hacore_process_external_memory_bytes`    | gauge   |                                       |
 * | `hacore_process_heap_live_bytes`          | gauge   | (after the first full collection)     |
 * | `hacore_vrrp_instance_info`               | gauge   | instance, interface, vrid, version, family, transport |
 * | `hacore_vrrp_state`                       | gauge   | instance, interface, vrid, state      |
 * | `hacore_vrrp_priority`                    | gauge   | instance, kind (base, effective)      |
 * | `hacore_vrrp_in_state_seconds`            | gauge   | instance                              |
 * | `hacore_vrrp_vips_configured`             | gauge   | instance                              |
 * | `hacore_vrrp_vips_held`                   | gauge   | instance                              |
 * | `hacore_vrrp_tracker_up`                  | gauge   | instance, kind, name, group           |
 * | `hacore_vrrp_tracker_fault`               | gauge   | instance, kind, name, group           |
 * | `hacore_vrrp_tracker_contribution`        | gauge   | instance, kind, name, group           |
 * | `hacore_vrrp_foreign_senders`             | gauge   | instance                              |
 * | `hacore_vrrp_master_transitions_total`    | counter | instance                              |
 * | `hacore_vrrp_transitions_total`           | counter | instance (only if the daemon counts them) |
 * | `hacore_vrrp_adverts_sent_total`          | counter | instance                              |
 * | `hacore_vrrp_adverts_received_total`      | counter | instance                              |
 * | `hacore_vrrp_priority_zero_sent_total`    | counter | instance                              |
 * | `hacore_vrrp_priority_zero_received_total`| counter | instance                              |
 * | `hacore_vrrp_foreign_adverts_total`       | counter | instance                              |
 * | `hacore_vrrp_reannouncements_total`       | counter | instance                              |
 * | `hacore_vrrp_vip_conflicts_total`         | counter | instance                              |
 * | `hacore_vrrp_drops_total`                 | counter | instance, reason                      |
 * | `hacore_vrrp_events_total`                | counter | instance, event                       |
 * | `hacore_notify_runs_total`                | counter | name, hook, result                    |
 * | `hacore_node_drops_total`                 | counter | reason                                |
 * | `hacore_node_events_total`                | counter | event                                 |
 *
 * `reason` is the drop counter's name as `hacore status NAME` prints it
 * (`checksumErrors`, `ipTtlErrors`, …), i.e. RFC 6527's object without its prefix:
 * the counter is what is kept, and two drop reasons can share one (a short and a long
 * packet are both `packetLengthErrors`), so a finer label would be a lie.
 *
 * @example
 * ```ts
 * const server = startMetricsServer({ listen: "127.0.0.1:9650", control: daemon, logger });
 * // curl -s localhost:9650/metrics | grep hacore_vrrp_state
 * await server.close();
 * ```
 *
 * @module
 */

import { type Logger, RateLimiter, suppressedNote } from "../log.ts";
import { DROP_COUNTER, type RouterStateName } from "../vrrp/types.ts";
import type { DaemonControl } from "./api.ts";
import { defaultReactor, type Reactor } from "../sys/reactor.ts";
import type { DaemonStatus, LvsStatus, ProcessStatus } from "./status.ts";

/** `Content-Type` of the text exposition format, as Prometheus negotiates it. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Every state an instance can be in: one `hacore_vrrp_state` series each. */
const STATES: readonly RouterStateName[] = ["init", "backup", "master", "fault"];

/**
 * Drop counter names, each once (several reasons share a counter), in a fixed order.
 * Taken from the one table the codec, engine and daemon share, so a new drop reason
 * appears here, zero-valued, without touching this file.
 */
const DROP_COUNTERS: readonly string[] = [...new Set(Object.values(DROP_COUNTER))];

/** Node-wide drops that are not packet-validation failures. */
const NODE_ONLY_DROPS: readonly string[] = ["inboxOverflows"];

/**
 * Node-wide counters shown even at zero. status() lists only non-zero ones, and a
 * series that appears out of nothing hides its first increase from `increase()`.
 * Others the daemon adds later still appear, once non-zero.
 */
const NODE_EVENTS: readonly string[] = [
  "internalErrors",
  "transportErrors",
  "reconcileErrors",
  "notifyErrors",
  "conflicts",
  "unknownRouterEvents",
];

/** Instance counters with a family of their own (the rest go to `_events_total`). */
const COUNTER_FAMILY: Readonly<Record<string, string>> = {
  masterTransitions: "hacore_vrrp_master_transitions_total",
  transitions: "hacore_vrrp_transitions_total",
  advertisementsSent: "hacore_vrrp_adverts_sent_total",
  advertisementsReceived: "hacore_vrrp_adverts_received_total",
  priorityZeroSent: "hacore_vrrp_priority_zero_sent_total",
  priorityZeroReceived: "hacore_vrrp_priority_zero_received_total",
  foreignAdverts: "hacore_vrrp_foreign_adverts_total",
  reannouncements: "hacore_vrrp_reannouncements_total",
  vipConflicts: "hacore_vrrp_vip_conflicts_total",
};

// Counter naming of hook runs is part of the daemon/metrics contract; it lives in api.ts.
import {
  groupHookCounterKey,
  HOOK_PREFIX,
  HOOK_RESULTS,
  hookCounterKey,
  type HookResult,
} from "./api.ts";
export { groupHookCounterKey, hookCounterKey, type HookResult };

/** Splits `hook.[NAME.]HOOK.RESULT` from the right, so a NAME may contain dots. */
function parseHookKey(
  key: string,
  withName: boolean,
): { name: string | null; hook: string; result: HookResult } | null {
  if (!key.startsWith(HOOK_PREFIX)) return null;
  const parts = key.slice(HOOK_PREFIX.length).split(".");
  const result = parts.pop() as HookResult;
  const hook = parts.pop();
  if (!HOOK_RESULTS.includes(result) || !hook) return null;
  if (!withName) return parts.length === 0 ? { name: null, hook, result } : null;
  return parts.length > 0 ? { name: parts.join("."), hook, result } : null;
}

type MetricType = "gauge" | "counter";

/**
 * Collects samples per family so each family's `# HELP`/`# TYPE` is written once and
 * its samples stay together, as the format requires, whatever order they arrive in.
 */
class Exposition {
  readonly #families = new Map<string, { help: string; type: MetricType; lines: string[] }>();

  family(name: string, type: MetricType, help: string): void {
    this.#families.set(name, { help, type, lines: [] });
  }

  add(name: string, labels: Readonly<Record<string, string | number>>, value: number): void {
    const f = this.#families.get(name);
    if (!f) throw new Error(`metrics: family ${name} is not declared`);
    const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(String(v))}"`);
    const set = pairs.length > 0 ? `{${pairs.join(",")}}` : "";
    f.lines.push(`${name}${set} ${formatValue(value)}`);
  }

  toString(): string {
    let out = "";
    for (const [name, f] of this.#families) {
      // An empty vector is left out, as client_golang does, rather than a bare header.
      if (f.lines.length === 0) continue;
      out += `# HELP ${name} ${escapeHelp(f.help)}\n# TYPE ${name} ${f.type}\n`;
      out += f.lines.join("\n") + "\n";
    }
    return out;
  }
}

/**
 * Escapes a label value for the text format: backslash, double quote and line feed.
 *
 * @example
 * ```ts
 * escapeLabel('a"b\\c\nd'); // 'a\\"b\\\\c\\nd'
 * ```
 */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text escapes only backslash and line feed (quotes are literal there). */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Go's ParseFloat spellings for the values JavaScript prints differently. */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function count(counters: Readonly<Record<string, number>>, key: string): number {
  const v = counters[key];
  return typeof v === "number" ? v : 0;
}

/**
 * Renders every metric family from the daemon's current status, in the Prometheus
 * text format 0.0.4. Pure apart from the calls on `control`; cheap enough to run on
 * the daemon's thread at every scrape (a few hundred lines for dozens of instances).
 *
 * @example
 * ```ts
 * const text = renderMetrics(daemon);
 * text.includes('hacore_vrrp_state{instance="VI_1",interface="eth0",vrid="51",state="master"} 1');
 * ```
 */
export function renderMetrics(control: DaemonControl): string {
  const status = control.status();
  const x = new Exposition();

  x.family("hacore_up", "gauge", "1 when the hacore daemon answers a scrape.");
  x.add("hacore_up", {}, 1);
  x.family("hacore_build_info", "gauge", "Always 1; the version is in the label.");
  x.add("hacore_build_info", { version: status.version || "unknown" }, 1);
  x.family("hacore_live", "gauge", "1 while the daemon's event loop is turning (as /healthz).");
  x.add("hacore_live", {}, control.isLive() ? 1 : 0);
  x.family(
    "hacore_start_time_seconds",
    "gauge",
    "Start of the daemon, seconds since the epoch (a change means a restart).",
  );
  const started = Date.parse(status.startedAtWall);
  if (Number.isFinite(started)) x.add("hacore_start_time_seconds", {}, started / 1000);
  x.family(
    "hacore_maintenance",
    "gauge",
    "1 while operator maintenance holds every instance out of master.",
  );
  x.add("hacore_maintenance", {}, status.maintenance ? 1 : 0);
  x.family("hacore_vip_conflicts", "gauge", "VIPs currently in conflict (see hacore status).");
  x.add("hacore_vip_conflicts", {}, status.conflicts.length);

  x.family(
    "hacore_vrrp_instance_info",
    "gauge",
    "Always 1; static facts of each VRRP instance in the labels.",
  );
  x.family(
    "hacore_vrrp_state",
    "gauge",
    "1 for the state the instance is in, 0 for the others (init, backup, master, fault).",
  );
  x.family(
    "hacore_vrrp_priority",
    "gauge",
    "Priority: configured (kind=base) and in use after trackers and overrides (kind=effective).",
  );
  x.family("hacore_vrrp_in_state_seconds", "gauge", "Time since the instance entered its state.");
  x.family(
    "hacore_vrrp_vips_configured",
    "gauge",
    "Virtual addresses configured (including excluded ones).",
  );
  x.family(
    "hacore_vrrp_vips_held",
    "gauge",
    "Virtual addresses present in the kernel as hacore's, per the last reconcile.",
  );
  x.family(
    "hacore_vrrp_foreign_senders",
    "gauge",
    "Other routers advertising this VRID with other VIPs, auth, interval or version now (split-brain risk; see hacore status).",
  );
  x.family(
    "hacore_vrrp_tracker_up",
    "gauge",
    "1 while a tracker of the instance is up (kind script, interface, file, process; group is the sync group's name for a group tracker, else empty).",
  );
  x.family(
    "hacore_vrrp_tracker_fault",
    "gauge",
    "1 while the tracker holds the instance in FAULT.",
  );
  x.family(
    "hacore_vrrp_tracker_contribution",
    "gauge",
    "What the tracker adds to the instance's priority now (negative lowers it).",
  );
  x.family(
    "hacore_vrrp_master_transitions_total",
    "counter",
    "Transitions into master (RFC 6527 vrrpv3StatisticsMasterTransitions).",
  );
  x.family("hacore_vrrp_transitions_total", "counter", "State transitions of any kind.");
  x.family(
    "hacore_vrrp_adverts_sent_total",
    "counter",
    "Advertisements sent, priority 0 included.",
  );
  x.family(
    "hacore_vrrp_adverts_received_total",
    "counter",
    "Advertisements received that decoded, later refusals included (RFC 6527 vrrpv3StatisticsRcvdAdvertisements).",
  );
  x.family(
    "hacore_vrrp_priority_zero_sent_total",
    "counter",
    "Priority-0 (release) advertisements sent (RFC 6527 vrrpv3StatisticsPriZeroPktsSent).",
  );
  x.family(
    "hacore_vrrp_priority_zero_received_total",
    "counter",
    "Priority-0 (release) advertisements received (RFC 6527 vrrpv3StatisticsPriZeroPktsRcvd).",
  );
  x.family(
    "hacore_vrrp_foreign_adverts_total",
    "counter",
    "Adverts for this VRID whose VIPs, auth, interval or version differ from ours (also counted as drops where the RFC drops them).",
  );
  x.family(
    "hacore_vrrp_reannouncements_total",
    "counter",
    "GARP/NA bursts sent again after a dual-master episode ended in this master's favour.",
  );
  x.family(
    "hacore_vrrp_vip_conflicts_total",
    "counter",
    "ARP replies, gratuitous ARPs or NAs from another MAC claiming a VIP this master holds (the VIP guard answers with a burst, at most one per VIP per 100 ms, backing off to one a second while claims keep coming).",
  );
  x.family(
    "hacore_vrrp_drops_total",
    "counter",
    "Received packets dropped, by counter name (RFC 6527 object names without the prefix).",
  );
  x.family(
    "hacore_vrrp_events_total",
    "counter",
    "Other per-instance counters the daemon keeps (send and VIP errors, VIPs restored, ...).",
  );
  x.family(
    "hacore_notify_runs_total",
    "counter",
    "Notify hook runs by instance or sync group, hook and result (ok, failed, timeout).",
  );
  x.family(
    "hacore_node_drops_total",
    "counter",
    "Packets dropped that no instance could own (unknown VRID, ...), by counter name.",
  );
  x.family(
    "hacore_node_events_total",
    "counter",
    "Other node-wide counters (internal, transport and reconcile errors, ...).",
  );

  for (const s of status.instances) {
    const inst = { instance: s.name };
    // detail() has every counter, zeros included; status() only the non-zero ones.
    const counters = control.detail(s.name)?.counters ?? s.counters;

    x.add("hacore_vrrp_instance_info", {
      instance: s.name,
      interface: s.interface,
      vrid: s.vrid,
      version: s.version,
      family: s.family,
      transport: s.transport,
    }, 1);
    for (const state of STATES) {
      x.add(
        "hacore_vrrp_state",
        { instance: s.name, interface: s.interface, vrid: s.vrid, state },
        s.state === state ? 1 : 0,
      );
    }
    x.add("hacore_vrrp_priority", { ...inst, kind: "base" }, s.priority.base);
    x.add("hacore_vrrp_priority", { ...inst, kind: "effective" }, s.priority.effective);
    x.add("hacore_vrrp_in_state_seconds", inst, Math.max(0, s.inStateMs) / 1000);
    x.add("hacore_vrrp_vips_configured", inst, s.vips.length);
    x.add("hacore_vrrp_vips_held", inst, s.vips.filter((v) => v.held).length);
    // Optional for a snapshot from a daemon that predates trackers.
    for (const t of s.trackers ?? []) {
      const labels = { ...inst, kind: t.kind, name: t.name, group: t.group ?? "" };
      x.add("hacore_vrrp_tracker_up", labels, t.state === "up" ? 1 : 0);
      x.add("hacore_vrrp_tracker_fault", labels, t.fault ? 1 : 0);
      x.add("hacore_vrrp_tracker_contribution", labels, t.contribution);
    }
    // Optional for a snapshot from a daemon that predates foreign senders.
    x.add("hacore_vrrp_foreign_senders", inst, s.foreignSenders?.length ?? 0);

    for (const [key, family] of Object.entries(COUNTER_FAMILY)) {
      // A total-transitions counter is optional: absent means "not counted", not 0.
      if (key === "transitions" && !Object.hasOwn(counters, key)) continue;
      x.add(family, inst, count(counters, key));
    }
    for (const reason of DROP_COUNTERS) {
      x.add("hacore_vrrp_drops_total", { ...inst, reason }, count(counters, reason));
    }
    for (const [key, value] of Object.entries(counters)) {
      if (Object.hasOwn(COUNTER_FAMILY, key) || DROP_COUNTERS.includes(key)) continue;
      const hook = parseHookKey(key, false);
      if (hook) {
        x.add(
          "hacore_notify_runs_total",
          { name: s.name, hook: hook.hook, result: hook.result },
          value,
        );
      } else if (!key.startsWith(HOOK_PREFIX)) {
        x.add("hacore_vrrp_events_total", { ...inst, event: key }, value);
      }
    }
  }

  const node = status.counters;
  for (const reason of [...DROP_COUNTERS, ...NODE_ONLY_DROPS]) {
    x.add("hacore_node_drops_total", { reason }, count(node, reason));
  }
  for (const event of NODE_EVENTS) {
    x.add("hacore_node_events_total", { event }, count(node, event));
  }
  for (const [key, value] of Object.entries(node)) {
    if (DROP_COUNTERS.includes(key) || NODE_ONLY_DROPS.includes(key)) continue;
    if (NODE_EVENTS.includes(key)) continue;
    const hook = parseHookKey(key, true);
    if (hook && hook.name !== null) {
      x.add(
        "hacore_notify_runs_total",
        { name: hook.name, hook: hook.hook, result: hook.result },
        value,
      );
    } else if (!key.startsWith(HOOK_PREFIX)) {
      x.add("hacore_node_events_total", { event: key }, value);
    }
  }

  if (status.lvs !== undefined) addLvs(x, status.lvs);
  addLvsRoles(x, status);
  if (status.process !== undefined) addProcess(x, status.process);
  return x.toString();
}

/**
 * The process's memory, as status read it for this scrape. The resident size takes
 * the standard process collector's name (with our prefix), so dashboards built for it
 * apply; the heap families are V8's, told apart so that a leak in JavaScript objects
 * (heap used rising after each collection) is not mistaken for V8 reserving pages.
 */
function addProcess(x: Exposition, p: ProcessStatus): void {
  const g = (name: string, help: string, v: number) => {
    x.family(`hacore_process_${name}`, "gauge", help);
    x.add(`hacore_process_${name}`, {}, v);
  };
  g("resident_memory_bytes", "Resident memory of the daemon process (VmRSS), bytes.", p.rssBytes);
  g(
    "heap_used_bytes",
    "V8 heap in use (live objects and garbage not yet collected), bytes.",
    p.heapUsedBytes,
  );
  g(
    "heap_total_bytes",
    "V8 heap reserved (in use plus free pages V8 keeps), bytes.",
    p.heapTotalBytes,
  );
  g(
    "external_memory_bytes",
    "Memory outside the V8 heap owned by JavaScript objects (ArrayBuffers), bytes.",
    p.externalBytes,
  );
  if (p.heapLiveBytes !== undefined) {
    g(
      "heap_live_bytes",
      "V8 heap in use right after the last full collection (the live objects), bytes.",
      p.heapLiveBytes,
    );
  }
}

/**
 * Shared probes (`hacore_check_probes` against `hacore_check_checks`), the sync
 * daemon's role and the real-server role's VIPs; each only when it is configured.
 */
function addLvsRoles(x: Exposition, status: DaemonStatus): void {
  const c = status.checks;
  if (c !== undefined) {
    x.family(
      "hacore_check_probes",
      "gauge",
      "Probes the check service runs (one per distinct check).",
    );
    x.add("hacore_check_probes", {}, c.probes);
    x.family(
      "hacore_check_checks",
      "gauge",
      "Checks subscribers asked for; equal ones share a probe.",
    );
    x.add("hacore_check_checks", {}, c.checks);
  }
  const y = status.lvsSync;
  if (y !== undefined) {
    x.family(
      "hacore_lvs_sync_daemon",
      "gauge",
      "1 for each IPVS sync daemon state the kernel runs (state=master|backup), by hacore's want.",
    );
    for (const state of ["master", "backup"]) {
      x.add("hacore_lvs_sync_daemon", { state }, y.kernel.includes(state) ? 1 : 0);
    }
  }
  const r = status.realServerRole;
  if (r !== undefined) {
    x.family("hacore_real_server_vip_held", "gauge", "1 while the real-server role holds the VIP.");
    for (const v of r.vips) {
      x.add("hacore_real_server_vip_held", { vip: v.address }, v.held ? 1 : 0);
    }
  }
}

/** The `hacore_lvs_*` families; none at all for a VRRP-only daemon. */
function addLvs(x: Exposition, lvs: LvsStatus): void {
  const g = (name: string, help: string) => x.family(`hacore_lvs_${name}`, "gauge", help);
  const c = (name: string, help: string) => x.family(`hacore_lvs_${name}`, "counter", help);
  g(
    "quorum_up",
    "1 while the virtual server holds quorum (live weight against quorum ± hysteresis).",
  );
  g("sorry_server_active", "1 while the sorry server stands in for the real servers.");
  g("live_weight", "Summed weight of the virtual server's live real servers.");
  g("real_server_up", "1 while every check of the real server passes.");
  g(
    "real_server_weight",
    "Weight of the real server: wanted by hacore (kind=desired) and held by the kernel (kind=kernel); absent when not in that table.",
  );
  g("real_server_active_connections", "Active connections of the real server (kernel, last dump).");
  g(
    "real_server_inactive_connections",
    "Inactive connections of the real server (kernel, last dump).",
  );
  c(
    "real_server_connections_total",
    "Connections scheduled to the real server (kernel's 64-bit counter).",
  );
  c(
    "real_server_packets_total",
    "Packets to (direction=in) and from (direction=out) the real server.",
  );
  c("real_server_bytes_total", "Bytes to (direction=in) and from (direction=out) the real server.");
  c(
    "operations_total",
    "IPVS operations hacore applied (result=applied) or the kernel refused (result=failed).",
  );
  c(
    "drift_repairs_total",
    "Entries of the kernel's IPVS table found changed behind hacore's back and repaired.",
  );
  g("drains", "Entries draining now (state=draining) or held out after draining (state=drained).");
  c(
    "drains_ended_total",
    "Drains that ended: no connection left (outcome=completed) or the deadline hit (outcome=deadline).",
  );
  g(
    "foreign_services",
    "Services in the kernel's table that hacore neither wants nor owns (left alone).",
  );
  g("owned_services", "Services hacore owns (created or adopted; the ownership file's list).");
  for (const v of lvs.virtualServers) {
    const vl = { virtual_server: v.name };
    x.add("hacore_lvs_quorum_up", vl, v.quorumUp ? 1 : 0);
    x.add("hacore_lvs_sorry_server_active", vl, v.sorryActive ? 1 : 0);
    x.add("hacore_lvs_live_weight", vl, v.liveWeight);
    for (const r of v.realServers) {
      const rl = { virtual_server: v.name, real_server: `${r.address}:${r.port}` };
      x.add("hacore_lvs_real_server_up", rl, r.up ? 1 : 0);
      if (r.desiredWeight !== null) {
        x.add("hacore_lvs_real_server_weight", { ...rl, kind: "desired" }, r.desiredWeight);
      }
      if (r.kernelWeight !== null) {
        x.add("hacore_lvs_real_server_weight", { ...rl, kind: "kernel" }, r.kernelWeight);
      }
      x.add("hacore_lvs_real_server_active_connections", rl, r.activeConns);
      x.add("hacore_lvs_real_server_inactive_connections", rl, r.inactConns);
      x.add("hacore_lvs_real_server_connections_total", rl, Number(r.conns));
      x.add(
        "hacore_lvs_real_server_packets_total",
        { ...rl, direction: "in" },
        Number(r.inPackets),
      );
      x.add(
        "hacore_lvs_real_server_packets_total",
        { ...rl, direction: "out" },
        Number(r.outPackets),
      );
      x.add("hacore_lvs_real_server_bytes_total", { ...rl, direction: "in" }, Number(r.inBytes));
      x.add("hacore_lvs_real_server_bytes_total", { ...rl, direction: "out" }, Number(r.outBytes));
    }
  }
  x.add("hacore_lvs_operations_total", { result: "applied" }, lvs.counters.opsApplied ?? 0);
  x.add("hacore_lvs_operations_total", { result: "failed" }, lvs.counters.opsFailed ?? 0);
  x.add("hacore_lvs_drift_repairs_total", {}, lvs.counters.driftRepairs ?? 0);
  const drains = lvs.drains ?? [];
  for (const state of ["draining", "drained"] as const) {
    x.add("hacore_lvs_drains", { state }, drains.filter((d) => d.state === state).length);
  }
  x.add(
    "hacore_lvs_drains_ended_total",
    { outcome: "completed" },
    lvs.counters.drainsCompleted ?? 0,
  );
  x.add(
    "hacore_lvs_drains_ended_total",
    { outcome: "deadline" },
    lvs.counters.drainsDeadlineHit ?? 0,
  );
  x.add("hacore_lvs_foreign_services", {}, lvs.foreign?.length ?? 0);
  if (lvs.owned !== undefined) x.add("hacore_lvs_owned_services", {}, lvs.owned);
}

/**
 * Host and port of a `metrics_listen` value (`127.0.0.1:9650`, `[::1]:9650`), as the
 * config validator accepts it; port 0 asks the kernel for a free one (tests).
 *
 * @example
 * ```ts
 * parseListen("[::1]:9650"); // { hostname: "::1", port: 9650 }
 * ```
 * @throws {RangeError} when the value is not `HOST:PORT`.
 */
export function parseListen(listen: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new RangeError(`metrics listen address: expected HOST:PORT or [V6]:PORT, got ${listen}`);
  }
  return { hostname: m[1] ?? m[2], port };
}

/**
 * What {@link startMetricsServer} needs.
 *
 * @example
 * ```ts
 * const opts: MetricsServerOptions = { listen: config.global.metricsListen!, control, logger };
 * ```
 */
export interface MetricsServerOptions {
  /** `HOST:PORT` or `[V6]:PORT`; port 0 picks a free one. */
  readonly listen: string;
  readonly control: DaemonControl;
  readonly logger: Logger;
  /** The daemon's reactor, held while a reply is written (the process-wide one by default). */
  readonly reactor?: Reactor;
}

/**
 * A running metrics listener.
 *
 * @example
 * ```ts
 * const s: MetricsServer = startMetricsServer(opts);
 * log.info(`metrics on ${s.hostname}:${s.port}`);
 * await s.close();
 * ```
 */
export interface MetricsServer {
  /** The bound address; the real port when 0 was asked for. */
  readonly hostname: string;
  readonly port: number;
  /** Stops listening and waits for requests in flight; resolves once all is closed. */
  close(): Promise<void>;
}

/** Render failures are logged at most this often: a broken scrape repeats every 15 s. */
const ERROR_LOG_WINDOW_MS = 60_000;

/**
 * How long after a request the reactor's waits stay async so that Deno's HTTP server
 * can write the reply (it does so on its event loop, after the handler returned).
 */
const RESPONSE_HOLD_MS = 20;

function text(body: string, status: number, extra: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...extra },
  });
}

/**
 * Starts the HTTP listener: `GET|HEAD /metrics` → 200 with {@link renderMetrics},
 * `GET|HEAD /healthz` → 200 `ok` while `control.isLive()`, else 503; another method on
 * those paths → 405; any other path → 404. Requests are answered synchronously from
 * the daemon's state, so a scrape never waits on anything.
 *
 * @example
 * ```ts
 * const metrics = global.metricsListen === null ? null : startMetricsServer({
 *   listen: global.metricsListen, control: daemon, logger: log,
 * });
 * // ... on shutdown:
 * await metrics?.close();
 * ```
 * @throws {Deno.errors.AddrInUse} and the like when the address cannot be bound, and
 * {@link RangeError} for a malformed `listen`: both before anything is listening.
 */
export function startMetricsServer(opts: MetricsServerOptions): MetricsServer {
  const { hostname, port } = parseListen(opts.listen);
  const reactor = opts.reactor ?? defaultReactor();
  let release: (() => void) | null = null;
  let releaseTimer: ReturnType<typeof setTimeout> | undefined;
  // The reply is written by Deno's HTTP server on its event loop, after the handler
  // returned: the reactor's waits stay async (so that loop turns) a little while.
  const holdWhileResponding = () => {
    release ??= reactor.hold();
    clearTimeout(releaseTimer);
    releaseTimer = setTimeout(() => {
      release?.();
      release = null;
    }, RESPONSE_HOLD_MS);
  };
  const log = opts.logger;
  const limiter = new RateLimiter(ERROR_LOG_WINDOW_MS);
  const logError = (what: string, e: unknown) => {
    const v = limiter.check(what, performance.now());
    if (v.allow) {
      const msg = e instanceof Error ? e.message : String(e);
      log.warn(`metrics: ${what} failed: ${msg}${suppressedNote(v.suppressed)}`);
    }
  };

  const handler = (req: Request): Response => {
    holdWhileResponding();
    const path = new URL(req.url).pathname;
    if (path !== "/metrics" && path !== "/healthz") return text("not found\n", 404);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return text("method not allowed\n", 405, { allow: "GET, HEAD" });
    }
    if (path === "/healthz") {
      let live = false;
      try {
        live = opts.control.isLive();
      } catch (e) {
        logError("/healthz", e);
      }
      return live ? text("ok\n", 200) : text("not live\n", 503);
    }
    let body: string;
    try {
      body = renderMetrics(opts.control);
    } catch (e) {
      logError("/metrics", e);
      return text("metrics unavailable\n", 500);
    }
    return text(body, 200, { "content-type": METRICS_CONTENT_TYPE });
  };

  const server = Deno.serve({
    hostname,
    port,
    // Quiet: the daemon logs where it listens in its own format, not Deno's banner.
    onListen: () => {},
    onError: (e) => {
      logError("request", e);
      return text("internal error\n", 500);
    },
  }, handler);
  const addr = server.addr as Deno.NetAddr;
  let closing: Promise<void> | null = null;
  return {
    hostname: addr.hostname,
    port: addr.port,
    close(): Promise<void> {
      closing ??= server.shutdown().then(() => server.finished).finally(() => {
        clearTimeout(releaseTimer);
        release?.();
        release = null;
      });
      return closing;
    },
  };
}

/**
 * The daemon's pure parts on their own, without a loop: the operator verbs' rules,
 * the checksum form an advert goes out with, counter merging for status, the tracker
 * change report, the rate-limited log, the inbox's queueing and parking, and how the
 * loop combines its subsystems' deadlines and reload outcomes. The
 * daemon tests cover them end to end; these pin the rules where they live.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/mod.ts";
import { bump, errorText, makeRateLog } from "../../lib/daemon/common.ts";
import { ManualClock } from "../fakes/daemon.ts";
import { Inbox, type InboxItem } from "../../lib/daemon/inbox.ts";
import {
  dualStackHalves,
  maintenanceResult,
  notRunningError,
  onBothHalves,
  overrideAccepted,
  overrideRefusal,
  resumeOutcome,
  unknownInstanceError,
  wantedPriority,
} from "../../lib/daemon/operator.ts";
import { nonZeroCounters } from "../../lib/daemon/status.ts";
import { earliestDeadline, mergeReloads } from "../../lib/daemon/subsystem.ts";
import { trackerChange } from "../../lib/track/priority.ts";
import { checksumFormFor } from "../../lib/daemon/transports.ts";
import { Logger, RateLimiter } from "../../lib/log.ts";
import type { PriorityResult, TrackerStatus } from "../../lib/track/priority.ts";

Deno.test("operator: a demote or promote is refused with the rule it breaks", () => {
  assert.equal(
    overrideRefusal("demote", "VI_1", 1, 255),
    "VI_1 is the address owner (priority 255): its priority never changes",
  );
  assert.equal(
    overrideRefusal("promote", "VI_1", 255, 100),
    "priority must be an integer from 1 to 254, got 255",
  );
  assert.equal(
    overrideRefusal("demote", "VI_1", 0, 100),
    "priority must be an integer from 1 to 254, got 0",
  );
  assert.equal(
    overrideRefusal("demote", "VI_1", 1.5, 100),
    "priority must be an integer from 1 to 254, got 1.5",
  );
  assert.equal(
    overrideRefusal("demote", "VI_1", 150, 150),
    "cannot demote VI_1 to 150: not below its priority 150 (promote raises it)",
  );
  assert.equal(
    overrideRefusal("promote", "VI_1", 100, 150),
    "cannot promote VI_1 to 100: not above its priority 150 (demote lowers it)",
  );
  assert.equal(overrideRefusal("demote", "VI_1", 1, 150), null);
  assert.equal(overrideRefusal("promote", "VI_1", 254, 150), null);
});

Deno.test("operator: accepted verbs say what happens next; resume says what it cleared", () => {
  const d = overrideAccepted("demote", "VI_1", 150, 1);
  assert.equal(d.notice, "VI_1: demoted by the operator to priority 1 (configured 150)");
  assert.deepEqual(d.result, {
    ok: true,
    message: "VI_1: priority 150 -> 1 until resume; a peer with preempt and a higher " +
      "priority takes over within its Master_Down_Interval",
  });
  const p = overrideAccepted("promote", "VI_2", 100, 200);
  assert.equal(p.notice, "VI_2: promoted by the operator to priority 200 (configured 100)");
  assert.deepEqual(resumeOutcome("VI_1", undefined, 130), {
    notice: null,
    result: { ok: true, message: "VI_1: no override; priority stays 130" },
  });
  assert.deepEqual(resumeOutcome("VI_1", { kind: "demote", priority: 1 }, 130), {
    notice: "VI_1: demote cleared by the operator; priority back to 130",
    result: { ok: true, message: "VI_1: override cleared; priority 1 -> 130" },
  });
});

Deno.test("operator: maintenance, phases and unknown names are worded for people", () => {
  assert.deepEqual(maintenanceResult(true, ["VI_1", "VI_2"]), {
    ok: true,
    message: "maintenance on: every instance stays backup; releasing VI_1, VI_2 (priority 0)",
  });
  assert.deepEqual(maintenanceResult(true, []), {
    ok: true,
    message: "maintenance on: every instance stays backup",
  });
  assert.deepEqual(maintenanceResult(false, ["VI_1"]), {
    ok: true,
    message: "maintenance off: every instance is a backup again and takes over as usual",
  });
  assert.equal(notRunningError("running"), null);
  assert.equal(notRunningError("new"), "the daemon is not started");
  assert.equal(notRunningError("stopping"), "the daemon is stopping");
  assert.equal(
    unknownInstanceError("VI_9", ["VI_1", "VI_2"]),
    'no instance "VI_9"; instances: VI_1, VI_2',
  );
  assert.equal(unknownInstanceError("VI_9", []), 'no instance "VI_9"; instances: (none)');
});

Deno.test("operator: a dual-stack name means both halves, and both must succeed", () => {
  const r = parseConfig(
    `
[global]
vrrp_version = 3

[vrrp_instance.VI_1]
interface = "eth0"
virtual_router_id = 51
priority = 150
virtual_ipaddress = ["192.0.2.100/24", "fe80::100/64"]

[vrrp_instance.VI_2]
interface = "eth0"
virtual_router_id = 52
priority = 100
virtual_ipaddress = ["192.0.2.101/24"]
`,
    "dual.toml",
  );
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  assert.deepEqual(dualStackHalves(r.config.instances, "VI_1"), ["VI_1", "VI_1@v6"]);
  assert.equal(dualStackHalves(r.config.instances, "VI_2"), null);
  assert.equal(dualStackHalves(r.config.instances, "VI_9"), null);

  const both = onBothHalves(["A", "A@v6"], (n) => ({ ok: true, message: `${n}: done` }));
  assert.deepEqual(both, { ok: true, message: "A: done\nA@v6: done" });
  const seen: string[] = [];
  const failed = onBothHalves(["A", "A@v6"], (n) => {
    seen.push(n);
    return n === "A@v6" ? { ok: false, error: "no" } : { ok: true, message: "yes" };
  });
  assert.deepEqual(failed, { ok: false, error: "no" });
  assert.deepEqual(seen, ["A", "A@v6"]);
});

Deno.test("operator: the override beats the trackers, which beat the base", () => {
  assert.equal(wantedPriority(undefined, undefined, 150), 150);
  assert.equal(wantedPriority(undefined, 130, 150), 130);
  assert.equal(wantedPriority({ kind: "promote", priority: 200 }, 130, 150), 200);
});

Deno.test("checksum form: fixed modes win; auto follows unicast peers, and the group only when all agree", () => {
  const none = new Set<string>();
  const peers = new Set(["192.0.2.2", "192.0.2.3"]);
  assert.equal(checksumFormFor("rfc9568", {}, none, "224.0.0.18"), "rfc9568");
  assert.equal(
    checksumFormFor("pseudo-header", { "192.0.2.2": "rfc9568" }, none, "224.0.0.18"),
    "pseudo-header",
  );
  assert.equal(checksumFormFor("auto", {}, none, "224.0.0.18"), "pseudo-header");
  assert.equal(
    checksumFormFor("auto", { a: "rfc9568", b: "rfc9568" }, none, "224.0.0.18"),
    "rfc9568",
  );
  assert.equal(
    checksumFormFor("auto", { a: "rfc9568", b: "pseudo-header" }, none, "224.0.0.18"),
    "pseudo-header",
  );
  const learned = { "192.0.2.2": "rfc9568" } as const;
  assert.equal(checksumFormFor("auto", learned, peers, "192.0.2.2"), "rfc9568");
  assert.equal(checksumFormFor("auto", learned, peers, "192.0.2.3"), "pseudo-header");
});

Deno.test("status counters: zeros are left out and a name in two records is summed", () => {
  assert.deepEqual(nonZeroCounters({ a: 1, b: 0 }, { a: 2, c: 3, d: 0 }), { a: 3, c: 3 });
  assert.deepEqual(nonZeroCounters({}, {}), {});
  const c: Record<string, number> = {};
  bump(c, "x");
  bump(c, "x", 2);
  assert.deepEqual(c, { x: 3 });
  assert.equal(errorText(new Error("EPERM")), "EPERM");
  assert.equal(errorText(42), "42");
});

function tracker(label: string, over: Partial<TrackerStatus> = {}): TrackerStatus {
  return {
    kind: "script",
    name: label.replace(/^script /, ""),
    group: null,
    label,
    state: "up",
    value: null,
    weight: 0,
    contribution: 0,
    fault: false,
    detail: "exit 0",
    ...over,
  };
}

function verdict(effective: number, faults: string[], trackers: TrackerStatus[]): PriorityResult {
  return { base: 150, effective, faults, trackers };
}

Deno.test("tracker change: the priority move says why, and faults start and end by name", () => {
  const web = tracker("script chk_web", {
    state: "down",
    weight: -20,
    contribution: -20,
    detail: "exit 1",
  });
  const next = verdict(130, ["script chk_db"], [
    web,
    tracker("script chk_db", { state: "down", fault: true, detail: "timed out" }),
  ]);
  const first = trackerChange("VI_1", null, next, 150, undefined);
  assert.equal(first.priorityNotice, "VI_1: tracked priority 150 -> 130 (chk_web -20)");
  assert.deepEqual(first.started, [{
    tracker: "script chk_db",
    line: "VI_1: FAULT while script chk_db fails (timed out)",
  }]);
  assert.deepEqual(first.ended, []);

  const healed = verdict(130, [], [web, tracker("script chk_db")]);
  const second = trackerChange("VI_1", next, healed, 150, { kind: "demote", priority: 1 });
  assert.equal(second.priorityNotice, null);
  assert.deepEqual(second.ended, [{
    tracker: "script chk_db",
    line: "VI_1: script chk_db recovered",
  }]);

  const back = trackerChange("VI_1", healed, verdict(150, [], []), 150, {
    kind: "demote",
    priority: 1,
  });
  assert.equal(
    back.priorityNotice,
    "VI_1: tracked priority 130 -> 150; the operator's demote to 1 stays in force",
  );
});

Deno.test("rate-limited log: one line per key and window, the next one counts the rest", () => {
  const lines: string[] = [];
  const clock = new ManualClock(0);
  const log = new Logger({ sink: (l) => lines.push(l), level: "debug", format: "json" });
  const rateLog = makeRateLog(log, new RateLimiter(1000), () => clock.nowMs());
  rateLog("k", "warn", "first");
  rateLog("k", "warn", "held back");
  rateLog("other", "error", "another key");
  clock.setNow(1500);
  rateLog("k", "warn", "again");
  const msgs = lines.map((l) => JSON.parse(l).msg as string);
  assert.equal(msgs.length, 3);
  assert.equal(msgs[0], "first");
  assert.equal(msgs[1], "another key");
  assert.equal(msgs[2], "again (1 more suppressed)");
});

Deno.test("inbox: inputs come out in order; a full inbox refuses packets, never control work", () => {
  const inbox = new Inbox(2);
  const packet: InboxItem = {
    kind: "packet",
    iface: "eth0",
    family: "ipv4",
    packet: { bytes: new Uint8Array(0), src: "192.0.2.2", dst: "224.0.0.18", ttl: 255 },
  };
  const control: InboxItem = { kind: "control", run: () => {}, cancel: () => {} };
  assert.equal(inbox.push(packet), true);
  assert.equal(inbox.push({ kind: "kernel", event: { kind: "resync" } }), true);
  assert.equal(inbox.push(packet), false);
  assert.equal(inbox.push(control), true);
  assert.equal(inbox.length, 3);
  assert.deepEqual(inbox.drain().map((i) => i.kind), ["packet", "kernel", "control"]);
  assert.equal(inbox.length, 0);
});

Deno.test("inbox: parking waits for the deadline or a push, and leaves no timer behind", async () => {
  const clock = new ManualClock(0);
  const inbox = new Inbox();
  assert.equal(inbox.parkedUntil, undefined);
  const parked = inbox.park(100, clock);
  assert.equal(inbox.idle, true);
  assert.equal(inbox.parkedUntil, 100);
  assert.equal(clock.pendingTimers(), 1);
  inbox.push({ kind: "kernel", event: { kind: "resync" } });
  await parked;
  assert.equal(inbox.idle, false);
  assert.equal(inbox.parkedUntil, undefined);
  assert.equal(clock.pendingTimers(), 0);

  // Something queued: no parking at all.
  await inbox.park(null, clock);
  inbox.drain();
  const byDeadline = inbox.park(50, clock);
  assert.equal(clock.fireNext(50), true);
  await byDeadline;
  assert.equal(clock.nowMs(), 50);
  assert.equal(clock.pendingTimers(), 0);
});

Deno.test("subsystems: the loop waits for the earliest deadline of all, none when none has one", () => {
  assert.equal(earliestDeadline([null, 120, 80, null]), 80);
  assert.equal(earliestDeadline([0, 5]), 0, "a deadline at 0 is a deadline");
  assert.equal(earliestDeadline([null, null]), null);
  assert.equal(earliestDeadline([]), null);
});

Deno.test("subsystems: a reload is ok only when every subsystem's is; errors and changes in order", () => {
  const vrrp = { ok: true, errors: [], changes: ["VI_1: priority 100 -> 150"] };
  const lvs = { ok: false, errors: ["10.0.0.1:80: no real server"], changes: ["vs added"] };
  assert.deepEqual(mergeReloads([vrrp]), vrrp);
  assert.deepEqual(mergeReloads([vrrp, lvs]), {
    ok: false,
    errors: ["10.0.0.1:80: no real server"],
    changes: ["VI_1: priority 100 -> 150", "vs added"],
  });
  assert.deepEqual(mergeReloads([vrrp, { ok: true, errors: [], changes: [] }]), vrrp);
});

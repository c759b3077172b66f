/**
 * The GARP / unsolicited NA schedule, pinned to keepalived's timings: a burst of
 * `vrrp_garp_master_repeat` at once, the same again `vrrp_garp_master_delay` later,
 * refreshes every `vrrp_garp_master_refresh`, rounds spaced by the per-family interval,
 * and nothing after leaving Master.
 */
import assert from "node:assert/strict";
import {
  type AnnounceConfig,
  announceConfig,
  announceDue,
  announceNextDeadline,
  type AnnounceState,
  type AnnounceTarget,
  followUpAnnounce,
  IDLE_ANNOUNCE,
  instanceAnnounceConfig,
  lowerPriorityAnnounce,
  startAnnounce,
  stopAnnounce,
} from "../../lib/daemon/announce.ts";
import { GLOBAL_DEFAULTS } from "../../lib/config/mod.ts";

const V4: AnnounceTarget = { dev: "eth0", address: "192.0.2.100", family: "ipv4" };
const V4B: AnnounceTarget = { dev: "eth0", address: "192.0.2.101", family: "ipv4" };
const V6: AnnounceTarget = { dev: "eth0", address: "2001:db8::100", family: "ipv6" };

const DEFAULTS: AnnounceConfig = announceConfig(GLOBAL_DEFAULTS);

/** Drives a schedule to `untilMs`, returning every announcement as "atMs kind address". */
function drive(s: AnnounceState, cfg: AnnounceConfig, untilMs: number): string[] {
  const out: string[] = [];
  for (let guard = 0; guard < 100_000; guard++) {
    const at = announceNextDeadline(s);
    if (at === null || at > untilMs) return out;
    const r = announceDue(s, cfg, at);
    s = r.state;
    for (const a of r.announcements) out.push(`${at} ${a.kind} ${a.address}`);
  }
  throw new Error("schedule never ends");
}

function times(n: number, line: string): string[] {
  return new Array(n).fill(line);
}

Deno.test("the defaults are keepalived's: repeat 5, second burst after 5 s, no refresh", () => {
  assert.deepStrictEqual(DEFAULTS, {
    repeat: 5,
    delayMs: 5000,
    refreshMs: 0,
    refreshRepeat: 1,
    garpIntervalMs: 0,
    gnaIntervalMs: 0,
    lowerPrioRepeat: 0,
    lowerPrioDelayMs: 5000,
  });
});

Deno.test("keepalived capture: 5 GARPs at once on becoming master, 5 more exactly 5 s later", () => {
  const s = startAnnounce(DEFAULTS, [V4], 1000);
  assert.equal(announceNextDeadline(s), 1000);
  assert.deepStrictEqual(drive(s, DEFAULTS, 1_000_000), [
    ...times(5, "1000 garp 192.0.2.100"),
    ...times(5, "6000 garp 192.0.2.100"),
  ]);
});

Deno.test("every VIP is announced in each round, IPv4 by GARP and IPv6 by NA", () => {
  const cfg = { ...DEFAULTS, repeat: 2, delayMs: 0 };
  assert.deepStrictEqual(drive(startAnnounce(cfg, [V4, V6, V4B], 0), cfg, 1e9), [
    "0 garp 192.0.2.100",
    "0 garp 192.0.2.101",
    "0 garp 192.0.2.100",
    "0 garp 192.0.2.101",
    "0 na 2001:db8::100",
    "0 na 2001:db8::100",
  ]);
});

Deno.test("rounds are spaced by vrrp_garp_interval (IPv4) and vrrp_gna_interval (IPv6)", () => {
  const cfg = { ...DEFAULTS, repeat: 3, delayMs: 0, garpIntervalMs: 10, gnaIntervalMs: 25 };
  assert.deepStrictEqual(drive(startAnnounce(cfg, [V4, V6], 100), cfg, 1e9), [
    "100 garp 192.0.2.100",
    "100 na 2001:db8::100",
    "110 garp 192.0.2.100",
    "120 garp 192.0.2.100",
    "125 na 2001:db8::100",
    "150 na 2001:db8::100",
  ]);
});

Deno.test("vrrp_garp_master_delay = 0: a single burst", () => {
  const cfg = { ...DEFAULTS, delayMs: 0 };
  assert.deepStrictEqual(
    drive(startAnnounce(cfg, [V4], 0), cfg, 1e9),
    times(5, "0 garp 192.0.2.100"),
  );
});

Deno.test("refresh: every vrrp_garp_master_refresh, a burst of refresh_repeat, forever", () => {
  const cfg = { ...DEFAULTS, repeat: 1, delayMs: 0, refreshMs: 60_000, refreshRepeat: 2 };
  const s = startAnnounce(cfg, [V4], 0);
  assert.deepStrictEqual(drive(s, cfg, 180_000), [
    "0 garp 192.0.2.100",
    "60000 garp 192.0.2.100",
    "60000 garp 192.0.2.100",
    "120000 garp 192.0.2.100",
    "120000 garp 192.0.2.100",
    "180000 garp 192.0.2.100",
    "180000 garp 192.0.2.100",
  ]);
});

Deno.test("refresh with a spaced burst, interleaved with the delayed second burst", () => {
  const cfg = {
    ...DEFAULTS,
    repeat: 2,
    delayMs: 5000,
    refreshMs: 5000,
    refreshRepeat: 2,
    garpIntervalMs: 100,
  };
  assert.deepStrictEqual(drive(startAnnounce(cfg, [V4], 0), cfg, 5100), [
    "0 garp 192.0.2.100",
    "100 garp 192.0.2.100",
    "5000 garp 192.0.2.100", // second burst
    "5000 garp 192.0.2.100", // refresh
    "5100 garp 192.0.2.100",
    "5100 garp 192.0.2.100",
  ]);
});

Deno.test("after a long stall, missed refreshes are not replayed: one burst, then the period restarts", () => {
  const cfg = { ...DEFAULTS, repeat: 1, delayMs: 0, refreshMs: 1000, refreshRepeat: 1 };
  let s = startAnnounce(cfg, [V4], 0);
  s = announceDue(s, cfg, 0).state;
  const late = announceDue(s, cfg, 10_500);
  assert.equal(late.announcements.length, 1);
  assert.equal(announceNextDeadline(late.state), 11_500);
});

Deno.test("leaving master cancels everything pending", () => {
  const cfg = { ...DEFAULTS, refreshMs: 1000 };
  let s = startAnnounce(cfg, [V4, V6], 0);
  s = announceDue(s, cfg, 0).state;
  assert.equal(announceNextDeadline(s), 1000);
  s = stopAnnounce();
  assert.equal(announceNextDeadline(s), null);
  assert.deepStrictEqual(announceDue(s, cfg, 1e9).announcements, []);
});

Deno.test("no targets, nothing to do; a premature call returns nothing and keeps the state", () => {
  assert.equal(startAnnounce(DEFAULTS, [], 0), IDLE_ANNOUNCE);
  const s = startAnnounce(DEFAULTS, [V4], 100);
  const early = announceDue(s, DEFAULTS, 99);
  assert.deepStrictEqual(early.announcements, []);
  assert.equal(early.state, s);
});

Deno.test("starting again (re-elected) replaces the old schedule", () => {
  let s = startAnnounce(DEFAULTS, [V4], 0);
  s = announceDue(s, DEFAULTS, 0).state;
  s = startAnnounce(DEFAULTS, [V4], 3000);
  assert.deepStrictEqual(drive(s, DEFAULTS, 1e9), [
    ...times(5, "3000 garp 192.0.2.100"),
    ...times(5, "8000 garp 192.0.2.100"),
  ]);
});

Deno.test("a lower-priority advert to a master: garp_lower_prio_repeat GARPs at once and again after the delay", () => {
  const cfg = { ...DEFAULTS, delayMs: 0, lowerPrioRepeat: 2, lowerPrioDelayMs: 3000 };
  const done = announceDue(startAnnounce(cfg, [V4], 0), cfg, 0).state; // the takeover burst
  const s = lowerPriorityAnnounce(done, cfg, 10_000);
  assert.deepStrictEqual(drive(s, cfg, 1_000_000), [
    ...times(2, "10000 garp 192.0.2.100"),
    ...times(2, "13000 garp 192.0.2.100"),
  ]);
});

Deno.test("a follow-up burst after preempting a live master goes out once, at its time, beside the schedule", () => {
  const s = followUpAnnounce(startAnnounce(DEFAULTS, [V4], 0), DEFAULTS, 60);
  assert.deepStrictEqual(drive(s, DEFAULTS, 1e9), [
    ...times(5, "0 garp 192.0.2.100"),
    ...times(5, "60 garp 192.0.2.100"),
    ...times(5, "5000 garp 192.0.2.100"),
  ]);
  assert.equal(followUpAnnounce(IDLE_ANNOUNCE, DEFAULTS, 60), IDLE_ANNOUNCE);
});

Deno.test("garp_lower_prio_repeat 0 sends nothing, and nothing is sent without held addresses", () => {
  const cfg = { ...DEFAULTS, lowerPrioRepeat: 0 };
  const s = startAnnounce(cfg, [V4], 0);
  assert.equal(lowerPriorityAnnounce(s, cfg, 5), s);
  assert.equal(lowerPriorityAnnounce(IDLE_ANNOUNCE, DEFAULTS, 5), IDLE_ANNOUNCE);
});

Deno.test("an instance's garp_master_* and garp_lower_prio_* replace the global ones, intervals stay global", () => {
  const base = { ...DEFAULTS, garpIntervalMs: 7 };
  const cfg = instanceAnnounceConfig(base, {
    masterDelayMs: 1000,
    masterRepeat: 2,
    masterRefreshMs: 60_000,
    masterRefreshRepeat: 3,
    lowerPrioDelayMs: 0,
    lowerPrioRepeat: 1,
  });
  assert.deepStrictEqual(cfg, {
    repeat: 2,
    delayMs: 1000,
    refreshMs: 60_000,
    refreshRepeat: 3,
    garpIntervalMs: 7,
    gnaIntervalMs: 0,
    lowerPrioRepeat: 1,
    lowerPrioDelayMs: 0,
  });
});

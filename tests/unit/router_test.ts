/**
 * The router engine as tables of (state, event) → (state, actions), one row per rule
 * of RFC 3768 / RFC 5798 / RFC 9568 §6.4 and §7.1 as hacore implements them.
 * Every input state and event is deep-frozen first: `step` must not mutate.
 */
import assert from "node:assert/strict";
import {
  createRouter,
  deferTakeover,
  followsLiveMaster,
  HANDOVER_GRACE_MAX_MS,
  nextDeadline,
  outgoingAdvert,
  step,
  SYNC_GROUP_FAULT,
} from "../../lib/vrrp/router.ts";
import { firstMasterDownMs, masterDownIntervalMs, skewTimeMs } from "../../lib/vrrp/timing.ts";
import {
  type Advert,
  HISTORY_LIMIT,
  type RouterAction,
  type RouterConfig,
  type RouterEvent,
  type RouterState,
  type StepResult,
} from "../../lib/vrrp/types.ts";
import { routerConfig } from "../fakes/router_config.ts";

// ---------------------------------------------------------------------------------
// Helpers

const assertEquals: <T>(actual: unknown, expected: T) => void = assert.deepStrictEqual;

function deepFreeze<T>(value: T): T {
  // Typed arrays with elements cannot be frozen; nothing in them is engine state.
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value)) return value;
  for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  return Object.freeze(value);
}

function cfg(over: Partial<RouterConfig> = {}): RouterConfig {
  return routerConfig({ version: 2, ...over });
}

function adv(over: Partial<Advert> = {}): Advert {
  return {
    version: 2,
    vrid: 1,
    priority: 150,
    intervalMs: 1000,
    addresses: ["192.0.2.100"],
    authType: 0,
    authData: new Uint8Array(8),
    checksum: 0,
    ...over,
  };
}

function advertEv(src: string, over: Partial<Advert> = {}): RouterEvent {
  return { type: "advert", advert: adv(over), src };
}

/** Steps with frozen inputs: a mutation attempt throws in strict mode. */
function run(s: RouterState, ev: RouterEvent, at: number): StepResult {
  return step(deepFreeze(s), deepFreeze(ev), at);
}

function startedBackup(c: RouterConfig = cfg()): RouterState {
  return run(createRouter(c, 0), { type: "startup" }, 0).state;
}

/** A Backup following master `ip` (heard at 1000 ms, priority 200), from `mac` if given. */
function following(ip = "10.0.0.2", mac?: string, c: RouterConfig = cfg()): RouterState {
  const ev: RouterEvent = { type: "advert", advert: adv({ priority: 200 }), src: ip, srcMac: mac };
  return run(startedBackup(c), ev, 1000).state;
}

function advertFromMac(src: string, mac: string, over: Partial<Advert> = {}): RouterEvent {
  return { type: "advert", advert: adv(over), src, srcMac: mac };
}

/** A router that became Master by its Master_Down_Timer (or at once, as owner). */
function startedMaster(c: RouterConfig = cfg()): RouterState {
  const s = run(createRouter(c, 0), { type: "startup" }, 0).state;
  if (s.state === "master") return s;
  return run(s, { type: "tick" }, s.masterDownDeadlineMs!).state;
}

/** Compact, readable form of an action list. */
function show(actions: RouterAction[]): string[] {
  return actions.map((a) => {
    switch (a.type) {
      case "transition":
        return `transition ${a.transition.from}>${a.transition.to} ${a.transition.reason}`;
      case "send":
        return `send ${a.advert.priority}`;
      case "refused":
        return `refused ${a.reason}`;
      default:
        return a.type;
    }
  });
}

// v2, priority 100, 1 s: 3 × 1000 + (256 − 100) / 256 × 1000 = 3609.375 ms.
const MDI_100 = 3609.375;
const SKEW_100 = 609.375;

// ---------------------------------------------------------------------------------
// Timer arithmetic

Deno.test("timing: v2 priority 100 at 1 s gives Master_Down_Interval 3609.375 ms exactly", () => {
  assertEquals(skewTimeMs(2, 100, 1000), SKEW_100);
  assertEquals(masterDownIntervalMs(2, 100, 1000), MDI_100);
});

Deno.test("timing: v2 skew ignores the interval (seconds-based formula)", () => {
  assertEquals(skewTimeMs(2, 100, 5000), SKEW_100);
  assertEquals(masterDownIntervalMs(2, 100, 5000), 15000 + SKEW_100);
});

Deno.test("timing: v3 priority 200 at 10 ms gives skew 2.1875 ms, no truncation", () => {
  assertEquals(skewTimeMs(3, 200, 10), 2.1875);
  assertEquals(masterDownIntervalMs(3, 200, 10), 32.1875);
});

Deno.test("timing: higher priority waits less", () => {
  assert(masterDownIntervalMs(3, 254, 1000) < masterDownIntervalMs(3, 1, 1000));
});

Deno.test("timing: the first Master_Down counts from the process start when starting was quick", () => {
  // v3 priority 150 at 100 ms: MDI 341.40625; sockets open 135 ms after exec.
  assertEquals(firstMasterDownMs(3, 150, 100, 0, 135), 341.40625);
});

Deno.test("timing: the first Master_Down leaves one interval plus skew after the sockets open", () => {
  // At 10 ms adverts starting takes longer than the MDI: hear a live master first.
  assertEquals(firstMasterDownMs(3, 150, 10, 0, 135), 135 + 10 + skewTimeMs(3, 150, 10));
});

Deno.test("timing: without a start anchor (or one in the future) the first Master_Down is a full MDI from now", () => {
  assertEquals(firstMasterDownMs(2, 100, 1000, null, 50), 50 + MDI_100);
  assertEquals(firstMasterDownMs(2, 100, 1000, 60, 50), 50 + MDI_100);
});

Deno.test("timing: routers started together take over in priority order whatever their start-up took", () => {
  // Exec at 0; the sockets of the best router open last, 160 ms after the worst's (up
  // to two intervals after exec the anchor decides; later the floor does).
  const at = (priority: number, openedAt: number) =>
    firstMasterDownMs(3, priority, 100, 0, openedAt);
  assert(at(150, 190) < at(100, 120));
  assert(at(100, 120) < at(50, 30));
});

// ---------------------------------------------------------------------------------
// The table. Each row: a given state, one event at a time, the expected state name
// and action list, and any extra checks.

interface Row {
  name: string;
  given: () => RouterState;
  event: RouterEvent;
  at: number;
  state: RouterState["state"];
  actions: string[];
  check?: (r: StepResult, before: RouterState) => void;
}

const rows: Row[] = [
  // --- Initialize (§6.4.1)
  {
    name: "startup: owner (255) becomes Master at once",
    given: () => createRouter(cfg({ priority: 255 }), 0),
    event: { type: "startup" },
    at: 0,
    state: "master",
    actions: ["transition init>master owner", "hold-vips", "announce", "send 255"],
    check: ({ state }) => {
      assertEquals(state.adverDeadlineMs, 1000);
      assertEquals(state.masterDownDeadlineMs, null);
      assertEquals(state.holdingVips, true);
      assertEquals(state.counters.masterTransitions, 1);
      assertEquals(state.counters.advertisementsSent, 1);
    },
  },
  {
    name: "startup: non-owner becomes Backup with Master_Down_Timer = MDI",
    given: () => createRouter(cfg(), 0),
    event: { type: "startup" },
    at: 0,
    state: "backup",
    actions: ["transition init>backup startup"],
    check: ({ state }) => {
      assertEquals(state.masterDownDeadlineMs, MDI_100);
      assertEquals(state.adverDeadlineMs, null);
      assertEquals(state.holdingVips, false);
      assertEquals(nextDeadline(state), MDI_100);
    },
  },
  {
    name: "advertise: a Master sends an extra advert and keeps its schedule",
    given: () => startedMaster(),
    event: { type: "advertise" },
    at: MDI_100 + 400,
    state: "master",
    actions: ["send 100"],
    check: ({ state }, before) => assertEquals(state.adverDeadlineMs, before.adverDeadlineMs),
  },
  {
    name: "advertise: a Backup sends nothing and keeps its Master_Down_Timer",
    given: () => startedBackup(),
    event: { type: "advertise" },
    at: 400,
    state: "backup",
    actions: [],
    check: ({ state }) => assertEquals(state.masterDownDeadlineMs, MDI_100),
  },
  {
    name: "startup: a process start anchor makes the Master_Down_Timer count from it",
    given: () => createRouter(cfg(), 300),
    event: { type: "startup", startedAtMs: 100 },
    at: 300,
    state: "backup",
    actions: ["transition init>backup startup"],
    check: ({ state }) => assertEquals(state.masterDownDeadlineMs, 100 + MDI_100),
  },
  {
    name: "startup: an anchor never leaves less than one interval plus skew to hear a master",
    given: () => createRouter(cfg(), 5000),
    event: { type: "startup", startedAtMs: 0 },
    at: 5000,
    state: "backup",
    actions: ["transition init>backup startup"],
    check: ({ state }) => assertEquals(state.masterDownDeadlineMs, 5000 + 1000 + SKEW_100),
  },
  {
    name: "startup: the owner ignores the anchor and is Master at once",
    given: () => createRouter(cfg({ priority: 255 }), 300),
    event: { type: "startup", startedAtMs: 0 },
    at: 300,
    state: "master",
    actions: ["transition init>master owner", "hold-vips", "announce", "send 255"],
  },
  {
    name: "startup: maintenance arms no Master_Down_Timer even with an anchor",
    given: () => ({ ...createRouter(cfg(), 300), maintenance: true }),
    event: { type: "startup", startedAtMs: 0 },
    at: 300,
    state: "backup",
    actions: ["transition init>backup startup"],
    check: ({ state }) => assertEquals(state.masterDownDeadlineMs, null),
  },
  {
    name: "startup: initialState master is only a hint, the non-owner still waits as Backup",
    given: () => createRouter(cfg({ initialState: "master" }), 0),
    event: { type: "startup" },
    at: 0,
    state: "backup",
    actions: ["transition init>backup startup"],
    check: ({ state }) => assertEquals(state.masterDownDeadlineMs, MDI_100),
  },
  {
    name: "startup: a fault reported before startup starts the router in Fault",
    given: () => run(createRouter(cfg(), 0), fault("eth0", true), 0).state,
    event: { type: "startup" },
    at: 0,
    state: "fault",
    actions: ["transition init>fault fault"],
    check: ({ state }) => assertEquals(nextDeadline(state), null),
  },
  {
    name: "startup: a second startup is ignored",
    given: () => startedBackup(),
    event: { type: "startup" },
    at: 5,
    state: "backup",
    actions: [],
  },
  {
    name: "init: adverts before startup are counted and ignored",
    given: () => createRouter(cfg(), 0),
    event: advertEv("10.0.0.2"),
    at: 5,
    state: "init",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.counters.advertisementsReceived, 1);
      assertEquals(state.lastMaster, null);
    },
  },

  // --- Backup (§6.4.2)
  {
    name: "backup: tick before Master_Down_Timer does nothing",
    given: () => startedBackup(),
    event: { type: "tick" },
    at: MDI_100 - 0.001,
    state: "backup",
    actions: [],
  },
  {
    name: "backup: Master_Down_Timer fires → Master: transition, send, hold-vips, announce",
    given: () => startedBackup(),
    event: { type: "tick" },
    at: MDI_100,
    state: "master",
    actions: ["transition backup>master master-down-timer", "hold-vips", "announce", "send 100"],
    check: ({ state }) => {
      assertEquals(state.adverDeadlineMs, MDI_100 + 1000);
      assertEquals(state.masterDownDeadlineMs, null);
      assertEquals(state.counters.masterTransitions, 1);
      assertEquals(state.lastTransition?.atMs, MDI_100);
      assertEquals(state.sinceMs, MDI_100);
    },
  },
  {
    name: "backup: advert of higher priority resets Master_Down_Timer and records the master",
    given: () => startedBackup(),
    event: advertEv("10.0.0.2", { priority: 150 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.masterDownDeadlineMs, 2000 + MDI_100);
      assertEquals(state.lastMaster, { ip: "10.0.0.2", priority: 150, atMs: 2000 });
      assertEquals(state.counters.advertisementsReceived, 1);
    },
  },
  {
    name: "backup: equal priority is accepted whatever the addresses (no tie-break in Backup)",
    given: () => startedBackup(cfg({ primaryIp: "10.0.0.9" })),
    event: advertEv("10.0.0.2", { priority: 100 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => assertEquals(state.masterDownDeadlineMs, 2000 + MDI_100),
  },
  {
    name: "backup v3: learns Master_Adver_Interval from the advert and recomputes MDI",
    given: () => startedBackup(cfg({ version: 3 })),
    event: advertEv("10.0.0.2", { version: 3, priority: 200, intervalMs: 500 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.masterAdverIntervalMs, 500);
      // 3 × 500 + (256 − 100) × 500 / 256 = 1500 + 304.6875
      assertEquals(state.masterDownDeadlineMs, 2000 + 1804.6875);
    },
  },
  {
    name: "backup: priority 0 sets Master_Down_Timer to Skew_Time (fast takeover)",
    given: () => following("10.0.0.2"),
    event: advertEv("10.0.0.2", { priority: 0 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.masterDownDeadlineMs, 2000 + SKEW_100);
      assertEquals(state.counters.priorityZeroReceived, 1);
    },
  },
  {
    name: "backup: Master_Down_Timer after a priority-0 release → Master, reason priority-zero",
    given: () => run(following("10.0.0.2"), advertEv("10.0.0.2", { priority: 0 }), 2000).state,
    event: { type: "tick" },
    at: 2000 + SKEW_100,
    state: "master",
    actions: ["transition backup>master priority-zero", "hold-vips", "announce", "send 100"],
  },
  {
    name:
      "backup: priority 0 from a router it does not follow is ignored (counted, timer untouched)",
    given: () => following("10.0.0.2"),
    event: advertEv("10.0.0.9", { priority: 0 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.masterDownDeadlineMs, 1000 + MDI_100);
      assertEquals(state.counters.priorityZeroIgnored, 1);
      assertEquals(state.counters.priorityZeroReceived, 1);
      assertEquals(state.lastMaster?.ip, "10.0.0.2");
      assertEquals(state.lastMaster?.priority, 200);
    },
  },
  {
    name: "backup: priority 0 from the master's address but another MAC is ignored",
    given: () => following("10.0.0.2", "02:00:00:00:00:02"),
    event: advertFromMac("10.0.0.2", "02:66:66:66:66:66", { priority: 0 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.masterDownDeadlineMs, 1000 + MDI_100);
      assertEquals(state.counters.priorityZeroIgnored, 1);
      assertEquals(state.lastMaster?.mac, "02:00:00:00:00:02");
    },
  },
  {
    name: "backup: priority 0 from the master's address and MAC gives the fast takeover",
    given: () => following("10.0.0.2", "02:00:00:00:00:02"),
    event: advertFromMac("10.0.0.2", "02:00:00:00:00:02", { priority: 0 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.masterDownDeadlineMs, 2000 + SKEW_100);
      assertEquals(state.counters.priorityZeroIgnored, 0);
    },
  },
  {
    name: "backup: a MAC the transport could not tell falls back to the address alone",
    given: () => following("10.0.0.2"),
    event: advertFromMac("10.0.0.2", "02:00:00:00:00:02", { priority: 0 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => assertEquals(state.masterDownDeadlineMs, 2000 + SKEW_100),
  },
  {
    name: "backup: priority 0 before any master was heard is ignored; Master_Down_Timer still runs",
    given: () => startedBackup(),
    event: advertEv("10.0.0.2", { priority: 0 }),
    at: 500,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.masterDownDeadlineMs, MDI_100);
      assertEquals(state.counters.priorityZeroIgnored, 1);
      assertEquals(state.lastMaster, null);
    },
  },
  {
    name: "backup: after ignoring a forged priority 0, the Master_Down_Timer takes over as before",
    given: () => run(startedBackup(), advertEv("10.0.0.2", { priority: 0 }), 500).state,
    event: { type: "tick" },
    at: MDI_100,
    state: "master",
    actions: ["transition backup>master master-down-timer", "hold-vips", "announce", "send 100"],
  },
  {
    name: "backup, preempt off: a lower-priority advert is accepted (timer reset)",
    given: () => startedBackup(cfg({ preempt: false })),
    event: advertEv("10.0.0.2", { priority: 50 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.masterDownDeadlineMs, 2000 + MDI_100);
      assertEquals(state.preemptDeadlineMs, null);
    },
  },
  {
    name: "backup, preempt on: a lower-priority advert is discarded (timer untouched)",
    given: () => startedBackup(),
    event: advertEv("10.0.0.2", { priority: 50 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }, before) => {
      assertEquals(state.masterDownDeadlineMs, before.masterDownDeadlineMs);
      assertEquals(state.lastMaster?.priority, 50);
    },
  },
  {
    name: "backup, preempt on: the timer then fires while the low master lives → reason preempt",
    given: () => run(startedBackup(), advertEv("10.0.0.2", { priority: 50 }), 3000).state,
    event: { type: "tick" },
    at: MDI_100,
    state: "master",
    actions: ["transition backup>master preempt", "hold-vips", "announce", "send 100"],
  },
  {
    name: "backup, preempt delayed: a lower advert is followed and arms the preempt deadline",
    given: () => startedBackup(cfg({ preemptDelayMs: 5000 })),
    event: advertEv("10.0.0.2", { priority: 50 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.masterDownDeadlineMs, 2000 + MDI_100);
      assertEquals(state.preemptDeadlineMs, 7000);
      assertEquals(nextDeadline(state), 2000 + MDI_100);
    },
  },
  {
    name: "backup, preempt delayed: a later lower advert does not push the deadline back",
    given: () =>
      run(
        startedBackup(cfg({ preemptDelayMs: 5000 })),
        advertEv("10.0.0.2", { priority: 50 }),
        2000,
      )
        .state,
    event: advertEv("10.0.0.2", { priority: 50 }),
    at: 3000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.preemptDeadlineMs, 7000);
      assertEquals(state.masterDownDeadlineMs, 3000 + MDI_100);
    },
  },
  {
    name: "backup, preempt delayed: the deadline fires while the low master is heard → preempt",
    given: () =>
      feed(startedBackup(cfg({ preemptDelayMs: 2500 })), [[50, 1000], [50, 2000], [50, 3000]]),
    event: { type: "tick" },
    at: 3500,
    state: "master",
    actions: ["transition backup>master preempt", "hold-vips", "announce", "send 100"],
    check: ({ state }) => assertEquals(state.preemptDeadlineMs, null),
  },
  {
    name: "backup, preempt delayed: a higher-or-equal advert disarms the preempt deadline",
    given: () =>
      run(
        startedBackup(cfg({ preemptDelayMs: 5000 })),
        advertEv("10.0.0.2", { priority: 50 }),
        2000,
      )
        .state,
    event: advertEv("10.0.0.3", { priority: 100 }),
    at: 3000,
    state: "backup",
    actions: [],
    check: ({ state }) => assertEquals(state.preemptDeadlineMs, null),
  },
  {
    name: "backup: our own looped-back advert is ignored entirely",
    given: () => startedBackup(),
    event: advertEv("10.0.0.1", { priority: 200 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }, before) => {
      assertEquals(state.counters.advertisementsReceived, 0);
      assertEquals(state.masterDownDeadlineMs, before.masterDownDeadlineMs);
    },
  },

  // --- Validation (§7.1)
  {
    name: "v2: Adver Int differing from ours is dropped (RFC 3768 MUST) and counted",
    given: () => startedBackup(),
    event: advertEv("10.0.0.2", { priority: 200, intervalMs: 2000 }),
    at: 2000,
    state: "backup",
    actions: ["refused interval"],
    check: ({ state }, before) => {
      assertEquals(state.counters.advertiseIntervalErrors, 1);
      assertEquals(state.counters.advertisementsReceived, 1);
      assertEquals(state.masterDownDeadlineMs, before.masterDownDeadlineMs);
      assertEquals(state.lastMaster, null);
    },
  },
  {
    name: "v2: interval mismatch is dropped by a Master too (no reply, no demotion)",
    given: () => startedMaster(),
    event: advertEv("10.0.0.2", { priority: 200, intervalMs: 3000 }),
    at: 4000,
    state: "master",
    actions: ["refused interval"],
    check: ({ state }) => assertEquals(state.counters.advertiseIntervalErrors, 1),
  },
  {
    name: "v3: the advert's interval is not checked, only learned",
    given: () => startedBackup(cfg({ version: 3 })),
    event: advertEv("10.0.0.2", { version: 3, priority: 200, intervalMs: 2000 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => assertEquals(state.counters.advertiseIntervalErrors, 0),
  },
  {
    name: "v3: a zero interval is dropped (RFC 9568 erratum 8301)",
    given: () => startedBackup(cfg({ version: 3 })),
    event: advertEv("10.0.0.2", { version: 3, priority: 200, intervalMs: 0 }),
    at: 2000,
    state: "backup",
    actions: ["refused interval"],
    check: ({ state }) => assertEquals(state.counters.advertiseIntervalErrors, 1),
  },
  {
    name: "address list differing from ours (as a set) is dropped and counted",
    given: () => startedBackup(),
    event: advertEv("10.0.0.2", { priority: 200, addresses: ["192.0.2.101"] }),
    at: 2000,
    state: "backup",
    actions: ["refused address-list"],
    check: ({ state }) => {
      assertEquals(state.counters.addressListErrors, 1);
      assertEquals(state.lastMaster, null);
    },
  },
  {
    name: "address list in another order is the same set: accepted",
    given: () => startedBackup(cfg({ addresses: ["192.0.2.100", "192.0.2.101"] })),
    event: advertEv("10.0.0.2", { priority: 200, addresses: ["192.0.2.101", "192.0.2.100"] }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.counters.addressListErrors, 0);
      assertEquals(state.masterDownDeadlineMs, 2000 + MDI_100);
    },
  },
  {
    name: "address list mismatch from the owner (255) is counted but processed (RFC 3768 §7.1)",
    given: () => startedBackup(),
    event: advertEv("10.0.0.2", { priority: 255, addresses: ["192.0.2.101"] }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.counters.addressListErrors, 1);
      assertEquals(state.masterDownDeadlineMs, 2000 + MDI_100);
    },
  },
  {
    name: "address list mismatch in a priority-0 release is counted but still gives fast takeover",
    given: () => following("10.0.0.2"),
    event: advertEv("10.0.0.2", { priority: 0, addresses: [] }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.counters.addressListErrors, 1);
      assertEquals(state.masterDownDeadlineMs, 2000 + SKEW_100);
    },
  },
  {
    name: "v2 auth: type differing from ours → invalidAuthType",
    given: () => startedBackup(cfg({ authType: 1, authPass: "secret" })),
    event: advertEv("10.0.0.2", { priority: 200, authType: 0 }),
    at: 2000,
    state: "backup",
    actions: ["refused auth-type"],
    check: ({ state }) => assertEquals(state.counters.invalidAuthType, 1),
  },
  {
    name: "v2 auth: wrong password → authFailures",
    given: () => startedBackup(cfg({ authType: 1, authPass: "secret" })),
    event: advertEv("10.0.0.2", {
      priority: 200,
      authType: 1,
      authData: outgoingAdvert(cfg({ authType: 1, authPass: "wrong" }), 200, 1000).authData,
    }),
    at: 2000,
    state: "backup",
    actions: ["refused auth"],
    check: ({ state }) => assertEquals(state.counters.authFailures, 1),
  },
  {
    name: "v2 auth: right password is accepted",
    given: () => startedBackup(cfg({ authType: 1, authPass: "secret" })),
    event: advertEv("10.0.0.2", {
      priority: 200,
      authType: 1,
      authData: outgoingAdvert(cfg({ authType: 1, authPass: "secret" }), 200, 1000).authData,
    }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.counters.authFailures, 0);
      assertEquals(state.masterDownDeadlineMs, 2000 + MDI_100);
    },
  },
  {
    name: "version differing from ours → versionErrors",
    given: () => startedBackup(),
    event: advertEv("10.0.0.2", { version: 3, priority: 200 }),
    at: 2000,
    state: "backup",
    actions: ["refused version"],
    check: ({ state }) => assertEquals(state.counters.versionErrors, 1),
  },
  {
    name: "unicast: a source outside unicastPeers → unicastPeerErrors",
    given: () => startedBackup(cfg({ unicastPeers: ["10.0.0.3"] })),
    event: advertEv("10.0.0.2", { priority: 200 }),
    at: 2000,
    state: "backup",
    actions: ["refused unicast-peer"],
    check: ({ state }) => assertEquals(state.counters.unicastPeerErrors, 1),
  },
  {
    name: "unicast: a listed peer is accepted",
    given: () => startedBackup(cfg({ unicastPeers: ["10.0.0.3"] })),
    event: advertEv("10.0.0.3", { priority: 200 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => assertEquals(state.masterDownDeadlineMs, 2000 + MDI_100),
  },
  {
    name: "dropped: a codec drop bumps its counter",
    given: () => startedBackup(),
    event: { type: "dropped", reason: "checksum" },
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => assertEquals(state.counters.checksumErrors, 1),
  },
  {
    name: "dropped: ttl, truncated and auth drops map to their RFC 6527 counters",
    given: () =>
      [
        { type: "dropped", reason: "ttl" },
        { type: "dropped", reason: "truncated" },
        { type: "dropped", reason: "length" },
      ].reduce((s, e) => run(s, e as RouterEvent, 1).state, startedBackup()),
    event: { type: "dropped", reason: "auth" },
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.counters.ipTtlErrors, 1);
      assertEquals(state.counters.packetLengthErrors, 2);
      assertEquals(state.counters.authFailures, 1);
    },
  },
  {
    name: "v3 auto checksum: the form each peer uses is remembered",
    given: () => startedBackup(cfg({ version: 3 })),
    event: {
      type: "advert",
      advert: adv({ version: 3, priority: 200 }),
      src: "10.0.0.2",
      checksumForm: "rfc9568",
    },
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => assertEquals(state.peerChecksum, { "10.0.0.2": "rfc9568" }),
  },

  // --- Master (§6.4.3)
  {
    name: "master: Adver_Timer due → send an advert, re-arm to now + interval",
    given: () => startedMaster(),
    event: { type: "tick" },
    at: MDI_100 + 1000,
    state: "master",
    actions: ["send 100"],
    check: ({ state }) => {
      assertEquals(state.adverDeadlineMs, MDI_100 + 2000);
      assertEquals(state.counters.advertisementsSent, 2);
    },
  },
  {
    name: "master: priority-0 advert → send at once and reset Adver_Timer",
    given: () => startedMaster(),
    event: advertEv("10.0.0.2", { priority: 0 }),
    at: 4000,
    state: "master",
    actions: ["send 100"],
    check: ({ state }) => {
      assertEquals(state.adverDeadlineMs, 5000);
      assertEquals(state.counters.priorityZeroReceived, 1);
    },
  },
  {
    name:
      "master: higher priority → Backup, VIPs kept for the handover grace, MDI timer, reason higher-priority",
    given: () => startedMaster(),
    event: advertEv("10.0.0.2", { priority: 150 }),
    at: 4000,
    state: "backup",
    actions: [
      "send 100",
      "transition master>backup higher-priority",
    ],
    check: ({ state }) => {
      assertEquals(state.adverDeadlineMs, null);
      assertEquals(state.masterDownDeadlineMs, 4000 + MDI_100);
      // Connects already on their way to us are answered for the grace, then released.
      assertEquals(state.holdingVips, true);
      assertEquals(state.releaseDeadlineMs, 4000 + HANDOVER_GRACE_MAX_MS);
      const later = run(state, { type: "tick" }, 4000 + HANDOVER_GRACE_MAX_MS);
      assertEquals(show(later.actions), ["release-vips"]);
      assertEquals(later.state.holdingVips, false);
      assertEquals(state.lastMaster, { ip: "10.0.0.2", priority: 150, atMs: 4000 });
    },
  },
  {
    name: "master v3: higher priority → Backup learning the new master's interval",
    given: () => startedMaster(cfg({ version: 3 })),
    event: advertEv("10.0.0.2", { version: 3, priority: 150, intervalMs: 200 }),
    at: 4000,
    state: "backup",
    actions: [
      "send 100",
      "transition master>backup higher-priority",
    ],
    check: ({ state }) => {
      assertEquals(state.masterAdverIntervalMs, 200);
      // 3 × 200 + 156 × 200 / 256 = 600 + 121.875
      assertEquals(state.masterDownDeadlineMs, 4000 + 721.875);
    },
  },
  {
    name: "master: equal priority, 10.0.0.10 beats our 10.0.0.9 (numeric bytes, not text)",
    given: () => startedMaster(cfg({ primaryIp: "10.0.0.9" })),
    event: advertEv("10.0.0.10", { priority: 100 }),
    at: 4000,
    state: "backup",
    actions: [
      "send 100",
      "transition master>backup higher-priority",
    ],
  },
  {
    name: "master: equal priority from a lower address (10.0.0.9 < our 10.0.0.10) → stay, reply",
    given: () => startedMaster(cfg({ primaryIp: "10.0.0.10" })),
    event: advertEv("10.0.0.9", { priority: 100 }),
    at: 4000,
    state: "master",
    actions: ["send 100"],
    check: ({ state }) => assertEquals(state.adverDeadlineMs, 5000),
  },
  {
    name: "master: equal priority tie-break for IPv6 compares all 16 bytes",
    given: () =>
      startedMaster(
        cfg({ version: 3, family: "ipv6", primaryIp: "fe80::9", addresses: ["2001:db8::1"] }),
      ),
    event: advertEv("fe80::10", { version: 3, priority: 100, addresses: ["2001:db8::1"] }),
    at: 4000,
    state: "backup",
    actions: [
      "send 100",
      "transition master>backup higher-priority",
    ],
  },
  {
    name: "master: lower priority → RFC 9568: send at once, reset Adver_Timer, stay Master",
    given: () => startedMaster(),
    event: advertEv("10.0.0.2", { priority: 50 }),
    at: 4000,
    state: "master",
    actions: ["send 100"],
    check: ({ state }) => {
      assertEquals(state.adverDeadlineMs, 5000);
      assertEquals(state.counters.advertisementsSent, 2);
    },
  },
  {
    name: "master, owner: adverts are discarded (§7.1: the owner MUST discard)",
    given: () => startedMaster(cfg({ priority: 255 })),
    event: advertEv("10.0.0.2", { priority: 255 }),
    at: 500,
    state: "master",
    actions: [],
    check: ({ state }) => assertEquals(state.counters.advertisementsReceived, 1),
  },

  // --- Dual master: the winner re-announces once the lower-priority rival is quiet
  {
    name: "master: a lower-priority master becomes the rival, quiet after two of its intervals",
    given: () => startedMaster(cfg({ version: 3 })),
    event: advertEv("10.0.0.2", { version: 3, priority: 50, intervalMs: 300 }),
    at: 4000,
    state: "master",
    actions: ["send 100"],
    check: ({ state }) => {
      assertEquals(state.rival, { ip: "10.0.0.2", priority: 50, atMs: 4000, firstAtMs: 4000 });
      assertEquals(state.rivalQuietDeadlineMs, 4600);
      assertEquals(nextDeadline(state), 4600);
    },
  },
  {
    name: "master: equal priority from a lower address is a rival too",
    given: () => startedMaster(cfg({ primaryIp: "10.0.0.10" })),
    event: advertEv("10.0.0.9", { priority: 100 }),
    at: 4000,
    state: "master",
    actions: ["send 100"],
    check: ({ state }) => assertEquals(state.rivalQuietDeadlineMs, 6000),
  },
  {
    name: "master: the rival silent for two intervals → reannounce, rival forgotten",
    given: () =>
      run(
        startedMaster(cfg({ version: 3 })),
        advertEv("10.0.0.2", { version: 3, priority: 50, intervalMs: 300 }),
        4000,
      ).state,
    event: { type: "tick" },
    at: 4600,
    state: "master",
    actions: ["reannounce"],
    check: ({ state, actions }) => {
      assertEquals(actions[0], {
        type: "reannounce",
        rival: "10.0.0.2",
        detail: "10.0.0.2 (priority 50) silent for 600 ms",
        handover: false,
      });
      assertEquals(state.rival, null);
      assertEquals(state.rivalQuietDeadlineMs, null);
      assertEquals(nextDeadline(state), 5000);
    },
  },
  {
    name: "master: a rival that keeps advertising pushes its quiet deadline on",
    given: () =>
      run(
        startedMaster(cfg({ version: 3 })),
        advertEv("10.0.0.2", { version: 3, priority: 50, intervalMs: 300 }),
        4000,
      ).state,
    event: advertEv("10.0.0.2", { version: 3, priority: 50, intervalMs: 300 }),
    at: 4300,
    state: "master",
    actions: ["send 100"],
    check: ({ state }) => {
      assertEquals(state.rivalQuietDeadlineMs, 4900);
      assertEquals(show(run(state, { type: "tick" }, 4600).actions), []);
    },
  },
  {
    name: "master: the rival releases (priority 0) → assert at once and reannounce at once",
    given: () => run(startedMaster(), advertEv("10.0.0.2", { priority: 50 }), 4000).state,
    event: advertEv("10.0.0.2", { priority: 0 }),
    at: 4100,
    state: "master",
    actions: ["send 100", "reannounce"],
    check: ({ state, actions }) => {
      assertEquals(
        actions[1].type === "reannounce" && actions[1].detail,
        "10.0.0.2 (priority 50) released (priority 0)",
      );
      assertEquals(nextDeadline(state), 5100);
    },
  },
  {
    name: "master: a priority-0 advert from another router is no rival's release",
    given: () => run(startedMaster(), advertEv("10.0.0.2", { priority: 50 }), 4000).state,
    event: advertEv("10.0.0.3", { priority: 0 }),
    at: 4100,
    state: "master",
    actions: ["send 100"],
    check: ({ state }) => assertEquals(state.rival?.ip, "10.0.0.2"),
  },
  {
    name: "master: losing to a higher priority forgets the rival (no reannounce as Backup)",
    given: () => run(startedMaster(), advertEv("10.0.0.2", { priority: 50 }), 4000).state,
    event: advertEv("10.0.0.3", { priority: 150 }),
    at: 4100,
    state: "backup",
    actions: [
      "send 100",
      "transition master>backup higher-priority",
    ],
    check: ({ state }) => {
      assertEquals(state.rival, null);
      assertEquals(state.rivalQuietDeadlineMs, null);
      // Only the end of the handover grace is left: the VIPs go, nothing is reannounced.
      assertEquals(show(run(state, { type: "tick" }, 6000).actions), ["release-vips"]);
    },
  },
  {
    name: "master, owner: a lower master is not answered (§7.1) but is reannounced over",
    given: () => startedMaster(cfg({ priority: 255 })),
    event: advertEv("10.0.0.2", { priority: 100 }),
    at: 500,
    state: "master",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.rivalQuietDeadlineMs, 2500);
      let s = run(state, { type: "tick" }, 1000).state;
      s = run(s, { type: "tick" }, 2000).state;
      assertEquals(show(run(s, { type: "tick" }, 2500).actions), ["reannounce"]);
    },
  },

  {
    name: "master, just preempted: a lower master's parting advert is a handover, not a rival",
    given: () => preempted(),
    // preempted() ignored the lower master heard at 1000 ms; its timer ran out at 3609.375 ms.
    event: advertEv("10.0.0.2", { priority: 50 }),
    at: 3650,
    state: "master",
    actions: ["send 100"],
    check: ({ state }) => {
      assertEquals(state.sinceMs, 3609.375);
      assertEquals(state.rival, null);
      assertEquals(state.rivalQuietDeadlineMs, null);
    },
  },

  // --- Priority changes
  {
    name: "priority: a Master stores it and advertises it at the next interval, no state change",
    given: () => startedMaster(),
    event: { type: "priority", priority: 80 },
    at: 4000,
    state: "master",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.priority, 80);
      const next = run(state, { type: "tick" }, state.adverDeadlineMs!);
      assertEquals(show(next.actions), ["send 80"]);
    },
  },
  {
    name: "priority: clamped to 1..254 for a non-owner",
    given: () => startedBackup(),
    event: { type: "priority", priority: 300 },
    at: 1,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.priority, 254);
      assertEquals(run(state, { type: "priority", priority: -5 }, 2).state.priority, 1);
    },
  },
  {
    name: "priority: the owner stays at 255",
    given: () => startedMaster(cfg({ priority: 255 })),
    event: { type: "priority", priority: 100 },
    at: 1,
    state: "master",
    actions: [],
    check: ({ state }) => assertEquals(state.priority, 255),
  },
  {
    name: "priority: a Backup raised above a live lower master preempts via the normal rules",
    given: () => {
      const s = run(startedBackup(), advertEv("10.0.0.2", { priority: 120 }), 1000).state;
      const raised = run(s, { type: "priority", priority: 150 }, 1500).state;
      return run(raised, advertEv("10.0.0.2", { priority: 120 }), 2000).state; // now discarded
    },
    event: { type: "tick" },
    // The timer armed at 1000 keeps its old length: a priority change recomputes nothing.
    at: 1000 + MDI_100,
    state: "master",
    actions: ["transition backup>master preempt", "hold-vips", "announce", "send 150"],
  },

  // --- Fault
  {
    name: "fault as Master: send priority 0, release-vips, timers cleared",
    given: () => startedMaster(),
    event: { type: "fault", tracker: "eth0", failing: true },
    at: 4000,
    state: "fault",
    actions: ["transition master>fault fault", "send 0", "release-vips"],
    check: ({ state }) => {
      assertEquals(nextDeadline(state), null);
      assertEquals(state.faults, ["eth0"]);
      assertEquals(state.counters.priorityZeroSent, 1);
    },
  },
  {
    name: "fault as Backup: transition only, timers cleared",
    given: () => startedBackup(),
    event: { type: "fault", tracker: "eth0", failing: true },
    at: 1000,
    state: "fault",
    actions: ["transition backup>fault fault"],
    check: ({ state }) => assertEquals(nextDeadline(state), null),
  },
  {
    name: "fault: adverts are ignored but counted",
    given: () => run(startedBackup(), fault("eth0", true), 1000).state,
    event: advertEv("10.0.0.2", { priority: 0 }),
    at: 2000,
    state: "fault",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.counters.advertisementsReceived, 1);
      assertEquals(nextDeadline(state), null);
    },
  },
  {
    name: "fault: clearing one of two failing trackers stays in Fault",
    given: () => run(run(startedBackup(), fault("a", true), 1).state, fault("b", true), 2).state,
    event: { type: "fault", tracker: "a", failing: false },
    at: 3,
    state: "fault",
    actions: [],
    check: ({ state }) => assertEquals(state.faults, ["b"]),
  },
  {
    name: "fault cleared → Backup with a fresh Master_Down_Timer",
    given: () => run(startedMaster(), fault("eth0", true), 4000).state,
    event: { type: "fault", tracker: "eth0", failing: false },
    at: 6000,
    state: "backup",
    actions: ["transition fault>backup fault-cleared"],
    check: ({ state }) => assertEquals(state.masterDownDeadlineMs, 6000 + MDI_100),
  },
  {
    name: "fault cleared for the owner → Master at once",
    given: () => run(startedMaster(cfg({ priority: 255 })), fault("eth0", true), 100).state,
    event: { type: "fault", tracker: "eth0", failing: false },
    at: 200,
    state: "master",
    actions: ["transition fault>master fault-cleared", "hold-vips", "announce", "send 255"],
  },
  {
    name: "fault: a repeated report of the same fault changes nothing",
    given: () => run(startedBackup(), fault("eth0", true), 1).state,
    event: { type: "fault", tracker: "eth0", failing: true },
    at: 2,
    state: "fault",
    actions: [],
  },

  // --- Sync-group forcing
  {
    name: "force master from Backup: like a Master_Down_Timer expiry, reason sync-group",
    given: () => startedBackup(),
    event: { type: "force", state: "master", detail: "g" },
    at: 1000,
    state: "master",
    actions: ["transition backup>master sync-group", "hold-vips", "announce", "send 100"],
  },
  {
    name: "force master from Fault is refused",
    given: () => run(startedBackup(), fault("eth0", true), 1).state,
    event: { type: "force", state: "master", detail: "g" },
    at: 1000,
    state: "fault",
    actions: [],
  },
  {
    name: "force backup from Master: send priority 0, release-vips, fresh MDI timer",
    given: () => startedMaster(),
    event: { type: "force", state: "backup", detail: "g" },
    at: 4000,
    state: "backup",
    actions: ["transition master>backup sync-group", "send 0", "release-vips"],
    check: ({ state }) => assertEquals(state.masterDownDeadlineMs, 4000 + MDI_100),
  },
  {
    name: "force fault from Master: like a fault, held under SYNC_GROUP_FAULT",
    given: () => startedMaster(),
    event: { type: "force", state: "fault", detail: "g" },
    at: 4000,
    state: "fault",
    actions: ["transition master>fault sync-group", "send 0", "release-vips"],
    check: ({ state }) => assertEquals(state.faults, [SYNC_GROUP_FAULT]),
  },
  {
    name: "force backup clears a sync-group fault → Backup",
    given: () => run(startedMaster(), { type: "force", state: "fault", detail: "g" }, 4000).state,
    event: { type: "force", state: "backup", detail: "g" },
    at: 5000,
    state: "backup",
    actions: ["transition fault>backup sync-group"],
    check: ({ state }) => {
      assertEquals(state.faults, []);
      assertEquals(state.masterDownDeadlineMs, 5000 + MDI_100);
    },
  },
  {
    name: "force backup keeps a router in Fault while its own tracker fails",
    given: () =>
      run(
        run(startedBackup(), { type: "force", state: "fault", detail: "g" }, 1).state,
        fault("eth0", true),
        2,
      ).state,
    event: { type: "force", state: "backup", detail: "g" },
    at: 3,
    state: "fault",
    actions: [],
    check: ({ state }) => assertEquals(state.faults, ["eth0"]),
  },

  // --- Shutdown
  {
    name: "shutdown as Master, no hold: transition, send 0, release-vips; stopped",
    given: () => startedMaster(),
    event: { type: "shutdown" },
    at: 4000,
    state: "init",
    actions: ["transition master>init shutdown", "send 0", "release-vips"],
    check: ({ state }) => {
      assertEquals(state.stopped, true);
      assertEquals(state.counters.priorityZeroSent, 1);
      assertEquals(nextDeadline(state), null);
    },
  },
  {
    name: "shutdown as Master with release hold: keep the VIPs until the deadline",
    given: () => startedMaster(cfg({ releaseHoldMs: 2000 })),
    event: { type: "shutdown" },
    at: 4000,
    state: "init",
    actions: ["transition master>init shutdown", "send 0"],
    check: ({ state }) => {
      assertEquals(state.holdingVips, true);
      assertEquals(state.releaseDeadlineMs, 6000);
      assertEquals(nextDeadline(state), 6000);
    },
  },
  {
    // Connects already sent our way still arrive: keep the VIPs one interval more
    // (capped at HANDOVER_GRACE_MAX_MS) so they are answered.
    name: "release hold: the new master's first advert shortens the hold to the handover grace",
    given: () => run(startedMaster(cfg({ releaseHoldMs: 2000 })), { type: "shutdown" }, 4000).state,
    event: advertEv("10.0.0.2", { priority: 90 }),
    at: 4700,
    state: "init",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.holdingVips, true);
      assertEquals(nextDeadline(state), 4700 + HANDOVER_GRACE_MAX_MS);
    },
  },
  {
    name: "release hold: the handover grace ends and the VIPs go",
    given: () =>
      run(
        run(startedMaster(cfg({ releaseHoldMs: 2000 })), { type: "shutdown" }, 4000).state,
        advertEv("10.0.0.2", { priority: 90 }),
        4700,
      ).state,
    event: { type: "tick" },
    at: 4700 + HANDOVER_GRACE_MAX_MS,
    state: "init",
    actions: ["release-vips"],
    check: ({ state }) => {
      assertEquals(state.holdingVips, false);
      assertEquals(nextDeadline(state), null);
    },
  },
  {
    name: "release hold: with 10 ms adverts the handover grace is one interval",
    given: () =>
      run(
        startedMaster(cfg({ version: 3, advertIntervalMs: 10, releaseHoldMs: 500 })),
        { type: "shutdown" },
        4000,
      ).state,
    event: advertEv("10.0.0.2", { priority: 90, version: 3, intervalMs: 10 }),
    at: 4007,
    state: "init",
    actions: [],
    check: ({ state }) => assertEquals(nextDeadline(state), 4017),
  },
  {
    name: "release hold: another priority-0 advert does not release",
    given: () => run(startedMaster(cfg({ releaseHoldMs: 2000 })), { type: "shutdown" }, 4000).state,
    event: advertEv("10.0.0.2", { priority: 0 }),
    at: 4500,
    state: "init",
    actions: [],
  },
  {
    name: "release hold: the deadline releases the VIPs",
    given: () => run(startedMaster(cfg({ releaseHoldMs: 2000 })), { type: "shutdown" }, 4000).state,
    event: { type: "tick" },
    at: 6000,
    state: "init",
    actions: ["release-vips"],
  },
  {
    name: "shutdown as Backup: init at once",
    given: () => startedBackup(),
    event: { type: "shutdown" },
    at: 1000,
    state: "init",
    actions: ["transition backup>init shutdown"],
    check: ({ state }) => {
      assertEquals(state.stopped, true);
      assertEquals(nextDeadline(state), null);
    },
  },
  {
    name: "shutdown as Fault: init at once",
    given: () => run(startedBackup(), fault("eth0", true), 1).state,
    event: { type: "shutdown" },
    at: 1000,
    state: "init",
    actions: ["transition fault>init shutdown"],
  },
  {
    name: "stopped: everything else is ignored (startup, adverts, forces)",
    given: () => run(startedBackup(), { type: "shutdown" }, 1000).state,
    event: { type: "startup" },
    at: 2000,
    state: "init",
    actions: [],
    check: ({ state }) => {
      for (
        const e of [
          advertEv("10.0.0.2", { priority: 0 }),
          { type: "force", state: "master", detail: "g" },
          { type: "tick" },
        ] as RouterEvent[]
      ) {
        const r = run(state, e, 3000);
        assertEquals(r.actions, []);
        assertEquals(r.state.state, "init");
      }
    },
  },

  // --- Maintenance (operator): release mastership and stay Backup until off
  {
    name: "maintenance on as Master, no hold: transition, send 0, release-vips; no timer",
    given: () => startedMaster(),
    event: maint(true),
    at: 4000,
    state: "backup",
    actions: ["transition master>backup maintenance", "send 0", "release-vips"],
    check: ({ state }) => {
      assertEquals(state.maintenance, true);
      assertEquals(state.holdingVips, false);
      assertEquals(state.counters.priorityZeroSent, 1);
      assertEquals(nextDeadline(state), null);
    },
  },
  {
    name: "maintenance on as Master with release hold: keeps the VIPs like a shutdown",
    given: () => startedMaster(cfg({ releaseHoldMs: 2000 })),
    event: maint(true),
    at: 4000,
    state: "backup",
    actions: ["transition master>backup maintenance", "send 0"],
    check: ({ state }) => {
      assertEquals(state.holdingVips, true);
      assertEquals(state.releaseDeadlineMs, 6000);
      assertEquals(state.masterDownDeadlineMs, null);
      assertEquals(nextDeadline(state), 6000);
    },
  },
  {
    name: "maintenance hold: the new master's first advert shortens the hold to the handover grace",
    given: () => run(startedMaster(cfg({ releaseHoldMs: 2000 })), maint(true), 4000).state,
    event: advertEv("10.0.0.2", { priority: 90 }),
    at: 4700,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.releaseDeadlineMs, 4700 + HANDOVER_GRACE_MAX_MS);
      assertEquals(nextDeadline(state), 4700 + HANDOVER_GRACE_MAX_MS);
      assertEquals(state.lastMaster?.ip, "10.0.0.2");
    },
  },
  {
    name: "maintenance hold: the deadline releases the VIPs",
    given: () => run(startedMaster(cfg({ releaseHoldMs: 2000 })), maint(true), 4000).state,
    event: { type: "tick" },
    at: 6000,
    state: "backup",
    actions: ["release-vips"],
    check: ({ state }) => assertEquals(nextDeadline(state), null),
  },
  {
    name: "maintenance hold: a shutdown lets the stopped router finish the hold",
    given: () => run(startedMaster(cfg({ releaseHoldMs: 2000 })), maint(true), 4000).state,
    event: { type: "shutdown" },
    at: 4500,
    state: "init",
    actions: ["transition backup>init shutdown"],
    check: ({ state }) => {
      assertEquals(state.holdingVips, true);
      assertEquals(run(state, { type: "tick" }, 6000).actions.map((a) => a.type), [
        "release-vips",
      ]);
    },
  },
  {
    name: "maintenance hold: a fault ends it at once",
    given: () => run(startedMaster(cfg({ releaseHoldMs: 2000 })), maint(true), 4000).state,
    event: fault("eth0", true),
    at: 4500,
    state: "fault",
    actions: ["transition backup>fault fault", "release-vips"],
    check: ({ state }) => assertEquals(state.releaseDeadlineMs, null),
  },
  {
    name: "maintenance on as Backup: no transition, the Master_Down_Timer is disarmed",
    given: () => startedBackup(),
    event: maint(true),
    at: 1000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.maintenance, true);
      assertEquals(nextDeadline(state), null);
    },
  },
  {
    name: "maintenance: a Backup hearing a master arms no timer, so master-down never fires",
    given: () => run(startedBackup(), maint(true), 1000).state,
    event: advertEv("10.0.0.2", { priority: 150 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(nextDeadline(state), null);
      assertEquals(state.lastMaster, { ip: "10.0.0.2", priority: 150, atMs: 2000 });
      assertEquals(run(state, { type: "tick" }, 100_000).actions, []);
    },
  },
  {
    name: "maintenance: a priority-0 release does not arm the Skew_Time takeover",
    given: () => run(startedBackup(), maint(true), 1000).state,
    event: advertEv("10.0.0.2", { priority: 0 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(nextDeadline(state), null);
      assertEquals(state.counters.priorityZeroReceived, 1);
    },
  },
  {
    name: "maintenance: a lower-priority master is not preempted (nor with a preempt delay)",
    given: () => run(startedBackup(cfg({ preemptDelayMs: 500 })), maint(true), 1000).state,
    event: advertEv("10.0.0.2", { priority: 50 }),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(nextDeadline(state), null);
      assert(followsLiveMaster(state, 2100), "in maintenance the live master is followed");
    },
  },
  {
    name: "maintenance: a sync-group force to Master is refused",
    given: () => run(startedBackup(), maint(true), 1000).state,
    event: { type: "force", state: "master", detail: "sync group g" },
    at: 2000,
    state: "backup",
    actions: [],
  },
  {
    name: "maintenance: a repeated on changes nothing",
    given: () => run(startedMaster(), maint(true), 4000).state,
    event: maint(true),
    at: 4500,
    state: "backup",
    actions: [],
  },
  {
    name: "maintenance off: Backup with a fresh Master_Down_Timer, no transition",
    given: () =>
      run(run(startedBackup(), maint(true), 1000).state, advertEv("10.0.0.2"), 2000).state,
    event: maint(false),
    at: 9000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.maintenance, false);
      assertEquals(state.masterDownDeadlineMs, 9000 + MDI_100);
      const r = run(state, { type: "tick" }, 9000 + MDI_100);
      assertEquals(show(r.actions), [
        "transition backup>master master-down-timer",
        "hold-vips",
        "announce",
        "send 100",
      ]);
    },
  },
  {
    name: "maintenance off: a lower-priority master is preempted again by the normal rules",
    given: () => run(startedBackup(), maint(true), 1000).state,
    event: maint(false),
    at: 2000,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      const low = run(state, advertEv("10.0.0.2", { priority: 50 }), 2500).state; // discarded
      assertEquals(run(low, { type: "tick" }, 2000 + MDI_100).actions[0].type, "transition");
    },
  },
  {
    name: "maintenance on as owner: releases like anyone; off: Master at once",
    given: () => run(startedMaster(cfg({ priority: 255 })), maint(true), 500).state,
    event: maint(false),
    at: 1500,
    state: "master",
    actions: ["transition backup>master maintenance", "hold-vips", "announce", "send 255"],
    check: (_r, before) => {
      assertEquals(before.state, "backup");
      assertEquals(before.holdingVips, false);
      assertEquals(before.lastTransition?.reason, "maintenance");
    },
  },
  {
    name: "maintenance before startup: starts Backup with no timer, the owner too",
    given: () => run(createRouter(cfg({ priority: 255 }), 0), maint(true), 0).state,
    event: { type: "startup" },
    at: 0,
    state: "backup",
    actions: ["transition init>backup startup"],
    check: ({ state }) => {
      assertEquals(nextDeadline(state), null);
      assertEquals(state.lastTransition?.detail, "maintenance: staying backup");
    },
  },
  {
    name: "maintenance in Fault: the fault clears to Backup with no timer",
    given: () => run(run(startedBackup(), fault("eth0", true), 1).state, maint(true), 2).state,
    event: fault("eth0", false),
    at: 3,
    state: "backup",
    actions: ["transition fault>backup fault-cleared"],
    check: ({ state }) => assertEquals(nextDeadline(state), null),
  },

  // --- Reconfigure (reload): same virtual router, new settings, no state change
  {
    name: "reconfigure as Master: no state change, the next advert carries the new addresses",
    given: () => startedMaster(),
    event: reconf({ addresses: ["192.0.2.100", "192.0.2.101"], preempt: false }),
    at: 4000,
    state: "master",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.adverDeadlineMs, MDI_100 + 1000);
      assertEquals(state.config.preempt, false);
      const next = run(state, { type: "tick" }, MDI_100 + 1000);
      const sent = next.actions[0];
      assert(sent.type === "send");
      assertEquals(sent.advert.addresses, ["192.0.2.100", "192.0.2.101"]);
    },
  },
  {
    name: "reconfigure as Master, shorter interval: next advert no later than now + new interval",
    given: () => startedMaster(),
    event: reconf({ advertIntervalMs: 200 }),
    at: 4000,
    state: "master",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.adverDeadlineMs, 4200);
      assertEquals(state.masterAdverIntervalMs, 200);
    },
  },
  {
    name: "reconfigure as Master, longer interval: the advert already due still goes out",
    given: () => startedMaster(),
    event: reconf({ advertIntervalMs: 5000 }),
    at: 4000,
    state: "master",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.adverDeadlineMs, MDI_100 + 1000);
      const next = run(state, { type: "tick" }, MDI_100 + 1000).state;
      assertEquals(next.adverDeadlineMs, MDI_100 + 6000);
    },
  },
  {
    name: "reconfigure with another VRID (or version, family, ownership) is ignored",
    given: () => startedMaster(),
    event: reconf({ vrid: 2, advertIntervalMs: 200 }),
    at: 4000,
    state: "master",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.config.vrid, 1);
      assertEquals(state.config.advertIntervalMs, 1000);
      assertEquals(run(state, reconf({ priority: 255 }), 4001).state.config.priority, 100);
    },
  },
  {
    name: "reconfigure as Backup: the timer stays, the priority is not touched",
    given: () => run(startedBackup(), advertEv("10.0.0.2"), 1000).state,
    event: reconf({ priority: 200, advertIntervalMs: 2000 }),
    at: 1500,
    state: "backup",
    actions: [],
    check: ({ state }) => {
      assertEquals(state.masterDownDeadlineMs, 1000 + MDI_100);
      assertEquals(state.priority, 100);
      assertEquals(state.config.priority, 200);
      assertEquals(state.masterAdverIntervalMs, 2000); // v2: the configured interval
    },
  },
  {
    name: "reconfigure as Backup, preempt turned off: a pending preempt delay is dropped",
    given: () =>
      run(startedBackup(cfg({ preemptDelayMs: 500 })), advertEv("10.0.0.2", { priority: 50 }), 1000)
        .state,
    event: reconf({ preempt: false, preemptDelayMs: 500 }),
    at: 1200,
    state: "backup",
    actions: [],
    check: ({ state }, before) => {
      assertEquals(before.preemptDeadlineMs, 1500);
      assertEquals(state.preemptDeadlineMs, null);
    },
  },
];

function fault(tracker: string, failing: boolean): RouterEvent {
  return { type: "fault", tracker, failing };
}

function maint(on: boolean): RouterEvent {
  return { type: "maintenance", on };
}

/** A reconfigure to `cfg()` with these changes. */
function reconf(over: Partial<RouterConfig>): RouterEvent {
  return { type: "reconfigure", config: cfg(over) };
}

/** Feeds adverts from 10.0.0.2 as [priority, atMs] pairs. */
function feed(s: RouterState, adverts: [number, number][]): RouterState {
  for (const [priority, at] of adverts) s = run(s, advertEv("10.0.0.2", { priority }), at).state;
  return s;
}

for (const row of rows) {
  Deno.test(`rule: ${row.name}`, () => {
    const before = row.given();
    const res = run(before, row.event, row.at);
    assertEquals(show(res.actions), row.actions);
    assertEquals(res.state.state, row.state);
    row.check?.(res, before);
  });
}

// ---------------------------------------------------------------------------------
// Properties that cut across rows

Deno.test("every state change emits its transition first and records it in history", () => {
  let s = startedBackup();
  const r = run(s, { type: "tick" }, MDI_100);
  assertEquals(r.actions[0].type, "transition");
  s = r.state;
  assertEquals(s.history.map((t) => `${t.from}>${t.to}`), ["init>backup", "backup>master"]);
  assertEquals(s.lastTransition, s.history[1]);
});

Deno.test("history keeps only the last HISTORY_LIMIT transitions, newest last", () => {
  let s = startedMaster();
  let now = 5000;
  for (let i = 0; i < HISTORY_LIMIT; i++) {
    s = run(s, advertEv("10.0.0.2", { priority: 200 }), now).state; // → Backup
    now += 10;
    s = run(s, { type: "force", state: "master", detail: "test" }, now).state; // → Master
    now += 10;
  }
  assertEquals(s.history.length, HISTORY_LIMIT);
  assertEquals(s.history.at(-1), s.lastTransition);
  assertEquals(s.history.at(-1)?.atMs, now - 10);
  assertEquals(s.counters.masterTransitions, HISTORY_LIMIT + 1);
});

Deno.test("hold-vips and release-vips are only emitted on change", () => {
  const m = startedMaster();
  // Master → Master via force: no second hold.
  assertEquals(run(m, { type: "force", state: "master", detail: "g" }, 4000).actions, []);
  // Backup → Fault: nothing was held, nothing released.
  const f = run(startedBackup(), fault("x", true), 1);
  assert(!f.actions.some((a) => a.type === "release-vips"));
});

Deno.test("step never mutates its input (deep-frozen state and events through a full life)", () => {
  let s = deepFreeze(createRouter(cfg({ version: 3, preemptDelayMs: 100, releaseHoldMs: 50 }), 0));
  const events: [RouterEvent, number][] = [
    [{ type: "startup" }, 0],
    [advertEv("10.0.0.2", { version: 3, priority: 50 }), 100],
    [{ type: "tick" }, 200],
    [advertEv("10.0.0.2", { version: 3, priority: 50 }), 300],
    [{ type: "priority", priority: 40 }, 400],
    [advertEv("10.0.0.2", { version: 3, priority: 200 }), 500],
    [fault("eth0", true), 600],
    [fault("eth0", false), 700],
    [{ type: "tick" }, 5000],
    [maint(true), 5100],
    [reconf({ version: 3, advertIntervalMs: 500, releaseHoldMs: 50 }), 5200],
    [advertEv("10.0.0.2", { version: 3, priority: 0 }), 5300],
    [maint(false), 5400],
    [{ type: "shutdown" }, 6000],
    [{ type: "tick" }, 7000],
  ];
  for (const [e, at] of events) {
    const snapshot = structuredClone(s);
    const r = step(s, deepFreeze(e), at);
    assertEquals(s, snapshot);
    s = deepFreeze(r.state);
  }
  assertEquals(s.stopped, true);
});

Deno.test("outgoingAdvert: v2 carries the password NUL-padded to 8 bytes, v3 no auth", () => {
  const v2 = outgoingAdvert(cfg({ authType: 1, authPass: "abc" }), 100, 1000);
  assertEquals(Array.from(v2.authData), [97, 98, 99, 0, 0, 0, 0, 0]);
  assertEquals(v2.authType, 1);
  const long = outgoingAdvert(cfg({ authType: 1, authPass: "0123456789" }), 100, 1000);
  assertEquals(long.authData.length, 8);
  const v3 = outgoingAdvert(cfg({ version: 3, authType: 1, authPass: "abc" }), 100, 1000);
  assertEquals(v3.authType, 0);
  assertEquals(v3.authData.length, 0);
  assertEquals(v3.addresses, ["192.0.2.100"]);
});

Deno.test("deferTakeover re-arms a due Master_Down_Timer and leaves the rest", () => {
  const b = startedBackup();
  const held = deferTakeover(b, MDI_100);
  assertEquals(held.masterDownDeadlineMs, 2 * MDI_100);
  assertEquals(held.state, "backup");
  assertEquals(run(held, { type: "tick" }, MDI_100 + 1).actions, []);
});

Deno.test("followsLiveMaster: true within MDI of a master we would not preempt", () => {
  const b = run(startedBackup(), advertEv("10.0.0.2", { priority: 200 }), 1000).state;
  assert(followsLiveMaster(b, 1000 + MDI_100 - 1));
  assert(!followsLiveMaster(b, 1000 + MDI_100));
  const low = run(startedBackup(), advertEv("10.0.0.2", { priority: 50 }), 1000).state;
  assert(!followsLiveMaster(low, 1100)); // we intend to preempt it
  const lowNoPreempt =
    run(startedBackup(cfg({ preempt: false })), advertEv("10.0.0.2", { priority: 50 }), 1000)
      .state;
  assert(followsLiveMaster(lowNoPreempt, 1100));
});

/** A Backup that heard a lower master at 1000 ms and preempted it when its timer ran out. */
function preempted(): RouterState {
  const b = run(startedBackup(), advertEv("10.0.0.2", { priority: 50 }), 1000).state;
  const m = run(b, { type: "tick" }, b.masterDownDeadlineMs!);
  assertEquals(m.state.lastTransition?.reason, "preempt");
  return m.state;
}

Deno.test("a preempted master speaking on briefly is a handover, reannounced as one, not a dual master", () => {
  const m = preempted();
  // Past the echo window, within one Master_Down_Interval of the takeover.
  const heard = run(m, advertEv("10.0.0.2", { priority: 50 }), m.sinceMs + 150).state;
  assertEquals(heard.rival?.firstAtMs, m.sinceMs + 150);
  const quiet = run(heard, { type: "tick" }, heard.rivalQuietDeadlineMs!);
  const r = quiet.actions.find((a) => a.type === "reannounce");
  assertEquals(r?.type === "reannounce" && r.handover, true);
});

Deno.test("a preempted master still advertising beyond Master_Down_Interval is a dual master", () => {
  let s = preempted();
  const since = s.sinceMs;
  for (let t = since + 150; t <= since + MDI_100 + 1000; t += 1000) {
    s = run(s, advertEv("10.0.0.2", { priority: 50 }), t).state;
  }
  assertEquals(s.rival?.firstAtMs, since + 150);
  const quiet = run(s, { type: "tick" }, s.rivalQuietDeadlineMs!);
  const r = quiet.actions.find((a) => a.type === "reannounce");
  assertEquals(r?.type === "reannounce" && r.handover, false);
});

Deno.test("a lower master heard after a master-down takeover is never called a handover", () => {
  const m = startedMaster();
  assertEquals(m.lastTransition?.reason, "master-down-timer");
  const heard = run(m, advertEv("10.0.0.2", { priority: 50 }), m.sinceMs + 150).state;
  const quiet = run(heard, { type: "tick" }, heard.rivalQuietDeadlineMs!);
  const r = quiet.actions.find((a) => a.type === "reannounce");
  assertEquals(r?.type === "reannounce" && r.handover, false);
});

Deno.test("a lower master that took over at the same moment is announced over at once and again when quiet, as a handover", () => {
  // Three routers started together: both timers ran out with no master heard, and the
  // other one's GARPs, sent before its first advert, may have reached the hosts last.
  const m = startedMaster();
  assertEquals(m.lastTransition?.detail, "no master heard");
  const first = run(m, advertEv("10.0.0.2", { priority: 50 }), m.sinceMs + 2);
  assertEquals(show(first.actions), ["send 100", "announce"]);
  const again = run(first.state, advertEv("10.0.0.2", { priority: 50 }), m.sinceMs + 5);
  assertEquals(show(again.actions), ["send 100"]); // one announce per rival
  const quiet = run(again.state, { type: "tick" }, again.state.rivalQuietDeadlineMs!);
  const r = quiet.actions.find((a) => a.type === "reannounce");
  assertEquals(r?.type === "reannounce" && r.handover, true);
});

Deno.test("a takeover by a shortened first wait, then the live lower master stepping down, is a handover", () => {
  // Started (exec) at 0, sockets open at 2,000 ms: the first deadline is the floor, one
  // advert plus skew after the open, far less than a full Master_Down_Interval.
  const s = run(createRouter(cfg(), 0), { type: "startup", startedAtMs: 0 }, 2000).state;
  const m = run(s, { type: "tick" }, s.masterDownDeadlineMs!).state;
  assertEquals(m.lastTransition?.reason, "master-down-timer");
  const heard = run(m, advertEv("10.0.0.2", { priority: 50 }), m.sinceMs + 150).state;
  const quiet = run(heard, { type: "tick" }, heard.rivalQuietDeadlineMs!);
  const r = quiet.actions.find((a) => a.type === "reannounce");
  assertEquals(r?.type === "reannounce" && r.handover, true);
});

Deno.test("a master that hears a better router says it was preempted by it", () => {
  const m = startedMaster();
  const r = run(m, advertEv("10.0.0.2", { priority: 150 }), m.sinceMs + 500);
  assertEquals(r.state.lastTransition?.detail, "preempted by 10.0.0.2 (priority 150 > 100)");
});

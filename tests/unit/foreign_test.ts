/**
 * Foreign senders (lib/vrrp/foreign.ts): what differs from our instance, as a table of
 * (config, advert) → differences straight from RFC 3768 §7.1 / RFC 5798 §6.4.2, and
 * the table's life: started, changed, resolved by agreement or by quiet, capped.
 */
import assert from "node:assert/strict";
import {
  describeForeign,
  expireForeign,
  FOREIGN_QUIET_MIN_MS,
  FOREIGN_SENDERS_MAX,
  foreignDifferences,
  foreignNextDeadline,
  type ForeignTable,
  observeForeign,
  quietWindowMs,
} from "../../lib/vrrp/foreign.ts";
import type { Advert, RouterConfig } from "../../lib/vrrp/types.ts";

function cfg(over: Partial<RouterConfig> = {}): RouterConfig {
  return {
    name: "vi1",
    vrid: 51,
    version: 2,
    family: "ipv4",
    priority: 100,
    advertIntervalMs: 1000,
    preempt: true,
    preemptDelayMs: 0,
    addresses: ["192.0.2.10"],
    primaryIp: "192.0.2.1",
    unicastPeers: [],
    authType: 1,
    authPass: "secret",
    initialState: "backup",
    releaseHoldMs: 0,
    ...over,
  };
}

function pass(text: string): Uint8Array {
  const b = new Uint8Array(8);
  b.set(new TextEncoder().encode(text).subarray(0, 8));
  return b;
}

function adv(over: Partial<Advert> = {}): Advert {
  return {
    version: 2,
    vrid: 51,
    priority: 150,
    intervalMs: 1000,
    addresses: ["192.0.2.10"],
    authType: 1,
    authData: pass("secret"),
    checksum: 0,
    ...over,
  };
}

const texts = (c: RouterConfig, a: Advert) => foreignDifferences(c, a).map((d) => d.text);

Deno.test("differences: an advert like ours has none; VIP order does not matter", () => {
  assert.deepEqual(texts(cfg(), adv()), []);
  const two = cfg({ addresses: ["192.0.2.10", "192.0.2.11"] });
  assert.deepEqual(texts(two, adv({ addresses: ["192.0.2.11", "192.0.2.10"] })), []);
  const v6 = cfg({ version: 3, family: "ipv6", addresses: ["2001:db8::a"], authType: 0 });
  assert.deepEqual(
    texts(v6, adv({ version: 3, addresses: ["2001:0db8::000a"], authType: 0 })),
    [],
    "addresses compare in canonical form",
  );
});

Deno.test("differences: one row per rule, in words", () => {
  const rows: [string, RouterConfig, Advert, string[]][] = [
    [
      "another VIP set",
      cfg(),
      adv({ addresses: ["192.0.2.10", "192.0.2.11"] }),
      ["VIPs 192.0.2.10,192.0.2.11 vs ours 192.0.2.10"],
    ],
    ["an empty VIP list", cfg(), adv({ addresses: [] }), ["VIPs none vs ours 192.0.2.10"]],
    ["another password", cfg(), adv({ authData: pass("guess") }), ["auth PASS differs"]],
    [
      "another auth type",
      cfg(),
      adv({ authType: 0, authData: new Uint8Array(8) }),
      ["auth NONE vs ours PASS"],
    ],
    [
      "v2: another interval (RFC 3768 §7.1 discards it)",
      cfg(),
      adv({ intervalMs: 2000 }),
      ["interval 2000 ms vs ours 1000 ms"],
    ],
    [
      "v3: another interval (legitimate on the wire, reported all the same)",
      cfg({ version: 3, authType: 0, authPass: "" }),
      adv({ version: 3, intervalMs: 2000, authType: 0, authData: new Uint8Array(0) }),
      ["interval 2000 ms vs ours 1000 ms"],
    ],
    [
      "v3: no auth to compare",
      cfg({ version: 3, authType: 0, authPass: "" }),
      adv({ version: 3, authType: 0, authData: new Uint8Array(0) }),
      [],
    ],
    [
      "another version: only the version and the VIPs are compared",
      cfg({ version: 3, authType: 0, authPass: "", advertIntervalMs: 100 }),
      adv({ addresses: ["192.0.2.99"] }),
      ["VRRPv2 vs ours VRRPv3", "VIPs 192.0.2.99 vs ours 192.0.2.10"],
    ],
    [
      "everything at once, in a fixed order",
      cfg(),
      adv({ addresses: ["192.0.2.11"], authData: pass("x"), intervalMs: 3000 }),
      [
        "VIPs 192.0.2.11 vs ours 192.0.2.10",
        "auth PASS differs",
        "interval 3000 ms vs ours 1000 ms",
      ],
    ],
  ];
  for (const [name, c, a, want] of rows) assert.deepEqual(texts(c, a), want, name);
  assert.equal(
    describeForeign({
      differences: foreignDifferences(cfg(), adv({ intervalMs: 3000, authData: pass("x") })),
    }),
    "auth PASS differs; interval 3000 ms vs ours 1000 ms",
  );
});

Deno.test("quiet window: three of the sender's intervals, never under 10 s", () => {
  assert.equal(quietWindowMs(1000), FOREIGN_QUIET_MIN_MS);
  assert.equal(quietWindowMs(10), FOREIGN_QUIET_MIN_MS);
  assert.equal(quietWindowMs(5000), 15_000);
  assert.equal(quietWindowMs(NaN), FOREIGN_QUIET_MIN_MS);
});

Deno.test("table: started, counted, changed, then resolved when quiet; deadlines follow", () => {
  const c = cfg();
  let t: ForeignTable = [];
  const frozen = (x: ForeignTable) => Object.freeze(x.map((s) => Object.freeze(s)));

  let r = observeForeign(frozen(t), c, adv({ addresses: ["192.0.2.11"] }), "192.0.2.99", 1000);
  assert.equal(r.conflicting, true);
  assert.equal(r.change?.kind, "started");
  t = r.table;
  assert.deepEqual(t, [{
    src: "192.0.2.99",
    differences: [{ reason: "addresses", text: "VIPs 192.0.2.11 vs ours 192.0.2.10" }],
    priority: 150,
    intervalMs: 1000,
    count: 1,
    firstSeenMs: 1000,
    lastSeenMs: 1000,
    quietDeadlineMs: 11_000,
  }]);
  assert.equal(foreignNextDeadline(t), 11_000);

  // The same difference again: counted, no change to tell.
  r = observeForeign(frozen(t), c, adv({ addresses: ["192.0.2.11"] }), "192.0.2.99", 2000);
  assert.equal(r.change, null);
  t = r.table;
  assert.equal(t[0].count, 2);
  assert.equal(t[0].lastSeenMs, 2000);
  assert.equal(foreignNextDeadline(t), 12_000);

  // Now it also differs in its password: a change, with what it was before.
  r = observeForeign(
    frozen(t),
    c,
    adv({ addresses: ["192.0.2.11"], authData: pass("x") }),
    "192.0.2.99",
    3000,
  );
  assert.equal(r.change?.kind, "changed");
  t = r.table;
  assert.equal(describeForeign(t[0]), "VIPs 192.0.2.11 vs ours 192.0.2.10; auth PASS differs");
  assert.equal(t[0].firstSeenMs, 1000);

  // Nothing is due before the deadline; at it, the sender is resolved as quiet.
  assert.deepEqual(expireForeign(frozen(t), 12_999).resolved, []);
  const e = expireForeign(frozen(t), 13_000);
  assert.deepEqual(e.table, []);
  assert.equal(e.resolved.length, 1);
  assert.equal(e.resolved[0].kind === "resolved" && e.resolved[0].why, "quiet");
  assert.equal(foreignNextDeadline(e.table), null);
});

Deno.test("table: a sender whose adverts agree again is resolved at once; agreeing strangers are no news", () => {
  const c = cfg();
  let t = observeForeign([], c, adv({ intervalMs: 2000 }), "192.0.2.99", 0).table;
  const r = observeForeign(t, c, adv(), "192.0.2.99", 500);
  assert.equal(r.conflicting, false);
  assert.equal(r.change?.kind === "resolved" && r.change.why, "agrees");
  t = r.table;
  assert.deepEqual(t, []);
  const quiet = observeForeign(t, c, adv(), "192.0.2.98", 600);
  assert.deepEqual(quiet, { table: t, conflicting: false, change: null });
});

Deno.test("table: at most FOREIGN_SENDERS_MAX senders are listed; more are counted, not kept", () => {
  const c = cfg();
  let t: ForeignTable = [];
  for (let i = 0; i < FOREIGN_SENDERS_MAX; i++) {
    t = observeForeign(t, c, adv({ intervalMs: 2000 }), `192.0.2.${100 + i}`, i).table;
  }
  assert.equal(t.length, FOREIGN_SENDERS_MAX);
  const r = observeForeign(t, c, adv({ intervalMs: 2000 }), "192.0.2.250", 100);
  assert.equal(r.conflicting, true);
  assert.equal(r.change?.kind, "full");
  assert.equal(r.table, t);
  // A listed one is still updated.
  const again = observeForeign(t, c, adv({ intervalMs: 2000 }), "192.0.2.100", 100);
  assert.equal(again.table[0].count, 2);
});

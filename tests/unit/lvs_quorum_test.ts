import assert from "node:assert/strict";
import { initialQuorum, type QuorumSettings, stepQuorum } from "../../lib/lvs/quorum.ts";

const S: QuorumSettings = {
  quorum: 4,
  hysteresis: 1,
  quorumUp: "/bin/up",
  quorumDown: "/bin/down",
};

interface Row {
  name: string;
  up: boolean;
  weight: number;
  next: boolean;
  event: "quorum_up" | "quorum_down" | null;
}

// quorum 4 ± 1: lost below 3, regained at 5.
const ROWS: Row[] = [
  { name: "held at quorum exactly", up: true, weight: 4, next: true, event: null },
  {
    name: "held inside the band (quorum - hysteresis)",
    up: true,
    weight: 3,
    next: true,
    event: null,
  },
  {
    name: "lost below quorum - hysteresis",
    up: true,
    weight: 2,
    next: false,
    event: "quorum_down",
  },
  {
    name: "lost when every server is down",
    up: true,
    weight: 0,
    next: false,
    event: "quorum_down",
  },
  { name: "not regained at quorum", up: false, weight: 4, next: false, event: null },
  {
    name: "not regained one below quorum + hysteresis",
    up: false,
    weight: 4,
    next: false,
    event: null,
  },
  { name: "regained at quorum + hysteresis", up: false, weight: 5, next: true, event: "quorum_up" },
  { name: "regained above the band", up: false, weight: 9, next: true, event: "quorum_up" },
  { name: "still lost below the band", up: false, weight: 2, next: false, event: null },
];

for (const r of ROWS) {
  Deno.test(`quorum: ${r.name}`, () => {
    const step = stepQuorum(S, r.up, r.weight);
    assert.equal(step.up, r.next);
    assert.equal(step.change?.event ?? null, r.event);
  });
}

Deno.test("quorum changes carry the configured command", () => {
  assert.deepEqual(stepQuorum(S, true, 0).change, { event: "quorum_down", command: "/bin/down" });
  assert.deepEqual(stepQuorum(S, false, 5).change, { event: "quorum_up", command: "/bin/up" });
  const silent = { ...S, quorumUp: null, quorumDown: null };
  assert.deepEqual(stepQuorum(silent, true, 0).change, { event: "quorum_down", command: null });
});

Deno.test("without hysteresis quorum flips at the quorum itself", () => {
  const s = { ...S, hysteresis: 0 };
  assert.equal(stepQuorum(s, true, 3).up, false);
  assert.equal(stepQuorum(s, false, 4).up, true);
});

Deno.test("the initial quorum is the live weight against quorum, with no band", () => {
  assert.equal(initialQuorum(S, 4), true);
  assert.equal(initialQuorum(S, 3), false);
});

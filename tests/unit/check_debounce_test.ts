import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { type DebounceState, debounceStep, initialDebounce } from "../../lib/check/debounce.ts";

/** Compact result: "P" pass, "F" fail, "R" refused (definitive fail), "P3" pass with weight 3. */
function result(code: string): { ok: boolean; weight: number | null; definitive?: boolean } {
  if (code === "R") return { ok: false, weight: null, definitive: true };
  return { ok: code[0] === "P", weight: code.length > 1 ? Number(code.slice(1)) : null };
}

/** Runs a sequence; returns the `up` after each step as "U"/"D", changes as "!". */
function trace(
  initialUp: boolean,
  rise: number,
  fall: number,
  seq: string,
  failFastOnRefused?: boolean,
): string {
  let s = initialDebounce(initialUp);
  let out = "";
  for (const code of seq.split(" ").filter((c) => c !== "")) {
    const o = debounceStep(s, result(code), { rise, fall, failFastOnRefused });
    s = o.state;
    out += (s.up ? "U" : "D") + (o.changed ? "!" : "");
  }
  return out;
}

Deno.test("initial state: the guess, unsettled, no streak, no weight", () => {
  assertEquals(initialDebounce(true), { up: true, settled: false, streak: 0, weight: null });
  assertEquals(initialDebounce(false), { up: false, settled: false, streak: 0, weight: null });
});

// [initialUp, rise, fall, results, expected trace]
const TABLE: [boolean, number, number, string, string][] = [
  // Optimistic start: the first result decides on its own, whatever rise/fall.
  [true, 1, 1, "P", "U"],
  [true, 1, 1, "F", "D!"],
  [true, 3, 3, "F", "D!"],
  [true, 3, 3, "P F F F", "U U U D!"],
  [true, 3, 3, "F P P P", "D! D D U!"],
  // rise/fall = 1: every result flips.
  [true, 1, 1, "P F P F", "U D! U! D!"],
  // fall counts consecutive failures only: a pass in between resets.
  [true, 2, 3, "P F F P F F F", "U U U U U U D!"],
  // rise counts consecutive passes only.
  [true, 3, 1, "F P P F P P P", "D! D D D D D U!"],
  // init_fail: settled down from the start, needs `rise` passes.
  [false, 1, 1, "P", "U!"],
  [false, 3, 3, "P P P", "D D U!"],
  [false, 3, 3, "F F P P F P P P", "D D D D D D D U!"],
  [false, 2, 2, "P P F F", "D U! U D!"],
  // rise/fall of 0 (never produced by config) behave as 1.
  [true, 0, 0, "P F P", "U D! U!"],
];

for (const [initialUp, rise, fall, seq, want] of TABLE) {
  Deno.test(`debounce initialUp=${initialUp} rise=${rise} fall=${fall}: ${seq} → ${want}`, () => {
    assertEquals(trace(initialUp, rise, fall, seq), want.replaceAll(" ", ""));
  });
}

// failFastOnRefused: [initialUp, rise, fall, failFast, results ("R" refused), expected]
const FAST: [boolean, number, number, boolean | undefined, string, string][] = [
  // A refusal takes a healthy check down at once, whatever fall says.
  [true, 1, 3, true, "P R", "U D!"],
  [true, 1, 3, true, "P F R", "U U D!"],
  // Plain failures (timeouts, bad replies) still need fall in a row.
  [true, 1, 3, true, "P F F P F F F", "U U U U U U D!"],
  // Without the option (VRRP trackers), a refusal is one failure like any other.
  [true, 1, 3, false, "P R R R", "U U U D!"],
  [true, 1, 3, undefined, "P R R R", "U U U D!"],
  // Coming back is untouched: rise passes as ever.
  [true, 2, 3, true, "P R P P", "U D! D U!"],
  // A check already down stays down; init_fail needs rise as ever.
  [false, 2, 3, true, "R P R P P", "D D D D U!"],
];

for (const [initialUp, rise, fall, fast, seq, want] of FAST) {
  Deno.test(`debounce failFastOnRefused=${fast} rise=${rise} fall=${fall}: ${seq} → ${want}`, () => {
    assertEquals(trace(initialUp, rise, fall, seq, fast), want.replaceAll(" ", ""));
  });
}

Deno.test("streak counts results that disagree with up, reset by agreement and by flips", () => {
  const t = { rise: 3, fall: 3 };
  let s: DebounceState = initialDebounce(true);
  const streaks: number[] = [];
  for (const code of ["P", "F", "F", "P", "F", "F", "F", "P", "P", "F", "P", "P", "P"]) {
    s = debounceStep(s, result(code), t).state;
    streaks.push(s.streak);
  }
  assertEquals(streaks, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
});

Deno.test("settled turns true at the first result and stays", () => {
  let s = initialDebounce(false);
  for (const code of ["F", "P", "F"]) {
    s = debounceStep(s, result(code), { rise: 2, fall: 2 }).state;
    assertEquals(s.settled, true);
  }
});

// Dynamic weights: [initialUp, rise, fall, results, expected weights after each step, changed flags]
const WEIGHTS: [boolean, number, number, string, (number | null)[], string][] = [
  // A new weight while up is a change; the same weight is not.
  [true, 1, 1, "P3 P3 P5", [3, 3, 5], "!.!"],
  // Failures below `fall` keep the last passing weight.
  [true, 1, 2, "P3 F P4", [3, 3, 4], "!.!"],
  // Going down clears the weight; coming back up brings the new one.
  [true, 1, 1, "P3 F P2", [3, null, 2], "!!!"],
  // Passes while still down (below rise) do not publish a weight.
  [false, 2, 1, "P7 P8", [null, 8], ".!"],
  // A pass without weight (exit 0 of a dynamic script) means "no dynamic weight".
  [true, 1, 1, "P3 P", [3, null], "!!"],
];

for (const [initialUp, rise, fall, seq, weights, changes] of WEIGHTS) {
  Deno.test(`dynamic weight ${seq} (rise=${rise} fall=${fall}) → ${JSON.stringify(weights)}`, () => {
    let s = initialDebounce(initialUp);
    const got: (number | null)[] = [];
    let flags = "";
    for (const code of seq.split(" ")) {
      const o = debounceStep(s, result(code), { rise, fall });
      s = o.state;
      got.push(s.weight);
      flags += o.changed ? "!" : ".";
    }
    assertEquals(got, weights);
    assertEquals(flags, changes);
  });
}

Deno.test("exhaustive: down only after `fall` failures in a row, up only after `rise` passes", () => {
  // Every sequence of up to 8 results, for rise/fall 1..4: compare with a direct
  // reading of the rule (the longest tail of disagreeing results).
  for (let rise = 1; rise <= 4; rise++) {
    for (let fall = 1; fall <= 4; fall++) {
      for (const initialUp of [true, false]) {
        for (let len = 1; len <= 8; len++) {
          for (let bits = 0; bits < 1 << len; bits++) {
            const seq = Array.from({ length: len }, (_, i) => (bits >> i) & 1 ? "P" : "F");
            let s = initialDebounce(initialUp);
            for (const c of seq) s = debounceStep(s, result(c), { rise, fall }).state;
            assertEquals(
              s.up,
              reference(initialUp, rise, fall, seq),
              `${initialUp} ${rise}/${fall} ${seq}`,
            );
          }
        }
      }
    }
  }
});

/** The rule, written independently: replay keeping a counter, keepalived style. */
function reference(initialUp: boolean, rise: number, fall: number, seq: string[]): boolean {
  let up = initialUp;
  let run = 0;
  seq.forEach((c, i) => {
    const ok = c === "P";
    if (i === 0 && initialUp) {
      up = ok;
      run = 0;
      return;
    }
    if (ok === up) {
      run = 0;
      return;
    }
    run++;
    if (run >= (up ? fall : rise)) {
      up = !up;
      run = 0;
    }
  });
  return up;
}

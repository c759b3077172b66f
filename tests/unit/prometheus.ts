/**
 * Test support: a strict reader of the Prometheus text format 0.0.4 (it fails on
 * anything a Prometheus server would refuse, such as a repeated TYPE or a family split
 * in two) and a cross-check against the npm package `parse-prometheus-text-format`, an
 * independent implementation, so an escaping bug cannot hide by being mirrored in our
 * own reader. Shared by the unit and namespace metrics tests; registers no tests.
 *
 * @module
 */
import assert from "node:assert/strict";
import parsePrometheusText from "parse-prometheus-text-format";

// ---------------------------------------------------------------------------------------
// A strict reader of the text format 0.0.4
// ---------------------------------------------------------------------------------------

export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  help: string | null;
  type: string | null;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/** Go's ParseFloat, as Prometheus reads sample values. */
function parseValue(s: string, line: number): number {
  if (s === "NaN") return NaN;
  if (s === "+Inf" || s === "Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) {
    throw new Error(`line ${line}: bad value ${JSON.stringify(s)}`);
  }
  return Number(s);
}

/** Reads `{a="x",b="y"}` from `text` at `pos`; returns the labels and the end offset. */
function parseLabels(text: string, pos: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = pos + 1; // past "{"
  const fail = (why: string): never => {
    throw new Error(`line ${line}: ${why} at column ${i + 1}`);
  };
  for (;;) {
    if (text[i] === "}") return [labels, i + 1];
    const m = /^[^=]*/.exec(text.slice(i));
    const name = m![0];
    if (!LABEL_NAME.test(name)) fail(`bad label name ${JSON.stringify(name)}`);
    if (name.startsWith("__")) fail(`reserved label name ${name}`);
    if (Object.hasOwn(labels, name)) fail(`label ${name} twice`);
    i += name.length;
    if (text[i] !== "=" || text[i + 1] !== '"') fail('expected ="');
    i += 2;
    let value = "";
    for (;;) {
      const c = text[i];
      if (c === undefined) fail("unterminated label value");
      if (c === '"') break;
      if (c === "\\") {
        const e = text[i + 1];
        if (e === "\\") value += "\\";
        else if (e === '"') value += '"';
        else if (e === "n") value += "\n";
        else fail(`bad escape \\${e}`);
        i += 2;
      } else {
        value += c;
        i += 1;
      }
    }
    labels[name] = value;
    i += 1; // past the closing quote
    if (text[i] === ",") i += 1;
    else if (text[i] !== "}") fail("expected , or }");
  }
}

/**
 * Parses a whole exposition, refusing: a missing final newline, a HELP or TYPE given
 * twice or a TYPE after the family's samples, a family whose samples are not
 * contiguous, a repeated series, bad names, escapes or values.
 */
export function parseStrict(text: string): Map<string, Family> {
  assert.ok(text.endsWith("\n"), "exposition must end with a newline");
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  const seen = new Set<string>();
  let current: string | null = null;
  const get = (name: string): Family => {
    let f = families.get(name);
    if (!f) {
      f = { name, help: null, type: null, samples: [] };
      families.set(name, f);
    }
    return f;
  };
  const enter = (name: string, line: number) => {
    if (current !== name) {
      if (current !== null) closed.add(current);
      if (closed.has(name)) throw new Error(`line ${line}: family ${name} is split`);
      current = name;
    }
  };
  const lines = text.slice(0, -1).split("\n");
  lines.forEach((raw, idx) => {
    const line = idx + 1;
    if (raw.trim() === "") return;
    if (raw.startsWith("#")) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (!m) return; // other comments are allowed and ignored
      const [, kind, name, rest = ""] = m;
      if (!METRIC_NAME.test(name)) throw new Error(`line ${line}: bad metric name ${name}`);
      enter(name, line);
      const f = get(name);
      if (kind === "HELP") {
        if (f.help !== null) throw new Error(`line ${line}: second HELP for ${name}`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ""))) {
          throw new Error(`line ${line}: bad escape in HELP`);
        }
        f.help = rest.replace(/\\(\\|n)/g, (_, c) => (c === "n" ? "\n" : "\\"));
      } else {
        if (f.type !== null) throw new Error(`line ${line}: second TYPE for ${name}`);
        if (f.samples.length > 0) throw new Error(`line ${line}: TYPE after samples of ${name}`);
        if (!TYPES.has(rest)) throw new Error(`line ${line}: bad type ${rest}`);
        f.type = rest;
      }
      return;
    }
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(raw);
    if (!nm) throw new Error(`line ${line}: expected a metric name: ${raw}`);
    const name = nm[0];
    let pos = name.length;
    let labels: Record<string, string> = {};
    if (raw[pos] === "{") [labels, pos] = parseLabels(raw, pos, line);
    const tail = raw.slice(pos);
    const vm = /^ (\S+)(?: (-?\d+))?$/.exec(tail);
    if (!vm) {
      throw new Error(`line ${line}: expected " value [timestamp]": ${JSON.stringify(tail)}`);
    }
    enter(name, line);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`line ${line}: duplicate series ${key}`);
    seen.add(key);
    get(name).samples.push({ labels, value: parseValue(vm[1], line) });
  });
  return families;
}

// The npm parser ships no types; this is the shape its README documents.
interface NpmFamily {
  name: string;
  help: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}
const parseNpm = parsePrometheusText as unknown as (text: string) => NpmFamily[];

/** Parses with both readers and checks they agree sample for sample. */
export function parseBoth(text: string): Map<string, Family> {
  const strict = parseStrict(text);
  const npm = parseNpm(text);
  assert.deepEqual(npm.map((f) => f.name), [...strict.keys()]);
  for (const f of npm) {
    const s = strict.get(f.name)!;
    assert.equal(f.type.toLowerCase(), s.type, f.name);
    assert.equal(f.help, s.help, f.name);
    assert.deepEqual(
      f.metrics.map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) })),
      s.samples.map((x) => ({ labels: { ...x.labels }, value: x.value })),
      f.name,
    );
  }
  return strict;
}

/** The value of the one sample of `family` with exactly these labels. */
export function value(fams: Map<string, Family>, family: string, labels: Record<string, string>) {
  const f = fams.get(family);
  assert.ok(f, `no family ${family}`);
  const hits = f.samples.filter((s) => {
    const a = Object.entries(s.labels).sort();
    const b = Object.entries(labels).sort();
    return JSON.stringify(a) === JSON.stringify(b);
  });
  assert.equal(hits.length, 1, `${family}${JSON.stringify(labels)}: ${hits.length} samples`);
  return hits[0].value;
}

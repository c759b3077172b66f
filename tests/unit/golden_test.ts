/**
 * Golden traces: small multi-host scenarios whose full action list is pinned in
 * `tests/golden/<case>/expected.jsonl`.
 *
 * Each case has:
 * - `config.json`: `{ "untilMs": N, "nodes": { "A": { "routers": [...], "syncGroups": [...] } } }`,
 *   router configs given as overrides of `routerConfig` (tests/fakes/router_config.ts);
 * - `input.jsonl`: one `{"at": ms, "node": "A", "event": {...}}` per line, where the
 *   event is a `NodeEvent` or one of the runner's own: `{"type": "crash"}` (the host
 *   vanishes silently) and `{"type": "restart"}` (a fresh node, then startup);
 * - `expected.jsonl`: one `{"at", "node", "router", "action"}` per line.
 *
 * The runner wires the nodes into one LAN with zero delay: every `send` is delivered
 * to each other live node (in name order) at the same instant, before any later tick;
 * ticks happen at `nodeNextDeadline`. Events at the same time run input first, then
 * ticks in node-name order.
 *
 * `HACORE_UPDATE_GOLDEN=1` rewrites the expected files. Read every rewritten file and
 * check it against the RFC before keeping it.
 */
import {
  createNode,
  type NodeConfig,
  type NodeEvent,
  nodeNextDeadline,
  type NodeState,
  stepNode,
} from "../../lib/vrrp/node.ts";
import type { RouterAction, RouterConfig } from "../../lib/vrrp/types.ts";
import { routerConfig } from "../fakes/router_config.ts";

const GOLDEN_DIR = new URL("../golden/", import.meta.url);

interface CaseConfig {
  untilMs: number;
  nodes: Record<
    string,
    { routers: Partial<RouterConfig>[]; syncGroups?: NodeConfig["syncGroups"] }
  >;
}

type RunnerEvent = { type: "crash" } | { type: "restart" };

interface InputLine {
  at: number;
  node: string;
  event: NodeEvent | RunnerEvent;
}

function nodeConfig(spec: CaseConfig["nodes"][string]): NodeConfig {
  return {
    routers: spec.routers.map((r) => {
      if (!r.primaryIp) throw new Error("golden config: every router needs primaryIp");
      return routerConfig(r);
    }),
    syncGroups: spec.syncGroups ?? [],
  };
}

/** The readable form of an action kept in expected files. */
function compact(a: RouterAction): Record<string, unknown> {
  switch (a.type) {
    case "transition": {
      const { from, to, reason, atMs } = a.transition;
      return { type: a.type, from, to, reason, atMs };
    }
    case "send":
      return { type: a.type, priority: a.advert.priority, intervalMs: a.advert.intervalMs };
    case "reannounce":
      return { type: a.type, rival: a.rival };
    default:
      return { type: a.type };
  }
}

/** Runs one case and returns the produced lines (JSON text). */
function runCase(cfg: CaseConfig, input: InputLine[]): string[] {
  const names = Object.keys(cfg.nodes).sort();
  const nodes = new Map<string, NodeState | null>();
  for (const n of names) nodes.set(n, createNode(nodeConfig(cfg.nodes[n]), 0));
  const out: string[] = [];
  let now = 0;
  const queue: { node: string; ev: NodeEvent }[] = [];

  const feed = (name: string, ev: NodeEvent) => {
    queue.push({ node: name, ev });
    while (queue.length > 0) {
      const { node: target, ev: e } = queue.shift()!;
      const state = nodes.get(target);
      if (!state) continue;
      const { node, actions } = stepNode(state, e, now);
      nodes.set(target, node);
      for (const { router, action } of actions) {
        out.push(JSON.stringify({ at: now, node: target, router, action: compact(action) }));
        if (action.type !== "send") continue;
        const rc = node.routers[router].config;
        for (const other of names) {
          if (other === target || !nodes.get(other)) continue;
          queue.push({
            node: other,
            ev: {
              type: "advert",
              family: rc.family,
              advert: { ...action.advert, checksum: 0 },
              src: rc.primaryIp,
            },
          });
        }
      }
    }
  };

  const pending = [...input];
  for (let guard = 0; guard < 1_000_000; guard++) {
    let next = pending[0]?.at ?? Infinity;
    for (const n of names) {
      const s = nodes.get(n);
      const d = s ? nodeNextDeadline(s) : null;
      if (d !== null && d < next) next = d;
    }
    if (next > cfg.untilMs) return out;
    now = next;
    while (pending.length > 0 && pending[0].at <= now) {
      const { node, event } = pending.shift()!;
      if (!nodes.has(node)) throw new Error(`input names unknown node ${node}`);
      if (event.type === "crash") {
        nodes.set(node, null);
      } else if (event.type === "restart") {
        nodes.set(node, createNode(nodeConfig(cfg.nodes[node]), now));
        feed(node, { type: "startup" });
      } else {
        if (!nodes.get(node)) throw new Error(`input event for crashed node ${node} at ${now}`);
        feed(node, event);
      }
    }
    for (const n of names) {
      const s = nodes.get(n);
      const d = s ? nodeNextDeadline(s) : null;
      if (d !== null && d <= now) feed(n, { type: "tick" });
    }
  }
  throw new Error("golden run did not advance");
}

function parseJsonl<T>(text: string): T[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as T);
}

/** A readable line diff: each differing line with its number, expected then actual. */
function diff(expected: string[], actual: string[]): string {
  const lines: string[] = [];
  const n = Math.max(expected.length, actual.length);
  for (let i = 0; i < n && lines.length < 40; i++) {
    if (expected[i] === actual[i]) continue;
    lines.push(`line ${i + 1}:`);
    lines.push(`  - expected ${expected[i] ?? "(nothing)"}`);
    lines.push(`  + actual   ${actual[i] ?? "(nothing)"}`);
  }
  return `${expected.length} expected lines, ${actual.length} actual\n${lines.join("\n")}`;
}

const update = Deno.env.get("HACORE_UPDATE_GOLDEN") === "1";
const cases: string[] = [];
for (const e of Deno.readDirSync(GOLDEN_DIR)) if (e.isDirectory) cases.push(e.name);
cases.sort();

Deno.test("golden: there are cases to run", () => {
  if (cases.length < 5) throw new Error(`expected at least 5 golden cases, found ${cases.length}`);
});

for (const name of cases) {
  Deno.test(`golden: ${name}`, async () => {
    const dir = new URL(`${name}/`, GOLDEN_DIR);
    const cfg = JSON.parse(await Deno.readTextFile(new URL("config.json", dir))) as CaseConfig;
    const input = parseJsonl<InputLine>(await Deno.readTextFile(new URL("input.jsonl", dir)));
    input.sort((a, b) => a.at - b.at); // stable: same-time lines keep file order
    const actual = runCase(cfg, input);
    const expectedUrl = new URL("expected.jsonl", dir);
    if (update) {
      await Deno.writeTextFile(expectedUrl, actual.join("\n") + "\n");
      return;
    }
    const expected = (await Deno.readTextFile(expectedUrl)).split("\n").filter((l) => l !== "");
    // Compare parsed lines so key order or spacing in hand-edited files does not matter.
    const norm = (l: string) => JSON.stringify(JSON.parse(l));
    const exp = expected.map(norm);
    if (exp.length !== actual.length || exp.some((l, i) => l !== actual[i])) {
      throw new Error(`golden ${name} differs:\n${diff(exp, actual)}`);
    }
  });
}

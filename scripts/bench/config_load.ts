/**
 * Config load benchmark, host-side and pure: the stages `hacore run` and a SIGHUP reload
 * go through with the LVS benchmark's big table (scripts/bench/lvs.ts section 3: 1,000
 * services × 10 real servers, no checks), timed one by one, so that a change to the
 * config reader shows in milliseconds without booting the IPVS guest.
 *
 * ```sh
 * deno run -A --v8-flags=--optimize-for-size,--expose-gc scripts/bench/config_load.ts \
 *   [--services N] [--rounds N] [--format toml|keepalived] [--cpu-prof]
 * ```
 *
 * Start: read the file, parse it (TOML or keepalived.conf, as the LVS benchmark writes
 * each daemon's), validate it into a frozen `Config`, and the desired IPVS table and
 * plan against an empty kernel. Reload (one weight changed, as the LVS benchmark's
 * reload): read and load the changed file with the daemon's loader (the incremental
 * one: see lib/config/incremental.ts) and with a whole parse, the config diff (its
 * lines, as the VRRP side logs them), the virtual servers' changes and the reload's
 * narrowed plan (lib/lvs/reload_scope.ts), as the LVS runtime makes it.
 *
 * Round 1 is what a fresh daemon pays (code not yet optimised); the later rounds' median
 * is the warm figure. Timings are wall-clock on whatever else the machine runs: compare
 * before and after in the same conditions.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parse } from "smol-toml";
import { diffConfigs, diffLines, virtualServerChanges } from "../../lib/config/diff.ts";
import { tomlBlocks } from "../../lib/config/blocks.ts";
import { Ctx } from "../../lib/config/fields.ts";
import { ConfigLoader } from "../../lib/config/incremental.ts";
import { type Config, parseConfig, parseToml } from "../../lib/config/mod.ts";
import { validateDocument } from "../../lib/config/validate.ts";
import { ownedKeys } from "../../lib/lvs/plan.ts";
import { planConfig } from "../../lib/lvs/plan_config.ts";
import { scopePlanInputs } from "../../lib/lvs/reload_scope.ts";
import {
  hacoreLvsToml,
  keepalivedLvsConf,
  lvsWorkload,
  realAddresses,
  withWeight,
} from "./lib/lvs_configs.ts";
import { fmtMs, median, table } from "./lib/stats.ts";

const USAGE = "usage: config_load.ts [--services N] [--rounds N] [--format toml|keepalived]";

interface Options {
  readonly services: number;
  readonly rounds: number;
  readonly format: "toml" | "keepalived";
}

function options(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      services: { type: "string" },
      rounds: { type: "string" },
      format: { type: "string" },
    },
  });
  const services = Number(values.services ?? 1000);
  const rounds = Number(values.rounds ?? 7);
  const format = values.format ?? "toml";
  if (!Number.isInteger(services) || services < 1 || !Number.isInteger(rounds) || rounds < 1) {
    throw new Error(USAGE);
  }
  if (format !== "toml" && format !== "keepalived") throw new Error(USAGE);
  return { services, rounds, format };
}

/** Stage name → milliseconds, per round. */
type Round = Map<string, number>;

function timed<T>(round: Round, stage: string, f: () => T): T {
  const t0 = performance.now();
  const v = f();
  round.set(stage, (round.get(stage) ?? 0) + performance.now() - t0);
  return v;
}

function loaded(r: ReturnType<typeof parseConfig>): Config {
  if (!r.ok) throw new Error(`the generated config does not load: ${r.errors[0]?.message}`);
  return r.config;
}

const EMPTY = new Map();
/** How the loader made each round's reload: it should re-read one virtual server. */
const reloadModes = new Set<string>();

/** One start and one reload, each stage timed. */
function round(dir: string, opts: Options, texts: readonly [string, string]): Round {
  const r: Round = new Map();
  const file = `${dir}/lvs.${opts.format === "toml" ? "toml" : "conf"}`;
  Deno.writeTextFileSync(file, texts[0]);
  const source = timed(r, "start: read", () => Deno.readTextFileSync(file));
  if (opts.format === "toml") {
    timed(
      r,
      "start: TOML parse (smol-toml alone)",
      () => parse(source, { integersAsBigInt: true, unsafeKeyBehaviour: "keep" }),
    );
    const doc = timed(r, "start: TOML parse (parseToml)", () => parseToml(source));
    timed(r, "start: validate", () => validateDocument(new Ctx(file, () => new Map()), doc));
  }
  timed(r, "start: parseConfig (all of it)", () => loaded(parseConfig(source, file)));
  if (opts.format === "toml") timed(r, "start: block index (tomlBlocks)", () => tomlBlocks(source));
  const loader = new ConfigLoader();
  const before = timed(r, "start: loader.load", () => loaded(loader.load(file)));
  timed(r, "after the start: loader.prepare (index, buffer)", () => loader.prepare());
  const plan = timed(r, "start: plan against an empty kernel", () =>
    planConfig({
      config: before,
      health: EMPTY,
      quorum: EMPTY,
      ramps: EMPTY,
      heldServers: EMPTY,
      kernel: [],
      owned: new Set(),
      drains: EMPTY,
      nowMs: 0,
    }));

  Deno.writeTextFileSync(file, texts[1]);
  timed(
    r,
    "reload: parseConfig (all of it)",
    () => loaded(parseConfig(Deno.readTextFileSync(file), file)),
  );
  const next = timed(r, "reload: loader.load", () => loaded(loader.load(file)));
  reloadModes.add(loader.lastMode);
  timed(r, "reload: diffConfigs + diffLines", () => diffLines(diffConfigs(before, next)));
  const changes = timed(
    r,
    "reload: virtualServerChanges",
    () => virtualServerChanges(before.virtualServers, next.virtualServers),
  );
  timed(r, "reload: narrowed plan", () => {
    const inputs = {
      config: next,
      health: EMPTY,
      quorum: EMPTY,
      ramps: EMPTY,
      heldServers: EMPTY,
      kernel: plan.table,
      owned: ownedKeys(plan.table),
      drains: EMPTY,
      nowMs: 0,
    };
    const scoped = scopePlanInputs(inputs, before, changes.names);
    const ops = planConfig(scoped ?? inputs).ops;
    if (ops.length !== 1) throw new Error(`a one-weight reload planned ${ops.length} ops`);
  });
  return r;
}

if (import.meta.main) {
  const opts = options(Deno.args);
  const ports: [number, number] = [10000, 10000 + opts.services - 1];
  const reals = realAddresses(10);
  const w = lvsWorkload({ ports, reals, check: "none" });
  const w2 = withWeight(w, ports[1], reals[0], 5);
  const write = opts.format === "toml" ? hacoreLvsToml : keepalivedLvsConf;
  const texts = [write(w), write(w2)] as const;
  const dir = Deno.makeTempDirSync({ prefix: "hacore-config-load-" });
  try {
    const rounds: Round[] = [];
    for (let i = 0; i < opts.rounds; i++) rounds.push(round(dir, opts, texts));
    const stages = [...rounds[0].keys()];
    const rows = [["stage", "round 1 ms", `median of rounds 2-${opts.rounds} ms`]];
    for (const s of stages) {
      const warm = rounds.slice(1).map((r) => r.get(s) ?? 0);
      rows.push([s, fmtMs(rounds[0].get(s) ?? 0), fmtMs(median(warm))]);
    }
    console.log(
      `${opts.services} services × ${reals.length} real servers, ${opts.format} ` +
        `(${(texts[0].length / 1024).toFixed(0)} KiB), ${opts.rounds} rounds`,
    );
    console.log(table(rows, [0]));
    console.log(`reload: loader.load made the reload as: ${[...reloadModes].join(", ")}`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

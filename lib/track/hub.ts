/**
 * The trackers of a running daemon: one place that runs every probe the config asks
 * for (the `vrrp_script` checks, as one subscriber of the daemon's check service; track
 * files, process scans, and the link states the daemon feeds in from its own kernel
 * events), keeps their latest readings, and says "something changed". The daemon then
 * recomputes each instance's priority and faults with the pure `priority.ts` and feeds
 * the engine.
 *
 * Probes sit behind {@link TrackProbes}, so tests drive trackers by hand
 * (`FakeTrackProbes` in `tests/fakes/track.ts`) while `system.ts` gives the real ones.
 *
 * Only trackers some instance or sync group refers to run. A `script`-kind check must
 * pass the same script security rules as notify hooks (`script_security.ts`): a refused
 * one never runs and reads as down, with the reason in its detail.
 *
 * @example
 * ```ts
 * const hub = new TrackerHub({ probes: systemProbes(), logger });
 * hub.start(config, () => daemonRecompute(), checkService);
 * hub.setLinks(await addresses.linkStates());
 * hub.reading("script", "chk_web"); // { up: true, ..., detail: "HTTP 200 in 1.2 ms" }
 * await hub.stop();
 * ```
 *
 * @module
 */

import type { CheckDefinition, CheckSource, CheckSubscription } from "../check/service.ts";
import type {
  Config,
  ScriptConfig,
  TrackFileConfig,
  TrackProcessConfig,
} from "../config/schema.ts";
import {
  checkScript as defaultCheckScript,
  type CheckScriptOptions,
  type ScriptVerdict,
} from "../sys/script_security.ts";
import type { Logger } from "../log.ts";
import type { FileReading } from "./file.ts";
import type { TrackerKind, TrackerReading } from "./priority.ts";
import type { ProcessMatcher } from "./process.ts";

/**
 * Track files as the hub sees them (`FileWatcher` fits it).
 *
 * @example
 * ```ts
 * const port: FilePort = new FileWatcher({ onReading: () => changed() });
 * ```
 */
export interface FilePort {
  /** Follows exactly these paths; new ones have a reading when this returns. */
  set(paths: readonly string[]): void;
  reading(path: string): FileReading | undefined;
  close(): Promise<void>;
}

/**
 * Process counts as the hub sees them (`ProcessWatcher` fits it).
 *
 * @example
 * ```ts
 * const port: ProcessPort = new ProcessWatcher({ onCounts: () => changed() });
 * ```
 */
export interface ProcessPort {
  /** Follows exactly these matchers; new ones have a count when this returns. */
  set(matchers: readonly ProcessMatcher[]): void;
  count(m: ProcessMatcher): number | undefined;
  close(): Promise<void>;
}

/**
 * Where the hub's probes come from. Each factory is called once, on first use, with
 * the callback to call when a reading changes (never re-entrantly with anything but
 * `set`), and a function for warnings worth a log line.
 *
 * @example
 * ```ts
 * const probes: TrackProbes = {
 *   files: (onChange, warn) => new FileWatcher({ onReading: onChange, onWarning: warn }),
 *   processes: (onChange, warn) => new ProcessWatcher({ onCounts: onChange, onWarning: warn }),
 * };
 * ```
 */
export interface TrackProbes {
  /**
   * A check source of the probes' own, used instead of the one given to
   * {@link TrackerHub.start} (tests set verdicts by hand through it). Production probes
   * have none: the scripts run on the daemon's check service.
   */
  checks?(): CheckSource;
  files(onChange: () => void, warn: (message: string) => void): FilePort;
  processes(onChange: () => void, warn: (message: string) => void): ProcessPort;
  /** Script security; `checkScript` of `script_security.ts` by default. */
  checkScript?(commandLine: string, opts: CheckScriptOptions): ScriptVerdict;
}

/**
 * Options of {@link TrackerHub}.
 *
 * @example
 * ```ts
 * const opts: TrackerHubOptions = { probes: systemProbes(), logger };
 * ```
 */
export interface TrackerHubOptions {
  readonly probes: TrackProbes;
  readonly logger: Logger;
}

/** The hub's name as a subscriber of the check service. */
export const TRACKER_CHECK_OWNER = "vrrp_script";

/**
 * The id of a `vrrp_script` among the hub's checks.
 *
 * @example
 * ```ts
 * scriptCheckId("chk_web"); // "vrrp_script:chk_web"
 * ```
 */
export function scriptCheckId(name: string): string {
  return `vrrp_script:${name}`;
}

/** What the config asks the hub to run: the referenced trackers only. */
interface Wanted {
  scripts: Set<string>;
  files: Set<string>;
  processes: Set<string>;
  interfaces: Set<string>;
}

function wantedBy(config: Config): Wanted {
  const w: Wanted = {
    scripts: new Set(),
    files: new Set(),
    processes: new Set(),
    interfaces: new Set(),
  };
  for (const t of [...config.instances, ...config.syncGroups]) {
    for (const r of t.trackScripts) w.scripts.add(r.name);
    for (const r of t.trackFiles) w.files.add(r.name);
    for (const r of t.trackProcesses) w.processes.add(r.name);
    for (const r of t.trackInterfaces) w.interfaces.add(r.name);
  }
  return w;
}

function matcherOf(p: TrackProcessConfig): ProcessMatcher {
  return { process: p.process, fullCommand: p.fullCommand };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Runs the trackers of one config at a time; see the module notes.
 *
 * @example
 * ```ts
 * const hub = new TrackerHub({ probes, logger });
 * hub.start(config, () => recompute(), checks);
 * hub.configure(nextConfig); // on reload
 * await hub.stop();
 * ```
 */
export class TrackerHub {
  readonly #probes: TrackProbes;
  readonly #log: Logger;
  readonly #checkScript: (commandLine: string, opts: CheckScriptOptions) => ScriptVerdict;
  #config: Config | null = null;
  /** `config.scripts` by name: readings are taken for every tracker on each change. */
  #scriptsByName = new Map<string, ScriptConfig>();
  #onChange: () => void = () => {};
  /** Where the scripts run: the probes' own source, else the one `start` was given. */
  #checkSource: CheckSource | null = null;
  #checks: CheckSubscription | null = null;
  #files: FilePort | null = null;
  #processes: ProcessPort | null = null;
  /** Why the check runner could not start, when it could not. */
  #checksBroken: string | null = null;
  /** Ids of the checks scheduled now (a script's warning is logged when it starts). */
  #scheduled = new Set<string>();
  /** Scripts refused by script security, with the reason. */
  #refused = new Map<string, string>();
  #wanted: Wanted = {
    scripts: new Set(),
    files: new Set(),
    processes: new Set(),
    interfaces: new Set(),
  };
  /** Link states by name; null = unknown (every interface counts as up). */
  #links: Map<string, boolean> | null = null;
  /** Last summary logged per tracker (`kind:name`), to log changes only. */
  #summaries = new Map<string, string>();
  #configuring = false;
  #started = false;
  #stopped = false;

  /**
   * Creates an idle hub; {@link TrackerHub.start} runs it.
   *
   * @example
   * ```ts
   * new TrackerHub({ probes: new FakeTrackProbes(), logger: new Logger() });
   * ```
   */
  constructor(opts: TrackerHubOptions) {
    this.#probes = opts.probes;
    this.#log = opts.logger;
    this.#checkScript = opts.probes.checkScript?.bind(opts.probes) ?? defaultCheckScript;
  }

  /**
   * Opens the probes and starts what `config` refers to. Track files and process
   * counts are read before this returns; checks start at their `initialUp` state, on
   * `checks` (the daemon's check service) unless the probes bring their own.
   * `onChange` is called (from a probe's callback, never inside a hub call) whenever a
   * reading that may move a priority or a fault changed.
   *
   * @example
   * ```ts
   * hub.start(config, () => inbox.push("trackers"), checkService);
   * ```
   */
  start(config: Config, onChange: () => void, checks?: CheckSource): void {
    if (this.#config !== null) throw new Error("the tracker hub was already started");
    this.#onChange = onChange;
    this.#checkSource = checks ?? null;
    this.#started = true;
    this.configure(config);
  }

  // Probes open on first use: a config without trackers opens nothing.

  #checkPort(): CheckSubscription | null {
    if (this.#checks === null && this.#checksBroken === null) {
      try {
        const source = this.#probes.checks?.() ?? this.#checkSource;
        if (source === null) throw new Error("no check service");
        this.#checks = source.subscribe(TRACKER_CHECK_OWNER, (id) => this.#checkChanged(id));
      } catch (e) {
        this.#checksBroken = errorText(e);
        this.#log.error(`cannot start the check scheduler: ${this.#checksBroken}`);
      }
    }
    return this.#checks;
  }

  #filePort(): FilePort {
    this.#files ??= this.#probes.files(() => this.#probeChanged("file"), this.#warn);
    return this.#files;
  }

  #processPort(): ProcessPort {
    this.#processes ??= this.#probes.processes(() => this.#probeChanged("process"), this.#warn);
    return this.#processes;
  }

  readonly #warn = (m: string) => this.#log.warn(m);

  /**
   * Switches to another config (reload): starts trackers it adds, stops those it drops,
   * and replaces those whose settings changed. A check whose spec and timing stayed
   * keeps its state (its rise/fall progress included). Does not call `onChange`: the
   * caller recomputes after a reload anyway.
   *
   * @example
   * ```ts
   * hub.configure(next);
   * ```
   */
  configure(config: Config): void {
    if (this.#stopped || !this.#started) return;
    this.#config = config;
    this.#scriptsByName = new Map(config.scripts.map((x) => [x.name, x]));
    this.#wanted = wantedBy(config);
    this.#configuring = true;
    try {
      this.#configureScripts(config);
      const files = config.trackFiles.filter((f) => this.#wanted.files.has(f.name));
      if (files.length > 0 || this.#files !== null) {
        this.#filePort().set([...new Set(files.map((f) => f.file))]);
      }
      const procs = config.trackProcesses.filter((p) => this.#wanted.processes.has(p.name));
      if (procs.length > 0 || this.#processes !== null) {
        this.#processPort().set(procs.map(matcherOf));
      }
    } finally {
      this.#configuring = false;
    }
    // Log the starting point, so the next change has something to compare with.
    this.#logChanges(["script", "file", "process"], true);
  }

  #configureScripts(config: Config) {
    const wanted = new Map<string, CheckDefinition>();
    const refused = new Map<string, string>();
    for (const s of config.scripts) {
      if (!this.#wanted.scripts.has(s.name)) continue;
      const id = scriptCheckId(s.name);
      if (s.check.kind === "script") {
        const v = this.#checkScript(s.check.command, {
          allowInsecure: config.global.allowInsecureScripts,
          label: `vrrp_script.${s.name}`,
        });
        if (!v.ok) {
          refused.set(s.name, v.error);
          if (this.#refused.get(s.name) !== v.error) {
            this.#log.error(`${v.error}; the script is not run and the tracker stays down`);
          }
          continue;
        }
        if (v.warning !== null && !this.#scheduled.has(id)) this.#log.warn(v.warning);
      }
      wanted.set(id, {
        spec: s.check,
        timing: {
          intervalMs: s.intervalMs,
          timeoutMs: s.timeoutMs,
          rise: s.rise,
          fall: s.fall,
          initialUp: s.initialUp,
        },
      });
    }
    // The subscription keeps equal checks as they are (their rise/fall progress too).
    const checks = wanted.size > 0 || this.#checks !== null ? this.#checkPort() : null;
    if (checks !== null) {
      try {
        checks.set(wanted);
        this.#scheduled = new Set(wanted.keys());
      } catch (e) {
        this.#log.error(`vrrp_script: cannot schedule the checks: ${errorText(e)}`);
      }
    }
    for (const name of this.#refused.keys()) {
      if (!refused.has(name) && this.#wanted.scripts.has(name)) {
        this.#log.notice(`vrrp_script.${name}: no longer refused by script security; running it`);
      }
    }
    this.#refused = refused;
  }

  /**
   * Replaces every link state (read at start or after a resync); null means unknown,
   * when every interface counts as up. Returns whether a tracked interface changed.
   *
   * @example
   * ```ts
   * hub.setLinks(await addresses.linkStates()); // true when eth1 is tracked and down
   * ```
   */
  setLinks(states: ReadonlyMap<string, boolean> | null): boolean {
    const before = [...this.#wanted.interfaces].map((i) => this.#linkUp(i));
    this.#links = states === null ? null : new Map(states);
    return [...this.#wanted.interfaces].some((i, n) => this.#linkUp(i) !== before[n]);
  }

  /**
   * Records one link event. Returns whether a tracked interface changed state.
   *
   * @example
   * ```ts
   * if (hub.setLink("eth1", false)) recompute();
   * ```
   */
  setLink(iface: string, up: boolean): boolean {
    const before = this.#linkUp(iface);
    this.#links ??= new Map();
    this.#links.set(iface, up);
    return this.#wanted.interfaces.has(iface) && before !== up;
  }

  #linkUp(iface: string): boolean {
    if (this.#links === null) return true;
    return this.#links.get(iface) ?? false;
  }

  /**
   * The current reading of a tracker, or undefined when it is not running (unknown
   * name, not referenced, or the hub not started).
   *
   * @example
   * ```ts
   * hub.reading("file", "maint"); // { up: true, value: 0, dynamicWeight: null, detail: "0" }
   * ```
   */
  reading(kind: TrackerKind, name: string): TrackerReading | undefined {
    const config = this.#config;
    if (config === null) return undefined;
    switch (kind) {
      case "interface": {
        const known = this.#links === null || this.#links.has(name);
        const up = this.#linkUp(name);
        return {
          up,
          value: null,
          dynamicWeight: null,
          detail: !known ? "no such interface" : up ? "link up" : "link down",
        };
      }
      case "script":
        return this.#scriptReading(name);
      case "file": {
        const f: TrackFileConfig | undefined = config.trackFiles.find((t) => t.name === name);
        const r = f && this.#files?.reading(f.file);
        if (!f || !r) return undefined;
        return {
          up: r.value === 0,
          value: r.value,
          dynamicWeight: null,
          detail: `${f.file}: ${r.detail}`,
        };
      }
      case "process": {
        const p = config.trackProcesses.find((t) => t.name === name);
        const n = p && this.#processes?.count(matcherOf(p));
        if (!p || n === undefined) return undefined;
        const what = p.fullCommand ? "command" : "name";
        return {
          up: n >= p.quorum,
          value: n,
          dynamicWeight: null,
          detail: `${n} running with ${what} ${JSON.stringify(p.process)} (quorum ${p.quorum})`,
        };
      }
    }
  }

  #scriptReading(name: string): TrackerReading | undefined {
    if (!this.#scriptsByName.has(name) || !this.#wanted.scripts.has(name)) return undefined;
    const refused = this.#refused.get(name);
    if (refused !== undefined) {
      return { up: false, value: null, dynamicWeight: null, detail: `not run: ${refused}` };
    }
    if (this.#checks === null) {
      return {
        up: false,
        value: null,
        dynamicWeight: null,
        detail: `not run: no check scheduler (${this.#checksBroken ?? "not started"})`,
      };
    }
    const st = this.#checks.status(scriptCheckId(name));
    if (st === undefined) return undefined;
    const detail = st.last !== null
      ? st.last.detail
      : `no result yet (starts ${st.up ? "up" : "down"})`;
    return {
      up: st.up,
      value: null,
      dynamicWeight: st.up ? st.weight : null,
      detail: st.streak > 0 && st.last !== null
        ? `${detail} (${st.streak} in a row towards ${st.up ? "down" : "up"})`
        : detail,
    };
  }

  /**
   * Stops every probe; no callback fires afterwards. Safe to call more than once.
   *
   * @example
   * ```ts
   * await hub.stop();
   * ```
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#onChange = () => {};
    const all: Promise<void>[] = [];
    const guard = (f: () => Promise<void>) => {
      try {
        all.push(f().catch((e) => this.#log.warn(`stopping trackers: ${errorText(e)}`)));
      } catch (e) {
        this.#log.warn(`stopping trackers: ${errorText(e)}`);
      }
    };
    // The service is the daemon's: the hub only leaves it.
    if (this.#checks) guard(() => Promise.resolve(this.#checks!.close()));
    if (this.#files) guard(() => this.#files!.close());
    if (this.#processes) guard(() => this.#processes!.close());
    await Promise.all(all);
  }

  #checkChanged(id: string) {
    if (this.#stopped || this.#configuring) return;
    // Only the check that changed: with a thousand scripts, re-reading all of them on
    // each change made a burst of changes quadratic (and starved the checks' timers).
    const prefix = scriptCheckId("");
    if (this.#logOne("script", id.slice(prefix.length), false)) this.#onChange();
  }

  #probeChanged(kind: TrackerKind) {
    if (this.#stopped || this.#configuring) return;
    if (this.#logChanges([kind], false)) this.#onChange();
  }

  /**
   * Logs each referenced tracker of `kinds` whose state summary changed; returns
   * whether any did. `quiet` records without logging ups (at start and reload).
   */
  #logChanges(kinds: readonly TrackerKind[], quiet: boolean): boolean {
    if (this.#config === null) return false;
    let changed = false;
    const wanted = (kind: TrackerKind): ReadonlySet<string> =>
      kind === "script"
        ? this.#wanted.scripts
        : kind === "file"
        ? this.#wanted.files
        : kind === "process"
        ? this.#wanted.processes
        : new Set();
    for (const kind of kinds) {
      for (const name of wanted(kind)) {
        if (this.#logOne(kind, name, quiet)) changed = true;
      }
    }
    for (const key of [...this.#summaries.keys()]) {
      const at = key.indexOf(":");
      const kind = key.slice(0, at) as TrackerKind;
      if (kinds.includes(kind) && !wanted(kind).has(key.slice(at + 1))) {
        this.#summaries.delete(key);
      }
    }
    return changed;
  }

  /** Logs one tracker if its state summary changed; returns whether it did. */
  #logOne(kind: TrackerKind, name: string, quiet: boolean): boolean {
    const r = this.reading(kind, name);
    if (r === undefined) return false;
    const key = `${kind}:${name}`;
    const summary = kind === "file"
      ? `value ${r.value}`
      : kind === "process"
      ? `${r.up ? "up" : "down"}, ${r.value} running`
      : `${r.up ? "up" : "down"}${r.dynamicWeight !== null ? ` weight ${r.dynamicWeight}` : ""}`;
    const was = this.#summaries.get(key);
    if (was === summary) return false;
    this.#summaries.set(key, summary);
    if (was === undefined) {
      if (!quiet || !r.up) this.#log.info(`${kind} ${name}: ${summary} (${r.detail})`);
      return !quiet;
    }
    // A file changes because someone wrote it (a maintenance switch): not a warning.
    const level = r.up || kind === "file" ? "notice" : "warn";
    this.#log.log(level, `${kind} ${name}: ${was} -> ${summary} (${r.detail})`);
    return true;
  }
}

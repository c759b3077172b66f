/**
 * `hacore check FILE`: validate a config without touching the system, for humans before a
 * reload and for CI on every config change. `hacore check --diff FILE`: validate FILE and
 * print what a reload of the running daemon with it would change, against the config the
 * daemon holds in memory (the file on disk may already be edited). `hacore check --diff
 * OLD NEW`: the same between two files, no daemon needed (the daemon's own diff).
 *
 * @module
 */
import { parseArgs } from "./args.ts";
import {
  type Config,
  formatConfigErrors,
  loadConfig,
  type LoadOptions,
  summarizeInstance,
  summarizeScript,
  summarizeVirtualServer,
} from "../config/mod.ts";
import { call, ControlClientError, makeRequest } from "../control/client.ts";
import { diffConfigs, diffLines } from "../config/diff.ts";
import { formatConfigWarnings } from "../config/errors.ts";
import {
  describeMissing,
  describeWaited,
  interfaceExists,
  missingInterfaces,
} from "./host_check.ts";
import { defaultControlSocket, defaultPidFile } from "./pidfile.ts";
import {
  preflightFindings,
  preflightLine,
  readKernelFacts,
  readTextOrNull,
} from "../lvs/preflight.ts";
import { ownershipPathFor } from "../lvs/ownership.ts";
import { planCommand, systemPlanDeps } from "./check_plan.ts";
import { FORMAT_OPTIONS, loadOptionsFrom } from "./load_options.ts";
import {
  type CliIo,
  parseTimeout,
  processIo,
  reportFailure,
  resolveSocket,
  SOCKET_OPTIONS,
} from "./status.ts";

const USAGE = "usage: hacore check FILE\n" +
  "       hacore check --diff FILE [--socket PATH | --config FILE] [--timeout MS]\n" +
  "       hacore check --diff OLD NEW\n" +
  "       hacore check --plan FILE [--lvs-state PATH] [--socket PATH] [--timeout MS]\n" +
  "reading a FILE: --format auto|toml|keepalived (default: from its content), --config-id ID " +
  "(keepalived.conf @ID lines; default: the host name's first part)";

/**
 * Validates FILE. Prints `ok: FILE` and one summary line per instance (exit 0), or every
 * error then a count on stderr (exit 1). With `--diff FILE`, asks the running daemon for
 * its config (socket from `--socket`, `--config`, FILE's own `control_socket`, or the
 * default) and prints one line per change a reload with FILE would make, or `no
 * changes` (exit 0); exit 3 when no daemon answers, and the other control-command exit
 * codes of `status.ts`. With `--diff OLD NEW`, the same from OLD to NEW. Bad usage exits 2.
 *
 * @example
 * ```ts
 * const code = await checkCommand(["examples/unicast.toml"]); // 0
 * await checkCommand(["--diff", "/etc/hacore/hacore.toml"]); // "VI_1: added 192.0.2.101/24"
 * await checkCommand(["--diff", "/etc/hacore/hacore.toml", "new.toml"]); // "VI_1: priority 100 -> 120"
 * ```
 */
export async function checkCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        ...SOCKET_OPTIONS,
        ...FORMAT_OPTIONS,
        diff: { type: "boolean" },
        plan: { type: "boolean" },
        "lvs-state": { type: "string" },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    console.error(`hacore check: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  const { values } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const files = parsed.positionals;
  const load = loadOptionsFrom(values);
  if (typeof load === "string") {
    console.error(`hacore check: ${load}\n${USAGE}`);
    return 2;
  }
  loadOptions = load;
  // Only the running-daemon form talks to a socket; elsewhere these flags would be
  // silently ignored, and an operator would believe the daemon was consulted.
  const talks = values.socket !== undefined || values.config !== undefined ||
    values.timeout !== undefined;
  const usage = (msg: string) => {
    console.error(`hacore check: ${msg}\n${USAGE}`);
    return 2;
  };
  if (values.plan) {
    if (values.diff) return usage("give --plan or --diff, not both");
    if (files.length !== 1) return usage("--plan expects one FILE");
    return await planFileCommand(files[0], values);
  }
  if (values["lvs-state"] !== undefined) return usage("--lvs-state goes with --plan");
  if (values.diff) {
    if (files.length === 1) return await runningDiffCommand(files[0], values);
    if (files.length !== 2) {
      return usage("--diff expects FILE (against the running daemon) or OLD NEW");
    }
    if (talks) return usage("--socket, --config and --timeout go with --diff FILE, not OLD NEW");
    return await diffCommand(files[0], files[1]);
  }
  if (talks) return usage("--socket, --config and --timeout go with --diff FILE");
  if (files.length !== 1) {
    console.error(files.length === 0 ? USAGE : `hacore check: expected one FILE\n${USAGE}`);
    return 2;
  }
  const file = files[0];
  const config = await loadOrReport(file);
  if (config === null) return 1;
  // Checked where it may not run: a missing interface is worth a warning, not a refusal.
  for (const m of missingInterfaces(config, interfaceExists)) {
    // dynamic_interfaces: expected, not wrong; run waits for it in FAULT.
    if (config.global.dynamicInterfaces) console.error(`${file}: note: ${describeWaited(m)}`);
    else console.error(`${file}: warning: ${describeMissing(m)}`);
  }
  console.log(`ok: ${file}`);
  for (const instance of config.instances) console.log(`  ${summarizeInstance(instance)}`);
  for (const script of config.scripts) console.log(`  check ${summarizeScript(script)}`);
  for (const vs of config.virtualServers) {
    console.log(`  virtual_server ${summarizeVirtualServer(vs)}`);
  }
  for (const line of await preflightLines(config)) console.log(`  ${line}`);
  return 0;
}

/**
 * The preflight's findings (`lib/lvs/preflight.ts`) when this kernel has IPVS: a
 * machine without it (a CI box checking a director's file) says nothing rather than
 * warning about a kernel the config will never run on.
 */
async function preflightLines(config: Config): Promise<string[]> {
  if (config.virtualServers.length === 0 && config.lvsSyncDaemon === null) return [];
  if ((await readTextOrNull("/proc/net/ip_vs")) === null) return [];
  return preflightFindings(config, await readKernelFacts()).map(preflightLine);
}

/** `--plan FILE`: the IPVS operations FILE would cause against the live table. */
async function planFileCommand(
  file: string,
  values: { socket?: string; config?: string; timeout?: string; "lvs-state"?: string },
): Promise<number> {
  const timeoutMs = parseTimeout(values.timeout, 1000);
  if (typeof timeoutMs === "string") {
    console.error(`hacore check: ${timeoutMs}\n${USAGE}`);
    return 2;
  }
  const config = await loadOrReport(file);
  if (config === null) return 1;
  const pidFile = config.global.pidFile ?? await defaultPidFile(file);
  const state = values["lvs-state"] ?? ownershipPathFor(pidFile);
  const socket = values.socket ?? config.global.controlSocket ?? await defaultControlSocket(file);
  return await planCommand(config, state, socket, await systemPlanDeps(timeoutMs));
}

async function diffCommand(oldFile: string, newFile: string): Promise<number> {
  // Both files are reported, so one run shows every error there is.
  const before = await loadOrReport(oldFile);
  const after = await loadOrReport(newFile);
  if (before === null || after === null) return 1;
  printDiff(`${oldFile} -> ${newFile}`, before, after);
  return 0;
}

/** `--diff FILE`: the daemon's in-memory config against FILE. */
async function runningDiffCommand(
  file: string,
  values: { socket?: string; config?: string; timeout?: string },
): Promise<number> {
  const timeoutMs = parseTimeout(values.timeout, 2000);
  if (typeof timeoutMs === "string") {
    console.error(`hacore check: ${timeoutMs}\n${USAGE}`);
    return 2;
  }
  // Flags are resolved before FILE is read, so a usage error is one whatever FILE holds.
  let path: string | null = null;
  if (values.socket !== undefined || values.config !== undefined) {
    const where = await resolveSocket(values);
    if ("usage" in where) {
      console.error(`hacore check: ${where.usage}\n${USAGE}`);
      return 2;
    }
    if ("error" in where) {
      console.error(`hacore check: ${where.error}`);
      return 1;
    }
    path = where.path;
  }
  // FILE first: its errors are worth knowing whether or not a daemon runs.
  const next = await loadOrReport(file);
  if (next === null) return 1;
  path ??= next.global.controlSocket ?? await defaultControlSocket(file);
  let running: unknown;
  try {
    running = await call(path, makeRequest({ cmd: "config" }), { timeoutMs });
  } catch (e) {
    if (e instanceof ControlClientError && e.kind === "no-daemon") {
      console.error(
        `hacore check: hacore is not running (no daemon at ${e.path}); ` +
          "use --diff OLD NEW to compare two files",
      );
      return 3;
    }
    return reportFailure(consoleIo(), "check", e);
  }
  if (!isConfig(running)) {
    console.error(`hacore check: the daemon at ${path} answered "config" with something else`);
    return 1;
  }
  if (!sameFile(running.file, file)) {
    // A reload re-reads the daemon's own file, not FILE: say so, or the diff misleads.
    console.error(
      `hacore check: note: the daemon runs ${running.file}, not ${file}; ` +
        `a reload would read ${running.file}`,
    );
  }
  printDiff(`${running.file} (running) -> ${file}`, running, next);
  return 0;
}

function printDiff(title: string, before: Config, after: Config): void {
  const lines = diffLines(diffConfigs(before, after));
  console.log(`ok: ${title}`);
  if (lines.length === 0) console.log("  no changes");
  for (const line of lines) console.log(`  ${line}`);
}

/**
 * The fields `diffConfigs` walks are there: a reply from another hacore version that
 * lacks them must be an error message, not a TypeError deep in the diff.
 */
function isConfig(v: unknown): v is Config {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.file === "string" && typeof o.global === "object" && o.global !== null &&
    ["instances", "syncGroups", "scripts", "trackFiles", "trackProcesses"].every((k) =>
      Array.isArray(o[k])
    );
}

/**
 * `reportFailure` writes through a CliIo; this command prints through `console` (its
 * tests capture that), so the io is adapted to it rather than the command rewritten.
 */
function consoleIo(): CliIo {
  const line = (t: string) => t.replace(/\n$/, "");
  return {
    ...processIo(),
    out: (t) => console.log(line(t)),
    err: (t) => console.error(line(t)),
  };
}

export { FORMAT_OPTIONS, loadOptionsFrom } from "./load_options.ts";

/** How this run of `check` reads files (set once from its flags). */
let loadOptions: LoadOptions = {};

/**
 * The validated config, or null after printing its errors and their count. Warnings
 * (keepalived.conf keywords that change nothing in hacore, values keepalived corrects)
 * are printed either way.
 */
async function loadOrReport(file: string): Promise<Config | null> {
  const result = await loadConfig(file, loadOptions);
  for (const line of formatConfigWarnings(result.warnings ?? [])) console.error(line);
  if (result.ok) return result.config;
  for (const line of formatConfigErrors(result.errors)) console.error(line);
  console.error(`${result.errors.length} error(s) in ${file}`);
  return null;
}

/** Whether two paths name one file (symlinks and relative paths resolved). */
function sameFile(a: string, b: string): boolean {
  try {
    return Deno.realPathSync(a) === Deno.realPathSync(b);
  } catch {
    return a === b;
  }
}

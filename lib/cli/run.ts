/**
 * `hacore run FILE`: validate the config, take the pid file, open the OS ports and
 * run the daemon until SIGTERM/SIGINT, which release with priority 0 and exit 0.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { formatConfigError, loadConfig } from "../config/mod.ts";
import { Daemon, DaemonSetupError } from "../daemon/daemon.ts";
import { systemClock } from "../daemon/ports.ts";
import { journaldFromEnv, type LogFormat, Logger, type LogLevel, parseLogLevel } from "../log.ts";
import { createSystemPorts, type SystemPorts } from "../sys/mod.ts";
import { acquirePidFile, defaultPidFile, type PidFile } from "./pidfile.ts";

const USAGE =
  "usage: hacore run FILE [--log-level debug|info|notice|warn|error] [--log-format human|json] [--pidfile PATH]";

interface RunOptions {
  file: string;
  level: LogLevel;
  format: LogFormat;
  pidfile: string | null;
}

function parseRunArgs(args: string[]): RunOptions | string {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        "log-level": { type: "string" },
        "log-format": { type: "string" },
        pidfile: { type: "string" },
      },
    });
  } catch (e) {
    return (e as Error).message;
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) return "expected exactly one config FILE";
  const level = parseLogLevel(values["log-level"] ?? "info");
  if (!level) {
    return `--log-level: expected debug, info, notice, warn or error, got "${values["log-level"]}"`;
  }
  const format = values["log-format"] ?? "human";
  if (format !== "human" && format !== "json") {
    return `--log-format: expected human or json, got "${format}"`;
  }
  return { file: positionals[0], level, format, pidfile: values.pidfile ?? null };
}

/**
 * Runs the daemon in the foreground; resolves with the exit code once it has stopped.
 * Exit codes: 0 stopped by a signal, 1 config or setup error, 2 usage, 3 another
 * daemon already runs this config.
 *
 * @example
 * ```ts
 * Deno.exitCode = await runCommand(["/etc/hacore/hacore.toml"]);
 * ```
 */
export async function runCommand(args: string[]): Promise<number> {
  const opts = parseRunArgs(args);
  if (typeof opts === "string") {
    console.error(`hacore run: ${opts}\n${USAGE}`);
    return 2;
  }
  const log = new Logger({ level: opts.level, format: opts.format, journald: journaldFromEnv() });

  // Validate before touching anything: a broken file must not cost a running VIP.
  const loaded = await loadConfig(opts.file);
  if (!loaded.ok) {
    for (const e of loaded.errors) log.error(formatConfigError(e));
    log.error(`${loaded.errors.length} error(s) in ${opts.file}; nothing was started`);
    return 1;
  }
  const config = loaded.config;

  let pid: PidFile;
  try {
    pid = await acquirePidFile(opts.pidfile ?? await defaultPidFile(opts.file));
  } catch (e) {
    log.error((e as Error).message);
    return 3;
  }

  let ports: SystemPorts | null = null;
  let daemon: Daemon | null = null;
  const signals: [Deno.Signal, () => void][] = [];
  try {
    ports = await createSystemPorts();
    daemon = new Daemon({
      config,
      primaryAddresses: await ports.primaries(),
      clock: systemClock,
      transports: ports.transports,
      addresses: ports.addresses,
      announcer: ports.announcer,
      logger: log,
    });
    const d = daemon;
    let stopping = false;
    const onStop = (sig: Deno.Signal) => () => {
      if (stopping) return;
      stopping = true;
      log.notice(`${sig}: releasing (priority 0) and stopping`);
      void d.stop();
    };
    for (const sig of ["SIGTERM", "SIGINT"] as const) signals.push([sig, onStop(sig)]);
    // Reload arrives with the operations issue; until then SIGHUP must not kill us
    // (its default action), or an operator's habit would drop every VIP.
    signals.push([
      "SIGHUP",
      () => log.warn("SIGHUP: reload is not supported yet; configuration unchanged"),
    ]);
    for (const [sig, fn] of signals) Deno.addSignalListener(sig, fn);

    await daemon.start();
    await daemon.done;
    return 0;
  } catch (e) {
    if (e instanceof DaemonSetupError) {
      for (const p of e.problems) log.error(p);
    } else {
      log.error(`cannot run ${opts.file}: ${(e as Error).message}`);
    }
    if (daemon) await daemon.stop();
    return 1;
  } finally {
    for (const [sig, fn] of signals) Deno.removeSignalListener(sig, fn);
    if (ports) await ports.close();
    await pid.release();
  }
}

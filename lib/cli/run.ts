/**
 * `hacore run FILE`: validate the config, take the pid file, open the OS ports and
 * run the daemon until SIGTERM/SIGINT, which release with priority 0 and exit 0.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { formatConfigError, loadConfig } from "../config/mod.ts";
import { type MetricsServer, startMetricsServer } from "../control/metrics.ts";
import { type ControlServer, startControlServer } from "../control/server.ts";
import { Daemon, DaemonSetupError } from "../daemon/daemon.ts";
import { Notifier } from "../daemon/notify.ts";
import { checkConfigScripts } from "../daemon/notify.ts";
import { journaldFromEnv, type LogFormat, Logger, type LogLevel, parseLogLevel } from "../log.ts";
import { createSystemPorts, openIpvs, type SystemPorts } from "../sys/mod.ts";
import { PreciseClock } from "../sys/clock.ts";
import { SdNotify } from "../sys/sdnotify.ts";
import { TrackerHub } from "../track/hub.ts";
import { systemProbes } from "../track/system.ts";
import { acquirePidFile, defaultPidFile, type PidFile } from "./pidfile.ts";
import { ownershipPathFor } from "../lvs/ownership.ts";
import { VERSION } from "./version.ts";

const USAGE = "usage: hacore run FILE [--log-level debug|info|notice|warn|error] " +
  "[--log-format human|json] [--pidfile PATH] [--control-socket PATH] [--keep-lvs] " +
  "[--lvs-state PATH]";

interface RunOptions {
  file: string;
  level: LogLevel;
  format: LogFormat;
  pidfile: string | null;
  controlSocket: string | null;
  /** Leave the IPVS table in place at stop. */
  keepLvs: boolean;
  /** The LVS ownership file; null: beside the pid file. */
  lvsState: string | null;
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
        "control-socket": { type: "string" },
        "keep-lvs": { type: "boolean" },
        "lvs-state": { type: "string" },
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
  const controlSocket = values["control-socket"] ?? null;
  if (controlSocket !== null && !controlSocket.startsWith("/")) {
    return `--control-socket: expected an absolute path, got "${controlSocket}"`;
  }
  const lvsState = values["lvs-state"] ?? null;
  if (lvsState !== null && !lvsState.startsWith("/")) {
    return `--lvs-state: expected an absolute path, got "${lvsState}"`;
  }
  return {
    file: positionals[0],
    level,
    format,
    pidfile: values.pidfile ?? null,
    controlSocket,
    keepLvs: values["keep-lvs"] ?? false,
    lvsState,
  };
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
  // First, before anything spawns a child: hooks must not inherit NOTIFY_SOCKET.
  const log = new Logger({ level: opts.level, format: opts.format, journald: journaldFromEnv() });
  const sd = new SdNotify({ logger: log, unsetEnvironment: true });

  // Validate before touching anything: a broken file must not cost a running VIP.
  const loaded = await loadConfig(opts.file);
  if (!loaded.ok) {
    for (const e of loaded.errors) log.error(formatConfigError(e));
    log.error(`${loaded.errors.length} error(s) in ${opts.file}; nothing was started`);
    return 1;
  }
  const config = loaded.config;
  // A refused hook is recorded and logged when it would run; the VIPs matter more than
  // a hook, so this warns and starts.
  for (const problem of checkConfigScripts(config)) log.warn(problem);

  let pid: PidFile;
  const pidPath = opts.pidfile ?? await defaultPidFile(opts.file);
  try {
    pid = await acquirePidFile(pidPath);
  } catch (e) {
    log.error((e as Error).message);
    return 3;
  }

  let ports: SystemPorts | null = null;
  let daemon: Daemon | null = null;
  let control: ControlServer | null = null;
  let metrics: MetricsServer | null = null;
  let stopWatchdog: (() => void) | null = null;
  const g = config.global;
  const notifier = new Notifier({
    timeoutMs: g.notifyTimeoutMs,
    logger: log,
    allowInsecure: g.allowInsecureScripts,
    fifoPath: g.notifyFifo,
    onRun: (run) => daemon?.countHookRun(run),
  });
  const signals: [Deno.Signal, () => void][] = [];
  try {
    ports = await createSystemPorts();
    daemon = new Daemon({
      config,
      primaryAddresses: await ports.primaries(),
      // setTimeout fires up to milliseconds late; adverts and takeovers must not.
      clock: new PreciseClock(),
      transports: ports.transports,
      addresses: ports.addresses,
      announcer: ports.announcer,
      vmacs: ports.vmacs,
      logger: log,
      notify: notifier,
      version: VERSION,
      // vrrp_script checks, track files, process scans; links come from the daemon.
      trackers: new TrackerHub({ probes: systemProbes(), logger: log }),
      // Opened only when the config has virtual servers.
      openIpvs: () => openIpvs(),
      // One per config, like the pid file: a restart finds the services it owned.
      lvsStateFile: opts.lvsState ?? ownershipPathFor(pidPath),
      keepLvs: opts.keepLvs,
    });
    const d = daemon;
    let stopping = false;
    const onStop = (sig: Deno.Signal) => () => {
      if (stopping) return;
      stopping = true;
      log.notice(`${sig}: releasing (priority 0) and stopping`);
      sd.stopping("releasing (priority 0)");
      void d.stop();
    };
    for (const sig of ["SIGTERM", "SIGINT"] as const) signals.push([sig, onStop(sig)]);
    // SIGHUP reloads (its default action would kill us and drop every VIP). The
    // daemon logs the outcome: each change, or the errors and "nothing changed".
    signals.push([
      "SIGHUP",
      () => {
        log.notice("SIGHUP: reloading the configuration");
        sd.reloading();
        d.reload()
          .then((r) => sd.ready(r.ok ? "reloaded" : "reload refused; configuration unchanged"))
          .catch((e) => {
            log.error(`reload failed: ${(e as Error).message}`);
            // systemd waits in "reloading" until READY=1, whatever the outcome.
            sd.ready("reload failed; configuration unchanged");
          });
      },
    ]);
    for (const [sig, fn] of signals) Deno.addSignalListener(sig, fn);

    // Listeners first: a socket or port clash fails here, before any VIP is touched.
    control = startControlServer({
      path: opts.controlSocket ?? g.controlSocket,
      control: d,
      logger: log,
    });
    if (g.metricsListen !== null) {
      metrics = startMetricsServer({ listen: g.metricsListen, control: d, logger: log });
      log.info(`metrics on http://${g.metricsListen}/metrics`);
    }

    await daemon.start();
    sd.ready(`${config.instances.length} instance(s) from ${opts.file}`);
    stopWatchdog = sd.startWatchdog(() => d.isLive());
    await daemon.done;
    // STOP hooks were queued while stopping; give them their timeout to finish.
    await settledWithin(notifier.settled(), g.notifyTimeoutMs + 1000);
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
    stopWatchdog?.();
    // Metrics and status stay up through the release hold; they close after the daemon.
    await metrics?.close();
    await control?.close();
    await notifier.close();
    if (ports) await ports.close();
    await pid.release();
  }
}

/** Waits for `p`, but no longer than `ms`; clears its timer either way. */
async function settledWithin(p: Promise<void>, ms: number): Promise<void> {
  let id: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => (id = setTimeout(resolve, ms)));
  try {
    await Promise.race([p, timeout]);
  } finally {
    clearTimeout(id);
  }
}

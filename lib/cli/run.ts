/**
 * `hacore run FILE`: validate the config, take the pid file, open the OS ports and
 * run the daemon until SIGTERM/SIGINT, which release with priority 0 and exit 0.
 *
 * @module
 */
import { parseArgs } from "./args.ts";
import { ConfigLoader } from "../config/incremental.ts";
import { mailConfigured } from "../config/schema.ts";
import {
  type Config,
  formatConfigErrors,
  formatConfigWarnings,
  type LoadOptions,
  type LoadResult,
} from "../config/mod.ts";
import type { MetricsServer } from "../control/metrics.ts";
import type { ControlServer } from "../control/server.ts";
import type { Daemon } from "../daemon/daemon.ts";
import { describeMissing, interfaceExists, missingInterfaces } from "./host_check.ts";
import { journaldFromEnv, type LogFormat, Logger, type LogLevel, parseLogLevel } from "../log.ts";
import { canonicalIp } from "../net/addr.ts";
import { createSystemPorts, type SystemPorts } from "../sys/mod.ts";
import type { AddressPort } from "../sys/ports.ts";
import { defaultReactor, type Reactor } from "../sys/reactor.ts";
import { startHeapHousekeeping } from "../sys/heap_housekeeping.ts";
import { commonPrefixNative, commonSuffixNative } from "../sys/byte_scan.ts";
import { NftAcceptFilter, nftTableExists } from "../sys/nft.ts";
import { SystemRoutePort } from "../sys/routes.ts";
import { processStartedAtMs } from "../sys/process_start.ts";
import { releaseStartupPages } from "../sys/resident.ts";
import { SdNotify } from "../sys/sdnotify.ts";
// startup: flag parsing without check.ts (and its status client) or node:util.
import { FORMAT_OPTIONS, loadOptionsFrom } from "./load_options.ts";
import { acquirePidFile, defaultControlSocket, defaultPidFile, type PidFile } from "./pidfile.ts";
import { ownershipPathFor } from "../lvs/ownership.ts";
import { VERSION } from "./version.ts";

/**
 * How long after the daemon's start a leftover no_accept table is removed: its first
 * turns are the VRRP and LVS work that matters, and a table that would drop traffic to
 * a VIP is replaced at once anyway by the Master that takes the VIP.
 */
const NFT_LEFTOVER_DELAY_MS = 150;

/** After the start, when the config loader readies its next reload (ConfigLoader.prepare). */
const LOADER_PREPARE_DELAY_MS = 200;

/**
 * After the start, when the Backups' takeover path is run once without effects
 * (Daemon.warmTakeover): past the start's own work, well before a first takeover that
 * waits a whole Master_Down_Interval.
 */
const WARM_TAKEOVER_DELAY_MS = 250;

/**
 * After the start, when a reload by parts is rehearsed (ConfigLoader.rehearse): after the
 * start-up pages are given back (which the rehearsal's code then maps again), in a turn
 * of its own.
 */
const LOADER_REHEARSE_DELAY_MS = 300;

/** Drops what only the start touched from the resident set (see lib/sys/resident.ts). */
function giveBackStartupPages(log: Logger): void {
  try {
    const r = releaseStartupPages();
    log.debug(
      `resident set: ${(r.droppedKb / 1024).toFixed(1)} MiB of start-up file pages dropped ` +
        `(${r.mappings} mappings)${r.trimmed ? ", malloc trimmed" : ""}`,
    );
  } catch (e) {
    log.debug(`resident set: start-up pages kept: ${(e as Error).message}`);
  }
}

const USAGE = "usage: hacore run FILE [--log-level debug|info|notice|warn|error] " +
  "[--log-format human|json] [--pidfile PATH] [--control-socket PATH] [--keep-lvs] " +
  "[--lvs-state PATH] [--format auto|toml|keepalived] [--config-id ID]";

interface RunOptions {
  file: string;
  level: LogLevel;
  format: LogFormat;
  pidfile: string | null;
  controlSocket: string | null;
  load: LoadOptions;
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
        ...FORMAT_OPTIONS,
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
  const load = loadOptionsFrom(values);
  if (typeof load === "string") return load;
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
    load,
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
  // Start and every reload read the file alike (format, config id) and log its warnings.
  const warned = (r: LoadResult) => {
    for (const line of formatConfigWarnings(r.warnings ?? [])) log.warn(line);
    return r;
  };
  // One loader for the start and every reload: a reload re-reads only what changed.
  const loader = new ConfigLoader(opts.load, {
    prefix: commonPrefixNative,
    suffix: commonSuffixNative,
  });
  const load = async (file: string) => warned(await loader.loadAsync(file));
  const loaded = await load(opts.file);
  if (!loaded.ok) {
    for (const line of formatConfigErrors(loaded.errors)) log.error(line);
    log.error(`${loaded.errors.length} error(s) in ${opts.file}; nothing was started`);
    return 1;
  }
  const config = loaded.config;
  const missing = missingInterfaces(config, interfaceExists);
  // dynamic_interfaces: the daemon waits for them (FAULT) and says so itself.
  if (missing.length > 0 && !config.global.dynamicInterfaces) {
    for (const m of missing) log.error(describeMissing(m));
    log.error(`${missing.length} missing interface(s) for ${opts.file}; nothing was started`);
    return 1;
  }

  let pid: PidFile;
  const pidPath = opts.pidfile ?? config.global.pidFile ?? await defaultPidFile(opts.file);
  try {
    pid = await acquirePidFile(pidPath);
  } catch (e) {
    log.error((e as Error).message);
    return 3;
  }

  let ports: SystemPorts | null = null;
  try {
    // The first thing that touches the kernel, before the daemon's modules are even
    // loaded, and before the listeners, checks and trackers: a crashed run's VIPs are
    // held nowhere else now, and the LAN has two holders until they go.
    ports = await createSystemPorts();
    await removeLeftovers(ports.addresses, config, log);
  } catch (e) {
    // The daemon's first reconcile removes them too; only the head start is lost.
    log.warn(`cannot remove an earlier run's addresses yet: ${(e as Error).message}`);
  }
  // Loaded only now: they are most of what `hacore run` loads, and the leftovers above
  // must not wait for them. The control socket's, the metrics' and the mail's modules
  // come later still, or never: loaded where they start, when configured.
  const [
    { Daemon, DaemonSetupError },
    { checkConfigScripts, Notifier },
    { TrackerHub },
    { systemProbes },
  ] = await Promise.all([
    import("../daemon/daemon.ts"),
    import("../daemon/notify.ts"),
    import("../track/hub.ts"),
    import("../track/system.ts"),
  ]);
  // A refused hook is recorded and logged when it would run; the VIPs matter more than
  // a hook, so this warns and starts.
  for (const problem of checkConfigScripts(config)) log.warn(problem);
  let daemon: Daemon | null = null;
  let control: ControlServer | null = null;
  let metrics: MetricsServer | null = null;
  let stopWatchdog: (() => void) | null = null;
  let stopHousekeeping: (() => void) | null = null;
  const g = config.global;
  const hostname = Deno.hostname().split(".")[0];
  const MAIL_COUNTERS = {
    sent: "mailSent",
    retry: "mailRetries",
    failed: "mailFailed",
    dropped: "mailDropped",
  };
  // Without a server and a recipient no mailer is made: the mail modules are not loaded.
  const alerts = mailConfigured(g.mail) ? await import("../notify/alerts.ts") : null;
  const mailer = alerts?.openMailer(config, hostname, (outcome, detail) => {
    daemon?.countNodeEvent(MAIL_COUNTERS[outcome]);
    if (outcome === "sent") log.info(`mail alert sent: ${detail}`);
    else log.warn(`mail alert ${outcome === "retry" ? "failed" : outcome}: ${detail}`);
  }) ?? null;
  const notifier = new Notifier({
    timeoutMs: g.notifyTimeoutMs,
    logger: log,
    allowInsecure: g.allowInsecureScripts,
    fifoPath: g.notifyFifo,
    fifoFormat: g.notifyFifoFormat,
    onRun: (run) => daemon?.countHookRun(run),
    scriptUser: g.scriptUser,
    mail: alerts === null || mailer === null ? null : new alerts.MailAlerts({
      config: () => daemon?.config() ?? config,
      sink: mailer,
      hostname,
      mailerName: `hacore ${VERSION}`,
    }),
  });
  // The production ports, the checks and the control socket wait on the process-wide
  // reactor; the daemon runs on it as its clock.
  const reactor = defaultReactor();
  // Always there: its first write removes a table a crashed run may have left behind
  // (after the start: an nft process competes for the CPU with the VRRP start and a big
  // IPVS table's apply), unless a VIP to protect comes first.
  const acceptFilter = new NftAcceptFilter({
    onError: (m) => log.warn(m),
    onQuietError: (m) => log.debug(m),
    onApplied: (a) =>
      log.info(`no_accept: dropping traffic to ${a.length === 0 ? "no VIP" : a.join(", ")}`),
    // Off the start path: joining the LAN (and applying an IPVS table) does not wait
    // for nft; released once the daemon has started.
    holdLeftover: true,
    leftoverDelayMs: NFT_LEFTOVER_DELAY_MS,
    schedule: (ms, fn) => reactor.at(reactor.nowMs() + ms, fn),
    // Asked over netlink first: a clean start and stop start no nft at all.
    tableExists: nftTableExists,
  });
  const controlSocketPath = opts.controlSocket ?? g.controlSocket ??
    await defaultControlSocket(opts.file);
  const signals: [Deno.Signal, () => void][] = [];
  try {
    ports ??= await createSystemPorts();
    daemon = new Daemon({
      config,
      primaryAddresses: await ports.primaries(),
      // The one wait of the process: every socket and timer, deadlines to ~0.1 ms
      // (setTimeout fires milliseconds late; adverts and takeovers must not).
      clock: reactor,
      // The reactor reads performance.now(): the process's start on that scale.
      startedAtMs: processStartedAtMs(),
      transports: ports.transports,
      addresses: ports.addresses,
      announcer: ports.announcer,
      vmacs: ports.vmacs,
      vipGuard: ports.vipGuard,
      logger: log,
      notify: notifier,
      acceptFilter,
      routes: new SystemRoutePort(ports.addresses.rtnl),
      version: VERSION,
      // A reload reads and parses in one loop turn, right after the adverts it sends.
      loadConfig: (file) => Promise.resolve(warned(loader.load(file))),
      // vrrp_script checks, track files, process scans; links come from the daemon.
      trackers: new TrackerHub({ probes: systemProbes(), logger: log }),
      // Opened only when the config has virtual servers (or lvs_sync_daemon), and only
      // then loaded: a VRRP-only start does not pay for the IPVS codec.
      openIpvs: async () => (await import("../sys/ipvs.ts")).openIpvs(),
      kernelFacts: async () => (await import("../lvs/preflight.ts")).readKernelFacts(),
      // Beside the control socket: per node in a lab, /run/hacore in production.
      stateDir: parentDir(controlSocketPath),
      // One per config, like the pid file: a restart finds the services it owned.
      lvsStateFile: opts.lvsState ?? ownershipPathFor(pidPath),
      keepLvs: opts.keepLvs,
    });
    const d = daemon;
    let stopping = false;
    const onStop = (sig: Deno.Signal) => () => {
      if (stopping) return;
      stopping = true;
      // What the stop awaits besides the loop (files, hooks, closing) are Deno's ops:
      // each would wait for the next async wait, up to a blocking stretch, in turn.
      reactor.blocking = false;
      // The stop first: a parked daemon sends its priority-0 adverts in this call, and
      // the peers' takeover should not wait for this line's write.
      void d.stop();
      log.notice(`${sig}: releasing (priority 0) and stopping`);
      sd.stopping("releasing (priority 0)");
    };
    for (const sig of ["SIGTERM", "SIGINT"] as const) signals.push([sig, onStop(sig)]);
    // SIGHUP reloads (its default action would kill us and drop every VIP). The
    // daemon logs the outcome: each change, or the errors and "nothing changed".
    signals.push([
      "SIGHUP",
      () => {
        log.notice("SIGHUP: reloading the configuration");
        sd.reloading();
        // A reload may await Deno's ops (its notify hooks): keep the reactor's waits async.
        const release = reactor.hold();
        d.reload()
          .finally(release)
          .then((r) => sd.ready(r.ok ? "reloaded" : "reload refused; configuration unchanged"))
          .catch((e) => {
            log.error(`reload failed: ${(e as Error).message}`);
            // systemd waits in "reloading" until READY=1, whatever the outcome.
            sd.ready("reload failed; configuration unchanged");
          });
      },
    ]);
    for (const [sig, fn] of signals) Deno.addSignalListener(sig, fn);

    // The metrics port first: a port clash (the likely one) fails here, before any VIP
    // is touched.
    if (g.metricsListen !== null) {
      const { startMetricsServer } = await import("../control/metrics.ts");
      metrics = startMetricsServer({ listen: g.metricsListen, control: d, logger: log });
      log.info(`metrics on http://${g.metricsListen}/metrics`);
    }
    await daemon.start();
    // The control socket right after the start, not before: a Backup is one ~2 ms
    // sooner (the socket's calls and code). Status and the verbs answer before systemd
    // hears READY; a client earlier than that finds no socket yet (tests and labs wait
    // for it). A clash (another daemon's control_socket, a file on the path) still
    // fails the run: the stop releases whatever the start took.
    const { startControlServer } = await import("../control/server.ts");
    control = startControlServer({
      path: controlSocketPath,
      control: d,
      logger: log,
    });
    acceptFilter.releaseLeftover();
    // What a reload by blocks needs (an index, a buffer), made once started, not before.
    reactor.at(reactor.nowMs() + LOADER_PREPARE_DELAY_MS, () => loader.prepare());
    reactor.at(reactor.nowMs() + WARM_TAKEOVER_DELAY_MS, () => {
      // The start's pages first, so that the takeover path's are mapped back by its
      // warm-up, not by a takeover.
      giveBackStartupPages(log);
      daemon?.warmTakeover();
    });
    reactor.at(reactor.nowMs() + LOADER_REHEARSE_DELAY_MS, () => loader.rehearse());
    // Started: from here the reactor may block in ppoll on this thread whenever the
    // daemon is parked and nothing else is in flight (see lib/sys/reactor.ts), not
    // before (loading and start-up await Deno's own ops).
    reactor.blocking = true;
    sd.ready(`${config.instances.length} instance(s) from ${opts.file}`);
    stopWatchdog = sd.startWatchdog(() => d.isLive());
    stopHousekeeping = startHeapHousekeeping(reactor);
    await daemon.done;
    reactor.blocking = false;
    // STOP hooks were queued while stopping; give them their timeout to finish.
    await settledWithin(reactor, notifier.settled(), g.notifyTimeoutMs + 1000);
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
    // What follows awaits Deno's ops (closing listeners, hooks, mail): async waits only.
    reactor.blocking = false;
    for (const [sig, fn] of signals) Deno.removeSignalListener(sig, fn);
    stopWatchdog?.();
    stopHousekeeping?.();
    // Metrics and status stay up through the release hold; they close after the daemon.
    await metrics?.close();
    await control?.close();
    await notifier.close();
    // The STOP alerts get a few seconds to go out (no retries): an unreachable mail
    // server must not hold up a stop that systemd is timing.
    await mailer?.close(Math.min(g.mail.connectTimeoutMs, 5000));
    // After the VIPs are gone: the table goes with the daemon.
    await acceptFilter.close();
    if (ports) await ports.close();
    await pid.release();
  }
}

/**
 * Removes every address an earlier hacore run left in this namespace (tagged as
 * hacore's; nothing else is touched), except those an address owner (priority 255)
 * holds at once anyway. The pid file is held by then, so no running daemon owns them.
 * Returns how many went.
 *
 * @example
 * ```ts
 * await removeLeftovers(ports.addresses, config, log); // 1 after a kill -9 of a master
 * ```
 */
export async function removeLeftovers(
  addresses: AddressPort,
  config: Config,
  log: Logger,
): Promise<number> {
  const owned = new Set(
    [
      ...config.instances.filter((i) => i.priority >= 255).flatMap((i) => [
        ...i.vips,
        ...i.excludedVips,
      ]),
      // Static addresses stay: the daemon holds them again at once.
      ...config.staticAddresses,
      // So do a DR real server's VIPs on lo: without them it drops its share of traffic.
      ...(config.realServerRole?.vips ?? []).map((v) => ({
        dev: config.realServerRole!.interface,
        address: v.address,
      })),
    ].map((v) => `${v.dev}|${canonicalIp(v.address) ?? v.address}`),
  );
  let removed = 0;
  for (const a of await addresses.list()) {
    if (!a.hacore || owned.has(`${a.dev}|${a.address}`)) continue;
    try {
      await addresses.remove(a);
      removed++;
      log.notice(`removed ${a.address}/${a.prefix} dev ${a.dev}, left by an earlier run`);
    } catch (e) {
      log.warn(`cannot remove ${a.address}/${a.prefix} dev ${a.dev}: ${(e as Error).message}`);
    }
  }
  return removed;
}

/**
 * The directory part of an absolute path, as `node:path`'s `dirname` (startup: a
 * `node:` import costs ~10 ms of Node compatibility set-up at every start).
 */
function parentDir(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  const i = trimmed.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : trimmed.slice(0, i);
}

/**
 * Waits for `p`, but no longer than `ms`; cancels its timer either way. On the
 * reactor's clock: the process's first `setTimeout` loads Deno's Node timers, ~10 ms
 * (40 under a profiler) added to every exit.
 */
async function settledWithin(reactor: Reactor, p: Promise<void>, ms: number): Promise<void> {
  let cancel = () => {};
  const timeout = new Promise<void>((done) => {
    cancel = reactor.at(reactor.nowMs() + ms, done);
  });
  try {
    await Promise.race([p, timeout]);
  } finally {
    cancel();
  }
}

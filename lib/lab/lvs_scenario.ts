/**
 * The LVS-DR story `hacore lab --lvs` tells, on real namespaces with real daemons and the
 * kernel's IPVS:
 *
 * 1. election: both directors start; who holds the VIP; both IPVS tables, already full
 *    on the backup too (a backup that waits for the VIP to build its table would start
 *    its reign with nothing to balance to);
 * 2. a web server dies (its process killed): how long until it leaves the table, and
 *    what the client saw meanwhile;
 * 3. it comes back: how long until it is in the table again, and serving;
 * 4. the master director dies (kill -9 and its cable pulled): the backup takes the VIP
 *    with its table ready, and the client's gap is measured.
 *
 * Every number is observed: VIP holders from `ip addr`, tables from `/proc/net/ip_vs` in
 * each director's namespace, the client's view from its own requests.
 *
 * @example
 * ```ts
 * const box = new Sandbox();
 * try {
 *   const r = await runLvsScenario(box, lvsLabSpec(), { say: console.log });
 *   console.log(r.summary);
 * } finally {
 *   await box.cleanup();
 * }
 * ```
 *
 * @module
 */

import { masterDownIntervalMs } from "../vrrp/timing.ts";
import type { NetnsHost } from "./host.ts";
import {
  buildLvsLab,
  fallBoundMs,
  LVS_CLIENT_ADDRESS,
  type LvsLabSpec,
  riseBoundMs,
} from "./lvs.ts";
import {
  type Director,
  type DirectorKind,
  directorMessage,
  startDirector,
} from "./lvs_director.ts";
import {
  destAddresses,
  ipvsadmIn,
  type IpvsTableView,
  startTableWatch,
  type TableWatch,
  waitSteady,
} from "./lvs_table.ts";
import { SERVICE_PORT } from "./lvs_web.ts";
import { type ProbeSummary, startProbe, summarizeProbe } from "./probe.ts";
import { sleep, wallMs } from "./proc.ts";
import { LAN_IFACE } from "./topology.ts";
import { addressWatcher, type VipWatcher, waitForHolders } from "./vip.ts";

/**
 * Options of {@link runLvsScenario}.
 *
 * @example
 * ```ts
 * const o: LvsScenarioOptions = { say: console.log, directors: ["hacore", "keepalived"] };
 * ```
 */
export interface LvsScenarioOptions {
  /** Receives each timeline line as it happens. */
  readonly say: (line: string) => void;
  /** Which daemon runs dir1 and dir2; hacore on both by default. */
  readonly directors?: readonly [DirectorKind, DirectorKind];
  /** The web server killed in step 2; "web2" by default. */
  readonly victim?: string;
}

/**
 * The whole run's findings.
 *
 * @example
 * ```ts
 * const r: LvsLabReport = await runLvsScenario(box, spec, { say: console.log });
 * r.webDown.leftMs <= r.webDown.goneMs + r.webDown.boundMs;
 * ```
 */
export interface LvsLabReport {
  readonly master: string;
  readonly electionMs: number;
  readonly webDown: {
    readonly web: string;
    /**
     * ms from the kill to the web server's absence from the master's table. Not from the
     * process being gone: its socket closes during the teardown, so a check can fail, and
     * the server leave, before the teardown is seen to end (the demo once printed -4 ms).
     */
    readonly leftMs: number;
    /** ms from the kill to its process being gone (the teardown, slow in the guest). */
    readonly goneMs: number;
    /** fall × delay_loop. */
    readonly boundMs: number;
    readonly client: ProbeSummary;
  };
  readonly webBack: {
    /** ms from the restart's start to the server's return to the master's table. */
    readonly backMs: number;
    /** ms the web server process took to start (to print that it listens). */
    readonly startMs: number;
    readonly boundMs: number;
    readonly client: ProbeSummary;
  };
  readonly failover: {
    readonly from: string;
    readonly to: string;
    /** ms from the kill to the backup holding the VIP. */
    readonly takeoverMs: number;
    /** The backup's Master_Down_Interval. */
    readonly expectedMs: number;
    /** The real servers in the new master's table when it took the VIP. */
    readonly tableAtTakeover: readonly string[];
    /** ms from the kill to the client's first answer after its last failure (0: none failed). */
    readonly clientGapMs: number;
    readonly client: ProbeSummary;
  };
  readonly summary: string;
}

const ms = (n: number) => `${Math.round(n)} ms`;

function clientLine(s: ProbeSummary): string {
  const by = s.answeredBy.map((a) => a.who).join(", ");
  if (s.failed === 0) return `client: ${s.attempts} requests, none failed (answered by ${by})`;
  const errors = Object.entries(s.errors).map(([k, v]) => `${v} ${k}`).join(", ");
  return `client: ${s.failed} of ${s.attempts} requests failed (${errors}) ` +
    `from +${ms(s.firstFailureAfterMs!)} to +${ms(s.lastFailureAfterMs!)}; answered by ${by}`;
}

function tableLines(text: string): string[] {
  return text.trimEnd().split("\n").map((l) => `      ${l.trimEnd()}`);
}

/**
 * Builds the LVS lab in `box`, runs the four steps and returns the report. Throws (with
 * the directors' last words) when a step does not happen in time; the caller cleans `box`.
 *
 * @example
 * ```ts
 * const r = await runLvsScenario(box, lvsLabSpec(), { say: console.log });
 * ```
 */
export async function runLvsScenario(
  box: NetnsHost & { tempDir(): Promise<string>; defer(step: () => Promise<void>): void },
  spec: LvsLabSpec,
  opts: LvsScenarioOptions,
): Promise<LvsLabReport> {
  const say = opts.say;
  const kinds = opts.directors ?? ["hacore", "hacore"];
  const victim = opts.victim ?? "web2";
  const victimAddress = spec.webs.find((w) => w.name === victim)?.address.split("/")[0];
  if (victimAddress === undefined) throw new Error(`no web server named ${victim}`);
  const port = SERVICE_PORT;
  const all = spec.webs.map((w) => w.address.split("/")[0]);
  const full = (t: IpvsTableView) => {
    const d = destAddresses(t, spec.vip, port);
    return d !== null && all.every((a) => d.includes(a));
  };
  const budget = 20_000;

  say(
    `building: bridge, client ${LVS_CLIENT_ADDRESS}, directors ${
      spec.directors.map((d, i) => `${d.name} ${d.address} (${kinds[i]}, priority ${d.priority})`)
        .join(", ")
    },`,
  );
  say(
    `  web servers ${
      spec.webs.map((w) => `${w.name} ${w.address}`).join(", ")
    } with ${spec.vip} on lo, arp_ignore=1, arp_announce=2`,
  );
  let t0 = wallMs();
  const lab = await buildLvsLab(box, spec);
  const dir = await box.tempDir();
  say(`built in ${ms(wallMs() - t0)}; configs and pid files in ${dir}\n`);

  const width = 7;
  const line = (who: string, text: string, atMs = wallMs()) =>
    say(`  ${`+${((atMs - t0) / 1000).toFixed(3)}s`.padStart(9)}  ${who.padEnd(width)}  ${text}`);
  const lab_ = (text: string, atMs?: number) => line("lab", text, atMs);

  const watches = new Map<string, TableWatch>();
  for (const d of spec.directors) {
    watches.set(d.name, await startTableWatch(box, lab.member(d.name).ns, 5, d.name));
  }
  const vipWatchers: VipWatcher[] = spec.directors.map((d) =>
    addressWatcher(d.name, lab.member(d.name).ns, LAN_IFACE, spec.vip)
  );
  const directors: Director[] = [];
  try {
    // 1. Election
    say("== 1. election: both directors start ==");
    t0 = wallMs();
    const started = await Promise.all(
      spec.directors.map((d, i) => startDirector(box, lab, dir, d.name, kinds[i])),
    );
    directors.push(...started);
    for (const d of directors) {
      d.proc.onLine((l) => {
        const m = directorMessage(d.kind, l.text);
        // Transitions, real servers going up or down, and trouble.
        if (
          / -> [A-Z]+ \(|Entering \w+ STATE|[Rr]emoving service|[Aa]dding service|real server|quorum|sorry/
            .test(m.msg) || m.level === "warn" || m.level === "error"
        ) line(d.name, m.msg, m.atMs ?? l.atMs);
      });
    }
    lab_(`started ${directors.map((d) => `${d.kind} on ${d.name}`).join(", ")}`);
    // Started together, either may claim the VIP first until it hears the other: the
    // master is the one that still holds it a Master_Down_Interval later.
    const top = [...spec.directors].sort((a, b) => b.priority - a.priority)[0];
    const settleMs = masterDownIntervalMs(3, top.priority, spec.advertIntS * 1000);
    let elected = await waitForHolders(vipWatchers, (h) => h.length === 1, budget, "a master");
    for (;;) {
      await sleep(settleMs);
      const now = await waitForHolders(vipWatchers, (h) => h.length === 1, budget, "a master");
      if (now.holders[0] === elected.holders[0]) break;
      elected = now;
    }
    const master = elected.holders[0];
    const backup = spec.directors.find((d) => d.name !== master)!.name;
    lab_(`ELECTED: ${master} holds ${spec.vip}, ${ms(elected.atMs - t0)} after the start`);
    for (const d of spec.directors) {
      // Steady, too: a starting director may drop and re-add servers while it warms up.
      await waitSteady(
        watches.get(d.name)!,
        full,
        1000,
        budget,
        `${d.name}'s table to list every web server`,
      );
    }
    await sleep(3 * spec.advertIntS * 1000);
    for (const d of spec.directors) {
      lab_(`${d.name}${d.name === master ? " (master)" : " (backup)"}: ipvsadm -Ln`);
      for (const l of tableLines(await ipvsadmIn(lab.member(d.name).ns, "-Ln"))) say(l);
    }
    const probe = await startProbe(box, lab.member("client").ns, spec.vip, {
      port,
      intervalMs: 20,
      timeoutMs: 200,
    });
    lab_(`client requests ${spec.vip}:${port} every ${probe.intervalMs} ms`);
    for (const w of spec.webs) {
      await probe.waitFor((r) => r.ok && r.who === w.name, budget, `an answer from ${w.name}`);
    }
    lab_(`client: answered by ${spec.webs.map((w) => w.name).join(", ")} in turn`);
    await sleep(300);

    // 2. A web server dies
    say(`\n== 2. ${victim}'s web server is killed ==`);
    const masterWatch = watches.get(master)!;
    const tKill = wallMs();
    await lab.killWeb(victim);
    // Timed from the process being gone: a killed process's port still accepts while the
    // kernel tears its memory down, which takes a while in the guest.
    const tDead = wallMs();
    lab_(
      `${victim}: web server killed (SIGKILL), its process gone ${ms(tDead - tKill)} later`,
      tDead,
    );
    const gone = (t: IpvsTableView) =>
      !(destAddresses(t, spec.vip, port) ?? []).includes(victimAddress);
    const left = await masterWatch.waitFor(
      gone,
      budget,
      `${victim} to leave ${master}'s table`,
      tKill,
    );
    const boundDown = fallBoundMs(spec);
    lab_(
      `${victim} left ${master}'s table ${ms(left.atMs - tKill)} after the kill ` +
        `(fall ${spec.retry + 1} × delay_loop ${ms(spec.delayLoopS * 1000)} = ${ms(boundDown)})`,
      left.atMs,
    );
    const leftBackup = await watches.get(backup)!.waitFor(
      gone,
      budget,
      `${victim} out on ${backup}`,
      tKill,
    );
    lab_(
      `${victim} left ${backup}'s table too, ${ms(leftBackup.atMs - tKill)} after the kill`,
      leftBackup.atMs,
    );
    await sleep(500);
    const downClient = summarizeProbe(probe.results, tKill, wallMs() - 250);
    lab_(clientLine(downClient));

    // 3. It comes back
    say(`\n== 3. ${victim}'s web server restarts ==`);
    const tStart = wallMs();
    await lab.startWeb(victim);
    const tUp = wallMs();
    lab_(`${victim}: web server accepting again (${ms(tUp - tStart)} to start)`, tUp);
    // From the restart's start: the process's own "listening" line may be read after
    // the director's check already found it answering.
    const back = await masterWatch.waitFor(
      (t) => !gone(t),
      budget,
      `${victim} back in ${master}'s table`,
      tStart,
    );
    lab_(
      `${victim} back in ${master}'s table ${ms(back.atMs - tStart)} after its restart began ` +
        `(${ms(tUp - tStart)} of it to start; then rise 1 × delay_loop = ${ms(riseBoundMs(spec))})`,
      back.atMs,
    );
    const again = await probe.waitFor(
      (r) => r.ok && r.who === victim && r.t > tUp,
      budget,
      `${victim} serving`,
    );
    line("client", `answered by ${victim} again`, again.t + again.ms);
    await sleep(300);
    const backClient = summarizeProbe(probe.results, tStart, wallMs() - 250);
    lab_(clientLine(backClient));

    // 4. The master director dies
    say(`\n== 4. the master director ${master} dies: cable pulled, kill -9 ==`);
    const dead = directors.find((d) => d.name === master)!;
    const heir = spec.directors.find((d) => d.name === backup)!;
    // Cable first: a dead machine's kernel forwards nothing, but a killed daemon's kernel
    // would keep holding the VIP and balancing with the table it left behind.
    // Timed from the moment the cable is out (`ip link set down` itself can take
    // hundreds of ms in the guest, while the master still advertises).
    const tPull = wallMs();
    await lab.lan.cut(lab.member(master));
    const tCrash = wallMs();
    await dead.crash();
    lab_(
      `${master}: cable pulled (in ${ms(tCrash - tPull)}), ${dead.kind} killed (SIGKILL)`,
      tCrash,
    );
    const took = await waitForHolders(
      vipWatchers.filter((w) => w.name === backup),
      (h) => h.length === 1,
      budget,
      `${backup} to take ${spec.vip}`,
    );
    const expectedMs = masterDownIntervalMs(3, heir.priority, spec.advertIntS * 1000);
    const heirWatch = watches.get(backup)!;
    const tableThen = heirWatch.history.filter((s) => s.atMs <= took.atMs).at(-1)?.table ?? [];
    const readyDests = destAddresses(tableThen, spec.vip, port) ?? [];
    lab_(
      `TAKEOVER: ${backup} holds the VIP ${ms(took.atMs - tCrash)} after the pull ` +
        `(Master_Down_Interval ${ms(expectedMs)}); its table then: ${
          readyDests.length > 0 ? readyDests.join(", ") : "EMPTY"
        }`,
      took.atMs,
    );
    const first = await probe.waitFor((r) => r.ok && r.t > took.atMs, budget, "an answer");
    line("client", `answered by ${first.who} through ${backup}`, first.t + first.ms);
    await sleep(500);
    const failClient = summarizeProbe(probe.results, tCrash, wallMs() - 250);
    const gapMs = failClient.recoveredAfterMs ?? 0;
    lab_(clientLine(failClient));
    lab_(`${backup} (new master): ipvsadm -Ln`);
    for (const l of tableLines(await ipvsadmIn(lab.member(backup).ns, "-Ln"))) say(l);
    await probe.stop();

    const summary = `summary: ${master} elected in ${ms(elected.atMs - t0)}` +
      ` | ${victim} killed: out of the table in ${ms(left.atMs - tKill)} (bound ${
        ms(boundDown)
      }),` +
      ` ${downClient.failed} failed request${downClient.failed === 1 ? "" : "s"}` +
      ` | back ${ms(back.atMs - tStart)} after its restart` +
      ` | ${master} kill -9: ${backup} in ${ms(took.atMs - tCrash)} with ${readyDests.length}` +
      ` real servers ready, client gap ${ms(gapMs)} (${failClient.failed} failed)`;
    return {
      master,
      electionMs: elected.atMs - t0,
      webDown: {
        web: victim,
        leftMs: left.atMs - tKill,
        goneMs: tDead - tKill,
        boundMs: boundDown,
        client: downClient,
      },
      webBack: {
        backMs: back.atMs - tStart,
        startMs: tUp - tStart,
        boundMs: riseBoundMs(spec),
        client: backClient,
      },
      failover: {
        from: master,
        to: backup,
        takeoverMs: took.atMs - tCrash,
        expectedMs,
        tableAtTakeover: readyDests,
        clientGapMs: gapMs,
        client: failClient,
      },
      summary,
    };
  } catch (e) {
    const tails = directors.map((d) => d.proc.tail(8)).join("");
    throw new Error(`${e instanceof Error ? e.message : String(e)}${tails}`);
  } finally {
    for (const w of watches.values()) await w.stop();
  }
}

/**
 * Why the LVS story cannot run on this kernel, or null: it needs IPVS
 * (`/proc/net/ip_vs`) and `ipvsadm`.
 *
 * @example
 * ```ts
 * lvsUnavailable(); // "this kernel has no IPVS (/proc/net/ip_vs missing)" on most hosts
 * ```
 */
export function lvsUnavailable(): string | null {
  try {
    Deno.statSync("/proc/net/ip_vs");
  } catch {
    return "this kernel has no IPVS (/proc/net/ip_vs missing)";
  }
  const path = (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":");
  const has = path.some((d) => {
    try {
      return Deno.statSync(`${d}/ipvsadm`).isFile;
    } catch {
      return false;
    }
  });
  return has ? null : "ipvsadm is not on PATH";
}

/**
 * The LVS runtime alone over the fake kernel table (`FakeIpvs`) and the manual clock,
 * stepped the way the daemon's loop steps it: the checks' timers, then the runtime's
 * deadlines, in time order. Real servers' checks pass unless `alive` says otherwise.
 *
 * @module
 */
import type { Config } from "../../lib/config/mod.ts";
import { Logger, type LogLevel } from "../../lib/log.ts";
import { LvsRuntime } from "../../lib/lvs/runtime.ts";
import { CheckService } from "../../lib/check/service.ts";
import type { CheckRunner } from "../../lib/check/types.ts";
import { ManualClock } from "./daemon.ts";
import { FakeIpvs } from "./ipvs.ts";

/**
 * Lets the promise chains a step started run out (check runs resolve through a few).
 *
 * @example
 * ```ts
 * await flush();
 * ```
 */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}

/** Options of {@link LvsHarness}. */
export interface LvsHarnessOptions {
  readonly ipvs?: FakeIpvs;
  readonly clock?: ManualClock;
  /** The ownership file; none by default. */
  readonly stateFile?: string;
  readonly keepOnStop?: boolean;
  /** "info" by default. */
  readonly logLevel?: LogLevel;
}

/**
 * A runtime and its check service on a manual clock, with every log line kept.
 *
 * @example
 * ```ts
 * const t = new LvsHarness(configOf(text));
 * await t.start();
 * t.alive.set("192.0.2.12", false);
 * await t.to(5000);
 * await t.stop();
 * ```
 */
export class LvsHarness {
  readonly clock: ManualClock;
  readonly ipvs: FakeIpvs;
  readonly lines: string[] = [];
  /** Check results by real server address: true passes (the default). */
  readonly alive = new Map<string, boolean>();
  readonly checks: CheckService;
  readonly rt: LvsRuntime;

  constructor(readonly config: Config, opts: LvsHarnessOptions = {}) {
    this.clock = opts.clock ?? new ManualClock(0);
    this.ipvs = opts.ipvs ?? new FakeIpvs();
    const runner: CheckRunner = (spec) => {
      const host = spec.kind === "tcp" ? spec.target.host : "";
      const ok = this.alive.get(host) ?? true;
      return Promise.resolve({ ok, detail: ok ? "ok" : "refused", weight: null, durationMs: 0 });
    };
    this.checks = new CheckService({ clock: this.clock, runner, random: () => 0 });
    this.rt = new LvsRuntime({
      config,
      ipvs: this.ipvs,
      checks: this.checks,
      clock: this.clock,
      log: new Logger({ level: opts.logLevel ?? "info", sink: (l) => this.lines.push(l) }),
      rateLog: (_k, _l, m) => this.lines.push(m),
      notify: () => {},
      enqueue: (run) => run(),
      localAddresses: () => Promise.resolve([]),
      stateFile: opts.stateFile ?? null,
      ...(opts.keepOnStop === undefined ? {} : { keepOnStop: opts.keepOnStop }),
    });
  }

  async start(): Promise<void> {
    await this.rt.start((w) => w());
    await this.to(0);
  }

  /** Moves the clock to `ms` running the checks due, without a runtime turn. */
  async checksTo(ms: number): Promise<void> {
    while (this.clock.fireNext(ms)) await flush();
    this.clock.setNow(ms);
    this.checks.runDue();
    await flush();
  }

  /** Runs the loop to `ms`: check timers, then the runtime's deadlines, in time order. */
  async to(ms: number): Promise<void> {
    for (let i = 0; i < 100_000; i++) {
      await flush();
      const d = this.rt.nextDeadlineMs();
      const c = this.checks.nextDeadlineMs();
      const next = Math.max(this.clock.nowMs(), Math.min(d ?? Infinity, c ?? Infinity, ms));
      await this.checksTo(next);
      if (d !== null && d <= next) await this.rt.advance();
      const after = Math.min(
        this.rt.nextDeadlineMs() ?? Infinity,
        this.checks.nextDeadlineMs() ?? Infinity,
      );
      if (next >= ms && after > ms) return;
    }
    throw new Error("the loop never settled");
  }

  async stop(): Promise<void> {
    this.rt.shutdown();
    await this.rt.close();
    await this.checks.stop();
  }
}

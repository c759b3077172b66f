/**
 * The production {@link CheckRunner}: runs a check of any kind once.
 *
 * @module
 */

import { checkClock } from "./clock.ts";
import { checkDns } from "./dns.ts";
import { checkFile } from "./file.ts";
import { checkHttp } from "./http.ts";
import { checkIcmp } from "./icmp.ts";
import { pinger4, pinger6 } from "./pinger.ts";
import { checkReactor } from "./reactor.ts";
import { defaultReactor } from "../sys/reactor.ts";
import { errorText, failed } from "./result.ts";
import { checkScript } from "./script.ts";
import { checkSmtp } from "./smtp.ts";
import { checkTcp } from "./tcp.ts";
import type { CheckResult, CheckRunner, CheckSpec } from "./types.ts";
import { checkUdp } from "./udp.ts";

function dispatch(spec: CheckSpec, timeoutMs: number, signal: AbortSignal): Promise<CheckResult> {
  switch (spec.kind) {
    case "tcp":
      return checkTcp(spec, timeoutMs, signal);
    case "http":
      return checkHttp(spec, timeoutMs, signal);
    case "dns":
      return checkDns(spec, timeoutMs, signal);
    case "icmp":
      return checkIcmp(spec, timeoutMs, signal);
    case "smtp":
      return checkSmtp(spec, timeoutMs, signal);
    case "udp":
      return checkUdp(spec, timeoutMs, signal);
    case "file":
      return checkFile(spec, timeoutMs, signal);
    case "script":
      return checkScript(spec, timeoutMs, signal);
  }
}

/**
 * Runs one check of any kind. Resolves (never rejects) within about `timeoutMs`
 * (a script past it: plus its kill grace); an exception in a check is a failed result.
 *
 * @example
 * ```ts
 * const r = await runCheck({ kind: "tcp", target: { host: "127.0.0.1", port: 22 } }, 1000, new AbortController().signal);
 * console.log(r.ok, r.detail);
 * ```
 */
export const runCheck: CheckRunner = (
  spec: CheckSpec,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CheckResult> => {
  // Not an async function: its frame and the promises of an `await` were a twentieth of
  // what the daemon allocated under 1,200 checks a second.
  const startedAt = checkClock.now();
  const unexpected = (e: unknown) =>
    failed(`${spec.kind} check failed unexpectedly: ${errorText(e)}`, startedAt);
  // These wait on Deno's own ops (node:tls, a child process, a file read), which
  // complete only while Deno's event loop turns: the reactor keeps its waits async until
  // they are done. The others (plain HTTP and SMTP included) wait on the reactor itself.
  const release = usesDenoOps(spec) ? defaultReactor().hold() : null;
  try {
    const run = dispatch(spec, timeoutMs, signal).catch(unexpected);
    return release === null ? run : run.finally(release);
  } catch (e) {
    release?.();
    return Promise.resolve(unexpected(e));
  }
};

/** Whether a check's I/O is Deno's (see runCheck). */
function usesDenoOps(spec: CheckSpec): boolean {
  switch (spec.kind) {
    case "http":
      return spec.tls;
    case "file":
    case "script":
      return true;
    default:
      return false;
  }
}

/**
 * Resolves once the shared socket machinery of the checks is idle: no poll on a
 * worker thread, no raw ICMP socket open. For a clean shutdown (and test sanitizers)
 * after every check has ended.
 *
 * @example
 * ```ts
 * await checksIdle();
 * ```
 */
export async function checksIdle(): Promise<void> {
  await Promise.all([pinger4.idle(), pinger6.idle()]);
  await checkReactor.idle();
}

/**
 * Building {@link CheckResult}s, and the one-line texts they carry: endpoints as people
 * write them (`[::1]:80`), errors by their errno name (`ECONNREFUSED`).
 *
 * @module
 */

import { SyscallError } from "../sys/errno.ts";
import { checkClock } from "./clock.ts";
import type { CheckResult, Endpoint } from "./types.ts";

/**
 * A passing result, timed from `startedAt` (a `performance.now()` reading) to the
 * turn's {@link checkClock} reading: the runs that end in one wake share one reading
 * of the clock (a syscall in the UML guest), so a duration is exact to the length of
 * that turn.
 *
 * @example
 * ```ts
 * const t0 = performance.now();
 * passed("connected", t0).ok; // true
 * ```
 */
export function passed(
  detail: string,
  startedAt: number,
  weight: number | null = null,
): CheckResult {
  return { ok: true, detail, weight, durationMs: checkClock.now() - startedAt };
}

/**
 * A failing result, timed from `startedAt` to the turn's {@link checkClock} reading
 * (as {@link passed}).
 *
 * @example
 * ```ts
 * failed("connect 127.0.0.1:80: ECONNREFUSED", performance.now()).ok; // false
 * ```
 */
export function failed(detail: string, startedAt: number): CheckResult {
  return { ok: false, detail, weight: null, durationMs: checkClock.now() - startedAt };
}

/**
 * A failing result that is definitive when `definitive` says so (the target refused
 * or reset the connection): the same as {@link failed} otherwise.
 *
 * @example
 * ```ts
 * failedFrom("connect 127.0.0.1:80: ECONNREFUSED", performance.now(), true).definitive; // true
 * ```
 */
export function failedFrom(detail: string, startedAt: number, definitive: boolean): CheckResult {
  if (!definitive) return failed(detail, startedAt);
  return {
    ok: false,
    detail,
    weight: null,
    durationMs: checkClock.now() - startedAt,
    definitive: true,
  };
}

/**
 * Whether an error says the peer is not there: the connection was refused
 * (`ECONNREFUSED`) or reset (`ECONNRESET`). Only the caller knows whether a reset came
 * before any reply, which is what makes it definitive.
 *
 * @example
 * ```ts
 * isRefusal(new SyscallError("connect", 111)); // true
 * isRefusal(new Error("timed out")); // false
 * ```
 */
export function isRefusal(e: unknown): boolean {
  if (e instanceof Deno.errors.ConnectionRefused || e instanceof Deno.errors.ConnectionReset) {
    return true;
  }
  const code = errorText(e);
  return code === "ECONNREFUSED" || code === "ECONNRESET";
}

/**
 * `host:port`, with brackets around an IPv6 host.
 *
 * @example
 * ```ts
 * formatEndpoint({ host: "::1", port: 80 }); // "[::1]:80"
 * ```
 */
export function formatEndpoint(e: Endpoint): string {
  let text = endpointTexts.get(e);
  if (text === undefined) {
    text = e.host.includes(":") ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
    endpointTexts.set(e, text);
  }
  return text;
}

/**
 * Endpoints are config objects that live as long as their check, and every run of a
 * check names its endpoint: the text is made once per endpoint, not once per run.
 */
const endpointTexts = new WeakMap<Endpoint, string>();

/**
 * The shortest text that says why an operation failed: the errno name when there is
 * one (`ECONNREFUSED`, from Deno's `error.code` or a {@link SyscallError}), else the
 * message.
 *
 * @example
 * ```ts
 * errorText(new SyscallError("recvfrom", 111)); // "ECONNREFUSED"
 * errorText(new Error("bad record")); // "bad record"
 * ```
 */
export function errorText(e: unknown): string {
  if (e instanceof SyscallError) return e.code;
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^E[A-Z0-9]+$/.test(code)) return code;
    return e.message.split("\n")[0];
  }
  return String(e);
}

/**
 * Milliseconds as a short text: `0.4 ms`, `12 ms`, `1500 ms`.
 *
 * @example
 * ```ts
 * formatMs(0.4321); // "0.4 ms"
 * ```
 */
export function formatMs(ms: number): string {
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/**
 * The vocabulary of health checks: what a check is (`CheckSpec`, from the config), what
 * one run of it says (`CheckResult`), and how its runs are paced (`CheckTiming`).
 *
 * Checks run in-process on timers (keepalived forks a process per check); only the
 * `script` kind starts a process.
 *
 * @module
 */

/** An endpoint a check connects to; `host` is a canonical IP address (no DNS at check time). */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/**
 * TCP: healthy when a connection opens within the timeout.
 *
 * @example
 * ```ts
 * const tcp: TcpCheck = { kind: "tcp", target: { host: "127.0.0.1", port: 80 } };
 * ```
 */
export interface TcpCheck {
  readonly kind: "tcp";
  readonly target: Endpoint;
}

/**
 * HTTP/HTTPS GET: healthy when the status is in one of `statusRanges` and, if set, the
 * body matches `bodyRegex` and its hex digest equals `digest`.
 *
 * @example
 * ```ts
 * const http: HttpCheck = {
 *   kind: "http", tls: false, target: { host: "127.0.0.1", port: 8080 }, path: "/health",
 *   hostHeader: null, sni: null, verifyTls: true, statusRanges: [[200, 299]],
 *   bodyRegex: null, digest: null,
 * };
 * ```
 */
export interface HttpCheck {
  readonly kind: "http";
  readonly tls: boolean;
  readonly target: Endpoint;
  /** Path and query, starting with "/". */
  readonly path: string;
  /** Host header; null = the target as written (`host:port`). */
  readonly hostHeader: string | null;
  /** TLS server name; null = `hostHeader` if set, else none (an IP target sends no SNI). */
  readonly sni: string | null;
  /** false = accept any certificate (self-signed backends), as keepalived's SSL_GET does. */
  readonly verifyTls: boolean;
  /** Inclusive [low, high] pairs. */
  readonly statusRanges: readonly (readonly [number, number])[];
  /** JavaScript regex source, tested against the body as UTF-8 text. */
  readonly bodyRegex: string | null;
  /** Lower-case hex; 32 digits = MD5 (keepalived's `digest`), 64 = SHA-256. */
  readonly digest: string | null;
}

/** Record types a DNS check may ask for. */
export type DnsRecordType = "A" | "AAAA" | "NS" | "CNAME" | "SOA" | "PTR" | "MX" | "TXT" | "SRV";

/**
 * DNS over UDP: healthy when the server answers `name`/`type` with RCODE NOERROR and at
 * least one answer record of that type (and, with `expect`, one whose text matches).
 *
 * @example
 * ```ts
 * const dns: DnsCheck = {
 *   kind: "dns", server: { host: "127.0.0.1", port: 53 }, name: "example.com", type: "A", expect: null,
 * };
 * ```
 */
export interface DnsCheck {
  readonly kind: "dns";
  readonly server: Endpoint;
  readonly name: string;
  readonly type: DnsRecordType;
  /** An address (A/AAAA) or name (others) one answer must equal; null = any answer. */
  readonly expect: string | null;
}

/**
 * ICMP echo over a raw socket: healthy when the matching echo reply arrives.
 *
 * @example
 * ```ts
 * const ping: IcmpCheck = { kind: "icmp", host: "192.0.2.1" };
 * ```
 */
export interface IcmpCheck {
  readonly kind: "icmp";
  readonly host: string;
}

/**
 * SMTP: healthy when the server greets with 220 and answers `HELO heloName` with 250
 * (the check then sends QUIT).
 *
 * @example
 * ```ts
 * const smtp: SmtpCheck = { kind: "smtp", target: { host: "127.0.0.1", port: 25 }, heloName: "hacore" };
 * ```
 */
export interface SmtpCheck {
  readonly kind: "smtp";
  readonly target: Endpoint;
  readonly heloName: string;
}

/**
 * UDP: sends the bytes of `payloadHex`; healthy when a reply comes back (and, with `expect`, matches
 * it as a regex over the reply read as latin1, so binary protocols can be matched too).
 * An ICMP port-unreachable is an immediate failure.
 *
 * @example
 * ```ts
 * const udp: UdpCheck = {
 *   kind: "udp", target: { host: "127.0.0.1", port: 5353 }, payloadHex: "70696e67",
 *   expect: "^pong",
 * };
 * ```
 */
export interface UdpCheck {
  readonly kind: "udp";
  readonly target: Endpoint;
  /** Lower-case hex (plain text in the config is converted): configs stay plain JSON. */
  readonly payloadHex: string;
  readonly expect: string | null;
}

/**
 * File content: healthy when the file exists and (with `expect`) its text matches.
 *
 * @example
 * ```ts
 * const f: FileCheck = { kind: "file", path: "/run/app/ready", expect: "^ok" };
 * ```
 */
export interface FileCheck {
  readonly kind: "file";
  readonly path: string;
  readonly expect: string | null;
}

/**
 * An external command: exit 0 is healthy, anything else (or the timeout) is not.
 * With `dynamic` (keepalived's misc_dynamic), exit codes 2..255 are healthy with a
 * weight of `code - 2`, and 1 is a failure.
 *
 * @example
 * ```ts
 * const s: ScriptCheck = { kind: "script", command: "/usr/local/bin/check_app", user: null, dynamic: false };
 * ```
 */
export interface ScriptCheck {
  readonly kind: "script";
  /** Command line, split on whitespace (keepalived's rules); no shell. */
  readonly command: string;
  /** Run as this user (name); null = root. */
  readonly user: string | null;
  readonly dynamic: boolean;
}

/** Any check the library runs. */
export type CheckSpec =
  | TcpCheck
  | HttpCheck
  | DnsCheck
  | IcmpCheck
  | SmtpCheck
  | UdpCheck
  | FileCheck
  | ScriptCheck;

/** The kinds, in the order docs list them. */
export const CHECK_KINDS = [
  "tcp",
  "http",
  "dns",
  "icmp",
  "smtp",
  "udp",
  "file",
  "script",
] as const satisfies readonly CheckSpec["kind"][];

/**
 * What one run of a check found.
 *
 * @example
 * ```ts
 * const r: CheckResult = { ok: false, detail: "connect 127.0.0.1:80: ECONNREFUSED", weight: null, durationMs: 0.3 };
 * ```
 */
export interface CheckResult {
  readonly ok: boolean;
  /** One line a person can read: why it failed, or what passed ("HTTP 200 in 1.2 ms"). */
  readonly detail: string;
  /** A dynamic weight (script with `dynamic`); null otherwise. */
  readonly weight: number | null;
  readonly durationMs: number;
  /**
   * A failure that is not transient: the target refused the connection (nothing
   * listens, the process is gone) or reset it before any reply. Timeouts and bad
   * replies can be passing trouble; a refusal says the service is not there. Unset =
   * false. A timing with `failFastOnRefused` takes the check down on such a failure.
   */
  readonly definitive?: boolean;
}

/**
 * Pacing and debouncing of one check.
 *
 * @example
 * ```ts
 * const t: CheckTiming = { intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, initialUp: true };
 * ```
 */
export interface CheckTiming {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive passes that turn a failing check healthy. */
  readonly rise: number;
  /** Consecutive failures that turn a healthy check failing. */
  readonly fall: number;
  /** The state before enough results arrive (keepalived's `init_fail` is `false`). */
  readonly initialUp: boolean;
  /**
   * While a healthy check fails short of `fall`, the next run comes this long after the
   * failure instead of at the next interval (keepalived's `delay_before_retry`): a real
   * server is declared down within fall retries, not fall intervals. Unset = interval.
   */
  readonly retryIntervalMs?: number;
  /**
   * The first run comes after a random delay up to this long (keepalived's `warmup`;
   * 0 = at once). Unset = up to one interval, so checks added together spread out.
   */
  readonly warmupMs?: number;
  /**
   * A healthy check hit by a definitive failure ({@link CheckResult.definitive}: the
   * connection refused or reset before any reply) turns failing at once, without the
   * `fall` retries, which are for timeouts and bad replies. The LVS real server checks
   * set it: a dead backend leaves the table within milliseconds of its next check.
   * VRRP trackers keep keepalived's plain rise/fall. Unset = false.
   */
  readonly failFastOnRefused?: boolean;
  /**
   * Between runs, hold an idle connection to the check's target (TCP, HTTP, SMTP kinds)
   * and run the check at once when it ends: a killed server process closes it, and is
   * seen within milliseconds rather than at the next interval. The LVS real server
   * checks set it. Unset = false.
   */
  readonly watchConnection?: boolean;
}

/**
 * Runs one check once. Resolves (never rejects) within about `timeoutMs`; aborting
 * `signal` ends it early with a failed result.
 */
export type CheckRunner = (
  spec: CheckSpec,
  timeoutMs: number,
  signal: AbortSignal,
) => Promise<CheckResult>;

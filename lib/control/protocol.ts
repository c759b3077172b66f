/**
 * The control protocol spoken on hacore's unix socket: one JSON request per line, one
 * JSON reply per line, in order, several per connection.
 *
 * ```
 * → {"v":1,"id":"7","cmd":"demote","instance":"VI_1","priority":1}
 * ← {"v":1,"id":"7","ok":true,"result":{"message":"VI_1: priority 1 (demoted) ..."}}
 * → {"v":1,"cmd":"detail","instance":"VI_9"}
 * ← {"v":1,"ok":false,"error":{"code":"no-such-instance","message":"no instance \"VI_9\"; ..."}}
 * ```
 *
 * Validation is pure and total: any line (any JSON, or none) becomes either a typed
 * {@link ControlRequest} or exactly one {@link ControlError} from a closed set of codes,
 * whose message names the offending field. Unknown fields are refused rather than
 * ignored, for the same reason the config refuses unknown keys: a misspelt
 * `"priorty": 1` silently ignored would demote to the default instead.
 *
 * @module
 */

import type { Config } from "../config/schema.ts";
import type { DaemonStatus } from "./status.ts";
import { CONTROL_PROTOCOL_VERSION, type InstanceDetail, type ReloadOutcome } from "./api.ts";

export { CONTROL_PROTOCOL_VERSION } from "./api.ts";

/**
 * The commands a client may send.
 *
 * @example
 * ```ts
 * const c: ControlCommand = "status";
 * ```
 */
export type ControlCommand =
  | "status"
  | "detail"
  | "demote"
  | "promote"
  | "resume"
  | "maintenance"
  | "drain"
  | "undrain"
  | "reload"
  | "config"
  | "ping";

/**
 * Every {@link ControlCommand}, in the order help texts list them.
 *
 * @example
 * ```ts
 * CONTROL_COMMANDS.includes("reload"); // true
 * ```
 */
export const CONTROL_COMMANDS: readonly ControlCommand[] = Object.freeze([
  "status",
  "detail",
  "demote",
  "promote",
  "resume",
  "maintenance",
  "drain",
  "undrain",
  "reload",
  "config",
  "ping",
]);

/**
 * A validated request. `id`, when given, is echoed in the reply so a client that
 * pipelines can match them.
 *
 * @example
 * ```ts
 * const r: ControlRequest = { v: 1, cmd: "demote", instance: "VI_1", priority: 1 };
 * ```
 */
export type ControlRequest =
  & { readonly v: typeof CONTROL_PROTOCOL_VERSION; readonly id?: string }
  & (
    | { readonly cmd: "status" | "reload" | "config" | "ping" }
    | { readonly cmd: "detail" | "resume"; readonly instance: string }
    | {
      readonly cmd: "demote" | "promote";
      readonly instance: string;
      readonly priority?: number;
    }
    | { readonly cmd: "maintenance"; readonly on: boolean }
    | {
      readonly cmd: "drain" | "undrain";
      /** The virtual server's name. */
      readonly virtualServer: string;
      /** The real server: `IP:PORT`, `[V6]:PORT`, or an address alone when unique. */
      readonly realServer: string;
      /** `drain` only: seconds to wait for connections before removing it anyway. */
      readonly deadline?: number;
    }
  );

/**
 * The closed set of error codes a reply may carry.
 * - `bad-request`: not JSON, not an object, or a field missing, of the wrong type or
 *   out of range;
 * - `unsupported-version`: `v` is a number other than {@link CONTROL_PROTOCOL_VERSION};
 * - `unknown-command`: `cmd` is a string that names no command;
 * - `no-such-instance`: the instance named does not exist;
 * - `refused`: not allowed: the peer is not root, the server has too many clients, or
 *   the daemon declined the operation (the message says which);
 * - `too-large`: a request line longer than the server accepts (the connection closes);
 * - `timeout`: no complete request line in time (the connection closes);
 * - `internal`: the daemon failed to answer (a bug; it is logged).
 *
 * @example
 * ```ts
 * const code: ControlErrorCode = "no-such-instance";
 * ```
 */
export type ControlErrorCode =
  | "bad-request"
  | "unsupported-version"
  | "unknown-command"
  | "no-such-instance"
  | "refused"
  | "too-large"
  | "timeout"
  | "internal";

/**
 * Every {@link ControlErrorCode}.
 *
 * @example
 * ```ts
 * CONTROL_ERROR_CODES.length; // 8
 * ```
 */
export const CONTROL_ERROR_CODES: readonly ControlErrorCode[] = Object.freeze([
  "bad-request",
  "unsupported-version",
  "unknown-command",
  "no-such-instance",
  "refused",
  "too-large",
  "timeout",
  "internal",
]);

/**
 * An error as a reply carries it.
 *
 * @example
 * ```ts
 * const e: ControlError = { code: "bad-request", message: '"priority" must be an integer 1..254, got 300' };
 * ```
 */
export interface ControlError {
  /** One of {@link CONTROL_ERROR_CODES}: what a program branches on. */
  readonly code: ControlErrorCode;
  /** One sentence for a person, naming the field or instance concerned. */
  readonly message: string;
}

/**
 * What an operator verb (demote, promote, resume, maintenance) answers when done.
 *
 * @example
 * ```ts
 * const r: VerbResult = { message: "VI_1: demoted to priority 1" };
 * ```
 */
export interface VerbResult {
  /** What the daemon did, in a sentence (the CLI prints it as is). */
  readonly message: string;
}

/**
 * What `ping` answers.
 *
 * @example
 * ```ts
 * const p: PingResult = { pong: true, protocol: 1 };
 * ```
 */
export interface PingResult {
  /** Always true: the daemon's loop answered. */
  readonly pong: true;
  /** The protocol version the daemon speaks. */
  readonly protocol: number;
}

/**
 * The `result` of a successful reply, per command.
 *
 * @example
 * ```ts
 * const s: ControlResultMap["status"] = reply.result as DaemonStatus;
 * ```
 */
export interface ControlResultMap {
  /** Every instance, as `DaemonControl.status()` returns it. */
  status: DaemonStatus;
  /** One instance in full. */
  detail: InstanceDetail;
  /** The daemon's sentence about the demote. */
  demote: VerbResult;
  /** The daemon's sentence about the promote. */
  promote: VerbResult;
  /** The daemon's sentence about the resume. */
  resume: VerbResult;
  /** The daemon's sentence about maintenance. */
  maintenance: VerbResult;
  /** The daemon's sentence about the drain. */
  drain: VerbResult;
  /** The daemon's sentence about the undrain. */
  undrain: VerbResult;
  /** A refused reload is still a successful reply: `ok: false` and the config errors. */
  reload: ReloadOutcome;
  /** The config the daemon runs now, as `DaemonControl.config()` returns it. */
  config: Config;
  /** Liveness of the daemon's loop. */
  ping: PingResult;
}

/**
 * One reply line.
 *
 * @example
 * ```ts
 * const r: ControlReply = { v: 1, id: "1", ok: true, result: { pong: true, protocol: 1 } };
 * ```
 */
export type ControlReply =
  | { readonly v: number; readonly id?: string; readonly ok: true; readonly result: unknown }
  | { readonly v: number; readonly id?: string; readonly ok: false; readonly error: ControlError };

/**
 * What {@link parseRequest} and {@link validateRequest} return: a request, or the one
 * error to reply with (and the request's `id` when it had a usable one, so even an
 * error reply can be matched).
 *
 * @example
 * ```ts
 * const r: RequestParse = parseRequest('{"v":1,"cmd":"status"}');
 * if (r.ok) r.request.cmd; // "status"
 * ```
 */
export type RequestParse =
  | { readonly ok: true; readonly request: ControlRequest }
  | { readonly ok: false; readonly id?: string; readonly error: ControlError };

/**
 * Longest accepted `id`: it is echoed in the reply, so it is bounded.
 *
 * @example
 * ```ts
 * parseRequest(JSON.stringify({ v: 1, cmd: "ping", id: "x".repeat(MAX_ID_LENGTH + 1) })).ok; // false
 * ```
 */
export const MAX_ID_LENGTH = 128;
/**
 * Longest accepted instance name: names are TOML keys, and one longer than this is not
 * one of ours (it is echoed in errors, so it is bounded too).
 *
 * @example
 * ```ts
 * MAX_INSTANCE_LENGTH; // 256
 * ```
 */
export const MAX_INSTANCE_LENGTH = 256;
/**
 * Lowest priority an operator may set: 0 is the release advert's.
 *
 * @example
 * ```ts
 * validateRequest({ v: 1, cmd: "demote", instance: "VI_1", priority: OVERRIDE_PRIORITY_MIN }).ok; // true
 * ```
 */
export const OVERRIDE_PRIORITY_MIN = 1;
/**
 * Highest priority an operator may set: 255 is the address owner's.
 *
 * @example
 * ```ts
 * validateRequest({ v: 1, cmd: "promote", instance: "VI_1", priority: 255 }).ok; // false
 * ```
 */
export const OVERRIDE_PRIORITY_MAX = 254;

const FIELDS: Readonly<Record<ControlCommand, readonly string[]>> = {
  status: [],
  reload: [],
  config: [],
  ping: [],
  detail: ["instance"],
  resume: ["instance"],
  demote: ["instance", "priority"],
  promote: ["instance", "priority"],
  maintenance: ["on"],
  drain: ["virtualServer", "realServer", "deadline"],
  undrain: ["virtualServer", "realServer"],
};

/** Longest drain deadline an operator may give, in seconds (a day). */
export const MAX_DRAIN_DEADLINE_S = 86_400;
const COMMON_FIELDS = ["v", "id", "cmd"];

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "object") return "an object";
  return String(v);
}

function bad(message: string, id?: string): RequestParse {
  return id === undefined
    ? { ok: false, error: { code: "bad-request", message } }
    : { ok: false, id, error: { code: "bad-request", message } };
}

function isCommand(s: string): s is ControlCommand {
  return (CONTROL_COMMANDS as readonly string[]).includes(s);
}

/**
 * Validates a decoded JSON value as a request. Checks, in order: an object; `id`
 * (optional string ≤ 128 chars); `v` present and equal to the protocol version; `cmd`
 * a known command; no field the command does not take; then the command's own fields.
 *
 * @example
 * ```ts
 * validateRequest({ v: 1, cmd: "maintenance", on: true }); // { ok: true, request: {...} }
 * validateRequest({ v: 1, cmd: "demote" }).ok; // false: "instance" is required
 * ```
 */
export function validateRequest(value: unknown): RequestParse {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return bad(`a request must be a JSON object, got ${describe(value)}`);
  }
  const o = value as Record<string, unknown>;
  let id: string | undefined;
  if ("id" in o) {
    if (typeof o.id !== "string" || o.id.length > MAX_ID_LENGTH) {
      return bad(
        `"id" must be a string of at most ${MAX_ID_LENGTH} characters, got ${
          typeof o.id === "string" ? `${o.id.length} characters` : describe(o.id)
        }`,
      );
    }
    id = o.id;
  }
  const fail = (code: ControlErrorCode, message: string): RequestParse =>
    id === undefined
      ? { ok: false, error: { code, message } }
      : { ok: false, id, error: { code, message } };
  if (!("v" in o)) {
    return fail(
      "bad-request",
      `missing "v": the protocol version (this daemon speaks ${CONTROL_PROTOCOL_VERSION})`,
    );
  }
  if (typeof o.v !== "number") {
    return fail("bad-request", `"v" must be a number, got ${describe(o.v)}`);
  }
  if (o.v !== CONTROL_PROTOCOL_VERSION) {
    return fail(
      "unsupported-version",
      `protocol version ${o.v} is not supported; this daemon speaks ${CONTROL_PROTOCOL_VERSION}`,
    );
  }
  if (!("cmd" in o)) {
    return fail("bad-request", `missing "cmd"; commands: ${CONTROL_COMMANDS.join(", ")}`);
  }
  if (typeof o.cmd !== "string") {
    return fail("bad-request", `"cmd" must be a string, got ${describe(o.cmd)}`);
  }
  const cmd = o.cmd;
  if (!isCommand(cmd)) {
    return fail(
      "unknown-command",
      `unknown command ${describe(cmd)}; commands: ${CONTROL_COMMANDS.join(", ")}`,
    );
  }
  const allowed = FIELDS[cmd];
  for (const key of Object.keys(o)) {
    if (COMMON_FIELDS.includes(key) || allowed.includes(key)) continue;
    return fail(
      "bad-request",
      `unknown field ${describe(key)} for "${cmd}"${
        allowed.length > 0 ? `; it takes: ${allowed.map((f) => `"${f}"`).join(", ")}` : ""
      }`,
    );
  }
  const base: { readonly v: typeof CONTROL_PROTOCOL_VERSION; readonly id?: string } =
    id === undefined ? { v: CONTROL_PROTOCOL_VERSION } : { v: CONTROL_PROTOCOL_VERSION, id };

  let instance = "";
  if (allowed.includes("instance")) {
    if (!("instance" in o)) return fail("bad-request", `"${cmd}" needs "instance": a name`);
    if (
      typeof o.instance !== "string" || o.instance.length === 0 ||
      o.instance.length > MAX_INSTANCE_LENGTH
    ) {
      return fail(
        "bad-request",
        `"instance" must be a non-empty string of at most ${MAX_INSTANCE_LENGTH} characters, got ${
          describe(o.instance)
        }`,
      );
    }
    instance = o.instance;
  }

  switch (cmd) {
    case "status":
    case "reload":
    case "config":
    case "ping":
      return { ok: true, request: { ...base, cmd } };
    case "detail":
    case "resume":
      return { ok: true, request: { ...base, cmd, instance } };
    case "demote":
    case "promote": {
      if (!("priority" in o)) return { ok: true, request: { ...base, cmd, instance } };
      const p = o.priority;
      if (
        typeof p !== "number" || !Number.isInteger(p) || p < OVERRIDE_PRIORITY_MIN ||
        p > OVERRIDE_PRIORITY_MAX
      ) {
        return fail(
          "bad-request",
          `"priority" must be an integer ${OVERRIDE_PRIORITY_MIN}..${OVERRIDE_PRIORITY_MAX}, got ${
            describe(p)
          }`,
        );
      }
      return { ok: true, request: { ...base, cmd, instance, priority: p } };
    }
    case "maintenance": {
      if (!("on" in o)) return fail("bad-request", `"maintenance" needs "on": true or false`);
      if (typeof o.on !== "boolean") {
        return fail("bad-request", `"on" must be true or false, got ${describe(o.on)}`);
      }
      return { ok: true, request: { ...base, cmd, on: o.on } };
    }
    case "drain":
    case "undrain": {
      for (const f of ["virtualServer", "realServer"] as const) {
        const v = o[f];
        if (typeof v !== "string" || v.length === 0 || v.length > MAX_INSTANCE_LENGTH) {
          return fail(
            "bad-request",
            `"${cmd}" needs "${f}": a non-empty string of at most ${MAX_INSTANCE_LENGTH} characters, got ${
              describe(v)
            }`,
          );
        }
      }
      const names = {
        virtualServer: o.virtualServer as string,
        realServer: o.realServer as string,
      };
      if (cmd === "undrain" || !("deadline" in o)) {
        return { ok: true, request: { ...base, cmd, ...names } };
      }
      const d = o.deadline;
      if (typeof d !== "number" || !Number.isFinite(d) || d < 0 || d > MAX_DRAIN_DEADLINE_S) {
        return fail(
          "bad-request",
          `"deadline" must be seconds 0..${MAX_DRAIN_DEADLINE_S}, got ${describe(d)}`,
        );
      }
      return { ok: true, request: { ...base, cmd, ...names, deadline: d } };
    }
  }
}

/**
 * Parses one request line (without its newline) and validates it.
 *
 * @example
 * ```ts
 * parseRequest('{"v":1,"cmd":"status"}').ok; // true
 * parseRequest("status").ok; // false: bad-request, not JSON
 * ```
 */
export function parseRequest(line: string): RequestParse {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    return bad(`not JSON: ${(e as Error).message}`);
  }
  return validateRequest(value);
}

/**
 * A success reply.
 *
 * @example
 * ```ts
 * okReply("7", { pong: true, protocol: 1 }); // { v: 1, id: "7", ok: true, result: {...} }
 * ```
 */
export function okReply(id: string | undefined, result: unknown): ControlReply {
  return id === undefined
    ? { v: CONTROL_PROTOCOL_VERSION, ok: true, result }
    : { v: CONTROL_PROTOCOL_VERSION, id, ok: true, result };
}

/**
 * An error reply.
 *
 * @example
 * ```ts
 * errorReply(undefined, "timeout", "no complete request line within 2000 ms");
 * ```
 */
export function errorReply(
  id: string | undefined,
  code: ControlErrorCode,
  message: string,
): ControlReply {
  const error = { code, message };
  return id === undefined
    ? { v: CONTROL_PROTOCOL_VERSION, ok: false, error }
    : { v: CONTROL_PROTOCOL_VERSION, id, ok: false, error };
}

/**
 * One line of the wire: JSON plus the newline. JSON.stringify escapes every newline
 * inside strings, so a line never splits.
 *
 * @example
 * ```ts
 * encodeLine({ v: 1, cmd: "status" }); // '{"v":1,"cmd":"status"}\n'
 * ```
 */
export function encodeLine(message: ControlRequest | ControlReply): string {
  return JSON.stringify(message) + "\n";
}

/**
 * Checks the envelope of a reply line (the client side): JSON, `v`, `ok`, and for an
 * error a known code and a message. The `result` itself is the daemon's and is
 * passed through untouched. Returns a description of what is wrong instead of a reply.
 *
 * @example
 * ```ts
 * const r = parseReply('{"v":1,"ok":true,"result":{"pong":true,"protocol":1}}');
 * if (typeof r !== "string" && r.ok) r.result;
 * ```
 */
export function parseReply(line: string): ControlReply | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    return `the reply is not JSON: ${(e as Error).message}`;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return `the reply is not a JSON object: ${describe(value)}`;
  }
  const o = value as Record<string, unknown>;
  if (typeof o.v !== "number") return `the reply has no protocol version "v"`;
  if ("id" in o && typeof o.id !== "string") return `the reply's "id" is not a string`;
  const id = typeof o.id === "string" ? o.id : undefined;
  if (o.ok === true) {
    if (!("result" in o)) return `the reply says ok but has no "result"`;
    return { v: o.v, ...(id === undefined ? {} : { id }), ok: true, result: o.result };
  }
  if (o.ok === false) {
    const e = o.error as Record<string, unknown> | null | undefined;
    if (typeof e !== "object" || e === null || typeof e.message !== "string") {
      return `the error reply has no "error.message"`;
    }
    const code = (CONTROL_ERROR_CODES as readonly unknown[]).includes(e.code)
      ? e.code as ControlErrorCode
      // A newer daemon's code: keep the message, which is what a person reads.
      : "internal";
    return {
      v: o.v,
      ...(id === undefined ? {} : { id }),
      ok: false,
      error: { code, message: e.message },
    };
  }
  return `the reply's "ok" is not true or false`;
}

/**
 * The file check: healthy when the file exists (a regular file) and, with `expect`,
 * its first {@link FILE_CAP_BYTES} bytes read as UTF-8 match the regex.
 *
 * @module
 */

import { Deadline } from "./deadline.ts";
import { errorText, failed, passed } from "./result.ts";
import type { CheckResult, FileCheck } from "./types.ts";

/** The most of a file a check reads. */
export const FILE_CAP_BYTES = 64 * 1024;

const regexes = new WeakMap<FileCheck, RegExp | string>();

function regexOf(spec: FileCheck): RegExp | string | null {
  if (spec.expect === null) return null;
  let r = regexes.get(spec);
  if (r === undefined) {
    try {
      r = new RegExp(spec.expect);
    } catch (e) {
      r = `expect: ${(e as Error).message}`;
    }
    regexes.set(spec, r);
  }
  return r;
}

/**
 * Runs one file check. Never rejects.
 *
 * @example
 * ```ts
 * const r = await checkFile({ kind: "file", path: "/run/app/ready", expect: "^ok" }, 1000, new AbortController().signal);
 * r.detail; // "file /run/app/ready: ENOENT"
 * ```
 */
export async function checkFile(
  spec: FileCheck,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CheckResult> {
  const d = new Deadline(signal, timeoutMs);
  const what = `file ${spec.path}`;
  try {
    const re = regexOf(spec);
    if (typeof re === "string") return failed(re, d.startedAt);
    const text = await Promise.race([readHead(spec.path, re !== null), d.done().then(() => null)]);
    if (text === null) return failed(`${what}: ${d.reason()}`, d.startedAt);
    if (typeof text !== "string") return failed(`${what}: ${text.error}`, d.startedAt);
    if (re !== null && !re.test(text)) {
      return failed(`${what} does not match /${spec.expect}/`, d.startedAt);
    }
    return passed(`${what} ${re === null ? "exists" : "matches"}`, d.startedAt);
  } finally {
    d.dispose();
  }
}

/** The file's first bytes as text ("" when not needed), or why it cannot be read. */
async function readHead(path: string, needText: boolean): Promise<string | { error: string }> {
  try {
    // stat first: opening a FIFO for reading would wait for a writer.
    const st = await Deno.stat(path);
    if (!st.isFile) return { error: "not a regular file" };
    if (!needText) return "";
    using f = await Deno.open(path, { read: true });
    const buf = new Uint8Array(FILE_CAP_BYTES);
    let n = 0;
    while (n < buf.length) {
      const got = await f.read(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
    return new TextDecoder().decode(buf.subarray(0, n));
  } catch (e) {
    return { error: errorText(e) };
  }
}

/**
 * Ownership of IPVS services. The kernel has no owner field, so hacore keeps the keys of
 * the services it created or adopted in a small JSON file under `/run/hacore/`: at the
 * next start, a service listed there but gone from the config was hacore's and is
 * drained and removed, while one in neither the file nor the config belongs to someone
 * else (an operator's `ipvsadm`, another daemon) and is never touched.
 *
 * Written atomically (a temporary file, then a rename) so a crash never leaves half a
 * list; a missing or unreadable file means "nothing owned".
 *
 * @module
 */

/** The format version written in the file. */
export const OWNERSHIP_FILE_VERSION = 1;

/**
 * The ownership file beside a pid file: `/run/hacore/NAME-TAG.pid` →
 * `/run/hacore/NAME-TAG.lvs.json`, so one config's daemon always finds its own.
 *
 * @example
 * ```ts
 * ownershipPathFor("/run/hacore/hacore-3f2a9c1e.pid"); // "/run/hacore/hacore-3f2a9c1e.lvs.json"
 * ```
 */
export function ownershipPathFor(pidFile: string): string {
  return `${pidFile.replace(/\.pid$/, "")}.lvs.json`;
}

/**
 * The service keys listed in `path`; an empty set when there is no file. A file that
 * cannot be parsed is reported through `onError` and counts as empty: starting matters
 * more, and what it listed is then treated as foreign (left alone), the safe side.
 */
export async function readOwnership(
  path: string,
  onError: (message: string) => void = () => {},
): Promise<Set<string>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) onError(`cannot read ${path}: ${String(e)}`);
    return new Set();
  }
  try {
    const o = JSON.parse(text) as { version?: unknown; services?: unknown };
    if (o.version !== OWNERSHIP_FILE_VERSION || !Array.isArray(o.services)) {
      throw new Error(`expected {"version": ${OWNERSHIP_FILE_VERSION}, "services": [...]}`);
    }
    return new Set(o.services.filter((s): s is string => typeof s === "string"));
  } catch (e) {
    onError(`cannot parse ${path}: ${e instanceof Error ? e.message : String(e)}`);
    return new Set();
  }
}

/** Writes `keys` to `path` atomically (temporary file in the same directory, rename). */
export async function writeOwnership(path: string, keys: Iterable<string>): Promise<void> {
  const dir = path.slice(0, Math.max(0, path.lastIndexOf("/")));
  if (dir !== "") await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = `${path}.tmp-${Deno.pid}`;
  const body = JSON.stringify({ version: OWNERSHIP_FILE_VERSION, services: [...keys].sort() });
  await Deno.writeTextFile(tmp, `${body}\n`, { mode: 0o644 });
  await Deno.rename(tmp, path);
}

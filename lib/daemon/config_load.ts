/**
 * Reading a config for a reload without blocking the daemon's loop. Parsing and
 * validating run on the loop's thread otherwise, and nothing else runs meanwhile: at
 * 10 ms adverts a parse of 30 ms (its code gone cold since startup, on a loaded host) is
 * long enough for a Backup to take over, and a reload of an unchanged file then moved
 * the VIP twice. A short-lived worker does the reading and validating; the loop keeps
 * sending while it runs.
 *
 * @module
 */
import { loadConfig, type LoadOptions, type LoadResult } from "../config/mod.ts";

/**
 * Reads and validates `file` on a worker thread, as `loadConfig` would on this one. When
 * no worker can be started (a build without the worker module), it falls back to
 * `loadConfig` here.
 *
 * @example
 * ```ts
 * const r = await loadConfigOffLoop("/etc/hacore/hacore.toml");
 * if (r.ok) daemonConfig = r.config;
 * ```
 */
export function loadConfigOffLoop(file: string, options: LoadOptions = {}): Promise<LoadResult> {
  let worker: Worker;
  try {
    worker = new Worker(new URL("./config_worker.ts", import.meta.url).href, { type: "module" });
  } catch {
    return loadConfig(file, options);
  }
  return new Promise<LoadResult>((resolve) => {
    worker.onmessage = (e: MessageEvent<LoadResult>) => {
      worker.terminate();
      // A structured clone is not frozen: the daemon relies on a config never changing.
      resolve(e.data.ok ? { ...e.data, config: deepFreeze(e.data.config) } : e.data);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      worker.terminate();
      resolve(loadConfig(file, options));
    };
    worker.postMessage({ file, options });
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

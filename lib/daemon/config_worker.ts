/**
 * The worker side of {@link loadConfigOffLoop} (`config_load.ts`): reads and validates
 * one config file per message and posts the `LoadResult` back. Off the daemon's loop
 * thread, so that a reload's parsing (tens of milliseconds when its code has gone cold,
 * more for a large file on a busy host) never delays an advert.
 *
 * @module
 */
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { loadConfig, type LoadOptions } from "../config/mod.ts";

/** One request: the file and how to read it. */
interface Request {
  readonly file: string;
  readonly options: LoadOptions;
}

self.onmessage = async (e: MessageEvent<Request>) => {
  self.postMessage(await loadConfig(e.data.file, e.data.options));
};

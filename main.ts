/**
 * hacore: a keepalived-class VRRP daemon. This file only maps argv to a command.
 *
 * @module
 */
import { runCli } from "./lib/cli/mod.ts";

if (import.meta.main) {
  Deno.exitCode = await runCli(Deno.args);
}

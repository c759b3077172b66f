/**
 * Command dispatch: the first argument names a command, one file per command.
 *
 * Each command's module is imported only when that command runs: `hacore run` must not
 * pay for compiling `status`, `check`, the simulator or the lab (nor `hacore --version`
 * for any of them); start time is most of what a backup costs before it can take over.
 *
 * @module
 */
import { parseArgs } from "./args.ts";
import { VERSION } from "./version.ts";
export { VERSION };

/** A command takes its own arguments and returns the process exit code. */
export type Command = (args: string[]) => Promise<number>;

type VerbName =
  | "demoteCommand"
  | "drainCommand"
  | "maintenanceCommand"
  | "promoteCommand"
  | "reloadCommand"
  | "resumeCommand"
  | "undrainCommand";

/** An operator verb of verbs.ts, loaded when it runs. */
function verb(name: VerbName): Command {
  return async (args) => (await import("./verbs.ts"))[name](args);
}

interface CommandEntry {
  run: Command;
  summary: string;
}

const COMMANDS: Record<string, CommandEntry> = {
  run: {
    run: async (args) => (await import("./run.ts")).runCommand(args),
    summary: "run FILE: run the daemon in the foreground (root)",
  },
  check: {
    run: async (args) => (await import("./check.ts")).checkCommand(args),
    summary:
      "check FILE | check --diff [OLD] NEW: validate (TOML or keepalived.conf), or what a reload would change (no OLD: the running daemon)",
  },
  sim: {
    run: async (args) => (await import("./sim.ts")).simCommand(args),
    summary: "sim [--seed N]: run a failover scenario in the deterministic simulator",
  },
  lab: {
    run: async (args) => (await import("./lab.ts")).labCommand(args),
    summary:
      "lab [FILE]: namespaces + bridge + client, one hacore per node, failover timeline (root)",
  },
  import: {
    run: async (args) => (await import("./import.ts")).importCommand(args),
    summary:
      "import KEEPALIVED_CONF [--config-id ID]: print the equivalent hacore TOML, with source lines",
  },
  status: {
    run: async (args) => (await import("./status.ts")).statusCommand(args),
    summary: "status [NAME] [--json] [--watch [S]]: what the running daemon is doing",
  },
  demote: {
    run: verb("demoteCommand"),
    summary:
      "demote NAME [--priority N]: lower NAME's priority (1) until resume; a peer takes over",
  },
  promote: {
    run: verb("promoteCommand"),
    summary: "promote NAME [--priority N]: raise NAME's priority (254) until resume",
  },
  resume: { run: verb("resumeCommand"), summary: "resume NAME: clear a demote or promote" },
  maintenance: {
    run: verb("maintenanceCommand"),
    summary: "maintenance on|off: every instance gives up mastership / back to normal",
  },
  drain: {
    run: verb("drainCommand"),
    summary:
      "drain VS RS [--deadline S]: weight 0, removed once its connections end; until undrain",
  },
  undrain: { run: verb("undrainCommand"), summary: "undrain VS RS: end a drain" },
  reload: {
    run: verb("reloadCommand"),
    summary: "reload: re-read the config file (as SIGHUP); prints each change or the errors",
  },
};

function usage(): string {
  const lines = ["usage: hacore COMMAND [ARGS]", "", "commands:"];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(12)} ${c.summary}`);
  lines.push(`  ${"help".padEnd(12)} this text`, "", "options: --version, --help");
  return lines.join("\n");
}

/**
 * Runs the command named by `argv[0]` and returns its exit code.
 *
 * @example
 * ```ts
 * const code = await runCli(["check", "examples/two-node.toml"]);
 * ```
 */
export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "version") {
    console.log(`hacore ${VERSION}`);
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`hacore: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return await cmd.run(rest);
}

/** Re-exported so commands parse flags the same way. */
export { parseArgs };

/**
 * Flag parsing for the commands: the subset of `node:util`'s `parseArgs` they use
 * (`--name value`, `--name=value`, booleans, one-letter aliases, `--` ends the flags,
 * strict by default), with its error messages.
 *
 * Why not `node:util` itself: importing any `node:` module makes Deno set up its Node
 * compatibility layer, ~10 ms of every `hacore` start (measured: `deno run` of a file
 * importing `node:util` 31 ms, of an empty file 19 ms), and `hacore run` must reach
 * BACKUP in tens of milliseconds.
 *
 * @module
 */

/**
 * One flag: a string takes a value, a boolean does not.
 *
 * @example
 * ```ts
 * const o: ArgOption = { type: "boolean", short: "h" };
 * ```
 */
export interface ArgOption {
  readonly type: "string" | "boolean";
  /** A one-letter alias: `-h` for `--help`. */
  readonly short?: string;
}

/**
 * The flags a command takes, by long name.
 *
 * @example
 * ```ts
 * const opts = { pidfile: { type: "string" }, json: { type: "boolean" } } as const satisfies ArgOptions;
 * ```
 */
export type ArgOptions = Readonly<Record<string, ArgOption>>;

/**
 * The parsed values: a string flag's last value, `true` for a boolean given; absent
 * flags are missing.
 *
 * @example
 * ```ts
 * const v: ArgValues<{ pidfile: { type: "string" } }> = { pidfile: "/run/hacore.pid" };
 * ```
 */
export type ArgValues<O extends ArgOptions> = {
  -readonly [K in keyof O]?: O[K]["type"] extends "string" ? string : boolean;
};

/**
 * What {@link parseArgs} reads.
 *
 * @example
 * ```ts
 * const c: ParseArgsConfig<{ json: { type: "boolean" } }> = { args: ["--json"], options: { json: { type: "boolean" } } };
 * ```
 */
export interface ParseArgsConfig<O extends ArgOptions> {
  readonly args: readonly string[];
  readonly options: O;
  /** Unknown flags and unexpected positionals throw (true by default). */
  readonly strict?: boolean;
  /** Default: true unless `strict`. */
  readonly allowPositionals?: boolean;
}

/**
 * Parses `args` against `options`; throws a `TypeError` with `node:util`'s message
 * (e.g. `Unknown option '--x'`) on a flag it does not know, a string flag without its
 * value, or a positional where none is allowed (strict mode).
 *
 * @example
 * ```ts
 * const { values, positionals } = parseArgs({
 *   args: ["a.toml", "--log-level=debug"],
 *   options: { "log-level": { type: "string" } },
 *   allowPositionals: true,
 * });
 * // values["log-level"] === "debug", positionals: ["a.toml"]
 * ```
 */
export function parseArgs<O extends ArgOptions>(
  config: ParseArgsConfig<O>,
): { values: ArgValues<O>; positionals: string[] } {
  const strict = config.strict ?? true;
  const allowPositionals = config.allowPositionals ?? !strict;
  const values: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  const args = config.args;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      for (const rest of args.slice(i + 1)) positional(rest);
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positional(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const eq = long ? arg.indexOf("=") : -1;
    const given = eq < 0 ? arg : arg.slice(0, eq);
    const name = long ? given.slice(2) : shortName(config.options, given.slice(1));
    const option = name === undefined ? undefined : ownOption(config.options, name);
    if (name === undefined || option === undefined) {
      if (strict) throw new TypeError(`Unknown option '${given}'`);
      values[long ? given.slice(2) : given.slice(1)] = eq < 0 ? true : arg.slice(eq + 1);
      continue;
    }
    if (option.type === "boolean") {
      if (eq >= 0 && strict) throw new TypeError(`Option '${given}' does not take an argument`);
      values[name] = true;
      continue;
    }
    if (eq >= 0) {
      values[name] = arg.slice(eq + 1);
      continue;
    }
    const next = args[i + 1];
    if (next === undefined) {
      throw new TypeError(`Option '${usageOf(name, option)}' argument missing`);
    }
    if (strict && next.startsWith("-")) {
      throw new TypeError(
        `Option '${given}' argument is ambiguous.\nDid you forget to specify the option ` +
          `argument for '${given}'?\nTo specify an option argument starting with a dash ` +
          `use '--${name}=-XYZ'.`,
      );
    }
    values[name] = next;
    i++;
  }
  return { values: values as ArgValues<O>, positionals };

  function positional(arg: string): void {
    if (strict && !allowPositionals) {
      throw new TypeError(
        `Unexpected argument '${arg}'. This command does not take positional arguments`,
      );
    }
    positionals.push(arg);
  }
}

function ownOption(options: ArgOptions, name: string): ArgOption | undefined {
  return Object.hasOwn(options, name) ? options[name] : undefined;
}

function shortName(options: ArgOptions, letter: string): string | undefined {
  for (const [name, o] of Object.entries(options)) if (o.short === letter) return name;
  return undefined;
}

function usageOf(name: string, o: ArgOption): string {
  return o.short === undefined ? `--${name} <value>` : `-${o.short}, --${name} <value>`;
}

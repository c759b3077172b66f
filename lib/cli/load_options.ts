/**
 * The flags that say how to read a config file, shared by `check`, `run` and `import`,
 * in a module of their own so that `hacore run` does not load `check` (and with it the
 * status client and its formatting) to parse its flags.
 *
 * @module
 */
import type { LoadOptions } from "../config/mod.ts";

/**
 * `--format auto|toml|keepalived` and `--config-id ID` (keepalived's `@ID` lines).
 *
 * @example
 * ```ts
 * parseArgs({ args, options: { ...FORMAT_OPTIONS, json: { type: "boolean" } } });
 * ```
 */
export const FORMAT_OPTIONS = {
  format: { type: "string" },
  "config-id": { type: "string" },
} as const;

/**
 * The `LoadOptions` the format flags ask for, or a usage message.
 *
 * @example
 * ```ts
 * loadOptionsFrom({ format: "keepalived", "config-id": "lb-a" });
 * // { format: "keepalived", configId: "lb-a" }
 * loadOptionsFrom({ format: "yaml" }); // '--format: expected auto, toml or keepalived, got "yaml"'
 * ```
 */
export function loadOptionsFrom(
  values: { format?: string; "config-id"?: string },
): LoadOptions | string {
  const format = values.format ?? "auto";
  if (format !== "auto" && format !== "toml" && format !== "keepalived") {
    return `--format: expected auto, toml or keepalived, got "${format}"`;
  }
  const configId = values["config-id"];
  if (configId !== undefined && !/^\S+$/.test(configId)) {
    return `--config-id: expected one word, got "${configId}"`;
  }
  return configId === undefined ? { format } : { format, configId };
}

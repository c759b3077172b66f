/**
 * The translated keepalived document written out as hacore.toml, each table and key
 * commented with the keepalived.conf file and line it came from. Reading the output
 * back with the TOML reader gives the same raw document, so the same `Config`.
 *
 * @module
 */

import type { ConfigError } from "../errors.ts";
import { formatConfigError } from "../errors.ts";
import { isTable, type RawTable } from "../fields.ts";
import { formatPath, type KeyPath } from "../scan.ts";
import type { SourceLoc } from "./translate.ts";

/** Arrays of tables written as `[[...]]` sections rather than inline. */
const SECTION_ARRAYS = new Set(["real_server", "check"]);

/** The top-level tables in the order hacore's own examples use. */
const TOP_ORDER = [
  "global",
  "vrrp_script",
  "vrrp_track_file",
  "vrrp_track_process",
  "vrrp_instance",
  "vrrp_sync_group",
  "virtual_server_group",
  "virtual_server",
];

/**
 * Writes `doc` as TOML. `origin` is the keepalived.conf path, used to shorten the
 * locations in comments (files next to it are named relative to its folder).
 *
 * @example
 * ```ts
 * const text = writeToml({ global: { router_id: "a" } }, new Map(), "/etc/keepalived/keepalived.conf", []);
 * // ... "[global]\nrouter_id = \"a\"\n"
 * ```
 */
export function writeToml(
  doc: RawTable,
  locs: ReadonlyMap<string, SourceLoc>,
  origin: string,
  warnings: readonly ConfigError[],
): string {
  const dir = origin.includes("/") ? origin.slice(0, origin.lastIndexOf("/") + 1) : "";
  const where = (path: KeyPath): string | null => {
    const loc = locs.get(formatPath(path));
    if (loc === undefined) return null;
    const file = dir !== "" && loc.file.startsWith(dir) ? loc.file.slice(dir.length) : loc.file;
    return `${file}:${loc.line}`;
  };
  const out: string[] = [
    `# hacore.toml written by \`hacore import\` from ${origin}.`,
    '# Each "from FILE:LINE" names the keepalived.conf statement a table or key comes from.',
  ];
  for (const w of warnings) out.push(`# warning: ${formatConfigError(w)}`);
  // Top-level keys (static_routes, ...) must come before the first [table] header.
  const bare = Object.entries(doc).filter(([, v]) => !isTable(v));
  if (bare.length > 0) out.push("");
  for (const [key, value] of bare) {
    const from = where([key]);
    out.push(`${tomlKey(key)} = ${inline(value)}${from === null ? "" : ` # from ${from}`}`);
  }
  const keys = Object.keys(doc).sort((a, b) => TOP_ORDER.indexOf(a) - TOP_ORDER.indexOf(b));
  for (const top of keys) {
    const value = doc[top];
    if (!isTable(value)) continue;
    if (top === "global") {
      writeSection(out, [top], value, where, false);
      continue;
    }
    for (const [name, table] of Object.entries(value)) {
      if (isTable(table)) writeSection(out, [top, name], table, where, false);
    }
  }
  return out.join("\n") + "\n";
}

type Where = (path: KeyPath) => string | null;

function writeSection(
  out: string[],
  path: KeyPath,
  table: RawTable,
  where: Where,
  arrayElement: boolean,
): void {
  out.push("");
  const from = where(path);
  if (from !== null) out.push(`# from ${from}`);
  const header = formatPath(path.filter((s) => typeof s === "string"));
  out.push(arrayElement ? `[[${header}]]` : `[${header}]`);
  const nested: [string, RawTable[]][] = [];
  for (const [key, value] of Object.entries(table)) {
    if (SECTION_ARRAYS.has(key) && Array.isArray(value) && value.every(isTable)) {
      nested.push([key, value as RawTable[]]);
      continue;
    }
    const kf = where([...path, key]);
    out.push(`${tomlKey(key)} = ${inline(value)}${kf === null ? "" : ` # from ${kf}`}`);
  }
  for (const [key, list] of nested) {
    list.forEach((t, i) => writeSection(out, [...path, key, i], t, where, true));
  }
}

function tomlKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
}

/**
 * One value as inline TOML: integers stay integers (bigint), other numbers are floats.
 *
 * @example
 * ```ts
 * inline([1n, 1.5, "a", { name: "x", weight: -2n }]); // '[1, 1.5, "a", { name = "x", weight = -2 }]'
 * ```
 */
export function inline(value: unknown): string {
  switch (typeof value) {
    case "bigint":
      return value.toString();
    case "number":
      return Number.isInteger(value) ? value.toFixed(1) : String(value);
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(inline).join(", ")}]`;
  if (isTable(value)) {
    const parts = Object.entries(value).map(([k, v]) => `${tomlKey(k)} = ${inline(v)}`);
    return parts.length === 0 ? "{}" : `{ ${parts.join(", ")} }`;
  }
  return JSON.stringify(String(value));
}

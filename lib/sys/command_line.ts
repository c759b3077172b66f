/**
 * Command lines as hacore runs them (notify hooks, `type = "script"` checks): split
 * like keepalived splits them, on whitespace with single and double quotes and no
 * shell ({@link splitCommandLine}), and the executable resolved, an absolute path as
 * written or a bare name in the fixed {@link SCRIPT_PATH} ({@link resolveExecutable}).
 *
 * A low-layer module of its own because both script security (`script_security.ts`,
 * which re-exports these) and the health checks (`lib/check/script.ts`) run command
 * lines.
 *
 * @example
 * ```ts
 * const argv = splitCommandLine(`/etc/hacore/notify.sh master "two words"`);
 * const exe = resolveExecutable(argv[0]); // { path: "/etc/hacore/notify.sh" } or { error }
 * ```
 *
 * @module
 */

/**
 * The only PATH hooks see, and where a bare command name is looked up. Fixed rather
 * than inherited, so what runs does not depend on the environment hacore started in.
 *
 * @example
 * ```ts
 * SCRIPT_PATH.split(":")[0]; // "/usr/local/sbin"
 * ```
 */
export const SCRIPT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * Splits a command line into words: whitespace separates words; `'...'` keeps its
 * contents literally; `"..."` keeps its contents except that `\"` and `\\` are a quote
 * and a backslash; outside quotes a backslash escapes the next character. Quotes
 * may join a word (`a"b c"d` is `ab cd`), as in keepalived and the shell. There is no
 * expansion of any kind: no variables, globs or pipes. An unterminated quote runs to
 * the end of the line.
 *
 * @example
 * ```ts
 * splitCommandLine(`/etc/hacore/notify.sh master "two words" 'it''s'`);
 * // ["/etc/hacore/notify.sh", "master", "two words", "its"]
 * ```
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && (line[i + 1] === '"' || line[i + 1] === "\\")) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * Finds the file a command word names: an absolute path as it is, a bare name in
 * {@link SCRIPT_PATH} (first directory holding an executable regular file of that
 * name). A relative path with a slash is refused: it would depend on the working
 * directory.
 *
 * @example
 * ```ts
 * resolveExecutable("true"); // { path: "/usr/bin/true" }
 * resolveExecutable("./x"); // { error: '"./x" is a relative path; give an absolute path' }
 * ```
 */
export function resolveExecutable(word: string): { path: string } | { error: string } {
  if (word.startsWith("/")) {
    const st = statOrNull(word);
    if (st === null) return { error: `${word} does not exist` };
    if (!st.isFile) return { error: `${word} is not a regular file` };
    if (((st.mode ?? 0) & 0o111) === 0) {
      return { error: `${word} is not executable (mode ${octal(st.mode)}); chmod +x it` };
    }
    return { path: word };
  }
  if (word.includes("/")) return { error: `"${word}" is a relative path; give an absolute path` };
  for (const dir of SCRIPT_PATH.split(":")) {
    const candidate = `${dir}/${word}`;
    const st = statOrNull(candidate);
    if (st !== null && st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return { path: candidate };
  }
  return { error: `"${word}" not found in ${SCRIPT_PATH}; give an absolute path` };
}

function statOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch {
    return null;
  }
}

/**
 * A file mode's permission bits as four octal digits, for messages.
 *
 * @example
 * ```ts
 * octal(0o100755); // "0755"
 * ```
 */
export function octal(mode: number | null): string {
  return ((mode ?? 0) & 0o7777).toString(8).padStart(4, "0");
}

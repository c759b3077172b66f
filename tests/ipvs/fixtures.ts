/**
 * Reads the IPVS netlink captures in `tests/fixtures/ipvs/` (format in its README): the
 * command that was run and each netlink message, in order, with its direction.
 *
 * @module
 */

import { fromHex, type NetlinkMessage } from "../../scripts/vm/strace_netlink.ts";

export type { NetlinkMessage };

/** One capture: its `#` lines (the first is the command) and its messages. */
export interface IpvsFixture {
  comments: string[];
  messages: NetlinkMessage[];
}

/** The directory of the captures, as a file URL. */
export const IPVS_FIXTURES = new URL("../fixtures/ipvs/", import.meta.url);

/**
 * Parses a capture's text; throws on a line that is neither a comment nor a message, so a
 * damaged fixture cannot pass as a shorter one.
 *
 * @example
 * ```ts
 * parseIpvsFixture("# ipvsadm -Ln\n> 2000\n").messages[0].dir; // ">"
 * ```
 */
export function parseIpvsFixture(text: string): IpvsFixture {
  const fixture: IpvsFixture = { comments: [], messages: [] };
  for (const [i, line] of text.split("\n").entries()) {
    if (line === "") continue;
    if (line.startsWith("#")) {
      fixture.comments.push(line.replace(/^# ?/, ""));
      continue;
    }
    const m = /^([<>]) ((?:[0-9a-f]{2})+)$/.exec(line);
    if (!m) throw new Error(`line ${i + 1}: not "# comment", "> hex" or "< hex": ${line}`);
    fixture.messages.push({ dir: m[1] as ">" | "<", bytes: fromHex(m[2]) });
  }
  return fixture;
}

/**
 * Reads `tests/fixtures/ipvs/<name>.txt`.
 *
 * @example
 * ```ts
 * const { messages } = await readIpvsFixture("add-service-tcp-wrr");
 * ```
 */
export async function readIpvsFixture(name: string): Promise<IpvsFixture> {
  return parseIpvsFixture(await Deno.readTextFile(new URL(`${name}.txt`, IPVS_FIXTURES)));
}

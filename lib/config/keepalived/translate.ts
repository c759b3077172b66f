/**
 * keepalived.conf statements → the same raw document the TOML reader produces, plus
 * where every key came from (file and line), so one validator makes the `Config` and
 * its errors point back into keepalived.conf.
 *
 * What keepalived does with a keyword decides what happens here: a keyword the keyword
 * table marks `warned` gives a warning that names it, a `refused` one an error, an
 * unknown one an error with "did you mean". Where keepalived itself corrects a value
 * and carries on (a long auth_pass, authentication under vrrp_strict, a fractional
 * VRRPv2 advert_int, a virtual server without a protocol) this does the same, with a
 * warning in keepalived's spirit.
 *
 * @module
 */

import { didYouMean } from "../errors.ts";
import type { RawTable } from "../fields.ts";
import { formatPath, type KeyPath } from "../scan.ts";
import {
  CHECKER_SECTION,
  findKeyword,
  type KeywordInfo,
  KEYWORDS,
  keywordsOf,
  TOP_SECTION,
  type ValueKind,
} from "./keywords.ts";
import type { LexProblem } from "./lexer.ts";
import type { KaNode } from "./parser.ts";

/** Where a key of the translated document was written. */
export interface SourceLoc {
  readonly file: string;
  readonly line: number;
}

/** The translated document, where each key came from, and what was said on the way. */
export interface Translation {
  readonly doc: RawTable;
  /**
   * Formatted key path (as `formatPath` writes it) → source location, made on the first
   * call: only an error, a warning or `hacore import` needs one, and recording each key's
   * place for a file that loads cleanly was half of the collector's work reading it.
   */
  locs(): ReadonlyMap<string, SourceLoc>;
  readonly problems: LexProblem[];
}

const CHECKERS: Readonly<Record<string, string>> = {
  TCP_CHECK: "tcp",
  HTTP_GET: "http",
  SSL_GET: "https",
  MISC_CHECK: "script",
  DNS_CHECK: "dns",
  SMTP_CHECK: "smtp",
  PING_CHECK: "icmp",
  UDP_CHECK: "udp",
};

/**
 * Hands each top-level statement of a file to `onStatement`, in order (it lexes and
 * parses the file as it goes). Called again, it reads the same statements.
 */
export type StatementSource = (onStatement: (n: KaNode) => void) => void;

/**
 * Translates a parsed keepalived.conf, statement by statement as `read` produces them:
 * the statement tree of a big file is never whole in memory.
 *
 * @example
 * ```ts
 * import { diskReader, lexKeepalived } from "./lexer.ts";
 * import { TreeBuilder } from "./parser.ts";
 * const t = translateKeepalived((onStatement) => {
 *   const tree = new TreeBuilder(onStatement);
 *   lexKeepalived("global_defs {\n router_id a\n}\n", "k.conf", diskReader, { configId: "x" }, tree);
 *   tree.finish();
 * });
 * t.doc; // { global: { router_id: "a" } }
 * ```
 */
export function translateKeepalived(read: StatementSource): Translation {
  const fast = new Translator(false);
  read((n) => fast.statement(n));
  fast.finish();
  let recorded: Translator | null = null;
  const record = () => {
    if (recorded !== null) return recorded;
    const t = recorded = new Translator(true);
    read((n) => t.statement(n));
    t.finish();
    return t;
  };
  // A warning of the finishing steps names a key's line: the recording pass says it.
  // The translation is a function of the statements, so both make the same document.
  const t = fast.incomplete ? record() : fast;
  return { doc: t.doc, locs: () => record().locs, problems: t.problems };
}

type Special = (n: KaNode, table: RawTable, path: KeyPath) => void;

/** A key path's step. */
type Key = string | number;

interface AdvertFix {
  table: RawTable;
  node: KaNode;
  name: string;
}

class Translator {
  readonly doc: RawTable = {};
  readonly locs = new Map<string, SourceLoc>();
  readonly problems: LexProblem[] = [];
  /** Set when a location was asked for without recording: the result needs a recording pass. */
  incomplete = false;
  readonly #record: boolean;
  readonly #advertFixes: AdvertFix[] = [];
  readonly #auths: { table: RawTable; node: KaNode; name: string }[] = [];
  /**
   * The checks of the real server being read, and the pacing set on it (each check's
   * default); null until its block has one. Real servers do not nest, so one pair
   * serves: closures made per real server were a tenth of reading 10,000 of them.
   */
  #checks: RawTable[] | null = null;
  #pacing: RawTable | null = null;
  /** A real server's keywords with code of their own, made once per translation. */
  readonly #realServerSpecials: Readonly<Record<string, Special>> = this.#makeRealServerSpecials();

  /** `record`: keep where each key was written (`locs`); otherwise `locs` stays empty. */
  constructor(record: boolean) {
    this.#record = record;
  }

  /**
   * Records `path` (and the keys after it, given one by one so that nothing is built
   * unless recording) as written at `n`.
   */
  #at(path: KeyPath, n: KaNode, k1?: Key, k2?: Key, k3?: Key): void {
    if (!this.#record) return;
    const full = k1 === undefined
      ? path
      : k2 === undefined
      ? [...path, k1]
      : k3 === undefined
      ? [...path, k1, k2]
      : [...path, k1, k2, k3];
    this.locs.set(this.#formatted(full), { file: n.file, line: n.line });
  }

  /** Where `path` was written; without recording, marks the result for a recording pass. */
  #loc(path: KeyPath): SourceLoc | undefined {
    if (!this.#record) this.incomplete = true;
    return this.locs.get(formatPath(path));
  }

  /** The last key path's parent, and that parent formatted. */
  #parent: KeyPath = [];
  #parentText = "";

  /**
   * `formatPath(path)`, with the parent's text kept from the call before: keys come
   * table by table, and formatting each whole path again (40,000 of them for 1,000
   * virtual servers) was a fifth of reading the file.
   */
  #formatted(path: KeyPath): string {
    const k = path.length - 1;
    if (k < 0) return "";
    let same = this.#parent.length === k;
    for (let i = 0; same && i < k; i++) same = this.#parent[i] === path[i];
    if (!same) {
      this.#parent = path.slice(0, k);
      this.#parentText = formatPath(this.#parent);
    }
    const last = formatPath([path[k]]);
    return typeof path[k] === "number" || this.#parentText === ""
      ? this.#parentText + last
      : `${this.#parentText}.${last}`;
  }

  #error(n: KaNode, message: string): void {
    this.problems.push({ file: n.file, line: n.line, message, warning: false });
  }

  #warn(n: KaNode, message: string): void {
    this.problems.push({ file: n.file, line: n.line, message, warning: true });
  }

  /** What each top-level keyword does. */
  readonly #handlers: Readonly<Record<string, (n: KaNode) => void>> = {
    global_defs: (n) =>
      this.#block(n, "global_defs", ["global"], this.#table(["global"], n), {
        notify_fifo: (c, t, p) => this.#fifo(c, t, p),
        vrrp_notify_fifo: (c, t, p) => this.#fifo(c, t, p),
        notification_email: (c, t, p) => this.#mailTo(c, t, p),
        smtp_server: (c, t, p) => this.#smtpServer(c, t, p),
        script_user: (c, t, p) => this.#scriptUser(c, t, p),
        dynamic_interfaces: (c, t, p) => this.#dynamicInterfaces(c, t, p),
      }),
    vrrp_script: (n) => this.#named(n, "vrrp_script", "vrrp_script", this.#scriptSpecials()),
    vrrp_track_process: (n) =>
      this.#named(n, "vrrp_track_process", "vrrp_track_process", {
        ...this.#weightSpecial(),
        process: (c, t, p) => {
          if (c.args.length !== 1) {
            this.#error(
              c,
              `"process": parameters after the name are not supported by hacore (it matches the name, or the whole command line with full_command), got "${
                c.args.join(" ")
              }"`,
            );
            return;
          }
          t.process = c.args[0];
          this.#at(p, c, "process");
        },
      }),
    track_file: (n) => this.#named(n, "track_file", "vrrp_track_file", this.#weightSpecial()),
    vrrp_track_file: (n) => this.#named(n, "track_file", "vrrp_track_file", this.#weightSpecial()),
    vrrp_instance: (n) => this.#instance(n),
    vrrp_sync_group: (n) =>
      this.#named(n, "vrrp_sync_group", "vrrp_sync_group", this.#groupSpecials()),
    virtual_server_group: (n) => this.#vsGroup(n),
    virtual_server: (n) => this.#virtualServer(n),
    static_ipaddress: (n) => this.#lines(n, this.doc, []),
    static_routes: (n) => this.#lines(n, this.doc, []),
    static_rules: (n) => this.#lines(n, this.doc, []),
  };

  /** One top-level statement, in file order. */
  statement(n: KaNode): void {
    const info = this.#known(TOP_SECTION, n);
    if (info === undefined || !this.#usable(info, n)) return;
    this.#handlers[n.keyword]?.(n);
  }

  /** The corrections keepalived makes once the whole file is read. */
  finish(): void {
    this.#finishAdverts();
    this.#finishAuth();
    this.#finishPreempt();
    this.#finishGroupWeights();
  }

  /** Looks a keyword up, reporting an unknown one with a suggestion. */
  #known(section: string, n: KaNode): KeywordInfo | undefined {
    const info = findKeyword(section, n.keyword);
    if (info !== undefined) return info;
    const where = section === TOP_SECTION ? "at the top level" : `in ${section}`;
    const guess = didYouMean(n.keyword, keywordsOf(section));
    this.#error(
      n,
      `unknown keyword "${n.keyword}" ${where}${
        guess === null ? "" : `; did you mean "${guess}"?`
      }`,
    );
    return undefined;
  }

  /** A keyword of the checker block `checker`, reporting one that block does not take. */
  #knownIn(checker: string, n: KaNode): KeywordInfo | undefined {
    const fits = (k: KeywordInfo) => k.checkers === undefined || k.checkers.includes(checker);
    const info = findKeyword(CHECKER_SECTION, n.keyword);
    if (info !== undefined && fits(info)) return info;
    const names = KEYWORDS.filter((k) => k.section === CHECKER_SECTION && fits(k));
    const guess = didYouMean(n.keyword, names.map((k) => k.keyword));
    this.#error(
      n,
      `unknown keyword "${n.keyword}" in ${checker}${
        guess === null ? "" : `; did you mean "${guess}"?`
      }`,
    );
    return undefined;
  }

  /** Reports warned and refused keywords; true when the keyword is carried over. */
  #usable(info: KeywordInfo, n: KaNode): boolean {
    if (info.status === "warned") {
      this.#warn(n, `"${n.keyword}" has no effect in hacore: ${info.note}`);
      return false;
    }
    if (info.deprecated === true) {
      this.#warn(
        n,
        `"${n.keyword}" is deprecated - use "${info.hacore}" (carried over, as keepalived does)`,
      );
    }
    if (info.status === "refused") {
      this.#error(n, `"${n.keyword}" is not supported by hacore: ${info.note}`);
      return false;
    }
    return true;
  }

  #table(path: KeyPath, n: KaNode): RawTable {
    let t = this.doc;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      const next = t[seg as string];
      if (typeof next === "object" && next !== null && !Array.isArray(next)) t = next as RawTable;
      else {
        const fresh: RawTable = {};
        t[seg as string] = fresh;
        t = fresh;
      }
    }
    if (this.#record && !this.locs.has(formatPath(path))) this.#at(path, n);
    return t;
  }

  /**
   * Reads a block's statements into `table`, keyword by keyword. In a checker block,
   * `checker` names it, and a keyword of another checker is unknown there, as in keepalived.
   */
  #block(
    n: KaNode,
    section: string,
    path: KeyPath,
    table: RawTable,
    specials: Record<string, Special>,
    checker?: string,
  ): void {
    if (n.children === null) {
      this.#error(
        n,
        `expected a block: ${[n.keyword, ...n.args].join(" ")} { ... }`,
      );
      return;
    }
    // Indexed, as the other loops a statement at a time: this runs once, mostly before
    // the optimiser, where `for...of` allocates an iterator and a result per element.
    const children = n.children;
    for (let i = 0; i < children.length; i++) {
      const c = children[i];
      const info = checker === undefined ? this.#known(section, c) : this.#knownIn(checker, c);
      if (info === undefined || !this.#usable(info, c)) continue;
      const special = specials[c.keyword];
      if (special !== undefined) special(c, table, path);
      else this.#simple(c, info, table, path);
    }
  }

  /** A keyword whose arguments become one value, by the table's kind. */
  #simple(n: KaNode, info: KeywordInfo, table: RawTable, path: KeyPath): void {
    const key = info.hacore ?? n.keyword;
    const value = this.#value(n, info.kind);
    if (value === undefined) return;
    if (key.includes(".")) {
      const [sub, k] = key.split(".");
      const inner = (table[sub] ??= {}) as RawTable;
      inner[k] = value;
      this.#at(path, n, sub, k);
      return;
    }
    table[key] = value;
    this.#at(path, n, key);
  }

  /** The one argument of `n`, or undefined (reported) when it has another count. */
  #one(n: KaNode): string | undefined {
    if (n.args.length === 1) return n.args[0];
    this.#error(n, `"${n.keyword}": expected one value, got ${n.args.length}`);
    return undefined;
  }

  #value(n: KaNode, kind: ValueKind): unknown {
    switch (kind) {
      case "string":
        return this.#one(n);
      case "upper":
        return this.#one(n)?.toUpperCase();
      case "lower":
        return this.#one(n)?.toLowerCase();
      case "command":
        if (n.args.length > 0) return n.args.join(" ");
        this.#error(n, `"${n.keyword}": expected a command, got nothing`);
        return undefined;
      case "int":
      case "number": {
        const v = this.#one(n);
        return v === undefined ? undefined : numberValue(v);
      }
      case "flag":
        return this.#flag(n);
      case "custom":
        this.#error(n, `"${n.keyword}": not expected here`);
        return undefined;
    }
  }

  #flag(n: KaNode): boolean | undefined {
    if (n.args.length === 0) return true;
    const v = n.args[0].toLowerCase();
    if (n.args.length === 1 && ["true", "on", "yes", "1"].includes(v)) return true;
    if (n.args.length === 1 && ["false", "off", "no", "0"].includes(v)) return false;
    this.#error(n, `"${n.keyword}": expected nothing (or on/off), got "${n.args.join(" ")}"`);
    return undefined;
  }

  /** `notify_fifo FILE [USER [GROUP]]`: hacore sets no owner on the FIFO. */
  #fifo(n: KaNode, table: RawTable, path: KeyPath): void {
    if (n.args.length === 0) {
      this.#error(n, `"${n.keyword}": expected a FIFO path, got nothing`);
      return;
    }
    if (n.args.length > 1) {
      this.#warn(
        n,
        `"${n.keyword}": the owner "${n.args.slice(1).join(" ")}" has no effect in hacore`,
      );
    }
    table.notify_fifo = n.args[0];
    this.#at(path, n, "notify_fifo");
    // Its reader was written for keepalived's lines: hacore writes those for it.
    table.notify_fifo_format = "keepalived";
    this.#at(path, n, "notify_fifo_format");
  }

  /**
   * A block of keepalived lines (routes, rules, static addresses) → an array of the
   * lines as written: hacore's strings take keepalived's line syntax, so the
   * validator's errors about a line are the same in both formats.
   */
  #lines(n: KaNode, table: RawTable, path: KeyPath): void {
    if (n.children === null) {
      this.#error(n, `"${n.keyword}": expected a block of lines`);
      return;
    }
    // A second block adds to the first, as keepalived reads it.
    const prev = table[n.keyword];
    const out: unknown[] = Array.isArray(prev) ? prev : [];
    for (const item of n.children) {
      this.#at(path, item, n.keyword, out.length);
      out.push([item.keyword, ...item.args].join(" "));
    }
    if (!Array.isArray(prev)) this.#at(path, n, n.keyword);
    table[n.keyword] = out;
  }

  /** `notification_email { ADDR ... }` → an array (one address a line, as keepalived). */
  #mailTo(n: KaNode, table: RawTable, path: KeyPath): void {
    if (n.children === null) {
      this.#error(n, `"notification_email": expected a block of mail addresses`);
      return;
    }
    const out: string[] = [];
    for (const item of n.children) {
      this.#at(path, item, "notification_email", out.length);
      out.push(item.keyword);
      for (const extra of item.args) {
        this.#at(path, item, "notification_email", out.length);
        out.push(extra);
      }
    }
    table.notification_email = out;
    this.#at(path, n, "notification_email");
  }

  /** `smtp_server IP [PORT]` → hacore's one string, `IP:PORT` (`[V6]:PORT`). */
  #smtpServer(n: KaNode, table: RawTable, path: KeyPath): void {
    const [host, port] = n.args;
    if (n.args.length < 1 || n.args.length > 2) {
      this.#error(n, `"smtp_server": expected "IP [PORT]", got "${n.args.join(" ")}"`);
      return;
    }
    table.smtp_server = port === undefined ? host : `${bracket(host)}:${port}`;
    this.#at(path, n, "smtp_server");
  }

  /** `script_user USER [GROUP]`: hacore runs scripts with the user's own group. */
  #scriptUser(n: KaNode, table: RawTable, path: KeyPath): void {
    if (n.args.length !== 1) {
      this.#error(
        n,
        `"script_user": expected one user name (a group after it is not supported by hacore), got "${
          n.args.join(" ")
        }"`,
      );
      return;
    }
    table.script_user = n.args[0];
    this.#at(path, n, "script_user");
  }

  /** `dynamic_interfaces [allow_if_changes]` → two hacore booleans. */
  #dynamicInterfaces(n: KaNode, table: RawTable, path: KeyPath): void {
    const allow = n.args.length === 1 && n.args[0] === "allow_if_changes";
    if (n.args.length > 0 && !allow) {
      this.#error(
        n,
        `"dynamic_interfaces": expected nothing or "allow_if_changes", got "${n.args.join(" ")}"`,
      );
      return;
    }
    table.dynamic_interfaces = true;
    this.#at(path, n, "dynamic_interfaces");
    if (!allow) return;
    table.allow_if_changes = true;
    this.#at(path, n, "allow_if_changes");
  }

  #name(n: KaNode): string | undefined {
    if (n.args.length === 1) return n.args[0];
    this.#error(n, `${n.keyword}: expected one name, got ${n.args.length}`);
    return undefined;
  }

  #named(n: KaNode, section: string, top: string, specials: Record<string, Special>): void {
    const name = this.#name(n);
    if (name === undefined) return;
    const parent = this.#table([top], n);
    if (parent[name] !== undefined) {
      this.#error(n, `${n.keyword} ${name} is defined twice`);
      return;
    }
    const path = [top, name];
    this.#block(n, section, path, this.#table(path, n), specials);
  }

  #weightSpecial(): Record<string, Special> {
    return {
      weight: (c, table, path) => {
        if (c.args.length === 2 && c.args[1] === "reverse") {
          this.#error(
            c,
            `"weight ... reverse" is not supported by hacore: write the weight's sign`,
          );
          return;
        }
        if (c.args.length !== 1) {
          this.#error(c, `"weight": expected one value, got ${c.args.length}`);
          return;
        }
        table.weight = numberValue(c.args[0]);
        this.#at(path, c, "weight");
      },
    };
  }

  #scriptSpecials(): Record<string, Special> {
    return {
      ...this.#weightSpecial(),
      user: (c, table, path) => {
        if (c.args.length !== 1) {
          this.#error(c, `"user": a group after the user is not supported by hacore`);
          return;
        }
        table.user = c.args[0];
        this.#at(path, c, "user");
      },
    };
  }

  #trackSpecials(): Record<string, Special> {
    const list = (key: string): Special => (c, table, path) => {
      const items: unknown[] = [];
      for (const item of c.children ?? []) {
        const ref = this.#trackRef(item);
        if (ref === undefined) continue;
        this.#at(path, item, key, items.length);
        if (typeof ref !== "string") this.#at(path, item, key, items.length, "weight");
        items.push(ref);
      }
      if (c.children === null) this.#error(c, `"${key}": expected a block of names`);
      table[key] = items;
      this.#at(path, c, key);
    };
    return {
      track_script: list("track_script"),
      track_interface: list("track_interface"),
      track_file: list("track_file"),
      track_process: list("track_process"),
    };
  }

  /** `NAME [weight N]` → "NAME" or { name, weight }. */
  #trackRef(item: KaNode): string | RawTable | undefined {
    const [kw, ...rest] = item.args;
    if (kw === undefined) return item.keyword;
    if (kw === "weight" && rest.length === 1) {
      return { name: item.keyword, weight: numberValue(rest[0]) };
    }
    if (kw === "weight" && rest.length === 2 && rest[1] === "reverse") {
      this.#error(item, `"weight ... reverse" is not supported by hacore: write the weight's sign`);
      return undefined;
    }
    this.#error(
      item,
      `expected "${item.keyword}" or "${item.keyword} weight N", got "${
        [item.keyword, ...item.args].join(" ")
      }"`,
    );
    return undefined;
  }

  #groupSpecials(): Record<string, Special> {
    return {
      ...this.#trackSpecials(),
      group: (c, table, path) => {
        table.group = (c.children ?? []).map((m, i) => {
          this.#at(path, m, "group", i);
          for (const extra of m.args) {
            this.#error(m, `group: expected one instance name per line, got "${extra}" too`);
          }
          return m.keyword;
        });
        this.#at(path, c, "group");
      },
    };
  }

  #instance(n: KaNode): void {
    const name = this.#name(n);
    if (name === undefined) return;
    const parent = this.#table(["vrrp_instance"], n);
    if (parent[name] !== undefined) {
      this.#error(n, `vrrp_instance ${name} is defined twice`);
      return;
    }
    const path = ["vrrp_instance", name];
    const table = this.#table(path, n);
    const vips = (key: string): Special => (c, t, p) => {
      const out: unknown[] = [];
      for (const item of c.children ?? []) {
        const vip = this.#vip(item);
        if (vip === undefined) continue;
        this.#at(p, item, key, out.length);
        out.push(vip);
      }
      t[key] = out;
      this.#at(p, c, key);
    };
    this.#block(n, "vrrp_instance", path, table, {
      ...this.#trackSpecials(),
      virtual_ipaddress: vips("virtual_ipaddress"),
      virtual_ipaddress_excluded: vips("virtual_ipaddress_excluded"),
      virtual_routes: (c, t, p) => this.#lines(c, t, p),
      virtual_rules: (c, t, p) => this.#lines(c, t, p),
      advert_int: (c, t, p) => {
        const v = this.#value(c, "number");
        if (v === undefined) return;
        t.advert_int = v;
        this.#at(p, c, "advert_int");
        this.#advertFixes.push({ table: t, node: c, name });
      },
      unicast_peer: (c, t, p) => {
        const out: string[] = [];
        for (const item of c.children ?? []) {
          if (item.args.length > 0) {
            this.#error(
              item,
              `unicast_peer: "${item.args.join(" ")}" after the address is not supported by hacore`,
            );
            continue;
          }
          this.#at(p, item, "unicast_peer", out.length);
          out.push(item.keyword);
        }
        t.unicast_peer = out;
        this.#at(p, c, "unicast_peer");
      },
      authentication: (c, t, p) => {
        const auth: RawTable = {};
        t.authentication = auth;
        const ap = [...p, "authentication"];
        this.#at(ap, c);
        this.#block(c, "authentication", ap, auth, {
          auth_pass: (a, at, app) => {
            if (a.args.length !== 1) {
              this.#error(a, `"auth_pass": expected one value, got ${a.args.length}`);
              return;
            }
            let pass = a.args[0];
            const bytes = new TextEncoder().encode(pass);
            if (bytes.length > 8) {
              pass = new TextDecoder().decode(bytes.slice(0, 8)).replace(/\uFFFD+$/, "");
              this.#warn(
                a,
                `auth_pass is longer than 8 bytes: truncated to "${pass}", as keepalived does`,
              );
            }
            at.auth_pass = pass;
            this.#at(app, a, "auth_pass");
          },
        });
        this.#auths.push({ table: t, node: c, name });
      },
      use_vmac: (c, t, p) => {
        if (c.args.length > 1) {
          this.#error(
            c,
            `"use_vmac": expected nothing or an interface name, got "${c.args.join(" ")}"`,
          );
          return;
        }
        t.use_vmac = c.args.length === 0 ? true : c.args[0];
        this.#at(p, c, "use_vmac");
      },
    });
  }

  /**
   * One `virtual_ipaddress` line, as written: hacore's VIP string reads keepalived's
   * whole line syntax (`parseVipLine`), so its errors and warnings are the validator's.
   */
  #vip(item: KaNode): string {
    return [item.keyword, ...item.args].join(" ");
  }

  /** keepalived rounds a fractional VRRPv2 advert_int to whole seconds and warns. */
  #finishAdverts(): void {
    const global = this.doc.global as RawTable | undefined;
    for (const fix of this.#advertFixes) {
      const version = fix.table.version ?? global?.vrrp_version ?? 2n;
      const v = fix.table.advert_int;
      if (version !== 2n || typeof v !== "number") continue;
      const rounded = BigInt(Math.max(1, Math.round(v)));
      fix.table.advert_int = rounded;
      this.#warn(
        fix.node,
        `(${fix.name}) advert_int ${v} is not whole seconds, which VRRPv2 needs: rounded to ${rounded}, as keepalived does`,
      );
    }
  }

  /**
   * keepalived drops authentication with VRRPv3, and warns; hacore.toml refuses it
   * there, so it goes here. (Under vrrp_strict the validator clears it, with its one
   * warning, for both formats.)
   */
  #finishAuth(): void {
    const global = this.doc.global as RawTable | undefined;
    for (const a of this.#auths) {
      const version = a.table.version ?? global?.vrrp_version ?? 2n;
      if (version !== 3n || global?.vrrp_strict === true) continue;
      delete a.table.authentication;
      this.#warn(
        a.node,
        `(${a.name}) VRRPv3 has no authentication: authentication ignored, as keepalived does`,
      );
    }
  }

  /** keepalived clears nopreempt on an instance that starts as MASTER, and warns. */
  #finishPreempt(): void {
    for (const [name, raw] of Object.entries(this.#tables("vrrp_instance"))) {
      if (raw.nopreempt !== true || raw.state !== "MASTER") continue;
      delete raw.nopreempt;
      const loc = this.#loc(["vrrp_instance", name, "nopreempt"]);
      this.problems.push({
        file: loc?.file ?? "",
        line: loc?.line ?? null,
        message: `(${name}) nopreempt does not work with state MASTER: cleared, as keepalived does`,
        warning: true,
      });
    }
  }

  /**
   * In a sync group without sync_group_tracking_weight, keepalived zeroes members'
   * track_interface weights (a down interface faults the group) but drops weighted
   * track_script entries altogether (vrrp.c frees them: "script ... is not used"), so
   * such a script never faults anything. hacore does the same, and says so.
   */
  #finishGroupWeights(): void {
    const instances = this.#tables("vrrp_instance");
    const scripts = this.#tables("vrrp_script");
    for (const group of Object.values(this.#tables("vrrp_sync_group"))) {
      if (group.sync_group_tracking_weight === true || !Array.isArray(group.group)) continue;
      for (const member of group.group) {
        const vi = instances[member as string];
        if (vi === undefined) continue;
        for (const key of ["track_script", "track_interface"]) {
          const refs = vi[key];
          if (!Array.isArray(refs)) continue;
          const kept: unknown[] = [];
          refs.forEach((ref, i) => {
            const name = typeof ref === "string" ? ref : String((ref as RawTable).name);
            const own = key === "track_script" ? scripts[name]?.weight : undefined;
            const weight = typeof ref === "string" ? own : (ref as RawTable).weight;
            const path = ["vrrp_instance", member as string, key];
            if (weight === undefined || weight === 0n) {
              this.#moveLoc([...path, i], [...path, kept.length]);
              kept.push(ref);
              return;
            }
            const script = key === "track_script";
            const loc = this.#loc([...path, i]);
            this.problems.push({
              file: loc?.file ?? "",
              line: loc?.line ?? null,
              message: script
                ? `(${member}) track_script ${name} has a weight, and a sync group without sync_group_tracking_weight ignores weighted scripts: not tracked at all, as in keepalived`
                : `(${member}) the weight of ${key} ${name} is ignored in a sync group without sync_group_tracking_weight: a failure means FAULT, as in keepalived`,
              warning: true,
            });
            if (!script) {
              this.#moveLoc([...path, i], [...path, kept.length]);
              kept.push(ref);
            }
          });
          if (kept.length > 0) vi[key] = kept;
          else delete vi[key];
        }
      }
    }
  }

  /** Re-keys the source location of `from` (an array element that moved) to `to`. */
  #moveLoc(from: KeyPath, to: KeyPath): void {
    if (!this.#record) return;
    const loc = this.locs.get(formatPath(from));
    if (loc === undefined || formatPath(from) === formatPath(to)) return;
    this.locs.delete(formatPath(from));
    this.locs.set(formatPath(to), loc);
  }

  #tables(section: string): Record<string, RawTable> {
    const t = this.doc[section];
    return (typeof t === "object" && t !== null ? t : {}) as Record<string, RawTable>;
  }

  #vsGroup(n: KaNode): void {
    const name = this.#name(n);
    if (name === undefined) return;
    const path = ["virtual_server_group", name];
    const table = this.#table(path, n);
    const addresses: string[] = [];
    const fwmarks: unknown[] = [];
    if (n.children === null) this.#error(n, `virtual_server_group ${name}: expected a block`);
    for (const c of n.children ?? []) {
      if (c.keyword === "fwmark" && c.args.length === 1) {
        this.#at(path, c, "fwmarks", fwmarks.length);
        fwmarks.push(numberValue(c.args[0]));
      } else if (c.args.length === 1) {
        this.#at(path, c, "addresses", addresses.length);
        addresses.push(`${bracket(c.keyword)}:${c.args[0]}`);
      } else {
        this.#error(
          c,
          `virtual_server_group ${name}: expected "ADDRESS PORT", "A.B.C.D-E PORT" or "fwmark N", got "${
            [c.keyword, ...c.args].join(" ")
          }"`,
        );
      }
    }
    if (addresses.length > 0) {
      table.addresses = addresses;
      this.#at(path, n, "addresses");
    }
    if (fwmarks.length > 0) {
      table.fwmarks = fwmarks;
      this.#at(path, n, "fwmarks");
    }
  }

  #virtualServer(n: KaNode): void {
    const target = this.#vsTarget(n);
    if (target === undefined) return;
    const parent = this.#table(["virtual_server"], n);
    if (parent[target.name] !== undefined) {
      this.#error(n, `virtual_server ${n.args.join(" ")} is defined twice`);
      return;
    }
    const path = ["virtual_server", target.name];
    const table = this.#table(path, n);
    for (const k in target.keys) {
      table[k] = target.keys[k];
      this.#at(path, n, k);
    }
    const servers: RawTable[] = [];
    this.#block(n, "virtual_server", path, table, {
      persistence_granularity: (c, t, p) => {
        const v = this.#value(c, "string");
        if (v === undefined) return;
        t.persistence_granularity = /^\d+$/.test(v as string) ? BigInt(v as string) : v;
        this.#at(p, c, "persistence_granularity");
      },
      sorry_server: (c, t, p) => {
        const s = (t.sorry_server ??= {}) as RawTable;
        s.address = c.args[0];
        if (c.args[1] !== undefined) s.port = numberValue(c.args[1]);
        this.#at(p, c, "sorry_server");
        if (c.args.length < 1 || c.args.length > 2) {
          this.#error(c, `sorry_server: expected "ADDRESS [PORT]"`);
        }
      },
      real_server: (c, _t, p) => {
        // Paths are only read to record where keys were written.
        const rp = this.#record ? p.concat("real_server", servers.length) : p;
        const rs = this.#realServer(c, rp, target.keys.address === undefined);
        if (target.keys.fwmark !== undefined && c.args[1] !== undefined) {
          this.#warn(
            c,
            `fwmark virtual server ${target.keys.fwmark}: real server ${
              c.args[0]
            } has a port specified - keepalived clears it; hacore keeps it for checks and the kernel entry (DR and TUN ignore it, NAT rewrites to it)`,
          );
        }
        if (rs !== undefined) servers.push(rs);
      },
    });
    for (let i = 0; i < servers.length; i++) {
      const checks = servers[i].check as RawTable[] | undefined;
      for (let j = 0; j < (checks?.length ?? 0); j++) checkerDefaults(checks![j], table);
    }
    if (servers.length > 0) {
      table.real_server = servers;
      this.#at(path, n, "real_server");
    }
    if (target.keys.fwmark !== undefined && table.protocol !== undefined) {
      delete table.protocol;
      this.#warn(
        n,
        `virtual server fwmark ${target.keys.fwmark}: protocol specified for fwmark - protocol ignored, as keepalived does`,
      );
    }
    if (target.keys.fwmark === undefined && table.protocol === undefined) {
      table.protocol = "udp";
      this.#warn(
        n,
        `virtual server ${
          n.args.join(" ")
        }: no protocol set - defaulting to UDP, as keepalived does`,
      );
    }
  }

  #vsTarget(n: KaNode): { name: string; keys: RawTable } | undefined {
    const [a, b] = n.args;
    if (n.args.length === 2 && a === "fwmark") {
      return { name: `fwmark${b}`, keys: { fwmark: numberValue(b) } };
    }
    if (n.args.length === 2 && a === "group") return { name: `group_${b}`, keys: { group: b } };
    if (n.args.length === 2) {
      // One address and port may carry a TCP and a UDP service (DNS): the protocol,
      // when not TCP, is part of the name. (No protocol means UDP in keepalived 2.2.)
      const proto = protocolOf(n);
      const base = a.includes(":") ? `${a}.${b}` : `${a}:${b}`;
      const name = proto === "tcp" ? base : `${base}-${proto ?? "udp"}`;
      return { name, keys: { address: a, port: numberValue(b) } };
    }
    this.#error(
      n,
      `virtual_server: expected "ADDRESS PORT", "fwmark N" or "group NAME", got "${
        n.args.join(" ")
      }"`,
    );
    return undefined;
  }

  #realServer(n: KaNode, path: KeyPath, portless: boolean): RawTable | undefined {
    if (n.args.length < 1 || n.args.length > 2) {
      this.#error(n, `real_server: expected "ADDRESS [PORT]", got "${n.args.join(" ")}"`);
      return undefined;
    }
    const rs: RawTable = { address: n.args[0] };
    this.#at(path, n);
    this.#at(path, n, "address");
    if (n.args[1] !== undefined) {
      rs.port = numberValue(n.args[1]);
      this.#at(path, n, "port");
    }
    this.#checks = null;
    this.#pacing = null;
    if (n.children !== null) this.#block(n, "real_server", path, rs, this.#realServerSpecials);
    const checks = this.#checks as RawTable[] | null;
    if (checks === null) return rs;
    const pacing = this.#pacing as RawTable | null;
    if (pacing !== null) {
      for (const c of checks) for (const [k, v] of Object.entries(pacing)) c[k] ??= v;
    }
    rs.check = checks;
    // A fwmark or group service has no port; keepalived's checks then say where to
    // connect, and hacore keeps that port as the real server's.
    const port = checks.find((c) => c.connect_port !== undefined)?.connect_port;
    if (portless && rs.port === undefined && port !== undefined) {
      rs.port = port;
      this.#at(path, n, "port");
    }
    return rs;
  }

  #makeRealServerSpecials(): Record<string, Special> {
    const specials: Record<string, Special> = {};
    for (const key of ["connect_timeout", "delay_loop", "retry", "delay_before_retry", "warmup"]) {
      specials[key] = (c) => {
        const v = this.#value(c, "number");
        if (v !== undefined) (this.#pacing ??= {})[key] = v;
      };
    }
    for (const kw of Object.keys(CHECKERS)) {
      specials[kw] = (c, _t, path) => {
        const checks = this.#checks ??= [];
        for (const check of this.#checker(c)) {
          this.#at(path, c, "check", checks.length);
          if (this.#record) {
            for (const k of Object.keys(check)) this.#at(path, c, "check", checks.length, k);
          }
          checks.push(check);
        }
      };
    }
    return specials;
  }

  /** One checker block → hacore checks (HTTP_GET/SSL_GET: one per url block). */
  #checker(n: KaNode): RawTable[] {
    const type = CHECKERS[n.keyword];
    const base: RawTable = { type };
    if (type === "https") base.verify_tls = false; // keepalived's SSL_GET verifies nothing
    const urls: RawTable[] = [];
    let sni = false;
    // The real server records where its checks came from; this path only keeps the
    // checker's own keys out of the document's index.
    const path: KeyPath = ["(checker)"];
    this.#block(n, CHECKER_SECTION, path, base, {
      url: (c) => {
        const u: RawTable = {};
        this.#block(c, "url", path, u, {
          status_code: (s, t) => {
            t.status = s.args.map((a) => /^\d+$/.test(a) ? BigInt(a) : a);
          },
        });
        urls.push(u);
      },
      enable_sni: () => {
        sni = true;
      },
      payload: (c, t) => {
        t.payload_hex = c.args.join("");
      },
      misc_timeout: (c, t) => {
        const v = this.#value(c, "number");
        if (v !== undefined) t.connect_timeout = v;
      },
    }, n.keyword);
    if (base.url !== undefined) delete base.url;
    if (sni && typeof base.host_header === "string") base.sni = base.host_header;
    if (type === "http" || type === "https") {
      if (urls.length === 0) return [base];
      return urls.map((u) => {
        const c = { ...base, ...u };
        if (sni && typeof c.host_header === "string") c.sni = c.host_header;
        return c;
      });
    }
    return [base];
  }
}

/**
 * keepalived's defaults that differ by checker (keepalived.conf(5)): HTTP_GET and SSL_GET
 * wait 3 s before a retry; DNS_CHECK retries 3 times, waits delay_loop before a retry and
 * asks for `. SOA`; MISC_CHECK does not retry. hacore's own defaults are one set for all
 * checks, so these are written out unless the check, its real server or its virtual
 * server says otherwise.
 */
function checkerDefaults(check: RawTable, vs: RawTable): void {
  const unset = (key: string) => check[key] === undefined && vs[key] === undefined;
  switch (check.type) {
    case "http":
    case "https":
      if (unset("delay_before_retry")) check.delay_before_retry = 3n;
      break;
    case "dns":
      if (unset("retry")) check.retry = 3n;
      if (unset("delay_before_retry")) {
        check.delay_before_retry = check.delay_loop ?? vs.delay_loop ?? 60n;
      }
      check.record_type ??= "SOA";
      check.query ??= ".";
      break;
    case "script":
      if (unset("retry")) check.retry = 0n;
      break;
  }
}

/** The protocol of the first `protocol` statement of a virtual server's block, in lower case. */
function protocolOf(vs: KaNode): string | undefined {
  const children = vs.children ?? [];
  for (let i = 0; i < children.length; i++) {
    if (children[i].keyword === "protocol") return children[i].args[0]?.toLowerCase();
  }
  return undefined;
}

/** An integer as bigint (as TOML integers are), a decimal as number, else the text. */
function numberValue(text: string): unknown {
  const n = smallInteger(text);
  if (n !== undefined) return n;
  if (isInteger(text)) return BigInt(text);
  if (/^-?(\d+\.\d*|\.\d+)$/.test(text)) return Number(text);
  return text;
}

/**
 * The bigints of the small integers read so far, shared: every port, weight and delay
 * of a file passes here, and a new bigint parsed from text for each cost a tenth of the
 * translation.
 */
const SMALL_INTEGERS: bigint[] = [];
const SMALL_LIMIT = 1 << 16;

/** `text` as a bigint when it is a whole number in [0, 65536) written in decimal digits. */
function smallInteger(text: string): bigint | undefined {
  if (text.length === 0 || text.length > 5) return undefined;
  let v = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
    v = v * 10 + c - 48;
  }
  if (v >= SMALL_LIMIT) return undefined;
  return SMALL_INTEGERS[v] ??= BigInt(v);
}

/** `/^-?\d+$/`, without a regular expression. */
function isInteger(text: string): boolean {
  let i = text.charCodeAt(0) === 45 ? 1 : 0;
  if (i >= text.length) return false;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function bracket(address: string): string {
  return address.includes(":") ? `[${address}]` : address;
}

/**
 * Records what ipvsadm and the kernel say to each other over generic netlink, as byte
 * fixtures for hacore's IPVS codec: `tests/fixtures/ipvs/<name>.txt`, one per command.
 *
 * Needs the kernel's IPVS, so it runs inside the UML guest; start it with
 * `scripts/vm/capture-ipvsadm.sh`. Every command runs under strace in one fresh network
 * namespace, in order, so the table builds up the way the commands say (the list and
 * delete steps see what the add steps made), and the namespace goes at the end.
 *
 * @module
 */

import { formatFixture, type NetlinkMessage, straceNetlink } from "./strace_netlink.ts";

interface Step {
  /** Fixture file name, without `.txt`. */
  name: string;
  args: readonly string[];
  /** A step allowed to fail (the sync daemon needs multicast the namespace may lack). */
  mayFail?: boolean;
}

const VS = ["-t", "10.9.0.1:80"];
const STEPS: readonly Step[] = [
  { name: "add-service-tcp-wrr", args: ["-A", ...VS, "-s", "wrr"] },
  {
    name: "add-service-udp-rr-persistent",
    args: ["-A", "-u", "10.9.0.1:53", "-s", "rr", "-p", "300"],
  },
  { name: "add-service-fwmark-sh", args: ["-A", "-f", "7", "-s", "sh", "-b", "sh-port"] },
  {
    name: "add-service-tcp6-mh",
    args: ["-A", "-t", "[2001:db8::1]:443", "-s", "mh", "-b", "mh-fallback,mh-port"],
  },
  { name: "add-dest-route", args: ["-a", ...VS, "-r", "10.9.0.2:80", "-g", "-w", "3"] },
  {
    name: "add-dest-masq-thresholds",
    args: ["-a", ...VS, "-r", "10.9.0.3:8080", "-m", "-w", "1", "-x", "100", "-y", "10"],
  },
  { name: "add-dest-tunnel", args: ["-a", ...VS, "-r", "10.9.0.4:80", "-i"] },
  { name: "edit-dest", args: ["-e", ...VS, "-r", "10.9.0.2:80", "-g", "-w", "0"] },
  { name: "edit-service", args: ["-E", ...VS, "-s", "rr", "-p", "60"] },
  { name: "list", args: ["-Ln"] },
  { name: "list-stats", args: ["-Ln", "--stats"] },
  { name: "list-timeout", args: ["-L", "--timeout"] },
  { name: "set-timeout", args: ["--set", "900", "120", "300"] },
  { name: "zero", args: ["-Z"] },
  {
    name: "start-daemon",
    args: ["--start-daemon", "master", "--syncid", "5", "--mcast-interface", "lo"],
    mayFail: true,
  },
  { name: "list-daemon", args: ["-L", "--daemon"], mayFail: true },
  { name: "stop-daemon", args: ["--stop-daemon", "master"], mayFail: true },
  { name: "del-dest", args: ["-d", ...VS, "-r", "10.9.0.4:80"] },
  { name: "del-service", args: ["-D", "-u", "10.9.0.1:53"] },
  { name: "clear", args: ["-C"] },
];

const STRACE = [
  "-f",
  "-qq",
  "-xx",
  "-s",
  "65536",
  "-e",
  "trace=sendmsg,recvmsg,sendto,recvfrom",
  "-e",
  "write=all",
  "-e",
  "read=all",
];

const dec = new TextDecoder();

async function run(cmd: string, args: readonly string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command(cmd, { args: [...args], stdout: "piped", stderr: "piped" })
    .output();
}

async function runOk(cmd: string, args: readonly string[]): Promise<string> {
  const r = await run(cmd, args);
  if (!r.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(r.stderr).trim()}`);
  return dec.decode(r.stdout);
}

interface Capture {
  code: number;
  stdout: string;
  stderr: string;
  msgs: NetlinkMessage[];
}

async function capture(ns: string, args: readonly string[]): Promise<Capture> {
  const log = await Deno.makeTempFile({ prefix: "hacore-strace-" });
  try {
    const r = await run("ip", [
      "netns",
      "exec",
      ns,
      "strace",
      "-o",
      log,
      ...STRACE,
      "ipvsadm",
      ...args,
    ]);
    const msgs = straceNetlink(await Deno.readTextFile(log));
    return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr), msgs };
  } finally {
    await Deno.remove(log);
  }
}

/** Comment lines for a fixture: the command, its exit status, what it printed. */
function comments(args: readonly string[], c: Capture): string[] {
  const out = [`ipvsadm ${args.join(" ")}`, `exit ${c.code}`];
  for (const l of c.stdout.trimEnd().split("\n")) if (l) out.push(`stdout: ${l}`);
  for (const l of c.stderr.trimEnd().split("\n")) if (l) out.push(`stderr: ${l}`);
  return out;
}

/** ipvsadm's first exchange: the GETFAMILY request for "IPVS" and the replies before its next send. */
function familyLookup(msgs: readonly NetlinkMessage[]): NetlinkMessage[] {
  const next = msgs.findIndex((m, i) => i > 0 && m.dir === ">");
  return msgs.slice(0, next < 0 ? msgs.length : next);
}

async function main(): Promise<void> {
  try {
    await Deno.stat("/proc/net/ip_vs");
  } catch {
    console.error("capture: no IPVS in this kernel; run scripts/vm/capture-ipvsadm.sh instead");
    Deno.exit(1);
  }
  const dir = new URL("../../tests/fixtures/ipvs/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  const version = (await runOk("ipvsadm", ["--version"])).trim();
  const kernel = (await runOk("uname", ["-r"])).trim();
  const ns = `hc-cap-${Deno.pid}`;
  await runOk("ip", ["netns", "add", ns]);
  try {
    await runOk("ip", ["-n", ns, "link", "set", "lo", "up"]);
    for (const [i, step] of STEPS.entries()) {
      const c = await capture(ns, step.args);
      if (c.code !== 0 && !step.mayFail) {
        throw new Error(`ipvsadm ${step.args.join(" ")} exited ${c.code}: ${c.stderr.trim()}`);
      }
      if (c.msgs.length === 0) throw new Error(`no netlink traffic seen for ${step.name}`);
      await Deno.writeTextFile(
        `${dir}${step.name}.txt`,
        formatFixture(comments(step.args, c), c.msgs),
      );
      if (i === 0) {
        const lookup = familyLookup(c.msgs);
        const note = [
          `GETFAMILY "IPVS" (ipvsadm's first exchange, from: ipvsadm ${step.args.join(" ")})`,
        ];
        await Deno.writeTextFile(`${dir}family.txt`, formatFixture(note, lookup));
      }
      console.log(`capture: ${step.name}: exit ${c.code}, ${c.msgs.length} messages`);
    }
  } finally {
    await run("ip", ["netns", "del", ns]);
  }
  console.log(`capture: ${version}; kernel ${kernel}; fixtures in ${dir}`);
}

if (import.meta.main) await main();

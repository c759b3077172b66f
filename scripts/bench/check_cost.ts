/**
 * The checker's own cost, on the host, without IPVS: N TCP (or HTTP) checks a second
 * against a loopback listener, driven by the check scheduler on the system clock as
 * the daemon drives it: on the process-wide reactor in its blocking mode, the scheduler's
 * deadline a reactor timer. Prints the process's CPU per check (user + system) over a
 * steady window. Run it under `strace -c -f` to count syscalls per check (in the UML
 * guest, where `clock_gettime` is a syscall too: every `performance.now()` shows).
 *
 * ```sh
 * deno run -A scripts/bench/check_cost.ts [--checks 1000] [--seconds 10] [--kind tcp|http] [--port P]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import process from "node:process";
import { CheckScheduler } from "../../lib/check/scheduler.ts";
import type { CheckSpec } from "../../lib/check/types.ts";
import { defaultReactor } from "../../lib/sys/reactor.ts";

const args = parseArgs({
  options: {
    checks: { type: "string", default: "1000" },
    seconds: { type: "string", default: "10" },
    kind: { type: "string", default: "tcp" },
    /** A listener already running (so that `strace` of this process counts only the checker). */
    port: { type: "string" },
  },
});
const n = Number(args.values.checks);
const seconds = Number(args.values.seconds);
const kind = args.values.kind === "http" ? "http" : "tcp";

// The listener: a child process, so its CPU is not the checker's.
const server = args.values.port !== undefined ? null : new Deno.Command(Deno.execPath(), {
  args: [
    "eval",
    `const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
     console.log(l.addr.port);
     const ok = new TextEncoder().encode("HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok");
     for await (const c of l) {
       if (${kind === "http"}) {
         (async () => { try { await c.read(new Uint8Array(4096)); await c.write(ok); } catch {} try { c.close(); } catch {} })();
       } else { try { c.close(); } catch {} }
     }`,
  ],
  stdout: "piped",
}).spawn();
let port = Number(args.values.port);
if (server !== null) {
  const reader = server.stdout.getReader();
  const { value } = await reader.read();
  port = Number(new TextDecoder().decode(value).trim());
  reader.releaseLock();
}

const target = { host: "127.0.0.1", port };
const spec: CheckSpec = kind === "tcp" ? { kind: "tcp", target } : {
  kind: "http",
  tls: false,
  target,
  path: "/",
  hostHeader: null,
  sni: null,
  verifyTls: true,
  statusRanges: [[200, 299]],
  bodyRegex: null,
  digest: null,
};

const reactor = defaultReactor();
let cancel: (() => void) | undefined;
let runs = 0;
let fails = 0;
const s: CheckScheduler = new CheckScheduler({
  clock: reactor,
  wake: () => arm(),
  onChange: () => {},
  watcher: null,
});
function arm(): void {
  cancel?.();
  const at = s.nextDeadlineMs();
  if (at === null) return;
  cancel = reactor.at(at, () => {
    cancel = undefined;
    s.runDue();
    arm();
  });
}
for (let i = 0; i < n; i++) {
  s.set({
    id: `c${i}`,
    // A distinct spec object per check, as the config gives (no sharing here).
    spec: { ...spec, target: { ...target } } as CheckSpec,
    timing: { intervalMs: 1000, timeoutMs: 1000, rise: 1, fall: 1, initialUp: true },
  });
}
arm();
// As `hacore run` once started: the reactor blocks in ppoll whenever nothing else is in flight.
reactor.blocking = true;
const count = () => s.all().reduce((a, st) => a + st.runs, 0);
await new Promise((r) => setTimeout(r, 3000));
const r0 = count();
const w0 = reactor.stats();
const c0 = process.cpuUsage();
const t0 = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
const c1 = process.cpuUsage(c0);
const w1 = reactor.stats();
const elapsed = (performance.now() - t0) / 1000;
runs = count() - r0;
fails = s.all().reduce((a, st) => a + st.failures, 0);
const cpuMs = (c1.user + c1.system) / 1000;
console.log(
  `${kind}: ${n} checks/s, ${runs} runs in ${elapsed.toFixed(1)} s (${fails} failures): ` +
    `CPU ${(cpuMs / elapsed / 10).toFixed(1)} % of a core, ${
      (cpuMs * 1000 / runs).toFixed(0)
    } µs/check ` +
    `(user ${(c1.user / runs).toFixed(0)}, sys ${(c1.system / runs).toFixed(0)}); ` +
    `reactor waits ${((w1.waits - w0.waits) / elapsed).toFixed(0)}/s (blocking ${
      ((w1.blockingWaits - w0.blockingWaits) / elapsed).toFixed(0)
    }/s, async ${((w1.asyncWaits - w0.asyncWaits) / elapsed).toFixed(0)}/s)`,
);
cancel?.();
reactor.blocking = false;
await s.stop();
server?.kill();
await server?.status;

/**
 * What a daemon costs while idle: resident memory and CPU time, read from /proc.
 *
 * - VmRSS (/proc/PID/status) is what `ps` and `top` show. Summed over keepalived's
 *   parent and VRRP child it counts their shared pages twice, so Pss (from
 *   /proc/PID/smaps_rollup, shared pages split between their users) is read too.
 * - CPU is utime + stime (/proc/PID/stat, in clock ticks of 10 ms): sampled twice, the
 *   difference over the wall time between the samples, scaled to one minute.
 *
 * @example
 * ```ts
 * const m = await memory([pid]);
 * const c0 = await cpuSeconds([pid]);
 * ```
 *
 * @module
 */

/** Clock ticks per second of /proc/PID/stat times: USER_HZ, 100 on every Linux ABI. */
const USER_HZ = 100;

async function read(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return "";
  }
}

function kbField(text: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * Memory of a set of processes, in KiB.
 *
 * @example
 * ```ts
 * const m: Memory = { rssKiB: 30000, pssKiB: 28000 };
 * ```
 */
export interface Memory {
  readonly rssKiB: number;
  readonly pssKiB: number;
}

/**
 * Summed VmRSS and Pss of `pids` (a vanished process counts 0).
 *
 * @example
 * ```ts
 * const m = await memory([1234, 1235]);
 * ```
 */
export async function memory(pids: readonly number[]): Promise<Memory> {
  let rssKiB = 0;
  let pssKiB = 0;
  for (const pid of pids) {
    rssKiB += kbField(await read(`/proc/${pid}/status`), "VmRSS");
    pssKiB += kbField(await read(`/proc/${pid}/smaps_rollup`), "Pss");
  }
  return { rssKiB, pssKiB };
}

/**
 * Summed user + system CPU seconds of `pids` so far (a vanished process counts 0).
 * With `withChildren`, the CPU of their reaped children (cutime + cstime) too: what a
 * daemon spends through the processes it forks (keepalived's check scripts).
 *
 * @example
 * ```ts
 * const s = await cpuSeconds([1234]);
 * const all = await cpuSeconds([1234], true);
 * ```
 */
export async function cpuSeconds(pids: readonly number[], withChildren = false): Promise<number> {
  let ticks = 0;
  for (const pid of pids) {
    const stat = await read(`/proc/${pid}/stat`);
    if (stat === "") continue;
    // After "pid (comm) ": state is field 3; utime, stime, cutime, cstime are 14 to 17.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(f[11]) + Number(f[12]);
    if (withChildren) ticks += Number(f[13]) + Number(f[14]);
  }
  return ticks / USER_HZ;
}

/**
 * The whole machine's CPU seconds so far from /proc/stat, all CPUs summed: `busy`
 * (everything but idle and iowait) and `total`. Two samples give the load around a
 * measurement, which a shared machine needs stated.
 *
 * @example
 * ```ts
 * const a = await hostCpuSeconds();
 * const b = await hostCpuSeconds();
 * const busyShare = (b.busy - a.busy) / (b.total - a.total);
 * ```
 */
export async function hostCpuSeconds(): Promise<{ busy: number; total: number }> {
  const line = (await read("/proc/stat")).split("\n").find((l) => l.startsWith("cpu ")) ?? "";
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is inside user already)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: (total - idle) / USER_HZ, total: total / USER_HZ };
}

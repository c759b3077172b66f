/**
 * The common start and end of two byte arrays by `memcmp(3)`: what a reload of a big
 * config compares its file with the last one by (`ConfigLoader`'s `scan`).
 *
 * Why not the loader's JavaScript scan: its loop runs at compiled speed only while V8
 * keeps its compiled code, and a memory-reducing collection (the daemon's heap
 * housekeeping gives pages back with one) drops that code. The next reload then ran the
 * ~220,000 steps over a 1,000-service file in the interpreter: 7 ms instead of 0.8 on a
 * fast host, 24-60 ms in a one-CPU guest, a whole reload's budget. memcmp costs the same
 * every time: about 30 calls for 850 KiB, whatever V8 did meanwhile.
 *
 * @module
 */

import { libc } from "./libc.ts";

/** Bytes one memcmp compares while the two arrays still agree. */
const STRIDE = 64 * 1024;
/** The last stretch, at most this long, is compared byte by byte. */
const TAIL = 64;
/** memcmp's length of each step, a `size_t` (a bigint for Deno), made once. */
const LENGTHS = new Map<number, bigint>();
for (let step = STRIDE; step >= TAIL; step >>= 1) LENGTHS.set(step, BigInt(step));

/**
 * Length of the common start of `a` and `b`.
 *
 * @example
 * ```ts
 * commonPrefixNative(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])); // 2
 * ```
 */
export function commonPrefixNative(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  const memcmp = libc().memcmp;
  let i = 0;
  // Whole strides while they agree; then halves, each taken once at most, narrow the
  // first difference (or the end) to under TAIL bytes.
  for (let step = STRIDE; step >= TAIL; step >>= 1) {
    const size = LENGTHS.get(step)!;
    while (i + step <= n && memcmp(a.subarray(i, i + step), b.subarray(i, i + step), size) === 0) {
      i += step;
    }
  }
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * Length of the common end of `a` and `b`, at most `max`.
 *
 * @example
 * ```ts
 * commonSuffixNative(new Uint8Array([1, 2, 3]), new Uint8Array([9, 2, 3]), 3); // 2
 * ```
 */
export function commonSuffixNative(a: Uint8Array, b: Uint8Array, max: number): number {
  const memcmp = libc().memcmp;
  let k = 0;
  for (let step = STRIDE; step >= TAIL; step >>= 1) {
    const size = LENGTHS.get(step)!;
    while (k + step <= max) {
      const ae = a.length - k;
      const be = b.length - k;
      if (memcmp(a.subarray(ae - step, ae), b.subarray(be - step, be), size) !== 0) break;
      k += step;
    }
  }
  while (k < max && a[a.length - 1 - k] === b[b.length - 1 - k]) k++;
  return k;
}

/**
 * Byte-array helpers shared by the codecs, the config reader and the engine.
 *
 * @module
 */

/**
 * Whether two byte arrays hold the same bytes (a loop: `every` made a closure call
 * per byte on paths taken per advert).
 *
 * @example
 * ```ts
 * sameBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2)); // true
 * ```
 */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Whether every byte is zero (the unspecified address, an all-zero MAC); a loop, not
 * `every` and a closure per byte.
 *
 * @example
 * ```ts
 * allZero(new Uint8Array(4)); // true
 * ```
 */
export function allZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

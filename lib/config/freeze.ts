/**
 * Freezing a parsed config: what every reader (TOML, keepalived.conf, the block reload)
 * hands out is frozen all the way down.
 *
 * @module
 */

/**
 * Freezes `value` and everything in it. Walks keys with `for...in` and arrays by index,
 * not `Object.values`: an array per object, 2.9 MB of garbage for a 10,000-real-server
 * config (plain data: nothing enumerable is inherited).
 *
 * @example
 * ```ts
 * Object.isFrozen(deepFreeze({ a: [1] }).a); // true
 * ```
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  Object.freeze(value);
  // Recurse even into frozen objects: a frozen parent may hold a mutable child.
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) deepFreeze(value[i]);
  } else {
    const o = value as Record<string, unknown>;
    for (const k in o) deepFreeze(o[k]);
  }
  return value;
}

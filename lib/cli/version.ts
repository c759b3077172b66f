/**
 * hacore's version, in its own module so every command can print it without importing
 * the command table.
 *
 * @module
 */

/**
 * Version printed by `hacore --version`, shown by `hacore status` and in metrics.
 *
 * @example
 * ```ts
 * console.log(`hacore ${VERSION}`);
 * ```
 */
export const VERSION = "0.1.0";

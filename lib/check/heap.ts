/**
 * A binary min-heap of items ordered by a numeric key read from each item: the queue
 * of next-due times behind the check scheduler's single timer.
 *
 * @module
 */

/**
 * Min-heap; `key` is read when an item is pushed and while it sits in the heap, so it
 * must not change meanwhile.
 *
 * @example
 * ```ts
 * const h = new MinHeap<{ due: number }>((x) => x.due);
 * h.push({ due: 5 });
 * h.push({ due: 1 });
 * h.pop()?.due; // 1
 * ```
 */
export class MinHeap<T> {
  readonly #items: T[] = [];
  readonly #key: (item: T) => number;

  /**
   * An empty heap.
   *
   * @param key the ordering key of an item (smaller first).
   */
  constructor(key: (item: T) => number) {
    this.#key = key;
  }

  /** Number of items. */
  get size(): number {
    return this.#items.length;
  }

  /** The smallest item, left in place. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** Adds an item. O(log n). */
  push(item: T): void {
    const a = this.#items;
    a.push(item);
    let i = a.length - 1;
    const k = this.#key(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.#key(a[parent]) <= k) break;
      a[i] = a[parent];
      i = parent;
    }
    a[i] = item;
  }

  /** Removes and returns the smallest item. O(log n). */
  pop(): T | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    const k = this.#key(last);
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && this.#key(a[r]) < this.#key(a[l]) ? r : l;
      if (this.#key(a[c]) >= k) break;
      a[i] = a[c];
      i = c;
    }
    a[i] = last;
    return top;
  }

  /**
   * Removes `item` (found by identity); false when it is not there. O(n): for the rare
   * item that must leave before its turn (a check run out of turn).
   */
  remove(item: T): boolean {
    const a = this.#items;
    const i = a.indexOf(item);
    if (i < 0) return false;
    const last = a.pop()!;
    if (i === a.length) return true;
    a[i] = last;
    this.#siftUp(i);
    this.#siftDown(a.indexOf(last));
    return true;
  }

  #siftUp(i: number): void {
    const a = this.#items;
    const item = a[i];
    const k = this.#key(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.#key(a[parent]) <= k) break;
      a[i] = a[parent];
      i = parent;
    }
    a[i] = item;
  }

  #siftDown(i: number): void {
    const a = this.#items;
    const item = a[i];
    const k = this.#key(item);
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && this.#key(a[r]) < this.#key(a[l]) ? r : l;
      if (this.#key(a[c]) >= k) break;
      a[i] = a[c];
      i = c;
    }
    a[i] = item;
  }

  /** Removes every item. */
  clear(): void {
    this.#items.length = 0;
  }
}

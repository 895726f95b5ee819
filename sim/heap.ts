/**
 * A binary min-heap of events ordered by (time, seq). `seq` is a global
 * insertion counter, so two events due at the same microsecond always come
 * out in the order they were scheduled: ties never depend on sort stability
 * or object identity.
 */
export interface HeapItem {
  time: number;
  seq: number;
}

export class EventHeap<T extends HeapItem> {
  private items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const items = this.items;
    let i = items.length;
    items.push(item);
    // Sift up.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] as T;
      if (p.time < item.time || (p.time === item.time && p.seq < item.seq)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = item;
  }

  pop(): T | undefined {
    const items = this.items;
    const n = items.length;
    if (n === 0) return undefined;
    const top = items[0] as T;
    const last = items.pop() as T;
    if (n === 1) return top;
    // Sift down the former last element from the root.
    this.siftDown(last, 0, n - 1);
    return top;
  }

  clear(): void {
    this.items = [];
  }

  /**
   * Drops every item `keep` rejects and restores the heap order. Items come
   * out in (time, seq) order, a strict total order, so dropping some changes
   * nothing about the order of the rest.
   */
  retain(keep: (item: T) => boolean): void {
    const items = this.items;
    let n = 0;
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as T;
      if (keep(item)) items[n++] = item;
    }
    items.length = n;
    // Floyd's heap construction: sift down every parent, last first.
    for (let i = (n >> 1) - 1; i >= 0; i--) this.siftDown(items[i] as T, i, n);
  }

  /** Places `item` at or below index `i` of a heap of `size` items whose subtrees below `i` are heaps. */
  private siftDown(item: T, i: number, size: number): void {
    const items = this.items;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) break;
      const r = l + 1;
      let c = l;
      let child = items[l] as T;
      if (r < size) {
        const right = items[r] as T;
        if (right.time < child.time || (right.time === child.time && right.seq < child.seq)) {
          c = r;
          child = right;
        }
      }
      if (item.time < child.time || (item.time === child.time && item.seq < child.seq)) break;
      items[i] = child;
      i = c;
    }
    items[i] = item;
  }
}

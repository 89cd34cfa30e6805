/** A place in a {@link LinkedQueue}: what `push` returns, so the item can leave from the middle. */
export interface QueueNode<T> {
  readonly value: T;
  /** @internal */ prev: QueueNode<T> | null;
  /** @internal */ next: QueueNode<T> | null;
  /** @internal */ queue: LinkedQueue<T> | null;
}

/**
 * A FIFO with O(1) push at either end, pop, and removal of any item by its node. The runtime's
 * queues lose items from the middle all the time (an aborted task, a cancelled wait), and an
 * array's `splice`/`indexOf` makes that quadratic in the queue's length.
 */
export class LinkedQueue<T> {
  private head: QueueNode<T> | null = null;
  private tail: QueueNode<T> | null = null;
  private count = 0;

  get length(): number {
    return this.count;
  }

  /** The item `shift` would return, left in place. */
  peek(): T | undefined {
    return this.head?.value;
  }

  push(value: T): QueueNode<T> {
    const node: QueueNode<T> = { value, prev: this.tail, next: null, queue: this };
    if (this.tail === null) this.head = node;
    else this.tail.next = node;
    this.tail = node;
    this.count++;
    return node;
  }

  unshift(value: T): QueueNode<T> {
    const node: QueueNode<T> = { value, prev: null, next: this.head, queue: this };
    if (this.head === null) this.tail = node;
    else this.head.prev = node;
    this.head = node;
    this.count++;
    return node;
  }

  shift(): T | undefined {
    const node = this.head;
    if (node === null) return undefined;
    this.remove(node);
    return node.value;
  }

  /** Takes a node out; false when it already left (popped, removed, or from another queue). */
  remove(node: QueueNode<T>): boolean {
    if (node.queue !== this) return false;
    if (node.prev === null) this.head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) this.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = node.next = null;
    node.queue = null;
    this.count--;
    return true;
  }

  /** Empties the queue, returning its items in order. */
  drain(): T[] {
    const items: T[] = [];
    for (let node = this.head; node !== null; node = this.head) {
      this.remove(node);
      items.push(node.value);
    }
    return items;
  }
}

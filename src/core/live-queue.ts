/**
 * A queue read as an async iterator, live from the moment it is made. Unlike a Repeater or an
 * async generator, nothing waits for the first `next()`: values pushed before it are kept, and
 * `return()` (graphql-ws calls it without any `next()` when a client completes at once) ends it
 * and runs `onEnd` whenever it comes, even while a `next()` waits.
 */
export interface LiveQueue<T> extends AsyncIterableIterator<T> {
  /** Values pushed and not read yet. */
  readonly size: number;
  /** Adds a value; false when the queue has ended or holds `max` unread values already (then it ends). */
  push(value: T): boolean;
  /** Ends the queue and drops what it holds. */
  return(): Promise<IteratorResult<T>>;
  /** Ends the queue (`onEnd` runs now): values already pushed are still read, then it is done. */
  end(): void;
}

export function createLiveQueue<T>(options: { max: number; onEnd: () => void }): LiveQueue<T> {
  const values: T[] = [];
  const readers: Array<(result: IteratorResult<T>) => void> = [];
  let ended = false;
  const done = (): IteratorResult<T> => ({ value: undefined, done: true });
  const queue: LiveQueue<T> = {
    get size() {
      return values.length;
    },
    push(value) {
      if (ended) return false;
      const reader = readers.shift();
      if (reader) {
        reader({ value, done: false });
        return true;
      }
      if (values.length >= options.max) {
        queue.end();
        return false;
      }
      values.push(value);
      return true;
    },
    end() {
      if (ended) return;
      ended = true;
      options.onEnd();
      for (const reader of readers.splice(0)) reader(done());
    },
    next() {
      if (values.length) {
        const value = values.shift()!;
        return Promise.resolve({ value, done: false });
      }
      if (ended) return Promise.resolve(done());
      return new Promise((resolve) => readers.push(resolve));
    },
    return() {
      values.length = 0;
      queue.end();
      return Promise.resolve(done());
    },
    throw(error?: unknown) {
      values.length = 0;
      queue.end();
      return Promise.reject(error);
    },
    [Symbol.asyncIterator]() {
      return queue;
    },
  };
  return queue;
}

import type { Writable } from 'node:stream';

/** Resolves when a stream that refused a write can take more, or has closed (the reader went away). */
export function drained(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

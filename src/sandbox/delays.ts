/**
 * Timers that `close` can cut short: a sandbox being closed must not keep the process alive for
 * an injected latency or a webhook retry delay. A cancelled wait resolves at once; whoever
 * waited checks whether the sandbox is closing before going on.
 */
export class Delays {
  private readonly pending = new Set<() => void>();

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.pending.delete(finish);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.pending.add(finish);
    });
  }

  /** Ends every pending wait now. */
  cancelAll(): void {
    for (const finish of [...this.pending]) finish();
  }
}

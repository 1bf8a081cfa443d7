/**
 * A push-based queue read in batches with `for await`: callbacks (live log lines, yielded
 * values) push, an async generator pulls whatever piled up. Ends when closed; items pushed
 * before close are all delivered.
 */
export class AsyncQueue<T> {
  private items: T[] = [];
  private closed = false;
  private wake?: () => void;

  push(item: T): void {
    if (this.closed) return;
    this.items.push(item);
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  /** Everything pushed since the last batch, at once: lets a slow reader merge what piled up. */
  async *batches(): AsyncGenerator<T[]> {
    for (;;) {
      if (this.items.length) {
        const batch = this.items;
        this.items = [];
        yield batch;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

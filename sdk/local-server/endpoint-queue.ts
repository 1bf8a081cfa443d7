/**
 * The queue of one endpoint's job ids, in the order workers take them: jobs put back (by a lost
 * worker or an undelivered take) first, most recent first; then jobs in submission order; then
 * low-priority jobs. An id stays in the queue when its job leaves the queued state some other
 * way (cancelled, expired); `next` skips such ids.
 */
import Denque from "denque";

export class EndpointQueue {
  /** Put-back ids at the head, submitted ids behind them. */
  private readonly normal = new Denque<string>();
  private readonly low = new Denque<string>();

  add(id: string, where: "front" | "back", lowPriority: boolean): void {
    if (where === "front") this.normal.unshift(id);
    else if (lowPriority) this.low.push(id);
    else this.normal.push(id);
  }

  /** The next id whose job `isQueued` still, removing it and every stale id before it. */
  next(isQueued: (id: string) => boolean): string | undefined {
    for (const queue of [this.normal, this.low]) {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        if (isQueued(id)) return id;
      }
    }
    return undefined;
  }

  clear(): void {
    this.normal.clear();
    this.low.clear();
  }
}

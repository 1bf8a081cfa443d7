/**
 * The order workers take an endpoint's jobs in: put-back jobs first (the last put back first),
 * then submitted jobs in order, then low-priority ones; ids whose job left the queue otherwise
 * are skipped and dropped.
 */
import { describe, expect, it } from "vitest";
import { EndpointQueue } from "../../sdk/local-server/endpoint-queue.ts";

function drain(queue: EndpointQueue, isQueued: (id: string) => boolean = () => true): string[] {
  const ids: string[] = [];
  for (let id = queue.next(isQueued); id !== undefined; id = queue.next(isQueued)) ids.push(id);
  return ids;
}

describe("EndpointQueue", () => {
  it("takes put-back jobs (last first), then submitted in order, then low priority", () => {
    const queue = new EndpointQueue();
    queue.add("low-1", "back", true);
    queue.add("a", "back", false);
    queue.add("b", "back", false);
    queue.add("low-2", "back", true);
    queue.add("back-1", "front", false);
    queue.add("back-2", "front", true);
    queue.add("c", "back", false);
    expect(drain(queue)).toEqual(["back-2", "back-1", "a", "b", "c", "low-1", "low-2"]);
    expect(queue.next(() => true)).toBeUndefined();
  });

  it("skips and drops ids whose job is no longer queued", () => {
    const queue = new EndpointQueue();
    for (const id of ["a", "b", "c", "d"]) queue.add(id, "back", false);
    const cancelled = new Set(["a", "c"]);
    expect(queue.next((id) => !cancelled.has(id))).toBe("b");
    expect(drain(queue, (id) => !cancelled.has(id))).toEqual(["d"]);
  });

  it("clear empties both queues", () => {
    const queue = new EndpointQueue();
    queue.add("a", "back", false);
    queue.add("b", "back", true);
    queue.add("c", "front", false);
    queue.clear();
    expect(drain(queue)).toEqual([]);
  });

  it("keeps order across many jobs taken and added in turns", () => {
    const queue = new EndpointQueue();
    const taken: string[] = [];
    for (let i = 0; i < 5000; i++) {
      queue.add(`j${i}`, "back", false);
      if (i % 2 === 1) taken.push(queue.next(() => true)!);
    }
    taken.push(...drain(queue));
    expect(taken).toEqual(Array.from({ length: 5000 }, (_, i) => `j${i}`));
  });
});

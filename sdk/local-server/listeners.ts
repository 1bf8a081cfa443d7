/** Listeners of one kind of event, called in the order they were added. */
export class Listeners<T> {
  private readonly set = new Set<(event: T) => void>();

  /** Answers the function that removes the listener again. */
  add(listener: (event: T) => void): () => void {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }

  emit(event: T): void {
    for (const listener of this.set) listener(event);
  }
}

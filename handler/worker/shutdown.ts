/**
 * SIGTERM / SIGINT: the first asks for a graceful stop (take no more jobs, finish and post the
 * ones in flight); a second one asks for a hard stop (abort the jobs' signals).
 */

export interface ShutdownWatch {
  dispose(): void;
}

export function watchShutdownSignals(onGraceful: (signal: string) => void, onHard: (signal: string) => void): ShutdownWatch {
  let count = 0;
  const listener = (signal: NodeJS.Signals) => {
    count++;
    if (count === 1) onGraceful(signal);
    else onHard(signal);
  };
  process.on("SIGTERM", listener);
  process.on("SIGINT", listener);
  return {
    dispose() {
      process.off("SIGTERM", listener);
      process.off("SIGINT", listener);
    },
  };
}

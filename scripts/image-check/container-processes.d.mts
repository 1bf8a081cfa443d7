/** Types of container-processes.mjs (shared with the plain-Node worker wrapper). */
export function containerProcesses(root: string, options?: { topOnly?: boolean }): number[];
export function signalContainer(root: string, signal: NodeJS.Signals, options?: { topOnly?: boolean }): void;

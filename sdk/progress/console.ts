/**
 * The default presentation of calls on this process's console (stderr).
 *
 * In a terminal: one live status line per call in flight under a spinner, with a progress bar
 * for model downloads, drawn by `ora`. ora was picked over cli-progress and listr2 because a
 * call's phases are not a fixed list of tasks (listr2) nor mostly a bar (cli-progress): they
 * are a line of text that changes, which is what ora draws; it also decides whether the stream
 * is interactive (a TTY, `TERM` not dumb, `CI` not set), clears text that wraps over several
 * rows, and hides the cursor while it spins and shows it again on exit.
 *
 * Elsewhere (a pipe, a file, CI): plain timestamped lines. Calls that end within a second show
 * nothing in either mode, so a batch of warm calls stays quiet. `FERRY_QUIET=1` turns it off.
 * Log lines are written through `writeConsoleLine`, which lifts the status lines out of the way.
 */
import ora, { type Ora } from "ora";
import { describePhase, formatSeconds } from "./describe.ts";
import type { ProgressEvent, ProgressHandler } from "./events.ts";

/** A call shows up once it has been in flight this long. */
const SHOW_AFTER_MS = 1000;
/** How often the status lines' elapsed times are redrawn. */
const REDRAW_MS = 250;
/** Shortest gap between two plain `downloading` lines of one call. */
const PLAIN_DOWNLOAD_GAP_MS = 2000;

interface TrackedCall {
  label: string;
  startedAt: number;
  last: ProgressEvent | undefined;
  /** Plain mode: something of this call was printed. */
  printed: boolean;
  lastPrintAt: number;
  lastPrintedPhase: string;
}

/** A terminal that can redraw a line: a TTY with a width (a pseudo-terminal given no size has 0 columns). */
function interactive(env: NodeJS.ProcessEnv): boolean {
  return Boolean(process.stderr.isTTY) && process.stderr.columns > 0 && env.TERM !== "dumb" && !("CI" in env);
}

function timestamp(): string {
  return new Date().toISOString().slice(11, 23);
}

class ConsolePresenter {
  private readonly calls = new Set<TrackedCall>();
  private spinner: Ora | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly live: boolean) {}

  track(): ProgressHandler {
    const call: TrackedCall = { label: "", startedAt: performance.now(), last: undefined, printed: false, lastPrintAt: 0, lastPrintedPhase: "" };
    this.calls.add(call);
    this.ensureTimer();
    return (event) => {
      call.label = event.label;
      call.last = event;
      if (!this.live) this.plain(call, event);
      if (event.phase === "done") this.calls.delete(call);
      this.redraw();
    };
  }

  /** One log line, with the status lines lifted out of its way. */
  write(stream: "stdout" | "stderr", text: string): void {
    const out = stream === "stdout" ? process.stdout : process.stderr;
    if (this.spinner?.isSpinning) {
      this.spinner.clear();
      out.write(`${text}\n`);
      this.spinner.render();
    } else out.write(`${text}\n`);
  }

  private plain(call: TrackedCall, event: ProgressEvent): void {
    const age = performance.now() - call.startedAt;
    if (!call.printed && (age < SHOW_AFTER_MS || event.phase === "done")) return;
    if (event.phase === "downloading" && call.lastPrintedPhase === "downloading" && performance.now() - call.lastPrintAt < PLAIN_DOWNLOAD_GAP_MS && event.bytesDone !== event.bytesTotal) return;
    this.printPlain(call, event);
  }

  private printPlain(call: TrackedCall, event: ProgressEvent): void {
    call.printed = true;
    call.lastPrintAt = performance.now();
    call.lastPrintedPhase = event.phase;
    process.stderr.write(`${timestamp()} [${call.label}] ${describePhase(event)} (${formatSeconds(event.elapsedMs)})\n`);
  }

  private ensureTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.redraw(), REDRAW_MS);
    this.timer.unref();
  }

  private redraw(): void {
    const now = performance.now();
    const shown = [...this.calls].filter((c) => c.last && now - c.startedAt >= SHOW_AFTER_MS);
    if (!this.live) {
      // A call that went quiet past the threshold gets its first line now.
      for (const call of shown) if (!call.printed && call.last) this.printPlain(call, { ...call.last, elapsedMs: Math.round(now - call.startedAt) });
    } else if (shown.length === 0) {
      this.spinner?.stop();
    } else {
      const text = shown.map((c) => `${c.label}: ${describePhase(c.last!)} · ${formatSeconds(now - c.startedAt)}`).join("\n  ");
      this.spinner ??= ora({ stream: process.stderr, discardStdin: false, hideCursor: true });
      if (this.spinner.isSpinning) this.spinner.text = text;
      else this.spinner.start(text);
    }
    if (this.calls.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

let presenter: ConsolePresenter | undefined;

function consolePresenter(): ConsolePresenter {
  presenter ??= new ConsolePresenter(interactive(process.env));
  return presenter;
}

/** A progress handler for one call on the console, or undefined when `FERRY_QUIET=1`. */
export function consoleProgress(): ProgressHandler | undefined {
  if (process.env.FERRY_QUIET === "1") return undefined;
  return consolePresenter().track();
}

/** The progress handler of one call: the caller's, none (false), or the console's status line. */
export function progressHandlerFor(onProgress: ProgressHandler | false | undefined): ProgressHandler | undefined {
  if (onProgress === false) return undefined;
  return onProgress ?? consoleProgress();
}

/** Writes one line to stdout or stderr without tearing a status line. */
export function writeConsoleLine(stream: "stdout" | "stderr", text: string): void {
  if (presenter) presenter.write(stream, text);
  else (stream === "stdout" ? process.stdout : process.stderr).write(`${text}\n`);
}

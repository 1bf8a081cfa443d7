/**
 * What the local server tells callers when a worker process dies before it takes a job (no
 * bundle, a Python without the runner's modules, a crash at start): a RunPod-style job error
 * of type `WorkerStartError` carrying the worker's last output lines and the fix for the cause
 * it recognises in them. The SDK turns it into its `WorkerStartError`.
 */
import { ErrorType } from "../../protocol/error-types.ts";
export interface StartFailure {
  endpointName: string;
  worker: string;
  /** "exited with code 1", "could not start (spawn ENOENT)", ... */
  how: string;
  /** The worker's last output lines (stdout and stderr, in order). */
  output: readonly string[];
}

const OUTPUT_LINES = 20;
const DOCTOR = "`npx ferry doctor` shows what the local default needs and what is missing";

interface KnownCause {
  pattern: RegExp;
  cause: (match: RegExpMatchArray) => string;
  fix: string;
}

const KNOWN_CAUSES: readonly KnownCause[] = [
  {
    pattern: /Cannot find module '([^']*handler\.mjs)'/,
    cause: (m) => `the worker bundle ${m[1]} is missing`,
    fix: "build it: `npm run build` in Ferry's checkout, or reinstall the ferry package",
  },
  {
    pattern: /No module named '([\w.]+)'/,
    cause: (m) => `the runner's Python has no module ${m[1]}`,
    fix: `set FERRY_PYTHON to a Python that has msgpack and cloudpickle, or run \`npx ferry setup\`; ${DOCTOR}`,
  },
  {
    pattern: /ensurepip is not available|python3-venv/,
    cause: () => "the runner's Python cannot create a venv",
    fix: `install venv support (Debian/Ubuntu: apt-get install python3-venv) or run \`npx ferry setup\`; ${DOCTOR}`,
  },
  {
    pattern: /spawn (\S+) ENOENT/,
    cause: (m) => `the program ${m[1]} does not exist`,
    fix: `point FERRY_PYTHON at an installed Python 3.9+; ${DOCTOR}`,
  },
];

/** The FAILED job's `error` text: RunPod's JSON error shape, which the SDK reads. */
export function startFailureError(failure: StartFailure): string {
  const tail = failure.output.slice(-OUTPUT_LINES);
  const text = tail.join("\n");
  let cause: string | undefined;
  let fix = `read the worker's output below; ${DOCTOR}`;
  for (const known of KNOWN_CAUSES) {
    const match = text.match(known.pattern);
    if (match) {
      cause = known.cause(match);
      fix = known.fix;
      break;
    }
  }
  const message = `${failure.worker} of endpoint ${failure.endpointName} ${failure.how} before it took a job${cause ? `: ${cause}` : ""}. Fix: ${fix}`;
  return JSON.stringify({
    error_type: ErrorType.WorkerStartError,
    error_message: message,
    error_traceback: text,
    hostname: "local",
    details: { fix, worker_output: tail },
  });
}

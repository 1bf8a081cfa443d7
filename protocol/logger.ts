/**
 * The logger both sides use: pino, JSON lines on RunPod (when RUNPOD_ENDPOINT_ID is set), readable
 * lines elsewhere. Secrets are removed twice: by key (pino's redact) and by value (a hook
 * that scrubs every string argument), so a token cannot leak through free text either.
 */
import { pino, type Logger, type LevelWithSilent } from "pino";
import { PinoPretty } from "pino-pretty";
import { redactSecrets, redactDeep, SECRET_ENV_NAMES } from "./redaction.ts";

export type { Logger } from "pino";

const RUNPOD_LEVELS: Record<string, LevelWithSilent> = {
  TRACE: "trace",
  DEBUG: "debug",
  INFO: "info",
  WARN: "warn",
  WARNING: "warn",
  ERROR: "error",
  FATAL: "fatal",
  SILENT: "silent",
};

export function parseLogLevel(raw: string | undefined, fallback: LevelWithSilent = "info"): LevelWithSilent {
  if (!raw) return fallback;
  return RUNPOD_LEVELS[raw.trim().toUpperCase()] ?? fallback;
}

export interface LoggerOptions {
  level?: string;
  /** JSON lines instead of readable lines. Default: on RunPod (RUNPOD_ENDPOINT_ID set). */
  json?: boolean;
  /** File descriptor to write to. Default 2 (stderr), so stdout stays free. */
  fd?: number;
  base?: Record<string, unknown>;
}

const REDACT_PATHS = [
  "token",
  "*.token",
  "apiKey",
  "*.apiKey",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "headers.Authorization",
  ...SECRET_ENV_NAMES.flatMap((name) => [name, `env.${name}`]),
];

export function createLogger(options: LoggerOptions = {}): Logger {
  const json = options.json ?? Boolean(process.env.RUNPOD_ENDPOINT_ID);
  const level = parseLogLevel(options.level ?? process.env.RUNPOD_LOG_LEVEL ?? process.env.FERRY_LOG_LEVEL);
  const fd = options.fd ?? 2;
  const destination = json
    ? pino.destination({ fd, sync: true })
    : PinoPretty({ destination: fd, sync: true, colorize: false, singleLine: true, ignore: "pid,hostname", translateTime: "SYS:HH:MM:ss.l" });
  return pino(
    {
      level,
      base: options.base ?? null,
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((a) => (typeof a === "string" ? redactSecrets(a) : redactDeep(a)));
          return method.apply(this, scrubbed as Parameters<typeof method>);
        },
      },
    },
    destination,
  );
}

/** A logger that writes nothing, for library use and tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

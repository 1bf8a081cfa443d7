/**
 * Secret values that must never leave the worker in a log line or a response.
 *
 * Redaction by key (pino's `redact`) only catches secrets stored under known keys; a token can
 * also surface inside free text (a pip error that echoes an index URL, a traceback that prints
 * an environment dump). So every string that leaves through the logger or a response is also
 * scrubbed of the secret values themselves.
 */

export const SECRET_ENV_NAMES = ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "RUNPOD_API_KEY", "RUNPOD_AI_API_KEY"] as const;

const REDACTED = "[redacted]";
/** Values shorter than this are too likely to occur by chance in ordinary text. */
const MIN_SECRET_LENGTH = 6;

function currentSecretValues(env: NodeJS.ProcessEnv = process.env): string[] {
  const values: string[] = [];
  for (const name of SECRET_ENV_NAMES) {
    const value = env[name];
    if (value && value.length >= MIN_SECRET_LENGTH) values.push(value);
  }
  return values;
}

/** Replaces every occurrence of a secret value (read from the environment now) in `text`. */
export function redactSecrets(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = text;
  for (const secret of currentSecretValues(env)) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/** Deep copy of a JSON-like value with every string passed through `redactSecrets`. */
export function redactDeep<T>(value: T, env: NodeJS.ProcessEnv = process.env): T {
  if (currentSecretValues(env).length === 0) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return redactSecrets(v, env);
    if (Array.isArray(v)) return v.map(walk);
    const proto = v && typeof v === "object" ? Object.getPrototypeOf(v) : undefined;
    if (v && typeof v === "object" && (proto === Object.prototype || proto === null)) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(value) as T;
}

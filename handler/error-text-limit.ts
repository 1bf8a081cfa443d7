/**
 * Error text is clipped for people here, in the worker, after secrets are redacted: the Python
 * child sends an error and its traceback whole, so a token is replaced before a limit could
 * cut it in half and leave part of it readable. An enormous line (a 10 MB name or source line
 * echoed back) keeps its two ends, and so does the whole text; ordinary tracebacks pass
 * unchanged.
 */
export const MAX_ERROR_CHARS = 8192;
export const MAX_ERROR_LINE_CHARS = 500;

function clipEnds(text: string, limit: number, joiner: string): string {
  if (text.length <= limit) return text;
  const half = Math.floor(limit / 2);
  return `${text.slice(0, half)}${joiner}[... ${text.length - limit} characters cut ...]${joiner}${text.slice(-half)}`;
}

export function clipErrorText(text: string): string {
  if (text.length <= MAX_ERROR_LINE_CHARS) return text;
  const lines = text.split("\n").map((line) => clipEnds(line, MAX_ERROR_LINE_CHARS, " "));
  return clipEnds(lines.join("\n"), MAX_ERROR_CHARS, "\n");
}

/** The response with its `error` and `error_traceback` clipped; call it on redacted text only. */
export function clipErrors<T extends { error?: string | null; error_traceback?: unknown }>(response: T): T {
  const clipped = { ...response };
  if (typeof clipped.error === "string") clipped.error = clipErrorText(clipped.error);
  if (typeof clipped.error_traceback === "string") clipped.error_traceback = clipErrorText(clipped.error_traceback);
  return clipped;
}

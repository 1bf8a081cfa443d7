/**
 * What of the server's own environment reaches its workers (and so user code): an allow-list
 * of what a process and Python need to run, plus Ferry's own settings. Everything else in the
 * shell that started `ferry serve` (cloud keys, tokens, other programs' settings) stays out;
 * an endpoint's variables are named in its template, as on RunPod.
 */

/** Exact names passed through. */
const ALLOWED = new Set([
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "SHELL",
  "LANG",
  "LANGUAGE",
  "TZ",
  "TMPDIR",
  "TERM",
  // Where native libraries and GPUs are found.
  "LD_LIBRARY_PATH",
  "CUDA_HOME",
  "CUDA_VISIBLE_DEVICES",
  "NVIDIA_VISIBLE_DEVICES",
  // Certificates of a corporate proxy, without which no download verifies.
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "NODE_EXTRA_CA_CERTS",
]);

/** Prefixes passed through: locale settings and Ferry's own settings (FERRY_PYTHON, ...). */
const ALLOWED_PREFIXES = ["LC_", "FERRY_"];

export function isPassedToWorkers(name: string): boolean {
  return ALLOWED.has(name) || ALLOWED_PREFIXES.some((prefix) => name.startsWith(prefix));
}

/** The part of `env` workers start from when the server is not given an environment. */
export function hostEnvironmentForWorkers(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name, value]) => value !== undefined && isPassedToWorkers(name)));
}

/**
 * The command-line flags RunPod users know (`--rp_serve_api`, `--test_input`, ...), plus
 * Ferry's `--test_output`. Flags this module does not know are left to the caller's own parser.
 */

export interface WorkerArgs {
  serveApi: boolean;
  apiPort: number;
  apiHost: string;
  testInput?: string;
  testOutput?: string;
  logLevel?: string;
}

const VALUE_FLAGS = ["test_input", "test_output", "rp_api_port", "rp_api_host", "rp_log_level"] as const;
type ValueFlag = (typeof VALUE_FLAGS)[number];

const DEFAULT_API_PORT = 8000;
const DEFAULT_API_HOST = "127.0.0.1";

export function parseWorkerArgs(argv: readonly string[]): WorkerArgs {
  const values: Partial<Record<ValueFlag, string>> = {};
  let serveApi = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) continue;
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (name === "rp_serve_api") {
      serveApi = true;
      continue;
    }
    if (!(VALUE_FLAGS as readonly string[]).includes(name)) continue;
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length) value = argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    values[name as ValueFlag] = value;
  }
  let apiPort = DEFAULT_API_PORT;
  if (values.rp_api_port !== undefined) {
    apiPort = Number(values.rp_api_port);
    if (!Number.isInteger(apiPort) || apiPort < 0 || apiPort > 65535) {
      throw new Error(`--rp_api_port must be a port number, got ${JSON.stringify(values.rp_api_port)}`);
    }
  }
  return {
    serveApi,
    apiPort,
    apiHost: values.rp_api_host ?? DEFAULT_API_HOST,
    testInput: values.test_input,
    testOutput: values.test_output,
    logLevel: values.rp_log_level,
  };
}

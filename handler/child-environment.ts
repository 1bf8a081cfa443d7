/** The environment handed to user code: the worker's own API keys stay with the worker. */
export function childEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  delete out.RUNPOD_AI_API_KEY;
  delete out.RUNPOD_API_KEY;
  return out;
}

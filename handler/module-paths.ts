/**
 * `modules` (relative path -> source) are written into a temporary directory for the call.
 * A path that could land outside it is refused here, before anything reaches Python.
 */
/** A path as it appears in an error: quoted, and cut short so a huge one is not echoed back. */
const shown = (path: string) => JSON.stringify(path.length > 120 ? `${path.slice(0, 120)}...` : path);

export function checkModulePaths(modules: Record<string, string>): string | undefined {
  for (const path of Object.keys(modules)) {
    const parts = path.split(/[\\/]/);
    if (!path || path.startsWith("/") || path.startsWith("\\") || /^[a-zA-Z]:/.test(path) || path.includes("\0")) {
      return `modules: path ${shown(path)} must be a relative path`;
    }
    if (parts.includes("..")) return `modules: path ${shown(path)} must not contain ".."`;
    if (!path.endsWith(".py") && !path.endsWith(".pyi") && !path.endsWith(".json") && !path.endsWith(".txt")) {
      return `modules: path ${shown(path)} must name a .py (or .pyi, .json, .txt) file`;
    }
  }
  return undefined;
}

/**
 * buildah as the image check uses it: root-owned, daemonless, vfs storage kept under the
 * check's own folder (so a fresh clone starts from nothing and the machine's other images are
 * never touched), chroot isolation for every command run in a container.
 */
import { join } from "node:path";
import { runCommand, type CommandOptions, type CommandResult } from "./commands.ts";

export interface BuildahOptions {
  /** The check's work folder; storage lives under it. */
  workDir: string;
  logFile: string;
}

export class Buildah {
  constructor(private readonly options: BuildahOptions) {}

  /** The global flags every buildah command gets (storage location and driver). */
  get globalArgs(): string[] {
    return ["--root", join(this.options.workDir, "storage"), "--runroot", join(this.options.workDir, "run"), "--storage-driver", "vfs"];
  }

  run(args: readonly string[], what: string, extra: Omit<CommandOptions, "what" | "logFile"> = {}): Promise<CommandResult> {
    return runCommand("buildah", [...this.globalArgs, ...args], { what, logFile: this.options.logFile, ...extra });
  }

  /** A working container from an image; returns its name. */
  async from(image: string): Promise<string> {
    return (await this.run(["from", "--pull=never", "--quiet", image], `buildah from ${image}`)).stdout.trim();
  }

  /** Runs a command in a container (chroot isolation, the host's network). */
  exec(container: string, command: readonly string[], what: string, extra: Omit<CommandOptions, "what" | "logFile"> & { envVars?: Record<string, string> } = {}): Promise<CommandResult> {
    const env = Object.entries(extra.envVars ?? {}).flatMap(([k, v]) => ["--env", `${k}=${v}`]);
    const { envVars: _unused, ...rest } = extra;
    return this.run(["run", "--isolation", "chroot", ...env, container, "--", ...command], what, rest);
  }

  async remove(container: string): Promise<void> {
    await this.run(["rm", container], `buildah rm ${container}`, { allowFailure: true });
  }

  /**
   * Drops what an interrupted run or failed builds left in the check's storage: working
   * containers, and images no name points at (stages of earlier builds).
   */
  async tidy(): Promise<void> {
    await this.run(["rm", "--all"], "buildah rm --all", { allowFailure: true });
    await this.run(["rmi", "--prune"], "buildah rmi --prune", { allowFailure: true });
  }

  /** Whether an image of that name exists, and its labels when it does. */
  async imageLabels(image: string): Promise<Record<string, string> | undefined> {
    const result = await this.run(["inspect", "--type", "image", image], `buildah inspect ${image}`, { allowFailure: true });
    if (result.exitCode !== 0) return undefined;
    const parsed = JSON.parse(result.stdout) as { OCIv1?: { config?: { Labels?: Record<string, string> } } };
    return parsed.OCIv1?.config?.Labels ?? {};
  }
}

// pip's, uv's and apt's output condensed to the lines a person reads while waiting.
import { describe, expect, it } from "vitest";
import { condenseInstallerLine } from "../../handler/deps/installer-output.ts";

const condense = (text: string) => text.split("\n").map(condenseInstallerLine).filter((l): l is string => l !== undefined);

describe("installer output, condensed", () => {
  it("keeps pip's steps and errors, one short line per retry, and drops the chatter", () => {
    const pip = [
      "Looking in indexes: http://127.0.0.1:40123/simple/",
      "Collecting ferry-demo-alpha==1.0",
      "  Downloading http://127.0.0.1:40123/files/ferry_demo_alpha-1.0-py3-none-any.whl (1.2 kB)",
      "Requirement already satisfied: numpy in /usr/lib/python3/dist-packages (1.24.2)",
      "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new connection: [Errno 111] Connection refused')': /simple/torch/",
      "   ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 1.2/1.2 kB 3.4 MB/s eta 0:00:00",
      "Installing collected packages: ferry-demo-alpha",
      "Successfully installed ferry-demo-alpha-1.0",
      "ERROR: Could not find a version that satisfies the requirement torch (from versions: none)",
      "",
    ].join("\n");
    expect(condense(pip)).toEqual([
      "collecting ferry-demo-alpha==1.0",
      "downloading ferry_demo_alpha-1.0-py3-none-any.whl (1.2 kB)",
      "retrying (4 left): Connection refused (/simple/torch/)",
      "installing ferry-demo-alpha",
      "Successfully installed ferry-demo-alpha-1.0",
      "ERROR: Could not find a version that satisfies the requirement torch (from versions: none)",
    ]);
  });

  it("keeps uv's summary lines and apt's fetch, unpack and setup steps", () => {
    const uv = "Resolved 1 package in 12ms\nPrepared 1 package in 3ms\nInstalled 1 package in 2ms\n + ferry-demo-alpha==1.0";
    expect(condense(uv)).toEqual(["Resolved 1 package in 12ms", "Prepared 1 package in 3ms", "Installed 1 package in 2ms", "+ ferry-demo-alpha==1.0"]);
    const apt = [
      "Reading package lists...",
      "Building dependency tree...",
      "Get:1 http://deb.debian.org/debian bookworm/main amd64 hello amd64 2.10-3 [56.0 kB]",
      "Selecting previously unselected package hello.",
      "Unpacking hello (2.10-3) ...",
      "Setting up hello (2.10-3) ...",
      "E: Unable to locate package ferry-no-such-deb",
    ].join("\n");
    expect(condense(apt)).toEqual(["fetching hello 2.10-3 (56.0 kB)", "unpacking hello", "setting up hello", "E: Unable to locate package ferry-no-such-deb"]);
  });

  it("cuts a very long line", () => {
    const line = condenseInstallerLine(`ERROR: ${"x".repeat(1000)}`)!;
    expect(line.length).toBe(200);
    expect(line.endsWith("...")).toBe(true);
  });
});

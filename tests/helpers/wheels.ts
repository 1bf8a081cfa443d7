/**
 * Tiny pure-Python wheels built in the test: a zip (stored, no compression) holding
 * `<pkg>/__init__.py` and a dist-info with METADATA, WHEEL and RECORD, as pip and uv expect.
 */
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";

export interface WheelSpec {
  /** Distribution name as published, e.g. "ferry-demo-alpha". */
  name: string;
  version: string;
  /** Source of the top-level module; default sets __version__. */
  initSource?: string;
  requiresDist?: string[];
}

export interface BuiltWheel {
  /** e.g. "ferry_demo_alpha-1.0-py3-none-any.whl" */
  filename: string;
  /** PEP 503 project name, e.g. "ferry-demo-alpha". */
  project: string;
  /** Importable module, e.g. "ferry_demo_alpha". */
  module: string;
  version: string;
  data: Buffer;
  sha256: string;
}

const escapeName = (name: string) => name.replace(/[-_.]+/g, "_");

function recordHash(data: Buffer): string {
  return `sha256=${createHash("sha256").update(data).digest("base64url")}`;
}

/** A zip archive of stored entries (no compression), enough for a wheel. */
export function zipStored(entries: Array<{ name: string; data: Buffer }>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, "utf8");
    const crc = crc32(entry.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(0x21, 12); // date: 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(entry.data.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, entry.data);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x0314, 4); // made by: Unix, 2.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(entry.data.length, 20);
    central.writeUInt32LE(entry.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(0, 30); // extra
    central.writeUInt16LE(0, 32); // comment
    central.writeUInt16LE(0, 34); // disk
    central.writeUInt16LE(0, 36); // internal attrs
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external attrs: regular file 0644
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + name.length + entry.data.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

export function buildWheel(spec: WheelSpec): BuiltWheel {
  const module = escapeName(spec.name).toLowerCase();
  const distInfo = `${escapeName(spec.name)}-${spec.version}.dist-info`;
  const init = Buffer.from(spec.initSource ?? `__version__ = ${JSON.stringify(spec.version)}\n`);
  const metadata = Buffer.from(
    [`Metadata-Version: 2.1`, `Name: ${spec.name}`, `Version: ${spec.version}`, ...(spec.requiresDist ?? []).map((r) => `Requires-Dist: ${r}`), ""].join(
      "\n",
    ),
  );
  const wheel = Buffer.from(["Wheel-Version: 1.0", "Generator: ferry-tests", "Root-Is-Purelib: true", "Tag: py3-none-any", ""].join("\n"));
  const files = [
    { name: `${module}/__init__.py`, data: init },
    { name: `${distInfo}/METADATA`, data: metadata },
    { name: `${distInfo}/WHEEL`, data: wheel },
  ];
  const record = Buffer.from(
    [...files.map((f) => `${f.name},${recordHash(f.data)},${f.data.length}`), `${distInfo}/RECORD,,`, ""].join("\n"),
  );
  const data = zipStored([...files, { name: `${distInfo}/RECORD`, data: record }]);
  return {
    filename: `${escapeName(spec.name)}-${spec.version}-py3-none-any.whl`,
    project: spec.name.replace(/[-_.]+/g, "-").toLowerCase(),
    module,
    version: spec.version,
    data,
    sha256: createHash("sha256").update(data).digest("hex"),
  };
}

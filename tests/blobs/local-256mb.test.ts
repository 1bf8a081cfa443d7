/**
 * The largest value the issue names: a 256 MB Float32Array argument and result through
 * remote() on the local default. A file of its own so that it runs alone (vitest runs the
 * tests of one file one after another), never beside the other large-value suites.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { LiveServerless, remote, type NdArray } from "../../sdk/index.ts";
import { useLocalSdk } from "../helpers/local-sdk.ts";

useLocalSdk("ferry-256mb-");

it("a 256 MB Float32Array argument and result keep shape, dtype and values", async () => {
  const py = remote(new LiveServerless({ name: "large-256", workersMax: 1 }));
  const negate = py.function<[x: Float32Array], NdArray<Float32Array>>("import numpy as np\ndef negate(x):\n    np.negative(x, out=x)\n    return x", "negate");
  const count = (256 * 1024 * 1024) / 4;
  const x = new Float32Array(count);
  for (let i = 0; i < count; i++) x[i] = i % 4096;
  const y = await negate(x);
  expect(y).toBeInstanceOf(Float32Array);
  expect(y.shape).toEqual([count]);
  expect(y.dtype).toBe("<f4");
  for (let i = 0; i < count; i += 9973) if (y[i] !== -x[i]!) throw new Error(`element ${i}: ${y[i]} is not ${-x[i]!}`);
  expect(y[count - 1]).toBe(-x[count - 1]!);
}, 600_000);

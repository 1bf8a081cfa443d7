/** Size and layers of a built image (uncompressed layer sizes from its manifest), and its timings. */
import type { Buildah } from "./buildah.ts";

export interface ImageFacts {
  dockerfile: string;
  tag: string;
  sizeMiB: number;
  layers: number;
  /** Of the size, what the Dockerfile added over its base image. */
  addedMiB: number;
  layerMiB: number[];
  buildMs: number;
  checkMs: number;
  startToReadyMs: number;
}

interface Layers {
  diffIds: string[];
  sizes: number[];
}

async function layersOf(buildah: Buildah, image: string): Promise<Layers> {
  const inspect = JSON.parse((await buildah.run(["inspect", "--type", "image", image], `buildah inspect ${image}`)).stdout) as {
    Manifest: string;
    OCIv1: { rootfs: { diff_ids: string[] } };
  };
  const manifest = JSON.parse(inspect.Manifest) as { layers: { size: number }[] };
  return { diffIds: inspect.OCIv1.rootfs.diff_ids, sizes: manifest.layers.map((l) => l.size) };
}

const mib = (bytes: number) => Math.round(bytes / 1024 / 1024);

export async function imageFacts(buildah: Buildah, dockerfile: string, tag: string, base: string, timings: { buildMs: number; checkMs: number; startToReadyMs: number }): Promise<ImageFacts> {
  const image = await layersOf(buildah, tag);
  const baseLayers = new Set((await layersOf(buildah, base)).diffIds);
  const added = image.sizes.filter((_, i) => !baseLayers.has(image.diffIds[i] ?? ""));
  const total = image.sizes.reduce((a, b) => a + b, 0);
  return {
    dockerfile,
    tag,
    sizeMiB: mib(total),
    layers: image.sizes.length,
    addedMiB: mib(added.reduce((a, b) => a + b, 0)),
    layerMiB: image.sizes.map(mib),
    buildMs: Math.round(timings.buildMs),
    checkMs: Math.round(timings.checkMs),
    startToReadyMs: timings.startToReadyMs,
  };
}

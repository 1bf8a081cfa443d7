/**
 * The stand-in base images: local images under the exact names and tags the Dockerfiles pull,
 * holding what the Dockerfiles rely on those bases for. Each is Debian bookworm (debootstrap
 * minbase, no docs) plus Debian's packages; docs/images.md lists how each differs from the real
 * base. None is ever pushed: they exist only in the image check's own buildah storage.
 */

/** Debian's Python modules the runner imports (images/requirements.txt), by requirement name. */
export const DEBIAN_RUNNER_MODULES: Record<string, string> = {
  msgpack: "python3-msgpack",
  cloudpickle: "python3-cloudpickle",
  numpy: "python3-numpy",
  packaging: "python3-packaging",
};

/** What the real python and pytorch bases have: Python 3.11 with pip and venv. */
const PYTHON = ["python3", "python3-pip", "python3-venv"];

const DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface StandInRecipe {
  /** What the Dockerfiles call it (FROM), fully qualified as buildah stores it. */
  image: string;
  /** Debian packages installed on the minbase root. */
  aptPackages: string[];
  /** PATH, as the real image's config sets it. */
  path: string;
  /**
   * Where the real image has `python`, `python3`, `pip` and `pip3`: links to Debian's there
   * (Debian's own are in /usr/bin, and Debian has no plain `python`).
   */
  pythonLinksIn: string | null;
  /**
   * This machine's Node (binary and npm) at /usr/local, where the official Node image has it,
   * with the CA bundle this machine's Node trusts (NODE_EXTRA_CA_CERTS) when one is set: where
   * the network inspects TLS, the build stage's `npm ci` reaches the npm registry only with it.
   */
  hostNode: boolean;
  /**
   * The official Python images' interpreter is not Debian's and carries no PEP 668 marker: pip
   * installs into it. Debian's marker is removed so the stand-in's python3 behaves the same.
   */
  pipInstallsIntoSystemPython: boolean;
}

export function standInRecipes(tags: { python: string; node: string; pytorch: string }): StandInRecipe[] {
  const runnerModules = Object.values(DEBIAN_RUNNER_MODULES);
  return [
    {
      image: `docker.io/library/node:${tags.node}`,
      aptPackages: [],
      path: DEBIAN_PATH,
      pythonLinksIn: null,
      hostNode: true,
      pipInstallsIntoSystemPython: false,
    },
    {
      image: `docker.io/library/python:${tags.python}`,
      aptPackages: [...PYTHON, ...runnerModules],
      path: DEBIAN_PATH,
      pythonLinksIn: "/usr/local/bin",
      hostNode: false,
      pipInstallsIntoSystemPython: true,
    },
    {
      image: `docker.io/pytorch/pytorch:${tags.pytorch}`,
      aptPackages: [...PYTHON, "python3-torch", ...runnerModules],
      // The real image's Python is conda's, first on PATH.
      path: `/opt/conda/bin:${DEBIAN_PATH}`,
      pythonLinksIn: "/opt/conda/bin",
      hostNode: false,
      pipInstallsIntoSystemPython: true,
    },
  ];
}

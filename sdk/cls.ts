/**
 * Remote classes: `await Model.create(...ctorArgs)` constructs the Python instance on a worker
 * and gives a handle whose methods are typed remote calls. State lives on the worker holding
 * the instance. Every method call carries the class code and constructor arguments with
 * `create_new_instance: false`, so a worker that does not hold the instance (the first one
 * scaled down, or the job landed elsewhere) builds it again; the handle counts those rebuilds
 * and says so in the log.
 */
import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import type { FunctionRequestInput } from "../protocol/wire.ts";
import { invoke, printLog, type Outcome } from "./call.ts";
import { FerryError } from "./errors.ts";
import type { EncodedArg } from "./blobs/call-values.ts";
import { controlOptionsOf, encodeArgs, makeCallable, type CallOptions, type RemoteCallable } from "./function.ts";
import type { CallArgs, Kwargs } from "./kwargs.ts";
import type { PythonSignature } from "./python-module.ts";
import type { ClassSignature, NamedType } from "./python-types/signatures.ts";
import type { Resource } from "./resources.ts";
import { getRuntime } from "./runtime.ts";

type AnyMethod = (...args: any[]) => unknown;

/**
 * The methods of `Api` as remote calls: `generate(prompt: string): string` becomes
 * `(prompt: string) => Promise<string>` (+ `.call`, `.stream`, `.with`). A generated class
 * gives each method as a signature (`{ args, kwargs, result, yields }`) instead.
 */
export type RemoteMethods<Api> = {
  readonly [K in keyof Api as K extends string ? (Api[K] extends AnyMethod | PythonSignature ? K : never) : never]: Api[K] extends PythonSignature
    ? RemoteCallable<Api[K]["args"], Api[K]["result"], Api[K]["kwargs"], Api[K]["yields"]>
    : Api[K] extends (...args: infer A) => infer R
      ? RemoteCallable<A, Awaited<R>>
      : never;
};

/** What every remote instance has besides its methods: its id, how often it was rebuilt, and `destroy()`. */
export interface InstanceHandle {
  /** The id every call sends; any worker holding (or rebuilding) this instance answers to it. */
  readonly instanceId: string;
  readonly className: string;
  /** How many times a worker had to construct the instance again (it did not hold it). */
  readonly rebuilds: number;
  /** Whether the latest call's worker rebuilt the instance. */
  readonly lastCallRebuilt: boolean;
  /** The worker that answered the latest call. */
  readonly workerId: string | undefined;
  readonly destroyed: boolean;
  /** A method by name, for names a handle reserves (`then`, `destroy`, `call`, ...). */
  method<A extends unknown[] = unknown[], R = unknown>(name: string): RemoteCallable<A, R>;
  /** Drops the instance on the worker that takes this job; later calls on the handle fail. */
  destroy(): Promise<void>;
}

/** A remote instance: each method of `Api` as a {@link RemoteCallable}, plus {@link InstanceHandle}. */
export type ClassHandle<Api> = RemoteMethods<Api> & InstanceHandle;

/**
 * A remote Python class: `create(...)` constructs an instance on a worker, whose state stays
 * there between method calls.
 *
 * @example
 * ```ts
 * interface CounterApi { incr(by: number): number }
 * const Counter = py.class<CounterApi, [start: number]>(source, "Counter");
 * const counter = await Counter.create(10);
 * await counter.incr(2); // 12
 * await counter.destroy();
 * ```
 */
export interface RemoteClass<Api, Ctor extends unknown[] = unknown[], CtorKw extends Record<string, unknown> = Record<string, unknown>> {
  /** Constructs the instance on a worker (the constructor runs now, so its errors surface here). */
  create(...args: CallArgs<Ctor, CtorKw>): Promise<ClassHandle<Api>>;
  /** Default call options for `create` and every method call of handles made from here. */
  with(options: CallOptions): RemoteClass<Api, Ctor, CtorKw>;
  readonly className: string;
}

export interface ClassSource {
  resource: Resource;
  className: string;
  classCode: string;
  /** dependencies, system_dependencies, hf_models_to_cache, accelerate_downloads, modules, serialization_format. */
  base: Partial<FunctionRequestInput>;
  /** The class's annotations, for a class from a generated module (`validate: true` checks its methods' results). */
  annotations?: { signature: ClassSignature; types: Record<string, NamedType> } | undefined;
}

/** Properties a handle never turns into remote methods: promise and inspection probes would otherwise call Python. */
const RESERVED = new Set([
  "then",
  "catch",
  "finally",
  "toJSON",
  "toString",
  "valueOf",
  "constructor",
  "inspect",
  "asymmetricMatch",
  "nodeType",
  "tagName",
  "hasOwnProperty",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "toLocaleString",
  "prototype",
  "apply",
  "call",
  "bind",
  "length",
  "name",
]);
const PYTHON_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

class Instance {
  created = false;
  rebuilds = 0;
  lastCallRebuilt = false;
  workerId: string | undefined;
  destroyed = false;

  constructor(
    readonly source: ClassSource,
    readonly instanceId: string,
    readonly ctorArgs: string[],
    readonly ctorKwargs: Record<string, string>,
    readonly options: CallOptions,
  ) {}

  request(method: string, args: EncodedArg[], kwargs: Record<string, EncodedArg>, streaming: boolean, first = false): FunctionRequestInput {
    return {
      ...this.source.base,
      execution_type: "class",
      class_name: this.source.className,
      class_code: this.source.classCode,
      method_name: method,
      instance_id: this.instanceId,
      create_new_instance: first,
      constructor_args: this.ctorArgs,
      constructor_kwargs: this.ctorKwargs,
      args,
      kwargs,
      return_aggregate_stream: !streaming,
    };
  }

  observe(outcome: Outcome): void {
    this.workerId = outcome.workerId;
    const rebuilt = outcome.instance?.rebuilt ?? false;
    this.lastCallRebuilt = rebuilt;
    if (!rebuilt) return;
    this.rebuilds++;
    const onLog = this.options.onLog ?? getRuntime().options.onLog;
    if (onLog === false) return;
    (onLog ?? printLog)({
      stream: "worker",
      line: `instance ${this.instanceId} was rebuilt on worker ${outcome.workerId ?? "?"} (the worker that took the call did not hold it)`,
      job_id: outcome.jobId,
      source: this.source.className,
    });
  }

  check(): void {
    if (this.destroyed) throw new FerryError(`${this.source.className} instance ${this.instanceId} was destroyed`);
  }

  callable(method: string): RemoteCallable<unknown[], unknown> {
    return makeCallable(
      {
        label: `${this.source.className}.${method}`,
        resource: this.source.resource,
        request: (args, kwargs, streaming) => this.request(method, args, kwargs, streaming),
        observe: (outcome) => this.observe(outcome),
        check: () => this.check(),
        annotations: this.annotations(method),
      },
      this.options,
    );
  }

  private annotations(method: string) {
    const annotations = this.source.annotations;
    const signature = annotations?.signature.methods.find((m) => m.name === method);
    return annotations && signature ? { signature, types: annotations.types } : undefined;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const runtime = getRuntime();
    await invoke({
      endpoint: () => runtime.endpoint(this.source.resource),
      input: { ...this.source.base, execution_type: "destroy", instance_id: this.instanceId, class_name: this.source.className },
      options: controlOptionsOf(this.options),
      label: `${this.source.className}.destroy`,
    });
  }
}

function handleFor<Api>(instance: Instance): ClassHandle<Api> {
  const methods = new Map<string, RemoteCallable<unknown[], unknown>>();
  const methodOf = (name: string) => {
    let m = methods.get(name);
    if (!m) methods.set(name, (m = instance.callable(name)));
    return m;
  };
  const own: Record<string | symbol, unknown> = {
    method: (name: string) => {
      if (!PYTHON_NAME.test(name)) throw new FerryError(`${JSON.stringify(name)} is not a Python method name`);
      return methodOf(name);
    },
    destroy: () => instance.destroy(),
    [inspect.custom]: () => `ClassHandle<${instance.source.className} ${instance.instanceId}${instance.destroyed ? " destroyed" : ""}>`,
  };
  const getters: Record<string, () => unknown> = {
    instanceId: () => instance.instanceId,
    className: () => instance.source.className,
    rebuilds: () => instance.rebuilds,
    lastCallRebuilt: () => instance.lastCallRebuilt,
    workerId: () => instance.workerId,
    destroyed: () => instance.destroyed,
  };
  return new Proxy(own, {
    get(target, prop) {
      if (typeof prop === "symbol") return target[prop];
      if (prop in getters) return getters[prop]!();
      if (Object.prototype.hasOwnProperty.call(target, prop)) return target[prop];
      if (RESERVED.has(prop) || !PYTHON_NAME.test(prop)) return undefined;
      return methodOf(prop);
    },
    set() {
      return false;
    },
  }) as unknown as ClassHandle<Api>;
}

function newInstanceId(className: string): string {
  return `${className}_${randomBytes(4).toString("hex")}`;
}

export function makeRemoteClass<Api, Ctor extends unknown[], CtorKw extends Record<string, unknown>>(source: ClassSource, options: CallOptions = {}): RemoteClass<Api, Ctor, CtorKw> {
  return {
    className: source.className,
    with: (next) => makeRemoteClass<Api, Ctor, CtorKw>(source, { ...options, ...next }),
    async create(...args: unknown[]) {
      const encoded = encodeArgs(args);
      const instance = new Instance(source, newInstanceId(source.className), encoded.args, encoded.kwargs, options);
      const runtime = getRuntime();
      // `__repr__` exists on every Python object and costs nothing: a call that only constructs.
      const outcome = await invoke({
        endpoint: () => runtime.endpoint(source.resource),
        input: instance.request("__repr__", [], {}, false, true),
        options: controlOptionsOf(options),
        label: `${source.className}.create`,
      });
      instance.created = true;
      instance.workerId = outcome.workerId;
      return handleFor<Api>(instance);
    },
  };
}

export type { Kwargs };

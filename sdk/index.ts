/**
 * Ferry's public API. Everything a user imports comes from here; the other modules are
 * internal and may change.
 */
export { remote, Remote, type RemoteOptions } from "./remote.ts";
export { kwargs, type Kwargs, type CallArgs } from "./kwargs.ts";
export type { RemoteCallable, RemoteFunction, CallOptions, Yielded } from "./function.ts";
export type { RemoteClass, ClassHandle, InstanceHandle, RemoteMethods } from "./cls.ts";
export type { PythonModule, PythonModuleTypes, PythonSignature, PythonClassSignature } from "./python-module.ts";
export type { CallResult, CallInfo, CallTimings, InstanceState, LogHandler, RemoteLogLine } from "./call.ts";
export { printLog } from "./call.ts";
export type { ProgressEvent, ProgressHandler, ProgressPhase } from "./progress/events.ts";
export {
  LiveServerless,
  CpuLiveServerless,
  ServerlessEndpoint,
  Resource,
  GpuGroup,
  CpuInstanceType,
  declaredResources,
  type LiveServerlessOptions,
  type CpuLiveServerlessOptions,
  type ServerlessEndpointOptions,
  type ResourceConfig,
} from "./resources.ts";
export { ndarray, type NdArray, type NumericTypedArray } from "./codec.ts";
export {
  FerryError,
  RemoteError,
  RemoteTimeoutError,
  CancelledError,
  WorkerCrashedError,
  WorkerStartError,
  DependencyInstallError,
  ModelDownloadError,
  ProvisioningError,
  AuthenticationError,
  RateLimitError,
  ApiError,
  ConnectionError,
  SerializationError,
  ConfigError,
  ResultValidationError,
  PayloadTooLargeError,
  BlobStoreError,
} from "./errors.ts";
export { configure, shutdown, type FerryOptions } from "./runtime.ts";
export type { BlobStoreOptions } from "./blobs/blob-store-options.ts";
export { deploy, deployments, undeployResource, endpointHealth } from "./deploy.ts";

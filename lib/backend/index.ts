export type { BackendName, BackendInfo, BackendCandidate, WebGPUProvider, WebGPUActivation } from './select';
export { setBackend, backendInfo, registerWebGPUProvider, defaultWebGPUProvider } from './select';
export type { DawnProbe, DawnProviderOptions } from './webgpu';
export { createDawnWebGPUProvider, DEFAULT_PROBE, OPENGLES_PROBE } from './webgpu';
export type { AdapterInfoLike } from './webgpu-adapter';
export { isSoftwareAdapter, describeAdapter } from './webgpu-adapter';
export type { WasmKernelOptions, WasmKernelReport } from './wasm/kernels';
export { registerWasmTrainingKernels, ADDED_WASM_KERNELS, REPLACED_WASM_KERNELS } from './wasm/kernels';
export { loadWasmBackend } from './wasm/load';

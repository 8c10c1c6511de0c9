export type { BackendName, BackendInfo, BackendCandidate, WebGPUProvider } from './select';
export { setBackend, backendInfo, registerWebGPUProvider } from './select';
export type { WasmKernelOptions, WasmKernelReport } from './wasm-kernels';
export { registerWasmTrainingKernels, ADDED_WASM_KERNELS, REPLACED_WASM_KERNELS } from './wasm-kernels';
export { loadWasmBackend } from './wasm';

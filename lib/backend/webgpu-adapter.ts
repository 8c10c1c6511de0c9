/**
 * Telling hardware WebGPU adapters from software ones, and naming them for people.
 */

/** What a WebGPU adapter says about itself (GPUAdapterInfo; isFallbackAdapter is Dawn's and newer browsers'). */
export interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/**
 * Renderers that run on the CPU: Mesa's llvmpipe / softpipe / swrast (OpenGL) and lavapipe
 * (Vulkan), Google's SwiftShader, Microsoft's WARP ("Basic Render Driver"), Dawn's null backend.
 * "Mesa" alone is no sign: Mesa also drives real AMD and Intel GPUs.
 */
const SOFTWARE = /llvmpipe|lavapipe|softpipe|swrast|swiftshader|software rasterizer|basic render driver|\bwarp\b|null backend/i;

/** Whether an adapter is a software renderer (a CPU pretending to be a GPU), which 'auto' never picks. */
export function isSoftwareAdapter(info: AdapterInfoLike): boolean {
  if (info.isFallbackAdapter === true) return true;
  return SOFTWARE.test([info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' '));
}

/** One line naming an adapter: its device or description, then vendor and architecture when given. */
export function describeAdapter(info: AdapterInfoLike): string {
  const name = info.device || info.description || info.vendor || 'unnamed adapter';
  const more = [info.description !== name ? info.description : '', [info.vendor, info.architecture].filter(Boolean).join(' ')].filter(Boolean);
  return more.length ? `${name} (${more.join('; ')})` : name;
}

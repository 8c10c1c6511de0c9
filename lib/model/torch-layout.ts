/**
 * The PyTorch form of every TF.js layer class: one table (DESIGN.md, "PyTorch layout adapter").
 *
 * An entry names, for each of a layer class's weights (by TF.js short name: `kernel`, `gamma`),
 * PyTorch's name for it within the module, its role, and how its layout converts. Everything else
 * that knows a layer's PyTorch form derives from here: structural keys and their torch twins
 * (weights.ts), which weights are running statistics (freeze), which PyTorch entries have no
 * TF.js twin (load reports), which key suffixes look like PyTorch's (sources.ts). Adding a layer
 * class is one `registerLayerForm` call next to the layer.
 */
import type * as tf from '@tensorflow/tfjs';
import { hwcToChw, inverse, permute, takeRows } from '../statedict/ops';
import type { HostTensor } from '../statedict/tensor';

/** What a weight is for, whatever it is called: matching only ever pairs weights of one role. */
export type WeightRole =
  | 'kernel' | 'bias' | 'gamma' | 'beta' | 'moving_mean' | 'moving_variance'
  | 'embeddings' | 'token' | 'position' | 'other';

/** How one weight's value converts between TF.js's layout and PyTorch's. */
export interface LayoutConversion {
  /** The weight's shape in PyTorch (for a packed part: the part's own shape). */
  shape: number[];
  toTorch(t: HostTensor): HostTensor;
  fromTorch(t: HostTensor): HostTensor;
  /** When fromTorch is only a permutation of axes (after an optional reshape): loads then permute on the backend, not on the host. */
  fromTorchPermutation?: { reshape?: number[]; perm: number[] };
}

/** The PyTorch form of one TF.js weight of a layer class. */
export interface WeightForm {
  /** PyTorch's name within the module (`weight`, `out_proj.bias`); '' when the module itself is the parameter (`class_token`). */
  torch: string;
  role: WeightRole;
  /** The layout conversion for a weight of this TF.js shape in this layer; identity when absent. */
  layout?: (shape: number[], layer: tf.layers.Layer) => LayoutConversion;
  /** A running statistic, not a parameter: never trained, frozen with its layer. */
  statistic?: boolean;
  /** One of `count` parts that PyTorch packs into one tensor, concatenated on axis 0 in `index` order (`in_proj_weight` = q, k, v). */
  pack?: { index: number; count: number };
}

/** The PyTorch form of a TF.js layer class. */
export interface LayerForm {
  /** Forms by TF.js short weight name; a weight not listed keeps its name, role 'other', identity layout. */
  weights: Record<string, WeightForm>;
  /** PyTorch entries of the module with no TF.js twin, reported as ignored and never loaded (`num_batches_tracked`). */
  ignored?: string[];
  /** The PyTorch modules this class stands for (documentation, README table). */
  torchModules?: string[];
}

const FORMS = new Map<string, LayerForm>();

/** Adds (or replaces) the PyTorch form of a TF.js layer class. */
export function registerLayerForm(className: string, form: LayerForm): void {
  FORMS.set(className, form);
}

/** The PyTorch form of a layer class, if the table has one. */
export function layerForm(className: string): LayerForm | undefined {
  return FORMS.get(className);
}

/** Every registered layer class with its form, in registration order. */
export function layerForms(): ReadonlyMap<string, LayerForm> {
  return FORMS;
}

/** The form of one weight of a layer class: the table's entry, or its own name with role 'other'. */
export function weightForm(className: string, short: string): WeightForm {
  return FORMS.get(className)?.weights[short] ?? { torch: short, role: 'other' };
}

/** A conversion that permutes axes: result axis i is TF.js axis `perm[i]`. */
export function byPermutation(perm: readonly number[]) {
  return (shape: number[]): LayoutConversion => {
    const back = inverse(perm);
    return { shape: perm.map((p) => shape[p]), toTorch: (t) => permute(t, perm), fromTorch: (t) => permute(t, back), fromTorchPermutation: { perm: back } };
  };
}

/** ConvND and ConvNDTranspose: TF.js `[k.., a, b]` ↔ PyTorch `[b, a, k..]`. */
export function convKernel(shape: number[]): LayoutConversion {
  const r = shape.length;
  return byPermutation([r - 1, r - 2, ...Array.from({ length: r - 2 }, (_, i) => i)])(shape);
}

/** A depthwise kernel: TF.js `[kh, kw, cin, mult]` ↔ PyTorch `[cin·mult, 1, kh, kw]` (groups = cin). */
export function depthwiseKernel(shape: number[]): LayoutConversion {
  const [kh, kw, cin, mult] = shape;
  return {
    shape: [cin * mult, 1, kh, kw],
    toTorch: (t) => ({ ...permute(t, [2, 3, 0, 1]), shape: [cin * mult, 1, kh, kw] }),
    fromTorch: (t) => permute({ ...t, shape: [cin, mult, kh, kw] }, [2, 3, 0, 1]),
    fromTorchPermutation: { reshape: [cin, mult, kh, kw], perm: [2, 3, 0, 1] },
  };
}

/** A Dense kernel `[in, out]` ↔ PyTorch `[out, in]`; after a Flatten of a channels-last map, the input rows also go from H,W,C to C,H,W. */
export function denseKernel(shape: number[], layer: tf.layers.Layer): LayoutConversion {
  const hwc = flattenedFeatureMap(layer);
  if (hwc && hwc[0] * hwc[1] * hwc[2] === shape[0]) {
    const toChw = hwcToChw(hwc[0], hwc[1], hwc[2]);
    const fromChw = inverse(toChw);
    return {
      shape: [shape[1], shape[0]],
      toTorch: (t) => permute(takeRows(t, fromChw), [1, 0]),
      fromTorch: (t) => takeRows(permute(t, [1, 0]), toChw),
    };
  }
  return byPermutation([1, 0])(shape);
}

/** [H, W, C] when the layer's input comes straight from a Flatten of a channels-last feature map. */
function flattenedFeatureMap(layer: tf.layers.Layer): [number, number, number] | undefined {
  type Node = { inboundLayers?: tf.layers.Layer[]; inputShapes?: Array<Array<number | null>> };
  const nodes = (layer as unknown as { inboundNodes?: Node[] }).inboundNodes;
  const prev = nodes?.[0]?.inboundLayers?.[0];
  if (!prev || prev.getClassName() !== 'Flatten') return undefined;
  if ((prev as unknown as { dataFormat?: string }).dataFormat === 'channelsFirst') return undefined;
  const shape = (prev as unknown as { inboundNodes?: Node[] }).inboundNodes?.[0]?.inputShapes?.[0];
  if (!shape || shape.length !== 4 || shape.slice(1).some((d) => d === null)) return undefined;
  return shape.slice(1) as [number, number, number];
}

const conv = (modules: string[]): LayerForm => ({
  weights: { kernel: { torch: 'weight', role: 'kernel', layout: convKernel }, bias: { torch: 'bias', role: 'bias' } },
  torchModules: modules,
});

// TF.js's own layer classes. The project's PyTorch-semantics layers register theirs in lib/models/layers/.
registerLayerForm('Dense', {
  weights: { kernel: { torch: 'weight', role: 'kernel', layout: denseKernel }, bias: { torch: 'bias', role: 'bias' } },
  torchModules: ['Linear'],
});
registerLayerForm('Conv1D', conv(['Conv1d']));
registerLayerForm('Conv2D', conv(['Conv2d']));
registerLayerForm('Conv3D', conv(['Conv3d']));
registerLayerForm('Conv2DTranspose', conv(['ConvTranspose2d']));
registerLayerForm('Conv3DTranspose', conv(['ConvTranspose3d']));
registerLayerForm('DepthwiseConv2D', {
  weights: { depthwise_kernel: { torch: 'weight', role: 'kernel', layout: depthwiseKernel }, bias: { torch: 'bias', role: 'bias' } },
  torchModules: ['Conv2d (groups = in_channels)'],
});
/** nn.BatchNorm's form, shared by every layer class with gamma, beta and moving statistics. */
export const BATCH_NORM_FORM: LayerForm = {
  weights: {
    gamma: { torch: 'weight', role: 'gamma' },
    beta: { torch: 'bias', role: 'beta' },
    moving_mean: { torch: 'running_mean', role: 'moving_mean', statistic: true },
    moving_variance: { torch: 'running_var', role: 'moving_variance', statistic: true },
  },
  ignored: ['num_batches_tracked'],
  torchModules: ['BatchNorm1d', 'BatchNorm2d', 'BatchNorm3d'],
};
registerLayerForm('BatchNormalization', BATCH_NORM_FORM);
registerLayerForm('LayerNormalization', {
  weights: { gamma: { torch: 'weight', role: 'gamma' }, beta: { torch: 'bias', role: 'beta' } },
  torchModules: ['LayerNorm'],
});
registerLayerForm('Embedding', {
  weights: { embeddings: { torch: 'weight', role: 'embeddings' } },
  torchModules: ['Embedding'],
});

/** Name suffixes that mark a key as PyTorch's or as TF.js's, from the table (for telling a state dict's naming). */
export function namingSuffixes(): { torch: Set<string>; tfjs: Set<string> } {
  const torch = new Set<string>();
  const tfjs = new Set<string>();
  for (const form of FORMS.values()) {
    for (const [short, w] of Object.entries(form.weights)) {
      if (w.torch && w.torch !== short) torch.add(w.torch.split('.').pop() as string);
      if (w.torch !== short) tfjs.add(short);
    }
    for (const i of form.ignored ?? []) torch.add(i);
  }
  // A name both sides use (`bias`) tells nothing.
  for (const s of [...torch]) if (tfjs.has(s)) { torch.delete(s); tfjs.delete(s); }
  return { torch, tfjs };
}

/**
 * PyTorch's nn.Conv2d in TF.js: symmetric explicit padding (TF.js's 'same' pads a stride-2
 * convolution asymmetrically, PyTorch pads both sides alike), dilation, and groups: 1, depthwise
 * (groups = in_channels) or grouped (ResNeXt), with PyTorch's default initialisation.
 */
import * as tf from '@tensorflow/tfjs';
import { convKernel, depthwiseKernel } from '../../model/torch-layout';
import { torchUniform } from './init';
import { oneInput, oneShape, outLength, pair, registerTorchLayer, type LayerArgs } from './base';

/** Arguments of torchConv2d, named as nn.Conv2d's (camel-cased); inputs are NHWC. */
export interface TorchConv2dArgs extends LayerArgs {
  /** out_channels. */
  filters: number;
  kernelSize: number | [number, number];
  stride?: number | [number, number];
  /** Zeros added on both sides of each spatial axis (PyTorch's int or pair), or 'same' (stride 1 only) / 'valid'. */
  padding?: number | [number, number] | 'same' | 'valid';
  dilation?: number | [number, number];
  groups?: number;
  /** bias (default true). */
  useBias?: boolean;
}

type Pad4 = [[number, number], [number, number], [number, number], [number, number]];

interface Config { filters: number; kernelSize: [number, number]; stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number; useBias: boolean }

/** nn.Conv2d with PyTorch's padding, dilation and groups; weights `kernel` (or `depthwise_kernel`) and `bias`. */
export class TorchConv2D extends tf.layers.Layer {
  static className = 'TorchConv2D';
  private readonly cfg: Config;
  private kernel?: tf.LayerVariable;
  private bias?: tf.LayerVariable;
  private depthwise = false;

  constructor(args: TorchConv2dArgs) {
    super(args);
    if (!Number.isInteger(args.filters) || args.filters < 1) throw new Error(`torchConv2d: filters (out_channels) must be a positive integer, got ${args.filters}`);
    const kernelSize = pair(args.kernelSize, 'torchConv2d: kernelSize', 1);
    const dilation = pair(args.dilation ?? 1, 'torchConv2d: dilation', 1);
    const stride = pair(args.stride ?? 1, 'torchConv2d: stride', 1);
    let padding: [number, number];
    if (args.padding === 'same') {
      if (stride[0] !== 1 || stride[1] !== 1) throw new Error("torchConv2d: padding 'same' needs stride 1 (as in PyTorch)");
      const total = kernelSize.map((k, i) => dilation[i] * (k - 1));
      if (total.some((t) => t % 2)) throw new Error(`torchConv2d: padding 'same' with an even effective kernel (${kernelSize}) pads unevenly; give explicit padding`);
      padding = [total[0] / 2, total[1] / 2];
    } else {
      padding = args.padding === 'valid' ? [0, 0] : pair(args.padding ?? 0, 'torchConv2d: padding');
    }
    const groups = args.groups ?? 1;
    if (!Number.isInteger(groups) || groups < 1) throw new Error(`torchConv2d: groups must be a positive integer, got ${groups}`);
    if (args.filters % groups) throw new Error(`torchConv2d: filters (${args.filters}) must be divisible by groups (${groups})`);
    if ((stride[0] > 1 || stride[1] > 1) && (dilation[0] > 1 || dilation[1] > 1)) {
      throw new Error('torchConv2d: a convolution with both stride > 1 and dilation > 1 is not supported (TF.js cannot run it)');
    }
    this.cfg = { filters: args.filters, kernelSize, stride, padding, dilation, groups, useBias: args.useBias ?? true };
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = oneShape(inputShape);
    const cin = shape[shape.length - 1];
    const { filters, kernelSize: [kh, kw], groups, useBias } = this.cfg;
    if (cin === null || cin === undefined) throw new Error(`torchConv2d '${this.name}': the input's channel count must be known`);
    if (cin % groups) throw new Error(`torchConv2d '${this.name}': in_channels (${cin}) must be divisible by groups (${groups})`);
    this.depthwise = groups > 1 && groups === cin;
    // PyTorch's default: kaiming_uniform(a=√5) = U(±1/√fan_in), fan_in = in_channels/groups · kh · kw.
    const fanIn = (cin / groups) * kh * kw;
    const init = torchUniform(fanIn);
    this.kernel = this.depthwise
      ? this.addWeight('depthwise_kernel', [kh, kw, cin, filters / cin], 'float32', init)
      : this.addWeight('kernel', [kh, kw, cin / groups, filters], 'float32', init);
    if (useBias) this.bias = this.addWeight('bias', [filters], 'float32', init);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [n, h, w] = oneShape(inputShape);
    const { kernelSize, stride, padding, dilation, filters } = this.cfg;
    return [n, outLength(h, kernelSize[0], stride[0], padding[0], dilation[0]), outLength(w, kernelSize[1], stride[1], padding[1], dilation[1]), filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = oneInput(inputs, 'TorchConv2D') as tf.Tensor4D;
      const { stride, padding: [ph, pw], dilation: [dh, dw] } = this.cfg;
      const pad: Pad4 = [[0, 0], [ph, ph], [pw, pw], [0, 0]];
      const kernel = (this.kernel as tf.LayerVariable).read() as tf.Tensor4D;
      const bias = this.bias?.read() as tf.Tensor1D | undefined;
      if (dh === 1 && dw === 1) return this.convolve(x, kernel, stride, pad, bias);
      // TF.js has no gradient for dilations > 1. Space-to-batch makes the dilated convolution a
      // plain one over d·d interleaved sub-grids (TensorFlow's atrous convolution; stride is 1
      // here), whose ops all have gradients; the padding that makes the size divisible by d
      // comes off again in batch-to-space.
      const padded = tf.pad(x, pad);
      const extra: [[number, number], [number, number]] = [[0, (dh - ((padded.shape[1] as number) % dh)) % dh], [0, (dw - ((padded.shape[2] as number) % dw)) % dw]];
      const grids = tf.spaceToBatchND(padded, [dh, dw], extra) as tf.Tensor4D;
      const y = tf.batchToSpaceND(this.convolve(grids, kernel, [1, 1], 'valid'), [dh, dw], extra) as tf.Tensor4D;
      return bias ? tf.add(y, bias) : y;
    });
  }

  /** The undilated convolution: plain (bias fused), depthwise or grouped. */
  private convolve(x: tf.Tensor4D, kernel: tf.Tensor4D, stride: [number, number], pad: Pad4 | 'valid', bias?: tf.Tensor1D): tf.Tensor4D {
    const { groups } = this.cfg;
    if (this.depthwise) {
      // TF.js's fused depthwise op takes no explicit padding.
      const y = tf.depthwiseConv2d(x, kernel, stride, pad);
      return bias ? tf.add(y, bias) : y;
    }
    if (groups === 1) return tf.fused.conv2d({ x, filter: kernel, strides: stride, pad, bias });
    // Grouped: each group of input channels meets its own slice of the filters.
    const xs = tf.split(x, groups, 3) as tf.Tensor4D[];
    const ks = tf.split(kernel, groups, 3) as tf.Tensor4D[];
    const y = tf.concat(xs.map((xi, i) => tf.conv2d(xi, ks[i], stride, pad)), 3);
    return bias ? tf.add(y, bias) : y;
  }

  override getConfig(): tf.serialization.ConfigDict {
    const { filters, kernelSize, stride, padding, dilation, groups, useBias } = this.cfg;
    return { ...super.getConfig(), filters, kernelSize, stride, padding, dilation, groups, useBias };
  }
}

registerTorchLayer(TorchConv2D, {
  weights: {
    kernel: { torch: 'weight', role: 'kernel', layout: convKernel },
    depthwise_kernel: { torch: 'weight', role: 'kernel', layout: depthwiseKernel },
    bias: { torch: 'bias', role: 'bias' },
  },
  torchModules: ['Conv2d'],
});

/** nn.Conv2d(in, filters, kernelSize, stride, padding, dilation, groups, bias) as a TF.js layer (NHWC). */
export function torchConv2d(args: TorchConv2dArgs): TorchConv2D {
  return new TorchConv2D(args);
}

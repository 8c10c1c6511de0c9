/**
 * PyTorch's pooling in TF.js: MaxPool2d pads with −∞ on both sides (TF.js's 'same' pads one side),
 * AvgPool2d counts its zero padding by default (count_include_pad), AdaptiveAvgPool2d splits the
 * map into PyTorch's bins for any input size.
 */
import * as tf from '@tensorflow/tfjs';
import { oneInput, oneShape, outLength, pair, registerTorchLayer, type LayerArgs } from './base';

/** Arguments of torchMaxPool2d and torchAvgPool2d, named as PyTorch's (camel-cased). */
export interface TorchPool2dArgs extends LayerArgs {
  kernelSize: number | [number, number];
  /** Default: kernelSize. */
  stride?: number | [number, number];
  padding?: number | [number, number];
  /** Max pooling only. */
  dilation?: number | [number, number];
  ceilMode?: boolean;
  /** Average pooling only: whether zero padding counts in the mean (PyTorch's default, true). */
  countIncludePad?: boolean;
}

type Pad4 = [[number, number], [number, number], [number, number], [number, number]];
interface PoolConfig { kernelSize: [number, number]; stride: [number, number]; padding: [number, number]; dilation: [number, number]; ceilMode: boolean; countIncludePad: boolean }

function poolConfig(args: TorchPool2dArgs, what: string): PoolConfig {
  const kernelSize = pair(args.kernelSize, `${what}: kernelSize`, 1);
  const stride = pair(args.stride ?? kernelSize, `${what}: stride`, 1);
  const padding = pair(args.padding ?? 0, `${what}: padding`);
  const dilation = pair(args.dilation ?? 1, `${what}: dilation`, 1);
  if (padding[0] * 2 > kernelSize[0] || padding[1] * 2 > kernelSize[1]) throw new Error(`${what}: padding (${padding}) must be at most half the kernel (${kernelSize}), as in PyTorch`);
  return { kernelSize, stride, padding, dilation, ceilMode: args.ceilMode ?? false, countIncludePad: args.countIncludePad ?? true };
}

function pooledShape(inputShape: tf.Shape | tf.Shape[], c: PoolConfig): tf.Shape {
  const [n, h, w, ch] = oneShape(inputShape);
  return [n, outLength(h, c.kernelSize[0], c.stride[0], c.padding[0], c.dilation[0], c.ceilMode), outLength(w, c.kernelSize[1], c.stride[1], c.padding[1], c.dilation[1], c.ceilMode), ch];
}

/** Explicit padding for TF.js: PyTorch's on both sides, plus what ceil mode needs on the far side. */
function explicitPad(x: tf.Tensor, c: PoolConfig): Pad4 {
  const far = [1, 2].map((axis, i) => {
    const size = x.shape[axis] as number;
    const n = outLength(size, c.kernelSize[i], c.stride[i], c.padding[i], c.dilation[i], c.ceilMode) as number;
    const need = (n - 1) * c.stride[i] + c.dilation[i] * (c.kernelSize[i] - 1) + 1 - (size + 2 * c.padding[i]);
    return c.padding[i] + Math.max(0, need);
  });
  return [[0, 0], [c.padding[0], far[0]], [c.padding[1], far[1]], [0, 0]];
}

function poolArgs(c: PoolConfig): tf.serialization.ConfigDict {
  return { kernelSize: c.kernelSize, stride: c.stride, padding: c.padding, dilation: c.dilation, ceilMode: c.ceilMode };
}

/** nn.MaxPool2d: windows that reach into the padding ignore it (−∞), as PyTorch does. */
export class TorchMaxPool2D extends tf.layers.Layer {
  static className = 'TorchMaxPool2D';
  private readonly cfg: PoolConfig;

  constructor(args: TorchPool2dArgs) {
    super(args);
    this.cfg = poolConfig(args, 'torchMaxPool2d');
    const [dh, dw] = this.cfg.dilation;
    if ((dh > 1 || dw > 1) && (this.cfg.stride[0] > 1 || this.cfg.stride[1] > 1)) throw new Error('torchMaxPool2d: TF.js cannot pool with both stride > 1 and dilation > 1');
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return pooledShape(inputShape, this.cfg);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = oneInput(inputs, 'TorchMaxPool2D') as tf.Tensor4D;
      const c = this.cfg;
      if (c.dilation[0] > 1 || c.dilation[1] > 1) {
        const pad = explicitPad(x, c);
        const padded = tf.pad(x, pad, -Infinity);
        return tf.pool(padded, c.kernelSize, 'max', 'valid', c.dilation, c.stride);
      }
      return tf.maxPool(x, c.kernelSize, c.stride, explicitPad(x, c));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...poolArgs(this.cfg) };
  }
}

/** nn.AvgPool2d: by default the zero padding counts in each window's mean (count_include_pad=True). */
export class TorchAvgPool2D extends tf.layers.Layer {
  static className = 'TorchAvgPool2D';
  private readonly cfg: PoolConfig;

  constructor(args: TorchPool2dArgs) {
    super(args);
    this.cfg = poolConfig(args, 'torchAvgPool2d');
    if (this.cfg.dilation[0] !== 1 || this.cfg.dilation[1] !== 1) throw new Error('torchAvgPool2d: average pooling has no dilation in PyTorch');
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return pooledShape(inputShape, this.cfg);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = oneInput(inputs, 'TorchAvgPool2D') as tf.Tensor4D;
      const c = this.cfg;
      const [ph, pw] = c.padding;
      if (c.countIncludePad && (ph || pw)) {
        // TF.js leaves padding out of the mean: pad with real zeros first. A window that ceil mode
        // runs past the padded input stops there, as PyTorch's divisor does: that part stays
        // TF.js padding, left out.
        const [, [, farH], [, farW]] = explicitPad(x, c);
        const padded = tf.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]]);
        return tf.avgPool(padded, c.kernelSize, c.stride, [[0, 0], [0, farH - ph], [0, farW - pw], [0, 0]]);
      }
      return tf.avgPool(x, c.kernelSize, c.stride, explicitPad(x, c));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...poolArgs(this.cfg), countIncludePad: this.cfg.countIncludePad };
  }
}

/** Arguments of torchAdaptiveAvgPool2d. */
export interface AdaptiveAvgPool2dArgs extends LayerArgs {
  /** PyTorch's output_size: an int or (h, w); the output keeps four axes, [n, h, w, c]. */
  outputSize: number | [number, number];
}

/** nn.AdaptiveAvgPool2d: bin i along an axis of length L spans [⌊i·L/n⌋, ⌈(i+1)·L/n⌉), for any input size. */
export class AdaptiveAvgPool2D extends tf.layers.Layer {
  static className = 'AdaptiveAvgPool2D';
  private readonly outputSize: [number, number];

  constructor(args: AdaptiveAvgPool2dArgs) {
    super(args);
    this.outputSize = pair(args.outputSize, 'torchAdaptiveAvgPool2d: outputSize', 1);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [n, , , c] = oneShape(inputShape);
    return [n, this.outputSize[0], this.outputSize[1], c];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = oneInput(inputs, 'AdaptiveAvgPool2D') as tf.Tensor4D;
      const [, h, w] = x.shape;
      const [oh, ow] = this.outputSize;
      if (oh === 1 && ow === 1) return tf.mean(x, [1, 2], true);
      if (h % oh === 0 && w % ow === 0) return tf.avgPool(x, [h / oh, w / ow], [h / oh, w / ow], 'valid');
      const bins = (len: number, n: number) => Array.from({ length: n }, (_, i) => [Math.floor((i * len) / n), Math.ceil(((i + 1) * len) / n)]);
      const rows = bins(h, oh).map(([r0, r1]) => {
        const band = tf.slice(x, [0, r0, 0, 0], [-1, r1 - r0, -1, -1]);
        const cells = bins(w, ow).map(([c0, c1]) => tf.mean(tf.slice(band, [0, 0, c0, 0], [-1, -1, c1 - c0, -1]), [1, 2], true));
        return tf.concat(cells, 2);
      });
      return tf.concat(rows, 1);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), outputSize: this.outputSize };
  }
}

registerTorchLayer(TorchMaxPool2D, { weights: {}, torchModules: ['MaxPool2d'] });
registerTorchLayer(TorchAvgPool2D, { weights: {}, torchModules: ['AvgPool2d'] });
registerTorchLayer(AdaptiveAvgPool2D, { weights: {}, torchModules: ['AdaptiveAvgPool2d'] });

/** nn.MaxPool2d(kernelSize, stride, padding, dilation, ceilMode) as a TF.js layer (NHWC). */
export function torchMaxPool2d(args: TorchPool2dArgs): TorchMaxPool2D {
  return new TorchMaxPool2D(args);
}

/** nn.AvgPool2d(kernelSize, stride, padding, ceilMode, countIncludePad) as a TF.js layer (NHWC). */
export function torchAvgPool2d(args: TorchPool2dArgs): TorchAvgPool2D {
  return new TorchAvgPool2D(args);
}

/** nn.AdaptiveAvgPool2d(outputSize) as a TF.js layer (NHWC in, [n, h, w, c] out). */
export function torchAdaptiveAvgPool2d(args: AdaptiveAvgPool2dArgs): AdaptiveAvgPool2D {
  return new AdaptiveAvgPool2D(args);
}

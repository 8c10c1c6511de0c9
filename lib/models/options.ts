/** What every vision builder of the zoo takes, and the checks they share. */

/** Options of the vision builders (torchvision's classifiers). */
export interface VisionOptions {
  /** Classes of the classifier head (default 1000, ImageNet). */
  numClasses?: number;
  /** Keep the classifier head (default true); without it the model returns the pooled features. */
  includeTop?: boolean;
  /** Input [height, width, channels], NHWC (default [224, 224, 3]); null for a size given at call time. */
  inputShape?: [number | null, number | null, number];
  /** The model's name (default: the architecture's). */
  name?: string;
}

/** The options with their defaults, checked. */
export function visionDefaults(opts: VisionOptions, arch: string): Required<VisionOptions> {
  const numClasses = opts.numClasses ?? 1000;
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`${arch}: numClasses must be a positive integer, got ${opts.numClasses}`);
  const inputShape = opts.inputShape ?? [224, 224, 3];
  if (inputShape.length !== 3 || inputShape.some((d, i) => d !== null && (!Number.isInteger(d) || d < 1 || (i === 2 && d === null)))) {
    throw new Error(`${arch}: inputShape must be [height, width, channels] (NHWC), got ${JSON.stringify(opts.inputShape)}`);
  }
  return { numClasses, includeTop: opts.includeTop ?? true, inputShape, name: opts.name ?? arch };
}

/** torchvision's _make_divisible: v rounded to a multiple of `divisor`, never below 90 % of v. */
export function makeDivisible(v: number, divisor = 8, min = divisor): number {
  let out = Math.max(min, Math.floor(v + divisor / 2) - (Math.floor(v + divisor / 2) % divisor));
  if (out < 0.9 * v) out += divisor;
  return out;
}

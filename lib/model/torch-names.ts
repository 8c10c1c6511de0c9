/**
 * A TF.js-named state dict's keys and shapes in PyTorch's naming and layout, from the names alone
 * (no model, no topology): `conv1.kernel` [3,3,3,64] is `conv1.weight` [64,3,3,3] whatever layer
 * class holds it, since every class that names a weight `kernel` lays it out the same way for its
 * rank. A name the layer classes disagree on is left unconverted and listed. For comparing keys only:
 * values load through the model, which knows its layers.
 */
import type * as tf from '@tensorflow/tfjs';
import type { KeyShapes } from '../statedict/select';
import { layerForms } from './torch-layout';

/** `shapes` in PyTorch's naming and layout, and the keys that could not be converted by name. */
export function torchShapesByName(shapes: KeyShapes): { shapes: KeyShapes; unconverted: string[] } {
  const out: KeyShapes = new Map();
  const unconverted: string[] = [];
  for (const [key, { shape }] of shapes) {
    const at = Math.max(key.lastIndexOf('.'), key.lastIndexOf('/'));
    const short = key.slice(at + 1);
    const module = at < 0 ? '' : key.slice(0, at).replace(/\//g, '.');
    const found = new Set<string>();
    let torch: { name: string; shape: number[] } | undefined;
    for (const form of layerForms().values()) {
      const w = form.weights[short];
      if (!w || w.pack) continue;
      let converted = shape;
      try {
        // No layer to ask: a layout that needs one (a Dense after a Flatten) only reorders rows, not the shape.
        if (w.layout) converted = w.layout(shape, {} as tf.layers.Layer).shape;
      } catch {
        continue;
      }
      if (converted.length !== shape.length) continue;
      const name = w.torch;
      found.add(`${name}:${converted.join(',')}`);
      torch = { name, shape: converted };
    }
    if (found.size === 0) { out.set(key.replace(/\//g, '.'), { shape }); continue; }
    if (found.size > 1 || !torch) { unconverted.push(key); out.set(key, { shape }); continue; }
    out.set(torch.name ? (module ? `${module}.${torch.name}` : torch.name) : module, { shape: torch.shape });
  }
  return { shapes: out, unconverted };
}

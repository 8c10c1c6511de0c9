/**
 * torchvision's EfficientNet against real PyTorch (Debian's torchvision 0.14): keys in PyTorch's
 * order, strict load, eval outputs within 1e-4 on cpu and the default backend, and the export
 * loaded back by PyTorch. Inputs are small (64 × 64, batch 2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { efficientnetB0, efficientnetB1 } from '../../lib';
import { requireTorch } from '../helpers/torch';
import { checkParity } from '../helpers/zoo';

requireTorch();
const IN = [2, 3, 64, 64];
const inputShape: [number, number, number] = [64, 64, 3];

test('efficientnetB0 matches torchvision.models.efficientnet_b0 (SiLU, squeeze-excitation with sigmoid, MBConv)', async () => {
  const d = await checkParity({ spec: { arch: 'efficientnet_b0', input: IN }, build: () => efficientnetB0({ inputShape }) });
  console.log('efficientnet_b0', d);
  assert.deepEqual(Object.keys(d).sort(), ['cpu', 'wasm']);
});

test('efficientnetB1 (depth × 1.1) with 10 classes matches torchvision', async () => {
  const d = await checkParity({ spec: { arch: 'efficientnet_b1', kwargs: { num_classes: 10 }, input: IN }, build: () => efficientnetB1({ inputShape, numClasses: 10 }), backends: ['auto'] });
  console.log('efficientnet_b1', d);
});

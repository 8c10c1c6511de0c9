/**
 * torchvision's EfficientNet against real PyTorch (Debian's torchvision 0.14): keys in PyTorch's
 * order, strict load, eval outputs within 1e-4 on cpu and the default backend, and the export
 * loaded back by PyTorch. Inputs are small (64 × 64, batch 2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { efficientnet, efficientnetB0, efficientnetB1, efficientnetB2, efficientnetB3, efficientnetB4, efficientnetB5, efficientnetB6, efficientnetB7 } from '../../lib';
import { requireTorch } from '../helpers/torch';
import { checkParity, describeModel, referenceDescriptions } from '../helpers/zoo';

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

test('efficientnet with width 0.5, depth 0.6 and B5-B7\'s BatchNorm (eps 1e-3, momentum 0.01) matches torchvision\'s EfficientNet so configured', async () => {
  const d = await checkParity({
    spec: { arch: 'EfficientNet', kwargs: { width_mult: 0.5, depth_mult: 0.6, eps: 0.001, momentum: 0.01, num_classes: 10 }, input: IN },
    build: () => efficientnet({ widthMult: 0.5, depthMult: 0.6, norm: { eps: 0.001, momentum: 0.01 }, numClasses: 10, inputShape }),
  });
  console.log('efficientnet 0.5/0.6 eps 1e-3', d);
});

test('efficientnetB0 ... efficientnetB7 have torchvision\'s keys, shapes and order, BatchNorm eps and momentum, and dropout', () => {
  const builders = [efficientnetB0, efficientnetB1, efficientnetB2, efficientnetB3, efficientnetB4, efficientnetB5, efficientnetB6, efficientnetB7];
  const ref = referenceDescriptions(builders.map((_, i) => ({ arch: `efficientnet_b${i}`, kwargs: { num_classes: 10 } })));
  builders.forEach((build, i) => {
    const model = build({ inputShape: [null, null, 3], numClasses: 10 });
    assert.deepEqual(describeModel(model), ref[i], `efficientnet_b${i}`);
    model.dispose();
  });
});

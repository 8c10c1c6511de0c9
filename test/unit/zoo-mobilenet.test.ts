/**
 * torchvision's MobileNetV2 and MobileNetV3 (small, large) against real PyTorch (Debian's
 * torchvision 0.14): keys in PyTorch's order, strict load, eval outputs within 1e-4 on cpu and the
 * default backend, and the export loaded back by PyTorch. Inputs are small (64 × 64, batch 2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mobilenetV2, mobilenetV3Large, mobilenetV3Small } from '../../lib';
import { requireTorch } from '../helpers/torch';
import { checkParity } from '../helpers/zoo';

requireTorch();
const IN = [2, 3, 64, 64];
const inputShape: [number, number, number] = [64, 64, 3];

test('mobilenetV2 matches torchvision.models.mobilenet_v2 (ReLU6, depthwise, inverted residuals)', async () => {
  const d = await checkParity({ spec: { arch: 'mobilenet_v2', input: IN }, build: () => mobilenetV2({ inputShape }) });
  console.log('mobilenet_v2', d);
  assert.deepEqual(Object.keys(d).sort(), ['cpu', 'wasm']);
});

test('mobilenetV2 with widthMult 0.5 and 10 classes matches torchvision (channel rounding)', async () => {
  const d = await checkParity({ spec: { arch: 'mobilenet_v2', kwargs: { width_mult: 0.5, num_classes: 10 }, input: IN }, build: () => mobilenetV2({ inputShape, widthMult: 0.5, numClasses: 10 }), backends: ['auto'] });
  console.log('mobilenet_v2 0.5', d);
});

test('mobilenetV3Small matches torchvision.models.mobilenet_v3_small (hardswish, squeeze-excitation with hardsigmoid, BatchNorm eps 1e-3)', async () => {
  const d = await checkParity({ spec: { arch: 'mobilenet_v3_small', input: IN }, build: () => mobilenetV3Small({ inputShape }) });
  console.log('mobilenet_v3_small', d);
  assert.deepEqual(Object.keys(d).sort(), ['cpu', 'wasm']);
});

test('mobilenetV3Large matches torchvision.models.mobilenet_v3_large', async () => {
  const d = await checkParity({ spec: { arch: 'mobilenet_v3_large', kwargs: { num_classes: 10 }, input: IN }, build: () => mobilenetV3Large({ inputShape, numClasses: 10 }) });
  console.log('mobilenet_v3_large', d);
});

test('mobilenetV3Large dilated with reduced tail matches torchvision (dilated depthwise convolutions)', async () => {
  const d = await checkParity({ spec: { arch: 'mobilenet_v3_large', kwargs: { num_classes: 10, dilated: true, reduced_tail: true }, input: IN }, build: () => mobilenetV3Large({ inputShape, numClasses: 10, dilated: true, reducedTail: true }) });
  console.log('mobilenet_v3_large dilated', d);
});

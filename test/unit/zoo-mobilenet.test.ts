/**
 * torchvision's MobileNetV2 and MobileNetV3 (small, large) against real PyTorch (Debian's
 * torchvision 0.14): keys in PyTorch's order, strict load, eval outputs within 1e-4 on cpu and the
 * default backend (variants of a family already checked on cpu: the default backend only), and
 * the export loaded back by PyTorch. Inputs are small (64 × 64, batch 2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mobilenetV2, mobilenetV3Large, mobilenetV3Small } from '../../lib';
import { requireTorch } from '../helpers/torch';
import { checkParity, describeModel, referenceDescriptions } from '../helpers/zoo';

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
  const d = await checkParity({ spec: { arch: 'mobilenet_v3_large', kwargs: { num_classes: 10 }, input: IN }, build: () => mobilenetV3Large({ inputShape, numClasses: 10 }), backends: ['auto'] });
  console.log('mobilenet_v3_large', d);
});

test('mobilenetV3Large dilated with reduced tail matches torchvision (dilated depthwise convolutions)', async () => {
  const d = await checkParity({ spec: { arch: 'mobilenet_v3_large', kwargs: { num_classes: 10, dilated: true, reduced_tail: true }, input: IN }, build: () => mobilenetV3Large({ inputShape, numClasses: 10, dilated: true, reducedTail: true }), backends: ['auto'] });
  console.log('mobilenet_v3_large dilated', d);
});

test('mobilenetV3Small and mobilenetV3Large pooled features (includeTop: false) match torchvision with an nn.Identity classifier', async () => {
  // The whole models' logits are ~0.03 (torchvision initialises the classifier with N(0, 0.01)); the features are O(1), so 1e-4 bites harder.
  const small = await checkParity({ spec: { arch: 'Headless', kwargs: { name: 'mobilenet_v3_small' }, input: IN }, build: () => mobilenetV3Small({ inputShape, includeTop: false }) });
  const large = await checkParity({ spec: { arch: 'Headless', kwargs: { name: 'mobilenet_v3_large' }, input: IN }, build: () => mobilenetV3Large({ inputShape, includeTop: false }), backends: ['auto'] });
  console.log('mobilenet_v3_small features', small, 'mobilenet_v3_large features', large);
});

test('mobilenetV2, mobilenetV3Small and mobilenetV3Large have torchvision\'s BatchNorm momentum and dropout (which eval outputs cannot show)', () => {
  const cases = [
    { spec: { arch: 'mobilenet_v2', kwargs: { dropout: 0.3 } }, build: () => mobilenetV2({ inputShape, dropout: 0.3 }) },
    { spec: { arch: 'mobilenet_v3_small' }, build: () => mobilenetV3Small({ inputShape }) },
    { spec: { arch: 'mobilenet_v3_large', kwargs: { width_mult: 0.75 } }, build: () => mobilenetV3Large({ inputShape, widthMult: 0.75 }) },
  ];
  const ref = referenceDescriptions(cases.map((c) => c.spec));
  cases.forEach((c, i) => {
    const model = c.build();
    assert.deepEqual(describeModel(model), ref[i], c.spec.arch);
    model.dispose();
  });
});

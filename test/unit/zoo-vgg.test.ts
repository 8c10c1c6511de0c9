/**
 * torchvision's VGG family against real PyTorch (Debian's torchvision 0.14). The classifier's first
 * Linear is 25088 × 4096 whatever the input (torchvision's 7 × 7 adaptive pool), 100 M weights that
 * make every step slow, so one whole model (vgg11_bn) runs the full parity check, two more check
 * their pooled features (includeTop: false against torchvision's model with an nn.Identity
 * classifier), and all eight check their keys, which differ by config.
 * Inputs are 32 × 32 (VGG's smallest), batch 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { vgg11, vgg11Bn, vgg13, vgg13Bn, vgg16, vgg16Bn, vgg19, vgg19Bn } from '../../lib';
import { requireTorch } from '../helpers/torch';
import { checkParity, describeModel, referenceDescriptions } from '../helpers/zoo';

requireTorch();
const IN = [2, 3, 32, 32];
const inputShape: [number, number, number] = [32, 32, 3];

test('vgg11Bn matches torchvision.models.vgg11_bn (whole model: keys, strict load, outputs on the default backend)', async () => {
  // The 500 MB of weights cost minutes per pass through them on a shared machine: cpu and the export
  // back to PyTorch are checked on the feature stacks below (the classifier's Linear layers take the
  // same path as every other model's).
  const d = await checkParity({ spec: { arch: 'vgg11_bn', kwargs: { num_classes: 10 }, input: IN }, build: () => vgg11Bn({ inputShape, numClasses: 10 }), backends: ['auto'], export: false });
  console.log('vgg11_bn', d);
  assert.deepEqual(Object.keys(d), ['wasm']);
});

test('vgg11 and vgg16Bn feature stacks (includeTop: false) match torchvision on cpu and wasm', async () => {
  // torchvision's vgg11 and vgg16_bn with classifier = nn.Identity(): the pooled, flattened 512 × 7 × 7 features.
  const d11 = await checkParity({ spec: { arch: 'Headless', kwargs: { name: 'vgg11' }, input: IN }, build: () => vgg11({ inputShape, includeTop: false }) });
  const d16 = await checkParity({ spec: { arch: 'Headless', kwargs: { name: 'vgg16_bn' }, input: IN }, build: () => vgg16Bn({ inputShape, includeTop: false }) });
  console.log('vgg11 features', d11, 'vgg16_bn features', d16);
});

test('every VGG builder has the keys, shapes and order of its torchvision feature stack, and torchvision\'s BatchNorm and Dropout settings', () => {
  const builders = { A: [vgg11, vgg11Bn], B: [vgg13, vgg13Bn], D: [vgg16, vgg16Bn], E: [vgg19, vgg19Bn] } as const;
  const cases = Object.entries(builders).flatMap(([cfg, [plain, bn]]) => [
    { spec: { arch: 'VGGFeatures', kwargs: { cfg, batch_norm: false } }, build: plain },
    { spec: { arch: 'VGGFeatures', kwargs: { cfg, batch_norm: true } }, build: bn },
  ]);
  const ref = referenceDescriptions(cases.map((c) => c.spec));
  cases.forEach((c, i) => {
    const model = c.build({ inputShape: [null, null, 3], includeTop: false });
    assert.deepEqual(describeModel(model), ref[i], `${model.name}: differs from torchvision's feature stack`);
    model.dispose();
  });
  // The classifier (the same for all eight): its keys, shapes and Dropout, without building 100 M weights twice.
  const whole = referenceDescriptions([{ arch: 'vgg11', kwargs: { num_classes: 10 } }])[0];
  const ours = describeModel(vgg11({ inputShape: [32, 32, 3], numClasses: 10 }));
  assert.deepEqual(ours, whole);
});

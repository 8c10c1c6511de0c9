/**
 * torchvision's VGG family against real PyTorch (Debian's torchvision 0.14). The classifier's first
 * Linear is 25088 × 4096 whatever the input (torchvision's 7 × 7 adaptive pool), 100 M weights that
 * make every step slow, so one whole model (vgg11_bn) runs the full parity check, and the others
 * check their feature stacks (torchvision's VGG up to the classifier), which differ by config.
 * Inputs are 32 × 32 (VGG's smallest), batch 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { vgg11, vgg11Bn, vgg13, vgg13Bn, vgg16, vgg16Bn, vgg19, vgg19Bn, weightSlots, type ModelLike } from '../../lib';
import { PYTHON, requireTorch } from '../helpers/torch';
import { checkParity } from '../helpers/zoo';

requireTorch();
const IN = [2, 3, 32, 32];
const inputShape: [number, number, number] = [32, 32, 3];

test('vgg11Bn matches torchvision.models.vgg11_bn (whole model: keys, strict load, outputs on cpu and wasm, export)', async () => {
  const d = await checkParity({ spec: { arch: 'vgg11_bn', kwargs: { num_classes: 10 }, input: IN }, build: () => vgg11Bn({ inputShape, numClasses: 10 }) });
  console.log('vgg11_bn', d);
  assert.deepEqual(Object.keys(d).sort(), ['cpu', 'wasm']);
});

test('vgg11 and vgg16Bn feature stacks (includeTop: false) match torchvision on cpu and wasm', async () => {
  const d11 = await checkParity({ spec: { arch: 'VGGFeatures', kwargs: { cfg: 'A' }, input: IN }, build: () => vgg11({ inputShape, includeTop: false }) });
  const d16 = await checkParity({ spec: { arch: 'VGGFeatures', kwargs: { cfg: 'D', batch_norm: true }, input: IN }, build: () => vgg16Bn({ inputShape, includeTop: false }) });
  console.log('vgg11 features', d11, 'vgg16_bn features', d16);
});

test('every VGG builder has the keys, shapes and order of its torchvision feature stack', () => {
  const builders = { A: [vgg11, vgg11Bn], B: [vgg13, vgg13Bn], D: [vgg16, vgg16Bn], E: [vgg19, vgg19Bn] } as const;
  const cases = Object.entries(builders).flatMap(([cfg, [plain, bn]]) => [
    { spec: { arch: 'VGGFeatures', kwargs: { cfg, batch_norm: false } }, build: plain },
    { spec: { arch: 'VGGFeatures', kwargs: { cfg, batch_norm: true } }, build: bn },
  ]);
  const ref = JSON.parse(execFileSync(PYTHON, [join(__dirname, '..', 'fixtures', 'zoo', 'zoo_ref.py'), 'keys', ...cases.map((c) => JSON.stringify(c.spec))], { encoding: 'utf8' })) as Array<Array<[string, number[]]>>;
  cases.forEach((c, i) => {
    const model = c.build({ inputShape: [null, null, 3], includeTop: false });
    const ours = weightSlots(model as ModelLike).map((s) => [s.torchKey, s.torchShape]);
    assert.deepEqual(ours, ref[i].filter(([k]) => !k.endsWith('num_batches_tracked')), `${model.name}: keys differ from torchvision's`);
    model.dispose();
  });
});

/**
 * torchvision's ResNet family against real PyTorch (Debian's torchvision 0.14): keys, strict
 * load, eval outputs within 1e-4 on cpu and the default backend, and the export loaded back by
 * PyTorch. Inputs are small (64 × 64) so the suite stays fast; the architecture does not change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resnet, resnet18, resnet34, resnet50, resnext50_32x4d } from '../../lib';
import { requireTorch } from '../helpers/torch';
import { checkParity } from '../helpers/zoo';

requireTorch();
const IN = [2, 3, 64, 64];
const inputShape: [number, number, number] = [64, 64, 3];

test('resnet18 matches torchvision.models.resnet18 (keys, strict load, outputs on cpu and wasm, export)', async () => {
  const d = await checkParity({ spec: { arch: 'resnet18', input: IN }, build: () => resnet18({ inputShape }) });
  assert.deepEqual(Object.keys(d).sort(), ['cpu', 'wasm']);
});

test('resnet34 and resnet50 match torchvision (BasicBlock and Bottleneck, 10 classes)', async () => {
  await checkParity({ spec: { arch: 'resnet34', kwargs: { num_classes: 10 }, input: IN }, build: () => resnet34({ inputShape, numClasses: 10 }), backends: ['auto'] });
  await checkParity({ spec: { arch: 'resnet50', kwargs: { num_classes: 10 }, input: IN }, build: () => resnet50({ inputShape, numClasses: 10 }) });
});

test('ResNet(BasicBlock, [1, 1, 1, 1]) on 32 × 32 and ResNeXt (grouped 3 × 3 convolutions) match torchvision', async () => {
  await checkParity({ spec: { arch: 'ResNet', kwargs: { block: 'basic', layers: [1, 1, 1, 1], num_classes: 5 }, input: [3, 3, 32, 32] }, build: () => resnet({ block: 'basic', layers: [1, 1, 1, 1], numClasses: 5, inputShape: [32, 32, 3] }) });
  await checkParity({ spec: { arch: 'resnext50_32x4d', kwargs: { num_classes: 7 }, input: IN }, build: () => resnext50_32x4d({ inputShape, numClasses: 7 }), backends: ['auto'] });
});

/**
 * Parity of a zoo model with its PyTorch reference (test/fixtures/zoo/zoo_ref.py), generated at
 * test time: same keys and shapes in PyTorch's order, a strict load of PyTorch's state_dict, eval
 * outputs equal within 1e-4 on every backend asked for, and the export loaded strictly by PyTorch
 * giving the same outputs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadStateDict, setBackend, stateDictOf, writeCheckpoint, type ModelLike } from '../../lib';
import { PYTHON } from './torch';

const REF = join(__dirname, '..', 'fixtures', 'zoo', 'zoo_ref.py');

/** What zoo_ref.py is asked to build. */
export interface RefSpec {
  arch: string;
  kwargs?: Record<string, unknown>;
  /** [N, C, H, W] for images, or token ids. */
  input: number[] | { ids: [number, number]; vocab: number };
}

export interface ParityCase {
  spec: RefSpec;
  /** Builds the TF.js model (NHWC input of the spec's H, W, C). */
  build(): tf.LayersModel;
  /** Backends to compare on (default cpu and the default backend). */
  backends?: string[];
  /** Absolute tolerance (default 1e-4). */
  tol?: number;
  /** Check the export back to PyTorch too (default true). */
  export?: boolean;
}

interface Made { keys: Array<[string, number[]]>; inputShape: number[]; outputShape: number[] }

function readF32(file: string): Float32Array {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function readI32(file: string): Int32Array {
  const b = readFileSync(file);
  return new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** max |a − b|, after checking the reference is not vacuously small. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'output sizes differ');
  // 100 × the tolerance: a model that ignored its weights could not match by accident.
  assert.ok(Array.from(b).some((v) => Math.abs(v) > 0.01), 'reference outputs are all near zero: the comparison would be vacuous');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function inputOf(dir: string, made: Made, spec: RefSpec): tf.Tensor {
  if (Array.isArray(spec.input)) {
    const [n, c, h, w] = made.inputShape;
    return tf.tidy(() => tf.transpose(tf.tensor4d(readF32(join(dir, 'input.f32')), [n, c, h, w]), [0, 2, 3, 1]));
  }
  return tf.tensor2d(readI32(join(dir, 'input.i32')), made.inputShape as [number, number], 'int32');
}

/** Outputs of `model` on `x` as a flat array in PyTorch's layout (NCHW for 4-D outputs). */
function predict(model: tf.LayersModel, x: tf.Tensor): Float32Array {
  return tf.tidy(() => {
    const y = model.predict(x) as tf.Tensor;
    return (y.rank === 4 ? tf.transpose(y, [0, 3, 1, 2]) : y).dataSync() as Float32Array;
  });
}

/** Runs one parity case end to end; returns the largest differences measured, by backend. */
export async function checkParity(c: ParityCase): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-zoo-'));
  const spec = JSON.stringify(c.spec);
  const tol = c.tol ?? 1e-4;
  const diffs: Record<string, number> = {};
  try {
    const made = JSON.parse(execFileSync(PYTHON, [REF, 'make', dir, spec], { encoding: 'utf8', maxBuffer: 64 << 20 })) as Made;
    const expected = readF32(join(dir, 'output.f32'));
    const want = made.keys.filter(([k]) => !k.endsWith('.num_batches_tracked'));

    const model = c.build();
    const sd = stateDictOf(model as ModelLike, { layout: 'torch' });
    assert.deepEqual([...sd.entries()].map(([k, t]) => [k, t.shape]), want, "stateDictOf(model, { layout: 'torch' }) differs from PyTorch's state_dict() (keys, shapes or order)");

    const report = await loadStateDict(model, join(dir, 'ref.pth'), { strict: true });
    assert.equal(report.loaded.length, want.length);
    assert.deepEqual(report.ignored, made.keys.filter(([k]) => k.endsWith('.num_batches_tracked')).map(([k]) => k));

    const before = tf.getBackend();
    for (const b of c.backends ?? ['cpu', 'auto']) {
      await setBackend(b as 'cpu' | 'auto');
      const x = inputOf(dir, made, c.spec);
      try {
        const got = predict(model, x);
        const d = maxAbsDiff(got, expected);
        diffs[tf.getBackend()] = d;
        assert.ok(d <= tol, `${c.spec.arch} on ${tf.getBackend()}: eval outputs differ from PyTorch's by ${d} (> ${tol})`);
      } finally {
        x.dispose();
      }
    }

    if (c.export !== false) {
      const pth = join(dir, 'export.pth');
      await writeCheckpoint(pth, stateDictOf(model as ModelLike, { layout: 'torch' }));
      const checked = JSON.parse(execFileSync(PYTHON, [REF, 'check', dir, spec, pth], { encoding: 'utf8', maxBuffer: 64 << 20 })) as { missing: string[]; unexpected: string[] };
      assert.deepEqual([checked.missing, checked.unexpected], [[], []]);
      const back = maxAbsDiff(readF32(join(dir, 'check.f32')), expected);
      assert.ok(back <= tol, `${c.spec.arch}: PyTorch on the exported weights differs by ${back}`);
    }
    await setBackend(before as 'cpu');
    model.dispose();
    return diffs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

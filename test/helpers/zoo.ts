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
import { loadStateDict, setBackend, stateDictOf, weightSlots, writeCheckpoint, type ModelLike, type TorchBatchNorm } from '../../lib';
import { PYTHON } from './torch';

const REF = join(__dirname, '..', 'fixtures', 'zoo', 'zoo_ref.py');

/** Token ids and, when asked, a padding attention mask and random token types; `feed` is the TF.js model's input order. */
export interface IdsInput {
  ids: [number, number];
  vocab: number;
  attentionMask?: boolean;
  tokenTypes?: number;
  /** Default ['input_ids']; must list every input the reference was given. */
  feed?: Array<'input_ids' | 'attention_mask' | 'token_type_ids'>;
}

/** What zoo_ref.py is asked to build. */
export interface RefSpec {
  arch: string;
  kwargs?: Record<string, unknown>;
  /** [N, C, H, W] for images (fed NHWC), token ids, or a float tensor fed as it is. */
  input: number[] | IdsInput | { float: number[] };
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

interface Made { keys: Array<[string, number[]]>; inputShape: number[]; outputShape: number[]; outputShapes: number[][] }

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

/** The model's inputs as zoo_ref.py wrote them, in the model's input order. */
function inputsOf(dir: string, made: Made, spec: RefSpec): tf.Tensor[] {
  const inp = spec.input;
  if (Array.isArray(inp)) {
    const [n, c, h, w] = made.inputShape;
    return [tf.tidy(() => tf.transpose(tf.tensor4d(readF32(join(dir, 'input.f32')), [n, c, h, w]), [0, 2, 3, 1]))];
  }
  if ('float' in inp) return [tf.tensor(readF32(join(dir, 'input.f32')), made.inputShape)];
  const given = ['input_ids', ...(inp.attentionMask ? ['attention_mask'] : []), ...(inp.tokenTypes ? ['token_type_ids'] : [])];
  const feed = inp.feed ?? ['input_ids'];
  assert.deepEqual([...feed].sort(), given.sort(), 'the spec feeds the TF.js model other inputs than the reference gets');
  const shape = made.inputShape as [number, number];
  return feed.map((name) => tf.tensor2d(readI32(join(dir, name === 'input_ids' ? 'input.i32' : `${name}.i32`)), shape, 'int32'));
}

/** Outputs of `model` as flat arrays in PyTorch's layout (NCHW for 4-D outputs). */
function predict(model: tf.LayersModel, xs: tf.Tensor[]): Float32Array[] {
  return tf.tidy(() => {
    const y = model.predict(xs.length === 1 ? xs[0] : xs) as tf.Tensor | tf.Tensor[];
    return (Array.isArray(y) ? y : [y]).map((t) => (t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t).dataSync() as Float32Array);
  });
}

/** The reference's outputs written as STEM.f32, STEM.1.f32, ... */
function outputsOf(dir: string, stem: string, count: number): Float32Array[] {
  return Array.from({ length: count }, (_, i) => readF32(join(dir, i === 0 ? `${stem}.f32` : `${stem}.${i}.f32`)));
}

/** The largest of maxAbsDiff over matching outputs. */
function maxDiffAll(got: Float32Array[], want: Float32Array[]): number {
  assert.equal(got.length, want.length, `the model has ${got.length} outputs, the reference ${want.length}`);
  return Math.max(...got.map((g, i) => maxAbsDiff(g, want[i])));
}

/** Runs one parity case end to end; returns the largest differences measured, by backend. */
export async function checkParity(c: ParityCase): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-zoo-'));
  const spec = JSON.stringify(c.spec);
  const tol = c.tol ?? 1e-4;
  const diffs: Record<string, number> = {};
  try {
    const made = JSON.parse(execFileSync(PYTHON, [REF, 'make', dir, spec], { encoding: 'utf8', maxBuffer: 64 << 20 })) as Made;
    const expected = outputsOf(dir, 'output', made.outputShapes.length);
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
      const xs = inputsOf(dir, made, c.spec);
      try {
        const d = maxDiffAll(predict(model, xs), expected);
        diffs[tf.getBackend()] = d;
        assert.ok(d <= tol, `${c.spec.arch} on ${tf.getBackend()}: eval outputs differ from PyTorch's by ${d} (> ${tol})`);
      } finally {
        tf.dispose(xs);
      }
    }

    if (c.export !== false) {
      const pth = join(dir, 'export.pth');
      await writeCheckpoint(pth, stateDictOf(model as ModelLike, { layout: 'torch' }));
      const checked = JSON.parse(execFileSync(PYTHON, [REF, 'check', dir, spec, pth], { encoding: 'utf8', maxBuffer: 64 << 20 })) as { missing: string[]; unexpected: string[] };
      assert.deepEqual([checked.missing, checked.unexpected], [[], []]);
      const back = maxDiffAll(outputsOf(dir, 'check', made.outputShapes.length), expected);
      assert.ok(back <= tol, `${c.spec.arch}: PyTorch on the exported weights differs by ${back}`);
    }
    await setBackend(before as 'cpu');
    model.dispose();
    return diffs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What zoo_ref.py's `keys` command says of a model: keys and shapes in order, BatchNorm (eps, momentum) and Dropout p in module order. */
export interface Description {
  keys: Array<[string, number[]]>;
  norms: Array<[number, number]>;
  dropouts: number[];
}

/** zoo_ref.py's descriptions of several specs (one Python run; nothing is saved). */
export function referenceDescriptions(specs: Array<Omit<RefSpec, 'input'>>): Description[] {
  const out = execFileSync(PYTHON, [REF, 'keys', ...specs.map((s) => JSON.stringify(s))], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const all = JSON.parse(out) as Description[];
  return all.map((d) => ({ ...d, keys: d.keys.filter(([k]) => !k.endsWith('.num_batches_tracked')) }));
}

/** The same description of a TF.js model: PyTorch keys and shapes from the layer table, TorchBatchNorm's eps and momentum, Dropout's rate, layers in creation order. */
export function describeModel(model: tf.LayersModel): Description {
  const layers = [...model.layers].sort((a, b) => a.id - b.id);
  return {
    keys: weightSlots(model as ModelLike).map((s) => [s.torchKey, s.torchShape]),
    norms: layers.filter((l) => l.getClassName() === 'TorchBatchNorm').map((l) => [(l as TorchBatchNorm).eps, (l as TorchBatchNorm).momentum]),
    dropouts: layers.filter((l) => l.getClassName() === 'Dropout').map((l) => (l.getConfig() as { rate: number }).rate),
  };
}

/** Saves `model` with TF.js's own format to memory and loads it back (custom layer classes must be registered). */
export async function tfjsRoundTrip(model: tf.LayersModel): Promise<tf.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => { artifacts = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  return tf.loadLayersModel(tf.io.fromMemory(artifacts as tf.io.ModelArtifacts));
}

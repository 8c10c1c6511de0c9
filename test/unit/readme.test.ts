/**
 * Every ```ts example in README.md runs, as written, with the files it names (made here by real
 * PyTorch and torchvision) in its folder: each block is a module of its own, run by tsx against the
 * built package (`import ... from 'tsfreeze'`).
 *
 * A comment on the line before a block may say how it runs:
 *   <!-- readme-test: prelude=NAME -->   NAME's code (below) runs first, defining what the block
 *                                        uses without showing it (a model, training data);
 *   <!-- readme-test: not run: REASON --> the block is skipped; REASON must be one of NOT_RUN's,
 *                                        reasons that no test machine can meet.
 * The README's command list is checked against `tsfreeze --help` too.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, tsfreeze } from '../helpers/cli';
import { TORCH_FIXTURES, python, requireTorch } from '../helpers/torch';

/** Reasons a README example may be left unrun: things a test machine cannot have. */
const NOT_RUN = ['needs an NVIDIA GPU with CUDA 11', 'needs a Jupyter front end'];

/** Code run before a block that asks for it: names start with `__` so that no example's import or name collides. */
const PRELUDES: Record<string, string> = {
  // Any small model, for examples about saving one.
  model: `
import * as __tf from '@tensorflow/tfjs';
const model = __tf.sequential({ layers: [__tf.layers.dense({ units: 4, inputShape: [8], activation: 'relu' }), __tf.layers.dense({ units: 2 })] });
`,
  // A small model with a pretrained `features` part (its weights in a PyTorch checkpoint) and a new `head`, and data.
  training: `
import * as __tf from '@tensorflow/tfjs';
import { stateDictOf as __stateDictOf, writeCheckpoint as __writeCheckpoint } from 'tsfreeze';
const __features = __tf.sequential({ name: 'features', layers: [__tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3 }), __tf.layers.batchNormalization({ name: 'bn' }), __tf.layers.reLU(), __tf.layers.flatten()] });
const __head = __tf.sequential({ name: 'head', layers: [__tf.layers.dense({ inputShape: [144], units: 3, activation: 'softmax' })] });
const model = __tf.sequential({ layers: [__features, __head] });
await __writeCheckpoint('pretrained.pth', new Map([...__stateDictOf(model, { layout: 'torch' })].filter(([k]) => k.startsWith('features.'))));
const x = __tf.randomNormal([64, 8, 8, 1], 0, 1, 'float32', 1);
const y = __tf.oneHot(__tf.randomUniform([64], 0, 3, 'int32', 2), 3);
const xv = __tf.randomNormal([16, 8, 8, 1], 0, 1, 'float32', 3);
const yv = __tf.oneHot(__tf.randomUniform([16], 0, 3, 'int32', 4), 3);
const data = { x, y };
`,
  // The names the transformers example uses without importing them, and BERT's three inputs.
  transformers: `
import * as tf from '@tensorflow/tfjs';
import { vitB16, loadStateDict, replaceHead, bertEncoder } from 'tsfreeze';
const ids = tf.tensor2d([[101, 7592, 2088, 102]], [1, 4], 'int32');
const mask = tf.onesLike(ids);
const types = tf.zerosLike(ids);
`,
};

interface Example { line: number; code: string; prelude?: string; notRun?: string }

/** The README's ```ts blocks with their markers. */
function examples(markdown: string): Example[] {
  const lines = markdown.split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```ts') continue;
    // A block inside a list item is indented: its fence and lines alike.
    const indent = lines[i].length - lines[i].trimStart().length;
    let end = i + 1;
    while (end < lines.length && lines[end].trim() !== '```') end++;
    assert.ok(end < lines.length, `README.md:${i + 1}: a \`\`\`ts block that never ends`);
    const marker = /^<!-- readme-test: (.*) -->$/.exec(lines[i - 1]?.trim() ?? '')?.[1];
    const ex: Example = { line: i + 1, code: lines.slice(i + 1, end).map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length))).join('\n') };
    if (marker?.startsWith('prelude=')) ex.prelude = marker.slice('prelude='.length);
    else if (marker?.startsWith('not run: ')) ex.notRun = marker.slice('not run: '.length);
    else assert.equal(marker, undefined, `README.md:${i}: unknown readme-test marker '${marker}'`);
    out.push(ex);
    i = end;
  }
  return out;
}

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-readme-'));
after(() => rmSync(dir, { recursive: true, force: true }));

before(() => {
  requireTorch();
  // Resolve 'tsfreeze' and '@tensorflow/tfjs' from the examples' folder as in a user's project.
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  copyFileSync(join(TORCH_FIXTURES, 'resume.pt'), join(dir, 'resume.pt'));
  // The checkpoints the examples name, with random weights (BatchNorm statistics moved off 0/1).
  python(`import os, sys, torch, torchvision
os.chdir(sys.argv[1])
torch.manual_seed(0)
def warmed(m):
    m.train()
    with torch.no_grad():
        m(torch.randn(4, 3, 64, 64))
    return m.eval()
torch.save(warmed(torchvision.models.resnet18()).state_dict(), 'resnet18.pth')
torch.save({'module.' + k: v for k, v in warmed(torchvision.models.resnet18(num_classes=10)).state_dict().items()}, 'dp_resnet18.pth')
torch.save(warmed(torchvision.models.resnet18(num_classes=10)), 'whole.pt')
torch.save(torchvision.models.vit_b_16().state_dict(), 'vit_b_16.pth')
# A BertForSequenceClassification file as older transformers saved it ('bert.' prefix, LayerNorm
# gamma/beta, position_ids, a cls head), bert-base sizes, random weights.
H, I, L, V, P = 768, 3072, 12, 30522, 512
sd = {'bert.embeddings.position_ids': torch.arange(P).unsqueeze(0),
      'bert.embeddings.word_embeddings.weight': torch.randn(V, H) * 0.02,
      'bert.embeddings.position_embeddings.weight': torch.randn(P, H) * 0.02,
      'bert.embeddings.token_type_embeddings.weight': torch.randn(2, H) * 0.02}
def linear(p, o, i): sd[p + '.weight'] = torch.randn(o, i) * 0.02; sd[p + '.bias'] = torch.zeros(o)
def norm(p): sd[p + '.gamma'] = torch.ones(H); sd[p + '.beta'] = torch.zeros(H)
norm('bert.embeddings.LayerNorm')
for l in range(L):
    p = f'bert.encoder.layer.{l}'
    for n in ('query', 'key', 'value'): linear(f'{p}.attention.self.{n}', H, H)
    linear(f'{p}.attention.output.dense', H, H); norm(f'{p}.attention.output.LayerNorm')
    linear(f'{p}.intermediate.dense', I, H); linear(f'{p}.output.dense', H, I); norm(f'{p}.output.LayerNorm')
linear('bert.pooler.dense', H, H)
linear('cls.predictions.transform.dense', H, H)
torch.save(sd, 'pytorch_model.bin')`, [dir]);
});

test('README: every ```ts example runs as written (a skipped one names an allowed reason)', () => {
  const all = examples(README);
  assert.ok(all.length >= 5, `only ${all.length} examples found`);
  const failures: string[] = [];
  for (const [i, ex] of all.entries()) {
    if (ex.notRun !== undefined) {
      assert.ok(NOT_RUN.includes(ex.notRun), `README.md:${ex.line}: '${ex.notRun}' is not a reason to leave an example unrun (allowed: ${NOT_RUN.join('; ')})`);
      continue;
    }
    assert.ok(ex.prelude === undefined || ex.prelude in PRELUDES, `README.md:${ex.line}: no prelude '${ex.prelude}'`);
    const file = join(dir, `example-${i + 1}.mts`);
    writeFileSync(file, `${ex.prelude ? PRELUDES[ex.prelude] : ''}\n${ex.code}\n`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: dir, encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) failures.push(`README.md:${ex.line} (example ${i + 1}) exited ${r.status ?? r.signal}:\n${(r.stderr || r.stdout).trim().split('\n').slice(-12).join('\n')}`);
  }
  assert.deepEqual(failures, []);
});

test("README's command list names every command `tsfreeze --help` lists, with its options", () => {
  const help = tsfreeze('--help').stdout;
  const commands = [...help.matchAll(/^ {2}(\w+) /gm)].map((m) => m[1]);
  assert.deepEqual(commands, ['install', 'kernel', 'run', 'keys', 'diffkeys', 'convert']);
  const section = README.slice(README.indexOf('## Command line'), README.indexOf('\n## ', README.indexOf('## Command line') + 5));
  for (const c of commands) {
    const usage = (new RegExp(`^ {2}${c}\\b.*$`, 'm').exec(help)?.[0] ?? '').trim().split(/ {2,}/)[0];
    const options = usage.match(/--[\w-]+/g) ?? [];
    const line = new RegExp(`^tsfreeze ${c}\\b.*$`, 'm').exec(section)?.[0];
    assert.ok(line, `README's command list lacks 'tsfreeze ${c}'`);
    for (const o of options) assert.ok(line.includes(o), `README: 'tsfreeze ${c}' lacks ${o}`);
  }
  assert.doesNotMatch(README, /\.\.\/shared\/DESIGN\.md/, 'README links a file outside the repository');
  assert.match(README, /\(docs\/DESIGN\.md\)/);
});

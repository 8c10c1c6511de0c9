/**
 * The hostile files of issue 15, made at test time by test/fixtures/hostile/make_hostile.py:
 * each is refused with one clear line (or read, for what is merely unusual), fast, without
 * memory the file does not justify, and without running anything. PyTorch's own
 * torch.load(weights_only=True) is asked about the same files (it never runs code).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { readCheckpoint, writeCheckpoint, CheckpointError } from '../../lib';
import { PYTHON, requireTorch } from '../helpers/torch';
import { tsfreeze } from '../helpers/cli';
import type { Measured, MeasuredCase } from '../helpers/read-measured';

requireTorch();
const GENERATOR = join(__dirname, '..', 'fixtures', 'hostile', 'make_hostile.py');
const CHILD = join(__dirname, '..', 'helpers', 'read-measured.ts');
/** A read that takes this long can only be a hang (typical answers take milliseconds; the machine may be loaded). */
const HANG_MS = 20_000;
/** Room for the JavaScript heap's own growth when measuring a refusal's memory. */
const SLACK = 32 * 2 ** 20;

let dir: string;
let manifest: Record<string, { file: string; what: string }>;
const results = new Map<string, Measured>();

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsfreeze-hostile-'));
  manifest = JSON.parse(execFileSync(PYTHON, [GENERATOR, dir], { encoding: 'utf8', maxBuffer: 16 * 2 ** 20 }));
  const cases: MeasuredCase[] = Object.entries(manifest).map(([name, { file }]) => ({ name, file }));
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD, JSON.stringify(cases)], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20, timeout: 10 * 60_000 });
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const m = JSON.parse(line) as Measured;
    results.set(m.name, m);
  }
  if (results.size !== cases.length) throw new Error(`the measuring child stopped after ${results.size} of ${cases.length} files (last: ${[...results.keys()].pop()}): ${r.stderr}`);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Bytes a file (or a TF.js folder's files, links not followed) takes on disk. */
function sizeOf(file: string): number {
  if (!file.endsWith('model.json')) return statSync(file).size;
  const folder = join(file, '..');
  return readdirSync(folder).map((f) => lstatSync(join(folder, f))).reduce((n, s) => n + (s.isFile() ? s.size : 0), 0);
}

const DANGEROUS: Record<string, string> = {
  'reduce_os_system.pt': 'os.system', 'reduce_posix_system.pt': 'posix.system', 'reduce_eval.pt': 'builtins.eval',
  'reduce_exec.pt': 'builtins.exec', 'reduce_popen.pt': 'subprocess.Popen', 'inst_os_system.pt': 'os.system',
  'obj_os_system.pt': 'os.system', 'newobj_popen.pt': 'subprocess.Popen', 'newobj_ex_popen.pt': 'subprocess.Popen',
  'stack_global_os_system.pt': 'os.system', 'stack_global_torch_os_system.pt': 'torch.os.system',
  'build_setstate.pt': 'os.system', 'copyreg_popen.pt': 'subprocess.Popen', 'getattr_import.pt': 'builtins.getattr',
  'inside_tensor.pt': 'os.system', 'storage_load_from_bytes.pt': 'torch.storage._load_from_bytes',
};
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** What each file must give: a refusal matching a pattern, or a read checked by a function. */
const EXPECT: Record<string, RegExp | ((m: Measured) => void)> = {
  ...Object.fromEntries(Object.entries(DANGEROUS).map(([f, g]) => [f, new RegExp(`: pickle names ${esc(g)} \\(.+\\) at byte \\d+; torch\\.load would call it when loading this file \\(refused`)])),
  'user_module.pt': (m) => { assert.deepEqual(m.keys, ['weight']); assert.match(m.notes!.join('\n'), /classes \(__main__\.Net\) were not imported and no code ran/); },
  'user_reduce.pt': (m) => { assert.equal(m.tensors, 1); assert.match(m.notes!.join('\n'), /did not call mylib\.config\.make_config\(…\) at byte \d+/); },
  'self_setstate.pt': (m) => assert.equal(m.tensors, 1),
  'laughs_values.pt': /the pickle's shared objects expand to more than \d+ keys and values/,
  'laughs_tensors.pt': /the pickle's shared objects expand to more than \d+ keys and values/,
  'many_set.pt': (m) => assert.equal(((m.values as Record<string, unknown[]>).x).length, 300_000),
  'many_list.pt': (m) => assert.equal(((m.values as Record<string, unknown[]>).x).length, 300_000),
  'many_frozenset.pt': (m) => assert.equal(((m.values as Record<string, unknown[]>).x).length, 300_000),
  'deep_nesting.pt': /objects nested more than 256 levels deep under 'x'/,
  'long4_1mb.pt': (m) => assert.match(String((m.values as Record<string, unknown>).x), /^0x1(01){100}/),
  'negative_offset.pt': /storage offset is -2, not a non-negative integer at byte \d+/,
  'fractional_size.pt': /tensor size is 2\.5, not a non-negative integer at byte \d+/,
  'negative_size.pt': /tensor size is -1, not a non-negative integer/,
  'negative_stride.pt': /tensor stride is -1, not a non-negative integer/,
  'view_past_storage.pt': /tensor 'w' \(storage 0\) reaches element 99 but its storage holds 6/,
  'huge_shape.pt': /has shape \[1099511627776,1099511627776\], whose .* elements no machine can hold/,
  'legacy_view_negative_offset.pt': /storage view \("1", -2, 2\) at byte \d+ is malformed/,
  'zip_bomb.pt': /zip entries would inflate to 4194304000 bytes, more than the \d+ this \d+-byte file justifies/,
  'zip_overlap.pt': /zip entry 'archive\/data\/0' .* overlaps entry 'archive\/data\/1'/,
  'zip_odd_names.pt': (m) => { assert.equal(m.tensors, 1); assert.match(m.notes!.join('\n'), /ignored zip entry "\.\.\/escape\.txt": its name is a path with '\.\.'[^]*ignored zip entry "\/etc\/escape\.txt": its name is an absolute path/); },
  'zip_dotdot_root.pt': /has no <root>\/data\.pkl, so it is not a PyTorch checkpoint \(it holds nothing; ignored zip entry "\.\.\/data\.pkl"/,
  'st_200k_tensors.safetensors': (m) => assert.equal(m.tensors, 200_000),
  'st_duplicate_keys.safetensors': /safetensors header holds the key "a" twice \(the second at byte \d+\)/,
  'tfjs_repeated_shard': /shard 'shard\.bin' of weight group 1 is the same file as shard 'shard\.bin'/,
  'tfjs_symlink_passwd': /shard 'w\.bin' of weight group 1 resolves through a symbolic link to \/etc\/passwd, outside the model's folder/,
  'aliases_200.pt': (m) => assert.equal(m.tensors, 200),
};

test('every generated hostile file has an expectation, and every expectation a file', () => {
  assert.deepEqual(Object.keys(manifest).sort(), Object.keys(EXPECT).sort());
});

for (const name of Object.keys(EXPECT)) {
  test(`${name}: the expected answer, in one line, without a hang, and a refusal within 2 × the file's size of memory`, () => {
    const m = results.get(name)!;
    const want = EXPECT[name];
    const size = sizeOf(manifest[name].file);
    console.log(`# ${name}: ${m.ok ? 'read' : 'refused'} in ${m.ms.toFixed(0)} ms, peak +${(m.peak / 2 ** 20).toFixed(1)} MiB (file ${(size / 2 ** 20).toFixed(2)} MiB)`);
    if (want instanceof RegExp) {
      assert.equal(m.ok, false, `${name} was read, but should be refused`);
      assert.equal(m.errorName, 'CheckpointError', m.error);
      assert.match(m.error!, want);
      assert.ok(!m.error!.includes('\n'), 'one line');
      assert.ok(m.peak <= 2 * size + SLACK, `refusing took ${m.peak} bytes above the baseline for a ${size}-byte file`);
    } else {
      assert.equal(m.ok, true, m.error);
      want(m);
    }
    assert.ok(m.ms < HANG_MS, `${m.ms} ms`);
    assert.equal(existsSync(join(dir, 'PWNED')), false, 'no payload ran');
  });
}

test("torch.load(weights_only=True) refuses every dangerous file too, and the user's module (which tsfreeze reads inertly)", () => {
  const files = [...Object.keys(DANGEROUS), 'user_module.pt'].map((f) => manifest[f].file);
  const out = execFileSync(PYTHON, ['-c', `import sys, torch
for f in sys.argv[1:]:
    try:
        torch.load(f, weights_only=True); print('loaded')
    except Exception as e:
        print('refused')`, ...files], { encoding: 'utf8' }).trim().split('\n');
  assert.deepEqual(out, files.map(() => 'refused'));
  assert.equal(existsSync(join(dir, 'PWNED')), false);
});

test('the CLI refuses a dangerous file with exit 1 and one line naming the global and the byte offset', () => {
  const r = tsfreeze('keys', manifest['inst_os_system.pt'].file);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^tsfreeze keys: .*inst_os_system\.pt: pickle names os\.system \(a function that runs a shell command\) at byte \d+; .*\n$/);
});

test('aliases_200.pt: 200 keys of one 4 MiB storage stay one storage in a .pth, and safetensors refuses them', async () => {
  const ck = await readCheckpoint(manifest['aliases_200.pt'].file);
  const out = join(dir, 'aliases.pth');
  await writeCheckpoint(out, ck.stateDict);
  assert.ok(statSync(out).size < 5 * 2 ** 20, `${statSync(out).size} bytes`);
  await assert.rejects(writeCheckpoint(join(dir, 'aliases.safetensors'), ck.stateDict), /tensors 'k0', 'k1', 'k2', 'k3' and 196 more share memory/);
});

test('FIFOs, devices, sockets and directories are refused at once, never opened for a blocking read', async () => {
  const fifo = join(dir, 'pipe.pth');
  execFileSync('mkfifo', [fifo]);
  const t0 = performance.now();
  await assert.rejects(readCheckpoint(fifo), (e: unknown) => e instanceof CheckpointError && /pipe\.pth: is a FIFO \(named pipe\), not a regular file/.test(e.message));
  await assert.rejects(readCheckpoint('/dev/zero'), /\/dev\/zero: is a character device, not a regular file/);
  await assert.rejects(readCheckpoint(dir), /is a directory/);
  const socket = join(dir, 'sock.pth');
  const server = createServer().listen(socket);
  await new Promise((r) => server.once('listening', r));
  await assert.rejects(readCheckpoint(socket), /sock\.pth: is a socket, not a regular file/);
  server.close();
  assert.ok(performance.now() - t0 < HANG_MS);
  // A FIFO as a TF.js shard: refused the same way.
  const tf = join(dir, 'tfjs_symlink_passwd');
  rmSync(join(tf, 'w.bin'));
  execFileSync('mkfifo', [join(tf, 'w.bin')]);
  await assert.rejects(readCheckpoint(join(tf, 'model.json')), /is a FIFO \(named pipe\), not a regular file/);
});

/** The kernel's cell handling in process: splitting cells into TypeScript and magics, completeness, and tslab's shorthand-property gap. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitCell, isComplete } from '../../kernel/server/cell';
import { expandShorthands } from '../../kernel/server/shorthand';
import { Session } from '../../kernel/server/session';

test('splitCell: %%magic on the first line, %magic lines between TypeScript, % inside an open template stays TypeScript', () => {
  assert.deepEqual(splitCell('%%time\nlet x = 1\nx'), { kind: 'cell-magic', name: 'time', args: '', body: 'let x = 1\nx' });
  const s = splitCell('let a = 1\n%time a + 1\nconst t = `\n%notmagic\n`\nt');
  assert.equal(s.kind, 'segments');
  assert.deepEqual((s as { segments: unknown[] }).segments, [
    { kind: 'code', code: 'let a = 1', line: 0 },
    { kind: 'magic', name: 'time', args: 'a + 1', line: 1 },
    { kind: 'code', code: 'const t = `\n%notmagic\n`\nt', line: 2 },
  ]);
  assert.deepEqual(splitCell('%lsmagic?'), { kind: 'help', name: 'lsmagic' });
});

test('isComplete: complete, incomplete with an indent, invalid', () => {
  assert.deepEqual(isComplete('for (let i = 0; i < 3; i++) {'), { status: 'incomplete', indent: '  ' });
  assert.deepEqual(isComplete('let b = '), { status: 'incomplete', indent: '' });
  assert.deepEqual(isComplete(')'), { status: 'invalid' });
  assert.deepEqual(isComplete('const = 5;'), { status: 'invalid' });
  assert.deepEqual(isComplete('%time 1\n1 + 1'), { status: 'complete' });
});

test('expandShorthands spells out shorthand properties, destructuring assignments included, and nothing else', () => {
  assert.equal(expandShorthands('f({ model, data: { x, y } })'), 'f({ model: model, data: { x: x, y: y } })');
  assert.equal(expandShorthands('({ a = 1 } = o)'), '({ a: a = 1 } = o)');
  assert.equal(expandShorthands('const { a, b = 2 } = o'), 'const { a, b = 2 } = o');
  assert.equal(expandShorthands('const s = "{ x }"'), 'const s = "{ x }"');
});

test('a later cell can use an earlier cell\'s variable in a shorthand property (tslab alone throws "x is not defined")', async () => {
  const s = new Session(process.cwd());
  try {
    assert.deepEqual(await s.run('const x = 1; const y = [2]'), { ok: true, hasValue: false });
    const r = await s.run('({ x, y })');
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual((r as { value: unknown }).value, { x: 1, y: [2] });
    // The control: what tslab runs without the expansion fails.
    const raw = await s.executor.execute('const z = ({ x }).x', { label: 'In[3]', lineOffset: 0 });
    assert.equal(raw.ok, false);
    assert.match(String((raw as { thrown: Error }).thrown), /x is not defined/);
  } finally {
    s.close();
  }
});

test('top-level loops: the variables they assign are the same afterwards, however the loop ends; callbacks still see every change', async () => {
  const { fastTopLevelLoops } = await import('../../kernel/server/top-level-loops');
  const s = new Session(process.cwd());
  try {
    const value = async (code: string) => {
      const r = await s.run(code, { label: 'In[1]' });
      assert.ok(r.ok, JSON.stringify(r));
      return (r as { value?: unknown }).value;
    };
    assert.equal(await value('let total = 0;\nfor (let i = 0; i < 1000; i++) { total += i; }\ntotal'), 499500);
    assert.equal(await value('total'), 499500, 'a later cell sees the value');
    assert.equal(await value('let n = 0;\nwhile (true) { n++; if (n === 7) break; }\nn'), 7);
    assert.equal(await value('n'), 7);
    // A loop that throws: what it assigned before stays assigned.
    const r = await s.run('let m = 0;\nfor (;;) { m += 2; if (m > 5) throw new Error("stop"); }', { label: 'In[2]' });
    assert.equal(r.ok, false);
    assert.equal(await value('m'), 6);
    // A callback made in a loop keeps updating the session's variable.
    assert.equal(await value('let ticks = 0;\nconst fns: Array<() => void> = [];\nfor (let i = 0; i < 3; i++) fns.push(() => { ticks++; });\nfns.forEach((f) => f());\nticks'), 3);
    assert.equal(await value('ticks'), 3);
    // A loop that awaits keeps the per-assignment copies (other code may run meanwhile).
    const awaiting = 'exports.k = void 0;\nlet k = 0;\nexports.k = k;\nfor (let i = 0; i < 2; i++) {\n    exports.k = k += await f(i);\n}';
    assert.equal(fastTopLevelLoops(awaiting), awaiting);
    assert.match(fastTopLevelLoops('let k = 0;\nexports.k = k;\nfor (let i = 0; i < 2; i++) {\n    exports.k = k += i;\n}'), /try \{ for [\s\S]*\(k \+= i\);[\s\S]*\} finally \{ exports\.k = k; \}/);
  } finally {
    s.close();
  }
});

test('errors name the cell and its line; compile errors keep their columns; a cell that throws keeps what it defined', async () => {
  const s = new Session(process.cwd());
  try {
    const thrown = await s.run('const a = 1;\nfunction f(x: number) {\n  if (x > 1) {\n    throw new Error(`x is ${x}`);\n  }\n  return x;\n}\n[1, 2].map(f)', { label: 'In[5]', lineOffset: 2 });
    assert.equal(thrown.ok, false);
    const tb = (thrown as { error: { traceback: string[] } }).error.traceback;
    assert.equal(tb[0], 'Error: x is 2');
    assert.ok(tb.includes('    at f (In[5]:6)'), tb.join('\n'));
    assert.ok(tb.includes('    at In[5]:10'), tb.join('\n'));
    assert.ok(!tb.some((l) => /tsfreeze-cell|evalmachine|kernel[\\/]server/.test(l)), tb.join('\n'));
    const again = await s.run('f(5)', { label: 'In[6]' });
    assert.match((again as { error: { traceback: string[] } }).error.traceback.join('\n'), /at (Object\.)?f \(In\[5\]:6\)\n {4}at In\[6\]:1/);
    const compile = await s.run('const ok = 1;\n  const bad: number = "text";', { label: 'In[7]' });
    assert.equal((compile as { error: { evalue: string } }).error.evalue, "2:9 - Type 'string' is not assignable to type 'number'.");
  } finally {
    s.close();
  }
});

test("inspection inside a call's parentheses points at the function called", async () => {
  const { calleeAt } = await import('../../kernel/server/callee');
  const at = (src: string) => { const c = src.indexOf('|'); const code = src.replace('|', ''); const p = calleeAt(code, c); return p === undefined ? undefined : code.slice(p, p + 7); };
  assert.equal(at('Math.max(|'), 'max(');
  assert.equal(at('Math.max(1, |2)'), 'max(1, ');
  assert.equal(at('model.predict(tf.zeros([1, 2]), { batchSize: |'), 'predict');
  assert.equal(at('f(g(1), |)'), 'f(g(1),');
  assert.equal(at('f(g(|))'), 'g())');
  assert.equal(at('new Map(|)'), 'Map()');
  assert.equal(at('Math.m|ax(1)'), undefined, 'on the name itself: the name is inspected');
  assert.equal(at('const x = 1|'), undefined);
});

test('packages: tsfreeze and @tensorflow/* come from the kernel when the folder has none; a folder\'s own copy wins', async () => {
  const { PackageSource, packageName, isKernelPackage } = await import('../../kernel/server/module-fallback');
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync, realpathSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  assert.equal(packageName('@tensorflow/tfjs-core/dist/index'), '@tensorflow/tfjs-core');
  assert.equal(packageName('./local'), undefined);
  assert.equal(packageName('node:fs'), undefined);
  assert.ok(isKernelPackage('tsfreeze') && isKernelPackage('@tensorflow/tfjs') && !isKernelPackage('lodash'));
  const empty = mkdtempSync(join(tmpdir(), 'tsfreeze-pkg-'));
  try {
    const p = new PackageSource(empty);
    assert.ok(p.fromKernel('tsfreeze') && p.fromKernel('@tensorflow/tfjs'));
    assert.equal(p.fromKernel('lodash'), false, 'only tsfreeze and TF.js come from the kernel');
    assert.equal(realpathSync(p.resolve('@tensorflow/tfjs')), realpathSync(require.resolve('@tensorflow/tfjs')), "the kernel's own copy: one TF.js");
    assert.equal(p.typeScriptPath(join(empty, 'node_modules', '@tensorflow', 'tfjs', 'package.json')), join(p.kernelPackageDir('@tensorflow/tfjs')!, 'package.json'));
    assert.equal(p.typeScriptPath(join(empty, 'node_modules', 'lodash', 'package.json')), undefined);
    assert.equal(p.mixedCopies(), undefined);
    const pkg = join(empty, 'node_modules', '@tensorflow', 'tfjs');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), '{"name":"@tensorflow/tfjs","main":"index.js"}');
    writeFileSync(join(pkg, 'index.js'), '');
    const own = new PackageSource(empty);
    assert.equal(own.fromKernel('@tensorflow/tfjs'), false);
    assert.equal(own.resolve('@tensorflow/tfjs'), join(pkg, 'index.js'));
    assert.match(own.mixedCopies() ?? '', /has its own @tensorflow\/tfjs .* two copies in one process/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

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

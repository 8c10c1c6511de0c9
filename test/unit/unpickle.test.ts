/** The restricted unpickler against pickles that CPython writes in every protocol. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unpickle, type UnpickleHooks } from '../../lib/formats/pickle/unpickle';
import { PyObject } from '../../lib/formats/pickle/values';
import { toJson } from '../../lib/formats/pytorch/tree';
import { CheckpointError } from '../../lib/formats/errors';
import { python } from '../helpers/torch';
import { dangerOf } from '../../lib/formats/pickle/dangerous';

const inert: UnpickleHooks = { call: (fn, args, how) => new PyObject(fn as never, args, how === 'reduce') };

const OBJECT = `{'int': 7, 'neg': -300, 'big': 2**70, 'neg_big': -2**65, 'f': 0.25, 's': 'héllo', 'b': b'\\x00\\xff', 'n': None,
 't': True, 'tup': (1, (2, 3)), 'lst': [1, [2, [3]]], 'nested': {'a': {'b': [1.5, 'x']}}, 'empty': {}, 'big_list': list(range(1200)),
 'shared': None}`;

for (const protocol of [0, 1, 2, 3, 4, 5]) {
  test(`CPython pickle protocol ${protocol} reads back as the same values`, () => {
    const hex = python(`import pickle,sys\no=${OBJECT}\nshared=[1,2]\no['shared']=(shared, shared)\nsys.stdout.write(pickle.dumps(o, protocol=${protocol}).hex())`).trim();
    const v = unpickle({ bytes: Buffer.from(hex, 'hex'), file: 'p' }, inert).value;
    const j = toJson(v, 0, 'p') as Record<string, unknown>;
    assert.equal(j.int, 7);
    assert.equal(j.neg, -300);
    assert.equal(j.big, (2n ** 70n).toString());
    assert.equal(j.neg_big, (-(2n ** 65n)).toString());
    assert.equal(j.f, 0.25);
    assert.equal(j.s, 'héllo');
    assert.equal(j.n, null);
    assert.equal(j.t, true);
    assert.deepEqual(j.tup, [1, [2, 3]]);
    assert.deepEqual(j.lst, [1, [2, [3]]]);
    assert.deepEqual(j.nested, { a: { b: [1.5, 'x'] } });
    assert.deepEqual(j.empty, {});
    assert.deepEqual(j.big_list, Array.from({ length: 1200 }, (_, i) => i));
    assert.deepEqual(j.shared, [[1, 2], [1, 2]]);
    if (protocol >= 3) assert.deepEqual(j.b, { $bytes: Buffer.from([0, 255]).toString('base64') });
  });
}

test('a dangerous global is refused where it is named, before any REDUCE: the hook never sees it', () => {
  const hex = python(`import pickle,os,sys\nclass E:\n  def __reduce__(self): return (os.system, ('touch /tmp/x',))\nsys.stdout.write(pickle.dumps(E(), protocol=2).hex())`).trim();
  const calls: string[] = [];
  assert.throws(() => unpickle({ bytes: Buffer.from(hex, 'hex'), file: 'p' }, { call: (fn, args, how) => { calls.push(how); return inert.call(fn, args, how, 0); } }),
    (e: unknown) => e instanceof CheckpointError && /^p: pickle names posix\.system \(a function that runs a shell command\) at byte 2;/.test(e.message));
  assert.deepEqual(calls, []);
});

test('a global that is not dangerous is a name: REDUCE hands it to the hook, which keeps it inert', () => {
  const hex = python(`import pickle,sys,fractions\nsys.stdout.write(pickle.dumps(fractions.Fraction(1, 3), protocol=2).hex())`).trim();
  const calls: string[] = [];
  const v = unpickle({ bytes: Buffer.from(hex, 'hex'), file: 'p' }, { call: (fn, args, how) => { calls.push(`${(fn as never as { qualified: string }).qualified}/${how}`); return inert.call(fn, args, how, 0); } }).value;
  assert.deepEqual(calls, ['fractions.Fraction/reduce']);
  assert.ok(v instanceof PyObject && v.reduced);
});

const bad: Array<[string, string, RegExp]> = [
  ['empty', '', /without a STOP/],
  ['truncated BINUNICODE', '8002580a000000616263', /needs 10 bytes/],
  ['huge BINBYTES8', '80048e' + 'ffffffffffffff7f', /needs \d+ bytes/],
  ['memo read before write', '800268052e', /memo entry 5/],
  ['stack underflow', '80022e', /underflow/],
  ['unknown opcode', '8002ff', /unknown pickle opcode 0xff/],
  ['APPEND to a dict', '80027d4b0161', /not a list/],
  ['protocol 9', '8009', /protocol 9/],
];
for (const [name, hex, re] of bad) {
  test(`malformed pickle (${name}) is one clear CheckpointError with a byte offset`, () => {
    assert.throws(() => unpickle({ bytes: Buffer.from(hex, 'hex'), file: 'bad.pkl' }, inert),
      (e: unknown) => e instanceof CheckpointError && re.test(e.message) && /^bad\.pkl: /.test(e.message));
  });
}

test('dangerous globals are told from the data a checkpoint may hold', () => {
  // [module, name] as a pickle's GLOBAL or STACK_GLOBAL gives them (a name may be an attribute path).
  const dangerous = [['os', 'system'], ['posix', 'system'], ['nt', 'system'], ['builtins', 'eval'], ['__builtin__', 'exec'], ['builtins', 'getattr'],
    ['builtins', '__import__'], ['subprocess', 'Popen'], ['subprocess', 'check_output'], ['torch', 'os.system'], ['pathlib', 'Path.write_text'],
    ['torch', 'load'], ['torch.hub', 'load'], ['torch.storage', '_load_from_bytes'], ['numpy.testing._private.utils', 'runstring'],
    ['types', 'FunctionType'], ['runpy', '_run_code'], ['pickle', 'loads'], ['operator', 'attrgetter'], ['shutil', 'rmtree'],
    ['socket', 'create_connection'], ['importlib', 'import_module'], ['__main__', 'Net.__reduce__']];
  const data = [['__main__', 'Net'], ['torch.nn.modules.conv', 'Conv2d'], ['functools', 'partial'], ['argparse', 'Namespace'],
    ['numpy.core.multiarray', '_reconstruct'], ['collections', 'OrderedDict'], ['builtins', 'set'], ['builtins', 'type'], ['types', 'SimpleNamespace'],
    ['pathlib', 'PosixPath'], ['torchvision.models.resnet', 'ResNet'], ['copyreg', '_reconstructor'], ['torch', 'FloatStorage'],
    ['torch._utils', '_rebuild_tensor_v2'], ['builtins', 'ValueError'], ['mylib.config', 'make_config'], ['__main__', 'Outer.Inner']];
  for (const [m, n] of dangerous) assert.ok(dangerOf(m, n), `${m}.${n} is dangerous`);
  for (const [m, n] of data) assert.equal(dangerOf(m, n), undefined, `${m}.${n} is data`);
});

/** Jupyter wire format: round trip, signatures, and compatibility with Python's jupyter_client. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DELIMITER, WireError, decodeMessage, encodeMessage, newHeader, newMessage, readConnectionFile, replyTo, writeConnectionFile } from '../../kernel/protocol/wire';
import { PYTHON } from '../helpers/jupyter';

const KEY = 'a0436f6c-1916-498b-8eb9-e81ab9368e84';
const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-wire-'));

function sample() {
  const m = newMessage('execute_request', { code: 'let x = "é\\n"', silent: false }, 'sess-1', { identities: [Buffer.from('peer-1'), Buffer.from([0, 1, 2])], metadata: { cellId: 'c1' }, buffers: [Buffer.from([9, 8, 7])] });
  return m;
}

test('encode then decode gives the same message back, with and without a key', () => {
  for (const key of [KEY, '']) {
    const m = sample();
    const frames = encodeMessage(m, key);
    assert.equal(frames.findIndex((f) => f.equals(DELIMITER)), 2);
    assert.equal(frames[3].toString().length, key ? 64 : 0);
    const d = decodeMessage(frames, key);
    assert.deepEqual(d, m);
  }
});

test('a tampered, unsigned, wrongly signed or truncated message is a WireError saying which', () => {
  const frames = encodeMessage(sample(), KEY);
  const tampered = frames.map((f) => Buffer.from(f));
  tampered[7] = Buffer.from(tampered[7].toString().replace('x =', 'y ='));
  assert.throws(() => decodeMessage(tampered, KEY), (e: unknown) => e instanceof WireError && /invalid signature/.test(e.message));
  assert.throws(() => decodeMessage(encodeMessage(sample(), ''), KEY), (e: unknown) => e instanceof WireError && /unsigned/.test(e.message));
  assert.throws(() => decodeMessage(encodeMessage(sample(), 'other-key'), KEY), /invalid signature/);
  assert.throws(() => decodeMessage(frames.filter((f) => !f.equals(DELIMITER)), KEY), /no <IDS\|MSG> delimiter/);
  assert.throws(() => decodeMessage(frames.slice(0, 6), KEY), /expected at least 5/);
  const notJson = encodeMessage(sample(), '');
  notJson[4] = Buffer.from('{oops');
  assert.throws(() => decodeMessage(notJson, ''), /header frame is not JSON/);
});

test('newHeader and replyTo fill what the protocol needs', () => {
  const h = newHeader('kernel_info_request', 's1', 'ann');
  assert.match(h.msg_id, /^[0-9a-f-]{36}$/);
  assert.notEqual(newHeader('x', 's1').msg_id, h.msg_id);
  assert.equal(h.version, '5.3');
  assert.ok(!Number.isNaN(Date.parse(h.date)));
  const req = sample();
  const rep = replyTo(req, 'execute_reply', { status: 'ok' });
  assert.deepEqual(rep.identities, req.identities);
  assert.deepEqual(rep.parent_header, req.header);
  assert.equal(rep.header.session, 'sess-1');
  assert.equal(rep.header.msg_type, 'execute_reply');
  assert.deepEqual(replyTo(req, 'status', { execution_state: 'busy' }, []).identities, []);
});

const PY_SESSION = `
import sys, json, base64
from jupyter_client.session import Session
key = sys.argv[1].encode()
s = Session(key=key, session='py-sess', username='py')
b64 = lambda fs: [base64.b64encode(f).decode() for f in fs]
if sys.argv[2] == 'make':
    msg = s.msg('execute_reply', content={'status': 'ok', 'execution_count': 3, 'text': 'h\\u00e9llo'}, metadata={'m': 1})
    print(json.dumps(b64(s.serialize(msg, ident=[b'route-a']))))
else:
    frames = [base64.b64decode(f) for f in json.loads(sys.stdin.read())]
    idents, rest = s.feed_identities(frames, copy=True)
    m = s.deserialize(rest, content=True, copy=True)
    print(json.dumps({'idents': [i.decode() for i in idents], 'msg_type': m['header']['msg_type'], 'msg_id': m['header']['msg_id'], 'parent_id': m['parent_header'].get('msg_id'), 'content': m['content'], 'buffers': [bytes(b).hex() for b in m['buffers']]}))
`;

function python(args: string[], input?: string) {
  const r = spawnSync(PYTHON, ['-c', PY_SESSION, ...args], { input, encoding: 'utf8' });
  assert.equal(r.status, 0, `python jupyter_client failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('a message signed by Python jupyter_client decodes here', () => {
  const frames = (python([KEY, 'make']) as string[]).map((f) => Buffer.from(f, 'base64'));
  const m = decodeMessage(frames, KEY);
  assert.deepEqual(m.identities.map(String), ['route-a']);
  assert.equal(m.header.msg_type, 'execute_reply');
  assert.equal(m.header.session, 'py-sess');
  assert.deepEqual(m.content, { status: 'ok', execution_count: 3, text: 'héllo' });
  assert.deepEqual(m.metadata, { m: 1 });
  assert.throws(() => decodeMessage(frames, 'not-the-key'), WireError);
});

test('a message signed here is accepted by Python jupyter_client', () => {
  const req = sample();
  const m = replyTo(req, 'execute_result', { data: { 'text/plain': 'héllo' }, execution_count: 1 });
  m.buffers = [Buffer.from([1, 2, 255])];
  const frames = encodeMessage(m, KEY).map((f) => f.toString('base64'));
  const got = python([KEY, 'read'], JSON.stringify(frames));
  assert.deepEqual(got, { idents: ['peer-1', '\u0000\u0001\u0002'], msg_type: 'execute_result', msg_id: m.header.msg_id, parent_id: req.header.msg_id, content: m.content, buffers: ['0102ff'] });
  const r = spawnSync(PYTHON, ['-c', PY_SESSION, 'wrong-key', 'read'], { input: JSON.stringify(frames), encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /Invalid Signature/i);
});

test('connection files: written private with free distinct ports, read back, bad ones explained', async () => {
  const path = join(dir, 'kernel-1.json');
  const info = await writeConnectionFile(path, { kernel_name: 'tsfreeze' });
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const ports = [info.shell_port, info.iopub_port, info.stdin_port, info.control_port, info.hb_port];
  assert.equal(new Set(ports).size, 5);
  assert.ok(ports.every((p) => p > 0));
  assert.deepEqual(readConnectionFile(path), info);
  assert.equal(info.key.length, 36);
  assert.notEqual((await writeConnectionFile(join(dir, 'kernel-2.json'))).key, info.key);
  // Python's jupyter_client reads it as well.
  const r = spawnSync(PYTHON, ['-c', 'import sys, json; from jupyter_client.connect import KernelConnectionInfo; from jupyter_client import BlockingKernelClient as C; c = C(); c.load_connection_file(sys.argv[1]); print(json.dumps([c.shell_port, c.session.key.decode()]))', path], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [info.shell_port, info.key]);

  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ ...info, signature_scheme: 'hmac-md5' }));
  assert.throws(() => readConnectionFile(bad), /signature_scheme "hmac-md5" is not supported: only hmac-sha256/);
  writeFileSync(bad, JSON.stringify({ ...info, shell_port: 'x' }));
  assert.throws(() => readConnectionFile(bad), /shell_port must be a port number/);
  writeFileSync(bad, '{');
  assert.throws(() => readConnectionFile(bad), /is not JSON/);
  assert.throws(() => readConnectionFile(join(dir, 'missing.json')), /cannot read the connection file .*ENOENT/);
});

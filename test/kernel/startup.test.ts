/**
 * The kernel's start-up, seen from a client that connects before the kernel has bound its
 * sockets and sends at once (ZeroMQ queues the request until the kernel binds): the first
 * kernel_info_request is answered (not lost while iopub is still binding), no socket is read
 * before its bind has settled (a read inside the bind throws and, in tslab's loops, ended reading
 * for good), and a cell sent as the very first request runs even though the TypeScript compiler
 * is built only after start-up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Dealer } from 'zeromq';
import { kernelSpec } from '../../kernel/commands/install';
import { launchKernel, type KernelProcess } from '../../kernel/protocol/launch';
import { channelUrl, decodeMessage, encodeMessage, newMessage, writeConnectionFile, type Message } from '../../kernel/protocol/wire';
import { CLI, requireBuild } from '../helpers/kernelspec';

/** Starts the built kernel with a DEALER on its shell connected before the spawn; `requests` are queued on it at once. */
async function startAndSend(requests: Message[], opts: { preload?: string; env?: Record<string, string> } = {}): Promise<{ replies: Message[]; proc: KernelProcess; done: () => Promise<void> }> {
  requireBuild();
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-startup-'));
  const file = join(dir, 'connection.json');
  const info = await writeConnectionFile(file);
  // Retry every 2 ms: the request reaches the kernel the moment its shell socket is bound.
  const shell = new Dealer({ linger: 0, reconnectInterval: 2, receiveTimeout: 60_000 });
  shell.connect(channelUrl(info, 'shell'));
  const argv = kernelSpec(CLI).argv as string[];
  const proc = launchKernel({ argv: opts.preload ? [argv[0], '--require', opts.preload, ...argv.slice(1)] : argv, fields: { connection_file: file }, env: opts.env });
  const done = async () => {
    shell.close();
    await proc.kill(2000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const r of requests) await shell.send(encodeMessage(r, info.key));
    const replies: Message[] = [];
    while (replies.length < requests.length) {
      let frames: Buffer[];
      try {
        frames = await shell.receive();
      } catch {
        assert.fail(`no reply to ${requests[replies.length].header.msg_type} within 60 s; kernel output:\n${proc.outputTail()}`);
      }
      replies.push(decodeMessage(frames, info.key));
    }
    return { replies, proc, done };
  } catch (e) {
    await done();
    throw e;
  }
}

test('no socket is read before its bind has settled, so requests right after the first are answered too', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-socket-order-'));
  const log = join(dir, 'events.log');
  const reqs = [0, 1, 2].map(() => newMessage('kernel_info_request', {}, randomUUID()) as Message);
  const { replies, done } = await startAndSend(reqs, { preload: join(__dirname, 'socket-order.cjs'), env: { TSFREEZE_SOCKET_LOG: log } });
  try {
    assert.equal(replies.length, 3);
    const events = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' '));
    const bound = new Set<string>();
    const read = new Set<string>();
    for (const [event, sock] of events) {
      if (event === 'bind-done') bound.add(sock);
      if (event === 'receive') {
        assert.ok(bound.has(sock), `${sock} was read before its bind settled (events: ${events.map((e) => e.slice(0, 2).join(' ')).join(', ')})`);
        read.add(sock);
      }
    }
    assert.equal(events.filter(([e]) => e === 'bind-done').length, 5, 'five sockets bound');
    assert.ok(read.size >= 3, `shell, control and heartbeat are read: ${[...read].join(', ')}`);
  } finally {
    await done();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the first kernel_info_request, sent before the kernel binds, gets its reply', { timeout: 90_000 }, async () => {
  const req = newMessage('kernel_info_request', {}, randomUUID()) as Message;
  const { replies, done } = await startAndSend([req]);
  try {
    assert.equal(replies[0].header.msg_type, 'kernel_info_reply');
    assert.equal((replies[0].parent_header as { msg_id: string }).msg_id, req.header.msg_id);
    assert.equal((replies[0].content as { implementation: string }).implementation, 'tsfreeze');
  } finally {
    await done();
  }
});

test('a cell sent as the very first request runs (the compiler is built for it), and type errors are still found', { timeout: 90_000 }, async () => {
  const session = randomUUID();
  const first = newMessage('execute_request', { code: 'const a: number = 40', silent: false, store_history: true, user_expressions: { x: 'a + 2' }, allow_stdin: false, stop_on_error: true }, session) as Message;
  const second = newMessage('execute_request', { code: 'const b: string = a', silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true }, session) as Message;
  const { replies, done } = await startAndSend([first, second]);
  try {
    const [r1, r2] = replies.map((r) => r.content as { status: string; user_expressions?: Record<string, { status: string; data: Record<string, string> }>; evalue?: string });
    assert.equal(r1.status, 'ok', JSON.stringify(r1));
    assert.equal(r1.user_expressions?.x.data['text/plain'], '42');
    assert.equal(r2.status, 'error');
    assert.match(r2.evalue ?? '', /not assignable to type 'string'/);
  } finally {
    await done();
  }
});

/**
 * The kernel's socket thread (a worker_thread started by server.ts): owns the five ZeroMQ
 * sockets (zeromq 6 gives each thread its own context), one send queue each; echoes the
 * heartbeat; checks signatures; keeps the protocol's bookkeeping (front-desk.ts); watches the
 * parent process. Its event loop runs while a cell keeps the main thread busy, so the heartbeat,
 * control requests, start-up answers and the parent watch never wait for a cell.
 *
 * It logs with writeSync to fd 2 (Jupyter's log): a worker's console goes through the main
 * thread, whose stdout and stderr are a cell's output.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { writeSync } from 'node:fs';
import * as zmq from 'zeromq';
import { channelUrl, decodeMessage, encodeMessage, newHeader, readConnectionFile, replyTo, WireError, type Message, type MessageHeader } from '../protocol/wire';
import type { FrontDesk } from './front-desk';
import { kernelInfo } from './kernel-info';
import { SendQueue } from './send-queue';
import { watchParent } from './parent-watch';
import type { SocketThreadData, ToMain, ToSockets } from './thread-messages';

/** How long after its parent died the kernel waits for the main thread to exit before killing the process. */
const PARENT_GONE_GRACE_MS = 1000;
/** How long after a shutdown_request the main thread has to exit (a cell may keep it busy). */
const SHUTDOWN_GRACE_MS = 3000;

function log(text: string): void {
  try {
    writeSync(2, text.endsWith('\n') ? text : `${text}\n`);
  } catch {
    // Jupyter's log is gone: nothing to tell.
  }
}

async function run(port: NonNullable<typeof parentPort>, data: SocketThreadData): Promise<void> {
  const toMain = (m: ToMain) => port.postMessage(m);
  const info = readConnectionFile(data.connectionFile);
  // No high-water mark on iopub: a burst of outputs waits for a slow client instead of being dropped.
  const iopub = new zmq.Publisher({ sendHighWaterMark: 0 });
  const shell = new zmq.Router();
  const control = new zmq.Router();
  const stdin = new zmq.Router();
  const hb = new zmq.Reply();
  const all = [iopub, shell, control, stdin, hb];
  const bound: Promise<unknown> = Promise.all([
    iopub.bind(channelUrl(info, 'iopub')),
    shell.bind(channelUrl(info, 'shell')),
    control.bind(channelUrl(info, 'control')),
    stdin.bind(channelUrl(info, 'stdin')),
    hb.bind(channelUrl(info, 'hb')),
  ]);
  // While ZeroMQ's I/O thread binds: the desk, and the TypeScript parser it brings (is_complete).
  const { FrontDesk: Desk } = require('./front-desk') as typeof import('./front-desk');
  try {
    await bound;
  } catch (e) {
    for (const s of all) s.close();
    toMain({ kind: 'failed', error: `cannot bind the kernel's sockets: ${(e as Error).message}` });
    return;
  }
  const queueOf = (name: string, sock: zmq.Router | zmq.Publisher) => new SendQueue(sock, (e) => log(`tsfreeze kernel: could not send on ${name}: ${e.message}`));
  const queues = { shell: queueOf('shell', shell), control: queueOf('control', control), iopub: queueOf('iopub', iopub) };
  const send = (queue: SendQueue, msg: Message<unknown>) => queue.push(encodeMessage(msg as Message, info.key));
  const publish = (parent: MessageHeader, msgType: string, content: Record<string, unknown>) =>
    send(queues.iopub, { identities: [], header: newHeader(msgType, parent.session, parent.username), parent_header: parent, metadata: {}, content, buffers: [] });

  let closing: Promise<void> | undefined;
  const closeAll = () => (closing ??= (async () => {
    await Promise.all(Object.values(queues).map((q) => q.flushed()));
    // Let ZeroMQ's I/O thread put the last messages on the wire.
    await new Promise((r) => setTimeout(r, 50));
    for (const s of all) s.close();
  })());
  const killSoon = (ms: number, why: string) => setTimeout(() => {
    log(`tsfreeze kernel: ${why}; the main thread did not exit within ${ms} ms (a cell keeps it busy): killing the process`);
    process.kill(process.pid, 'SIGKILL');
  }, ms);

  const desk: FrontDesk = new Desk({
    reply: (channel, parent, msgType, content) => send(queues[channel], replyTo(parent, msgType, content)),
    publish,
    toMain,
    interrupt: () => process.kill(process.pid, 'SIGINT'),
    shutdown: (restart) => {
      toMain({ kind: 'shutdown', restart });
      killSoon(SHUTDOWN_GRACE_MS, 'shutdown requested');
    },
    log,
  }, kernelInfo());

  port.on('message', (m: ToSockets) => {
    switch (m.kind) {
      case 'publish':
        publish(m.parent, m.msgType, m.content);
        break;
      case 'main-ready':
        desk.mainReady();
        break;
      case 'done':
        desk.done(m.id, 'outcome' in m ? { outcome: m.outcome } : { content: m.content });
        break;
      case 'close':
        void closeAll().then(() => toMain({ kind: 'closed' }));
        break;
    }
  });

  const decode = (name: string, frames: Buffer[]): Message | undefined => {
    try {
      return decodeMessage(frames, info.key);
    } catch (e) {
      // A message that fails its signature check is dropped: no reply, no status.
      log(`tsfreeze kernel: rejected a ${name} message: ${e instanceof WireError ? e.message : String(e)}`);
      return undefined;
    }
  };
  void readLoop('shell', shell, (frames) => { const msg = decode('shell', frames); if (msg) desk.shell(msg); });
  void readLoop('control', control, (frames) => { const msg = decode('control', frames); if (msg) desk.control(msg); });
  // A REP socket takes one send per receive: the echo is awaited.
  void readLoop('heartbeat', hb, (frames) => hb.send(frames));

  watchParent(data.parentPid, () => {
    log('tsfreeze kernel: the process that started this kernel is gone; exiting');
    toMain({ kind: 'parent-gone' });
    killSoon(PARENT_GONE_GRACE_MS, 'the parent process is gone');
  });
  toMain({ kind: 'ready' });
}

/** Reads a socket until it is closed; one failed receive is logged and the loop goes on. */
async function readLoop(name: string, sock: zmq.Router | zmq.Reply, handle: (frames: Buffer[]) => unknown): Promise<void> {
  while (!sock.closed) {
    let frames: Buffer[];
    try {
      frames = await sock.receive();
    } catch (e) {
      if (sock.closed) return;
      log(`tsfreeze kernel: reading ${name}: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 10));
      continue;
    }
    try {
      await handle(frames);
    } catch (e) {
      log(`tsfreeze kernel: handling a ${name} message: ${(e as Error).message}`);
    }
  }
}

if (parentPort) {
  const port = parentPort;
  run(port, workerData as SocketThreadData).catch((e) => {
    log(`tsfreeze kernel: the socket thread failed: ${String((e as Error)?.stack ?? e)}`);
    port.postMessage({ kind: 'failed', error: String((e as Error)?.message ?? e) } satisfies ToMain);
  });
}

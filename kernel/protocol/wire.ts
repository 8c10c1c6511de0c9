/** Jupyter messages on the wire (messaging protocol 5.3): frames, HMAC signatures, headers, replies. */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { userInfo } from 'node:os';

export { readConnectionFile, writeConnectionFile, channelUrl } from './connection';
export type { ConnectionInfo, Channel } from './connection';

/** The messaging protocol version this project speaks. */
export const PROTOCOL_VERSION = '5.3';

/** The frame that separates ZeroMQ routing identities from the message. */
export const DELIMITER = Buffer.from('<IDS|MSG>');

export interface MessageHeader { msg_id: string; session: string; username: string; date: string; msg_type: string; version: string }

export interface Message<C = Record<string, unknown>> {
  /** ZeroMQ routing prefix (the frames before `<IDS|MSG>`). */
  identities: Buffer[];
  header: MessageHeader;
  parent_header: MessageHeader | Record<string, never>;
  metadata: Record<string, unknown>;
  content: C;
  buffers: Buffer[];
}

/** Thrown for malformed frames or a bad signature; message says which. */
export class WireError extends Error {
  override readonly name = 'WireError';
}

/** The HMAC-SHA256 hex signature of a message's four JSON frames ('' when key is ''). */
export function sign(frames: Buffer[], key: string): string {
  if (key === '') return '';
  const h = createHmac('sha256', key);
  for (const f of frames) h.update(f);
  return h.digest('hex');
}

/** Frames for a message: identities, <IDS|MSG>, HMAC-SHA256 hex signature (empty when key is ''), header, parent, metadata, content, buffers. */
export function encodeMessage(msg: Message, key: string): Buffer[] {
  const parts = [msg.header, msg.parent_header, msg.metadata, msg.content].map(toJsonFrame);
  return [...msg.identities, DELIMITER, Buffer.from(sign(parts, key)), ...parts, ...msg.buffers];
}

/** Parses frames, verifying the signature with a timing-safe compare when key is non-empty; throws WireError. */
export function decodeMessage(frames: Buffer[], key: string): Message {
  const at = frames.findIndex((f) => f.equals(DELIMITER));
  if (at < 0) throw new WireError(`malformed message: no <IDS|MSG> delimiter among its ${frames.length} frames`);
  const rest = frames.slice(at + 1);
  if (rest.length < 5) throw new WireError(`malformed message: ${rest.length} frames after <IDS|MSG>, expected at least 5 (signature, header, parent_header, metadata, content)`);
  const [signature, ...json] = rest.slice(0, 5);
  if (key !== '') {
    const expected = Buffer.from(sign(json, key));
    // Compare lengths first: timingSafeEqual throws on unequal lengths, and the length is no secret.
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      throw new WireError(signature.length === 0 ? 'unsigned message: the signature frame is empty but a key is set' : 'invalid signature: the message was not signed with this connection\'s key, or was altered');
    }
  }
  const [header, parent, metadata, content] = json.map((f, i) => parseJsonFrame(f, FRAME_NAMES[i]));
  if (typeof header.msg_type !== 'string' || typeof header.msg_id !== 'string') throw new WireError('malformed message: the header has no msg_type or msg_id');
  return {
    identities: frames.slice(0, at),
    header: header as unknown as MessageHeader,
    parent_header: parent as MessageHeader | Record<string, never>,
    metadata,
    content,
    buffers: rest.slice(5),
  };
}

/** A new header (uuid msg_id, ISO date, protocol version '5.3'). */
export function newHeader(msgType: string, session: string, username: string = defaultUsername()): MessageHeader {
  return { msg_id: randomUUID(), session, username, date: new Date().toISOString(), msg_type: msgType, version: PROTOCOL_VERSION };
}

/** A new message of `msgType` with no parent. */
export function newMessage<C>(msgType: string, content: C, session: string, opts: { identities?: Buffer[]; metadata?: Record<string, unknown>; buffers?: Buffer[] } = {}): Message<C> {
  return { identities: opts.identities ?? [], header: newHeader(msgType, session), parent_header: {}, metadata: opts.metadata ?? {}, content, buffers: opts.buffers ?? [] };
}

/** A reply/iopub message to `parent`: same identities (pass [] for iopub), parent_header = parent.header, session of parent. */
export function replyTo<C>(parent: Message, msgType: string, content: C, identities: Buffer[] = parent.identities): Message<C> {
  return {
    identities,
    header: newHeader(msgType, parent.header.session, parent.header.username),
    parent_header: parent.header,
    metadata: {},
    content,
    buffers: [],
  };
}

const FRAME_NAMES = ['header', 'parent_header', 'metadata', 'content'];

function toJsonFrame(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v ?? {}));
}

function parseJsonFrame(f: Buffer, name: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(f.toString('utf8'));
  } catch (e) {
    throw new WireError(`malformed message: the ${name} frame is not JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new WireError(`malformed message: the ${name} frame is not a JSON object`);
  return v as Record<string, unknown>;
}

let username: string | undefined;
function defaultUsername(): string {
  if (username === undefined) {
    // userInfo() throws when the uid has no passwd entry (some containers).
    try { username = userInfo().username || 'tsfreeze'; } catch { username = process.env.USER || 'tsfreeze'; }
  }
  return username;
}

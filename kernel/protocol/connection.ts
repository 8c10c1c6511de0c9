/** Jupyter connection files: which ports and key a kernel and its clients share. */
import { atomicWrite } from '../../lib/formats/atomic-write';
import { existsSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:net';

export interface ConnectionInfo { transport: 'tcp' | 'ipc'; ip: string; shell_port: number; iopub_port: number; stdin_port: number; control_port: number; hb_port: number; key: string; signature_scheme: string; kernel_name?: string }

/** The five sockets of a kernel. */
export type Channel = 'shell' | 'iopub' | 'stdin' | 'control' | 'hb';

const PORTS = ['shell_port', 'iopub_port', 'stdin_port', 'control_port', 'hb_port'] as const;

/** The ZeroMQ endpoint of one channel (`tcp://ip:port`, or `ipc://ip-port` as Jupyter names ipc files). */
export function channelUrl(info: ConnectionInfo, channel: Channel): string {
  const port = info[`${channel}_port`];
  return info.transport === 'ipc' ? `ipc://${info.ip}-${port}` : `tcp://${info.ip.includes(':') ? `[${info.ip}]` : info.ip}:${port}`;
}

/** Reads and validates a connection file (only hmac-sha256 supported: clear error otherwise). */
export function readConnectionFile(path: string): ConnectionInfo {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the connection file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`connection file ${path} is not JSON: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`connection file ${path} is not a JSON object`);
  const bad = (what: string) => new Error(`connection file ${path}: ${what}`);
  const transport = raw.transport ?? 'tcp';
  if (transport !== 'tcp' && transport !== 'ipc') throw bad(`transport ${JSON.stringify(transport)} is not supported (tcp or ipc)`);
  const ip = raw.ip ?? '127.0.0.1';
  if (typeof ip !== 'string' || ip === '') throw bad('ip must be a non-empty string');
  for (const p of PORTS) {
    const v = raw[p];
    if (!Number.isInteger(v) || (v as number) <= 0 || (v as number) > 65535) throw bad(`${p} must be a port number (1-65535), got ${JSON.stringify(v)}`);
  }
  const key = raw.key ?? '';
  if (typeof key !== 'string') throw bad('key must be a string');
  const scheme = raw.signature_scheme ?? 'hmac-sha256';
  if (scheme !== 'hmac-sha256') throw bad(`signature_scheme ${JSON.stringify(scheme)} is not supported: only hmac-sha256 is (set "signature_scheme": "hmac-sha256")`);
  const info: ConnectionInfo = { transport, ip, key, signature_scheme: scheme } as ConnectionInfo;
  for (const p of PORTS) info[p] = raw[p] as number;
  if (typeof raw.kernel_name === 'string') info.kernel_name = raw.kernel_name;
  return info;
}

/** Writes a connection file with free ports on 127.0.0.1 and a random key (mode 0600, atomic). */
export async function writeConnectionFile(path: string, info: Partial<ConnectionInfo> = {}): Promise<ConnectionInfo> {
  const full: ConnectionInfo = {
    transport: info.transport ?? 'tcp',
    ip: info.ip ?? '127.0.0.1',
    key: info.key ?? randomUUID(),
    signature_scheme: info.signature_scheme ?? 'hmac-sha256',
    shell_port: 0, iopub_port: 0, stdin_port: 0, control_port: 0, hb_port: 0,
  };
  if (info.kernel_name !== undefined) full.kernel_name = info.kernel_name;
  const missing = PORTS.filter((p) => !info[p]);
  const free = full.transport === 'tcp' ? await freePorts(full.ip, missing.length) : ipcPorts(full.ip, missing.length);
  for (const p of PORTS) full[p] = info[p] || free.shift()!;
  await writePrivate(path, JSON.stringify(full, null, 1) + '\n');
  return full;
}

/** `n` distinct TCP ports that are free on `ip` now (all held open together, so none repeats). */
async function freePorts(ip: string, n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(0, ip, () => resolve()); });
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

/** For ipc, "ports" are suffixes of socket file names: pick ones whose files do not exist yet. */
function ipcPorts(ip: string, n: number): number[] {
  const out: number[] = [];
  for (let port = 1; out.length < n; port++) {
    if (!existsSync(`${ip}-${port}`)) out.push(port);
  }
  return out;
}

/** Writes `text` readable by its owner only (the key is a secret), to a temporary name then renamed. */
async function writePrivate(path: string, text: string): Promise<void> {
  await atomicWrite(path, [Buffer.from(text)], { mode: 0o600 });
}

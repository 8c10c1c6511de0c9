/** Test helpers around Debian's PyTorch (the reference for checkpoint files and numerics). */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DType, HostTensor } from '../../lib/statedict/tensor';
import { bytesOf } from '../../lib/statedict/tensor';

/** Debian's python3, which has torch; the python3 first on PATH may not. */
export const PYTHON = '/usr/bin/python3';
export const TORCH_FIXTURES = join(__dirname, '..', 'fixtures', 'torch');

/** PyTorch's own dump of a fixture: tensors with their bytes in hex, values as JSON. */
export interface ExpectedDump {
  format: string;
  tensors: Record<string, { dtype: DType; shape: number[]; hex: string }>;
  values?: Record<string, unknown>;
  unsafe_globals?: string[];
  error?: boolean;
}

/** Fails loudly when Debian's torch is missing: these tests must not skip silently. */
export function requireTorch(): void {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`Debian's python3-torch is required (apt-get install python3-torch python3-torchvision): ${r.stderr.trim()}`);
}

/** The expected dump beside a fixture. */
export function expectedOf(fixture: string): ExpectedDump {
  return JSON.parse(readFileSync(join(TORCH_FIXTURES, fixture.replace(/\.(pt|pth)$/, '.expected.json')), 'utf8')) as ExpectedDump;
}

/** A tensor's bytes in hex, as the dump writes them. */
export function hexOf(t: HostTensor): string {
  return Buffer.from(bytesOf(t)).toString('hex');
}

/** Runs a Python snippet with Debian's torch and returns its stdout. */
export function python(code: string, args: string[] = []): string {
  return execFileSync(PYTHON, ['-c', code, ...args], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
}

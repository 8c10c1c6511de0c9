/**
 * Looking for a WebGPU adapter in a separate Node process. Dawn and the drivers it opens print
 * to the process's stderr from native code (Mesa's "XDG_RUNTIME_DIR is invalid", Dawn's
 * warnings about adapters it rejects), which JavaScript cannot silence, and a broken driver can
 * crash the process that loads it. A short-lived child takes both, so that setBackend('auto')
 * stays quiet and alive on machines without a usable GPU; only an adapter worth having is then
 * opened in this process.
 */
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import type { AdapterInfoLike } from './webgpu-adapter';

/** What the child found with one set of Dawn flags. */
export interface ProbeResult {
  /** The adapter and the feature level it was found at; null when there was none. */
  found: { level: 'core' | 'compatibility'; info: AdapterInfoLike } | null;
  /** The child's stderr (what Dawn and the drivers said), trimmed. */
  stderr: string;
}

/** The child: import the package, ask for an adapter at each feature level in turn, print one JSON line. */
const CHILD = `
const [url, flags, levels] = JSON.parse(process.argv[1]);
import(url).then(async ({ create }) => {
  const gpu = create(flags);
  for (const level of levels) {
    const a = await gpu.requestAdapter({ powerPreference: 'high-performance', featureLevel: level });
    if (a) {
      const i = a.info;
      return { level, info: { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: i.isFallbackAdapter } };
    }
  }
  return null;
}).then((found) => { process.stdout.write(JSON.stringify({ found }) + '\\n'); process.exit(0); },
        (err) => { process.stdout.write(JSON.stringify({ error: String(err && err.message || err) }) + '\\n'); process.exit(0); });
`;

/** Asks Dawn (the package at `packagePath`) for an adapter in a child Node process. */
export function probeAdapter(
  packagePath: string,
  flags: string[],
  levels: ('core' | 'compatibility')[],
  env: Record<string, string> | undefined,
  timeoutMs = 30_000,
): Promise<ProbeResult> {
  const arg = JSON.stringify([pathToFileURL(packagePath).href, flags, levels]);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', CHILD, arg], { env: { ...env, ...process.env }, timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      let parsed: { found?: ProbeResult['found']; error?: string } | undefined;
      try {
        parsed = line ? JSON.parse(line) : undefined;
      } catch {
        parsed = undefined;
      }
      const said = stderr.trim();
      if (parsed?.error) return reject(new Error(parsed.error));
      if (parsed && 'found' in parsed) return resolve({ found: parsed.found ?? null, stderr: said });
      const how = err ? ((err as { killed?: boolean }).killed ? `timed out after ${timeoutMs / 1000} s` : `exited: ${err.message.split('\n')[0]}`) : 'printed nothing';
      reject(new Error(`the adapter probe ${how}${said ? ` (${said.split('\n').slice(-2).join(' ')})` : ''}`));
    });
  });
}

/** This package's version, read from its package.json (found upward from here: the path differs between src and dist). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

function findVersion(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tsfreeze') return pkg.version ?? '0.0.0';
    }
    if (dirname(dir) === dir) return '0.0.0';
  }
}

export const VERSION: string = findVersion();

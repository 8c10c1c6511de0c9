/** Loads every magic: each file in builtin/ registers one when required, so adding a magic is adding a file. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

let loaded = false;

/** Requires each magic file once (they are small: heavy imports wait inside their run()). */
export function loadMagics(): void {
  if (loaded) return;
  loaded = true;
  const dir = join(__dirname, 'builtin');
  for (const f of readdirSync(dir).sort()) {
    if (/\.(js|ts)$/.test(f) && !f.endsWith('.d.ts')) require(join(dir, f));
  }
}

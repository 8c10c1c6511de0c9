// Makes `import ... from "tsfreeze"` resolve inside this repository (notebooks/, scratch code), as it
// does in a user's project where tsfreeze is installed: node_modules/tsfreeze -> the repository.
// Run by `prepare` after the build; does nothing when the link (or a real install) is already there.
import { existsSync, lstatSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const link = join(root, 'node_modules', 'tsfreeze');
let exists = false;
try { lstatSync(link); exists = true; } catch { /* not there */ }
if (!exists && existsSync(join(root, 'node_modules'))) {
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync('..', link, 'dir');
}

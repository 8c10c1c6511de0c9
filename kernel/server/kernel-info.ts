/**
 * The kernel_info_reply content. Light on purpose (versions read from package.json files, no
 * TypeScript or tslab loaded): the socket thread answers kernel_info with it while the main
 * thread still loads the compiler.
 */
import { VERSION } from '../version';

/** The TypeScript that tslab compiles cells with. */
function typescriptVersion(): string {
  try {
    return (require('@tslab/typescript-for-tslab/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** kernel_info_reply content (protocol 5.3). */
export function kernelInfo(): Record<string, unknown> {
  const ts = typescriptVersion();
  return {
    status: 'ok',
    protocol_version: '5.3',
    implementation: 'tsfreeze',
    implementation_version: VERSION,
    language_info: {
      name: 'typescript',
      version: ts,
      mimetype: 'text/typescript',
      file_extension: '.ts',
      // What tslab sends: CodeMirror's TypeScript mode in classic Notebook and JupyterLab.
      codemirror_mode: { mode: 'typescript', name: 'javascript', typescript: true },
    },
    banner: `TypeScript ${ts} on Node ${process.version} (tsfreeze ${VERSION}, tslab executor). %lsmagic lists the magics.`,
    help_links: [{ text: 'tsfreeze README', url: 'https://www.npmjs.com/package/tsfreeze' }],
  };
}

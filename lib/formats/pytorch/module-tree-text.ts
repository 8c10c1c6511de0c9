/** A pickled module tree as indented text: each module's path, class and defining attributes. */
import type { JsonValue } from '../checkpoint';
import type { ModuleNode } from './modules';

/** Attributes worth a glance, in this order (what a PyTorch repr shows). */
const SHOWN = ['in_channels', 'out_channels', 'kernel_size', 'stride', 'padding', 'dilation', 'groups', 'in_features', 'out_features', 'num_features', 'eps', 'momentum', 'p', 'output_size', 'num_embeddings', 'embedding_dim', 'normalized_shape', 'use_res_connect'];

/** One line per module, children indented under their parent (as `print(model)` nests them). */
export function formatModuleTree(tree: ModuleNode, opts: { maxLines?: number } = {}): string {
  const lines: string[] = [];
  const max = opts.maxLines ?? 200;
  let more = 0;
  const stack: Array<[ModuleNode, number]> = [[tree, 0]];
  while (stack.length) {
    const [n, depth] = stack.pop()!;
    if (lines.length >= max) { more++; continue; }
    const name = n.path ? n.path.slice(n.path.lastIndexOf('.') + 1) : '(root)';
    const attrs = SHOWN.filter((k) => n.attrs[k] !== undefined && n.attrs[k] !== null).map((k) => `${k}=${short(n.attrs[k])}`);
    const cls = n.cls.slice(n.cls.lastIndexOf('.') + 1);
    lines.push(`${'  '.repeat(depth)}${name}: ${cls}${attrs.length ? `(${attrs.join(', ')})` : ''}`);
    for (let i = n.children.length - 1; i >= 0; i--) stack.push([n.children[i], depth + 1]);
  }
  if (more) lines.push(`… ${more} more modules`);
  return lines.join('\n');
}

function short(v: JsonValue): string {
  return Array.isArray(v) ? `(${v.map((x) => String(x)).join(', ')})` : String(v);
}

/**
 * tslab turns a cell's top-level variables into properties of a shared exports object and
 * rewrites references to them, but misses shorthand properties: after `const x = 1`, a later
 * cell's `{ x }` throws "x is not defined". Spelling each shorthand out (`{ x: x }`, the same
 * meaning in every position, destructuring included) before tslab sees the cell avoids that.
 */
import * as ts from '@tslab/typescript-for-tslab';

/** `code` with every shorthand property `{ x }` written as `{ x: x }`; unchanged when it has none. */
export function expandShorthands(code: string): string {
  if (!code.includes('{')) return code;
  const src = ts.createSourceFile('cell.ts', code, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const at: number[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isShorthandPropertyAssignment(node)) at.push(node.name.getEnd());
    ts.forEachChild(node, visit);
  };
  visit(src);
  if (!at.length) return code;
  let out = code;
  for (const end of at.sort((a, b) => b - a)) {
    const start = end - (out.slice(0, end).match(/[\w$\u0080-\uffff]+$/)?.[0].length ?? 0);
    out = `${out.slice(0, end)}: ${out.slice(start, end)}${out.slice(end)}`;
  }
  return out;
}

/** Finding the function whose call's parentheses hold the cursor, for inspection (Shift+Tab) as ipykernel does it. */
import * as ts from '@tslab/typescript-for-tslab';

/**
 * The position of the name of the innermost function called around `cursor` (`model.predict`
 * for `model.predict(x, |`), or undefined when the cursor is not between a call's parentheses.
 * An unclosed call (the cell ends inside it) counts.
 */
export function calleeAt(src: string, cursor: number): number | undefined {
  const sf = ts.createSourceFile('cell.ts', src, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  // Spaces before the cursor belong to no node: an unclosed call ends where its last word does.
  while (cursor > 0 && /\s/.test(src[cursor - 1])) cursor--;
  let found: ts.CallExpression | ts.NewExpression | undefined;
  const visit = (node: ts.Node): void => {
    if (cursor < node.getFullStart() || cursor > node.getEnd()) return;
    if ((ts.isCallExpression(node) || ts.isNewExpression(node)) && node.arguments && cursor >= node.arguments.pos && cursor <= node.arguments.end) found = node;
    ts.forEachChild(node, visit);
  };
  visit(sf);
  if (!found) return undefined;
  const callee = found.expression;
  if (ts.isPropertyAccessExpression(callee)) return callee.name.getStart(sf);
  if (ts.isIdentifier(callee)) return callee.getStart(sf);
  return Math.max(callee.getStart(sf), callee.getEnd() - 1);
}

/**
 * Fast loops at a cell's top level. tslab's converter keeps every top-level variable of a cell
 * in the session's variables object and copies each assignment there at once
 * (`exports.s = s += i`), so that later cells and callbacks see it. Inside a loop, that store
 * on every iteration (a number boxed each time) made a loop of 1e6 iterations 8–250 times
 * slower than the same loop in a function. Here, in a loop at the top level that does not
 * await, the copies are left out and made once when the loop ends, however it ends
 * (try/finally). Loops inside functions keep the copies: a callback may run any time.
 *
 * The one thing that sees the difference: a function defined in another cell, called from
 * inside such a loop, that reads a variable the loop assigns sees the value from before the
 * loop.
 */
import * as ts from '@tslab/typescript-for-tslab';

/** `js` (a converted cell) with the per-iteration copies of top-level loops moved after them; unchanged when there is none. */
export function fastTopLevelLoops(js: string): string {
  if (!/\b(for|while|do)\b/.test(js)) return js;
  const sf = ts.createSourceFile('cell.js', js, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const own = cellVariables(sf);
  if (!own.size) return js;
  const edits: Array<{ pos: number; end: number; text: string }> = [];
  const visitTop = (node: ts.Node): void => {
    if (isFunctionLike(node)) return;
    if (isLoop(node) && !awaits(node)) {
      const synced = new Set<string>();
      collectCopies(node, own, synced, edits);
      if (synced.size) {
        const stmt = ts.isLabeledStatement(node.parent) ? node.parent : node;
        edits.push({ pos: stmt.getStart(sf), end: stmt.getStart(sf), text: 'try { ' });
        edits.push({ pos: stmt.getEnd(), end: stmt.getEnd(), text: ` } finally { ${[...synced].map((n) => `exports.${n} = ${n};`).join(' ')} }` });
      }
      return;
    }
    ts.forEachChild(node, visitTop);
  };
  ts.forEachChild(sf, visitTop);
  if (!edits.length) return js;
  // Apply from the end; an insertion and a replacement never overlap (insertions are at statement edges).
  edits.sort((a, b) => b.pos - a.pos || b.end - a.end);
  let out = js;
  for (const e of edits) out = out.slice(0, e.pos) + e.text + out.slice(e.end);
  return out;
}

/** Names the cell declares: the top-level `exports.NAME = NAME;` copies the converter writes after each declaration. */
function cellVariables(sf: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  for (const s of sf.statements) {
    const c = copyOf(s.kind === ts.SyntaxKind.ExpressionStatement ? (s as ts.ExpressionStatement).expression : undefined);
    if (c && ts.isIdentifier(c.right) && c.right.text === c.name) names.add(c.name);
  }
  return names;
}

/** `exports.NAME = RIGHT`, taken apart. */
function copyOf(e: ts.Expression | undefined): { name: string; right: ts.Expression; node: ts.BinaryExpression } | undefined {
  if (!e || !ts.isBinaryExpression(e) || e.operatorToken.kind !== ts.SyntaxKind.EqualsToken) return undefined;
  const l = e.left;
  if (!ts.isPropertyAccessExpression(l) || !ts.isIdentifier(l.expression) || l.expression.text !== 'exports' || !ts.isIdentifier(l.name)) return undefined;
  return { name: l.name.text, right: e.right, node: e };
}

/** Replaces each `exports.NAME = RIGHT` (NAME a cell variable) inside `node`, outside nested functions, with `(RIGHT)`. */
function collectCopies(node: ts.Node, own: Set<string>, synced: Set<string>, edits: Array<{ pos: number; end: number; text: string }>): void {
  const sf = node.getSourceFile();
  const visit = (n: ts.Node): void => {
    if (isFunctionLike(n)) return;
    const c = ts.isBinaryExpression(n) ? copyOf(n) : undefined;
    if (c && own.has(c.name)) {
      synced.add(c.name);
      // Only the `exports.NAME = ` part goes: RIGHT stays in place (it may hold more copies, edited separately).
      edits.push({ pos: c.node.getStart(sf), end: c.right.getStart(sf), text: '(' });
      edits.push({ pos: c.node.getEnd(), end: c.node.getEnd(), text: ')' });
    }
    ts.forEachChild(n, visit);
  };
  visit(node);
}

function isLoop(n: ts.Node): boolean {
  return ts.isForStatement(n) || ts.isForOfStatement(n) || ts.isForInStatement(n) || ts.isWhileStatement(n) || ts.isDoStatement(n);
}

function isFunctionLike(n: ts.Node): boolean {
  return ts.isFunctionLike(n) || ts.isClassLike(n);
}

/** Whether `node` awaits outside nested functions (other code runs meanwhile and must see current values). */
function awaits(node: ts.Node): boolean {
  let found = false;
  const visit = (n: ts.Node): void => {
    if (found || isFunctionLike(n)) return;
    if (ts.isAwaitExpression(n) || (ts.isForOfStatement(n) && n.awaitModifier)) { found = true; return; }
    ts.forEachChild(n, visit);
  };
  visit(node);
  return found;
}

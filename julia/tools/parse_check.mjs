// parse_check.mjs: parse Julia files with tree-sitter-julia (wasm, under
// node) and fail on any ERROR or MISSING node. Julia itself is not needed.
//
// usage: node parse_check.mjs FILE.jl...   (exit 0: all parse; 1: errors; 2: setup)
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let Parser, Language;
try {
  ({ Parser, Language } = await import('web-tree-sitter'));
} catch (e) {
  console.error(`parse_check: web-tree-sitter not installed (cd julia/tools && npm ci): ${e.message}`);
  process.exit(2);
}
const wasm = require.resolve('tree-sitter-julia/tree-sitter-julia.wasm');
await Parser.init();
const parser = new Parser();
parser.setLanguage(await Language.load(wasm));

// Every ERROR / MISSING node below `node`, as "line:col kind text".
function problems(node, out) {
  if (node.isError || node.type === 'ERROR') {
    out.push(`${node.startPosition.row + 1}:${node.startPosition.column + 1} ERROR near ${JSON.stringify(node.text.slice(0, 60))}`);
  } else if (node.isMissing) {
    out.push(`${node.startPosition.row + 1}:${node.startPosition.column + 1} MISSING ${node.type}`);
  }
  for (let i = 0; i < node.childCount; i++) problems(node.child(i), out);
  return out;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node parse_check.mjs FILE.jl...');
  process.exit(2);
}
let bad = 0;
for (const file of files) {
  const tree = parser.parse(readFileSync(file, 'utf8'));
  const found = problems(tree.rootNode, []);
  if (tree.rootNode.hasError && found.length === 0) found.push('tree has errors');
  if (found.length) {
    bad++;
    for (const p of found.slice(0, 20)) console.log(`${file}:${p}`);
  } else {
    console.log(`ok: ${file}`);
  }
  tree.delete();
}
process.exit(bad ? 1 : 0);

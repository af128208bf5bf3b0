/*
 * vendor.mjs WEB_SRC NODE_MODULES OUT - the console's served files, flat.
 *
 * escrowd serves one path segment per file (srv_ep_static.c), and the CSP
 * (default-src 'self') allows no import map, so the browser modules and the
 * @noble files they import (installed from web/package-lock.json) are copied
 * into OUT under flat names, with every static import rewritten to the flat
 * name: web/js/kecrypto.js -> kecrypto.js, node_modules/@noble/curves/
 * abstract/weierstrass.js -> noble-curves-abstract-weierstrass.js.  Only
 * files reachable from web/js/ are copied.  Anything this cannot rewrite
 * with certainty (a dynamic import, a specifier outside @noble or the tree)
 * fails the build rather than ship a page that breaks in the browser.
 */
import fs from 'node:fs';
import path from 'node:path';

const [src, modules, out] = process.argv.slice(2);
if (!src || !modules || !out) {
  console.error('usage: vendor.mjs WEB_SRC NODE_MODULES OUT');
  process.exit(2);
}
/* A static import or re-export statement at the start of a line (so not
 * the examples in JSDoc comments, whose lines start with " * "). */
const IMPORT = /^(\s*import\s*(?:[\w*{}\s,$]+?\s*from\s*)?|\s*export\s*(?:\*(?:\s+as\s+\w+)?|\{[^}]*\})\s*from\s*)(['"])([^'"]+)\2/gm;

function flatName(file) {
  const rel = path.relative(modules, file);
  if (!rel.startsWith('..')) return rel.split(path.sep).join('-').replace(/^@/, '');
  return path.basename(file);
}

function resolve(spec, from) {
  if (spec.startsWith('./') || spec.startsWith('../')) return path.resolve(path.dirname(from), spec);
  if (spec.startsWith('@noble/')) return path.join(modules, spec);
  throw new Error(`${from}: cannot vendor the import '${spec}'`);
}

const done = new Map();
function vendor(file) {
  if (done.has(file)) return done.get(file);
  const name = flatName(file);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name) || !name.endsWith('.js'))
    throw new Error(`${file}: flat name ${name} is not servable`);
  done.set(file, name);
  let text = fs.readFileSync(file, 'utf8');
  if (/\bimport\s*\(/.test(text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')))
    throw new Error(`${file}: a dynamic import cannot be vendored`);
  text = text.replace(IMPORT, (m, head, q, spec) => `${head}${q}./${vendor(resolve(spec, file))}${q}`);
  text = text.replace(/^\/\/# sourceMappingURL=.*$/gm, '');
  fs.writeFileSync(path.join(out, name), text);
  return name;
}

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
for (const f of fs.readdirSync(src))
  if (/\.(html|css|svg)$/.test(f) || f === 'console.js') fs.copyFileSync(path.join(src, f), path.join(out, f));
for (const f of fs.readdirSync(path.join(src, 'js')).filter((f) => f.endsWith('.js')).sort())
  vendor(path.join(src, 'js', f));
for (const pkg of ['curves', 'hashes'])
  fs.copyFileSync(path.join(modules, '@noble', pkg, 'LICENSE'), path.join(out, `noble-${pkg}-LICENSE.txt`));
console.log(`vendor.mjs: ${done.size} modules into ${out}`);

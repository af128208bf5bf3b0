// check_responses.mjs API_YAML RECORD_DIR: every answer the end-to-end
// tests recorded (tests/server/lib.sh api_record, device_agent.py record:
// one JSON line per answer, {test, method, url, status, content_type,
// body_b64}) against what docs/api.yaml says that path, method and status
// return.  The server is the truth: a mismatch is a fault of api.yaml.
//
// A JSON body is validated with ajv against the response's schema ($refs
// resolved, OpenAPI 3.0 `nullable` rewritten as JSON Schema's null type);
// other media types must be declared for the response.  Answers that
// api.yaml gives no schema for are listed, not failed.  Exit 0 all agree,
// 1 a mismatch, 77 nothing recorded (the server tests did not run).
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

const [apiFile, recDir] = process.argv.slice(2);
const DOC_ID = 'api.json';

// OpenAPI 3.0 schema objects -> JSON Schema (draft 7, what ajv takes):
// `nullable: true` adds null to `type` (and to `enum`); local $refs point
// into the document added to ajv under DOC_ID.
function toJsonSchema(node) {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/')) out[k] = DOC_ID + v;
    else if (k !== 'nullable') out[k] = toJsonSchema(v);
  }
  if (node.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum.push(null);
  }
  return out;
}

const doc = YAML.parse(fs.readFileSync(apiFile, 'utf8'));
const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
addFormats(ajv);
ajv.addSchema(toJsonSchema(doc), DOC_ID);

function deref(obj) {
  while (obj && typeof obj.$ref === 'string') {
    obj = obj.$ref.slice(2).split('/')
      .reduce((o, k) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  }
  return obj;
}

// Path templates, the most literal segments first (/v1/audit/checkpoint
// before a template that would also match it).
const templates = Object.keys(doc.paths).map((t) => ({
  t,
  re: new RegExp('^' + t.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+') + '$'),
  literal: t.split('/').filter((s) => s && !s.startsWith('{')).length,
})).sort((a, b) => b.literal - a.literal);

const compiled = new Map();
function validator(where, schema) {
  if (!compiled.has(where)) compiled.set(where, ajv.compile(toJsonSchema(schema)));
  return compiled.get(where);
}

const failures = new Map();   // message -> [count, first example]
const noSchema = new Map();   // "METHOD template status type" -> count
const counts = { answers: 0, validated: 0 };
const seen = new Set();       // "METHOD template status" that an answer reached
const bump = (m, k, ex) => { const e = m.get(k) || [0, ex]; e[0]++; m.set(k, e); };

function check(rec) {
  const u = new URL(rec.url);
  const method = rec.method.toUpperCase();
  const status = String(rec.status);
  const tpl = templates.find((x) => x.re.test(u.pathname));
  const op = tpl && doc.paths[tpl.t][method === 'HEAD' ? 'get' : method.toLowerCase()];
  const what = `${method} ${tpl ? tpl.t : u.pathname} ${status}`;
  let resp, where;
  if (op) {
    const key = [status, status[0] + 'XX', 'default'].find((k) => op.responses[k]);
    if (!key) return bump(failures, `${what}: status not documented`, rec);
    seen.add(`${method === 'HEAD' ? 'GET' : method} ${tpl.t} ${key}`);
    resp = deref(op.responses[key]);
    where = `${tpl.t} ${method} ${key}`;
  } else if (rec.status >= 400) {
    // Unknown paths (404) and methods (405): the common Error answer.
    resp = doc.components.responses.Error;
    where = 'components/responses/Error';
  } else {
    return bump(noSchema, `${what}: path or method not in api.yaml`, rec);
  }
  const body = Buffer.from(rec.body_b64 || '', 'base64');
  if (method === 'HEAD' || body.length === 0) return;
  const type = (rec.content_type || '').split(';')[0].trim().toLowerCase();
  if (!resp.content) return bump(noSchema, `${what} ${type}: no content documented`, rec);
  const mt = Object.entries(resp.content).find(([k]) => k.split(';')[0].trim().toLowerCase() === type);
  if (!mt) return bump(failures, `${what}: ${type || 'no Content-Type'} not documented (${Object.keys(resp.content).join(', ')})`, rec);
  if (!mt[1].schema) return bump(noSchema, `${what} ${type}: no schema`, rec);
  if (type !== 'application/json') return;
  let value;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return bump(failures, `${what}: body is not JSON`, rec);
  }
  const v = validator(`${where} ${mt[0]}`, mt[1].schema);
  counts.validated++;
  if (!v(value)) {
    // Array indices folded, so one fault in many rows is one message.
    const errs = [...new Set(v.errors.map((e) => `${(e.instancePath || '/').replace(/\/\d+(?=\/|$)/g, '/*')} ` +
      e.message + (e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : '')))].join('; ');
    bump(failures, `${what}: ${errs}`, rec);
  }
}

let files = [];
try {
  files = fs.readdirSync(recDir).filter((f) => f.endsWith('.jsonl'));
} catch { /* no directory: nothing recorded */ }
for (const f of files) {
  for (const line of fs.readFileSync(path.join(recDir, f), 'utf8').split('\n')) {
    if (!line) continue;
    counts.answers++;
    let rec;
    try {
      rec = JSON.parse(line);
    } catch {
      bump(failures, `${f}: unreadable record line`, { test: f });
      continue;
    }
    check(rec);
  }
}
if (counts.answers === 0) {
  console.log(`check_responses: no answers recorded in ${recDir} (run the server tests first): skipped`);
  process.exit(77);
}
const list = (m) => [...m.entries()].sort().map(([k, [n, ex]]) => `  ${k}  [${n}x, e.g. ${ex.test}]`);
// Documented 2xx answers that no recorded answer reached (escrowctl and
// escrow-agent answers are not recorded): what this check does not cover.
const unseen = [];
for (const [t, ops] of Object.entries(doc.paths)) {
  for (const [m, op] of Object.entries(ops)) {
    for (const st of Object.keys(op.responses || {})) {
      if (st.startsWith('2') && !seen.has(`${m.toUpperCase()} ${t} ${st}`)) unseen.push(`  ${m.toUpperCase()} ${t} ${st}`);
    }
  }
}
if (unseen.length) console.log(`documented answers no recorded test answer reached:\n${unseen.join('\n')}`);
if (noSchema.size) console.log(`answers that docs/api.yaml gives no schema for:\n${list(noSchema).join('\n')}`);
if (failures.size) console.log(`answers that disagree with docs/api.yaml:\n${list(failures).join('\n')}`);
console.log(`check_responses: ${counts.answers} answers from ${files.length} files, ` +
  `${counts.validated} JSON bodies validated, ${noSchema.size} kinds without a schema, ` +
  `${failures.size} kinds disagreeing`);
process.exit(failures.size ? 1 : 0);

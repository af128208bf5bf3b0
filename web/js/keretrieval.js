/*
 * keretrieval.js - the requester's side of an online retrieval in the
 * browser (docs/protocol.md section 8 and 5.3; lib/ke_retrieval.c and
 * ke_request_parse in lib/ke_files.c are the C twins): the client key, the
 * signed statement, the checks of a request file, and how a secret is shown.
 */
import { KeError, b64urlEncode, b64urlDecode, bytesToHex, hexToBytes, sha256, equalBytes,
         escrowKeyOf, parseEnvelope, confirmationCode, decodePoint } from './kecrypto.js';

const fail = (code, msg) => { throw new KeError(code, msg); };
const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();

/* ---- the client key (Ed25519) ------------------------------------------- */

/* A new client key: the private half is a non-extractable CryptoKey (the
 * console keeps the pair in IndexedDB, which stores it without exposing
 * its bytes).  publicRaw is the 32-byte key escrowd registers. */
export async function newClientKey() {
  const kp = await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
  const publicRaw = new Uint8Array(await subtle.exportKey('raw', kp.publicKey));
  return { privateKey: kp.privateKey, publicKey: kp.publicKey, publicRaw };
}

/* SHA-256 of the raw public key, lower-case hex: what `escrowctl key show`
 * prints and custodians pin. */
export async function clientKeyFingerprint(publicRaw) {
  if (!(publicRaw instanceof Uint8Array) || publicRaw.length !== 32) fail('format', 'an Ed25519 key is 32 bytes');
  return bytesToHex(await sha256(publicRaw));
}

function fieldOk(v) {
  return typeof v === 'string' && !/[\u0000-\u001f\u007f]/.test(v);
}

/* The statement of section 8, exactly; fields may be '' (device, volume,
 * key_id).  The record line is there only when the request names one
 * record by its id (an older key), as lib/ke_retrieval.c writes it.  A
 * field with a control character is refused, so the text parses one way
 * only. */
export function requestStatement(f) {
  const names = ['id', 'device', 'volume', 'key_id', ...(f.record ? ['record'] : []), 'E',
                 'reason', 'ticket', 'nonce'];
  for (const k of names)
    if (!fieldOk(f[k] ?? '')) fail('format', `field ${k} holds a control character`);
  const text = 'keyescrow-v1-retrieval-request\n' +
    names.map((k) => `${k}=${f[k] ?? ''}\n`).join('');
  if (utf8.encode(text).length >= 2048) fail('format', 'the statement is too long');
  return text;
}

export async function signStatement(privateKey, text) {
  return new Uint8Array(await subtle.sign({ name: 'Ed25519' }, privateKey, utf8.encode(text)));
}

export async function verifyStatement(publicRaw, signature, text) {
  const key = await subtle.importKey('raw', publicRaw, { name: 'Ed25519' }, false, ['verify']);
  return subtle.verify({ name: 'Ed25519' }, key, signature, utf8.encode(text));
}

const B32L = 'abcdefghijklmnopqrstuvwxyz234567';

/* "req-" and 26 characters of a-z2-7: 130 random bits. */
export function newRequestId() {
  const b = globalThis.crypto.getRandomValues(new Uint8Array(26));
  return 'req-' + Array.from(b, (x) => B32L[x & 31]).join('');
}

/* 16 random bytes as 22 base64url characters. */
export function newNonce() {
  return b64urlEncode(globalThis.crypto.getRandomValues(new Uint8Array(16)));
}

/* ---- the request file (5.3) ---------------------------------------------- */

const REQUEST_FIELDS = ['version', 'request_id', 'device', 'volume', 'fingerprint', 'threshold',
                        'shares', 'commitments', 'R', 'E', 'envelope', 'envelope_sha256',
                        'confirmation_code', 'created'];
const REQUESTER_FIELDS = ['user', 'public_key', 'fingerprint', 'device', 'volume', 'key_id',
                          'reason', 'ticket', 'nonce', 'signature'];

function exactFields(o, allowed, ctx, optional = []) {
  if (!o || typeof o !== 'object' || Array.isArray(o)) fail('format', `${ctx}: not an object`);
  for (const k of Object.keys(o))
    if (!allowed.includes(k) && !optional.includes(k)) fail('format', `${ctx}: unknown field ${k}`);
  for (const k of allowed) if (!(k in o)) fail('format', `${ctx}: missing field ${k}`);
}

/* Controls and invisible formatting (C1, Unicode Cf, line/paragraph
 * separators): the ranges lib/ke_files_json.c refuses in labels, so that
 * a name cannot display as another. */
const REFUSED = /[\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\u{110bd}\u{110cd}\u{13430}-\u{1343f}\u{1bca0}-\u{1bca3}\u{1d173}-\u{1d17a}\u{e0001}\u{e0020}-\u{e007f}]/u;

const ascii = (s, min, max) => typeof s === 'string' && s.length >= min && s.length <= max &&
  /^[\x21-\x7e]*$/.test(s);
const text = (s, max) => typeof s === 'string' && s.length > 0 && utf8.encode(s).length <= max &&
  s.isWellFormed() && !REFUSED.test(s);

async function checkRequester(q, r, E) {
  exactFields(q, REQUESTER_FIELDS, 'requester', ['record']);
  const record = q.record ?? '';
  if (!/^[a-z][a-z0-9._-]{0,62}$/.test(q.user)) fail('format', 'requester: user is not an account name');
  const pub = b64urlDecode(q.public_key, 32);
  if (await clientKeyFingerprint(pub) !== q.fingerprint)
    fail('fingerprint', 'requester: fingerprint is not the SHA-256 of public_key');
  if ((q.device !== '' && !text(q.device, 256)) || (q.volume !== '' && !text(q.volume, 256)) ||
      (q.key_id !== '' && !ascii(q.key_id, 4, 64)))
    fail('format', 'requester: bad device, volume or key_id');
  if (record !== '' && !/^rec-[a-z2-7]{26}$/.test(record)) fail('format', 'requester: bad record');
  if ((q.device !== '') + (q.key_id !== '') + (record !== '') !== 1 || (q.volume !== '' && q.device === ''))
    fail('format', 'requester: names the record by device (and volume), by key_id or by record, exactly one');
  if (!text(q.reason, 500) || !ascii(q.ticket, 1, 128) || !/^[A-Za-z0-9_-]{22}$/.test(q.nonce))
    fail('format', 'requester: bad reason, ticket or nonce');
  if (q.volume !== '' && q.volume !== r.volume) fail('format', "requester: the signed volume is not the request's");
  const stmt = requestStatement({ id: r.request_id, device: q.device, volume: q.volume, key_id: q.key_id,
                                  record, E: b64urlEncode(E), reason: q.reason, ticket: q.ticket,
                                  nonce: q.nonce });
  if (!await verifyStatement(pub, b64urlDecode(q.signature, 64), stmt))
    fail('auth', 'requester: the signature does not verify over this request id and E');
}

/* Every check of 5.3 (those of ke_request_parse), and the caller's own:
 * the request must carry `own.id` and `own.E` (33 bytes), or it is not
 * ours.  Returns the parsed values: {requestId, device, volume, key (the
 * escrow key: t, n, Q, publicShares, fingerprint), R, E, envelope,
 * envelopeSha256, code, requester}. */
export async function parseRequestFile(r, own) {
  exactFields(r, 'requester' in (r || {}) ? [...REQUEST_FIELDS, 'requester'] : REQUEST_FIELDS, 'request');
  if (r.version !== 1) fail('format', 'request: version must be 1');
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(r.request_id)) fail('format', 'request: bad request_id');
  if (!text(r.device, 256) || !text(r.volume, 256)) fail('format', 'request: bad device or volume');
  const key = await escrowKeyOf(r);
  const R = b64urlDecode(r.R, 33), E = b64urlDecode(r.E, 33);
  decodePoint(R);
  decodePoint(E);
  const envelope = b64urlDecode(r.envelope);
  const env = parseEnvelope(envelope);
  if (bytesToHex(await sha256(envelope)) !== r.envelope_sha256)
    fail('format', 'request: envelope_sha256 is not the SHA-256 of the envelope');
  if (!equalBytes(hexToBytes(r.fingerprint, 32), hexToBytes(key.fingerprint)))
    fail('fingerprint', 'request: fingerprint does not match threshold, shares and commitments');
  if (!equalBytes(env.R, R)) fail('format', 'request: R is not the R inside the envelope');
  if (!equalBytes(env.fingerprint, hexToBytes(key.fingerprint)))
    fail('fingerprint', "request: fingerprint is not the envelope's escrow key fingerprint");
  if (r.confirmation_code !== await confirmationCode(r.request_id, E, R))
    fail('format', 'request: confirmation_code does not follow from request_id, E and R');
  if ('requester' in r) await checkRequester(r.requester, r, E);
  if (own && (r.request_id !== own.id || !equalBytes(E, own.E)))
    fail('not_ours', 'request: the id or E is not the one this page made');
  return { requestId: r.request_id, device: r.device, volume: r.volume, key, R, E, envelope,
           envelopeSha256: r.envelope_sha256, code: r.confirmation_code, requester: r.requester };
}

/* ---- showing the secret ---------------------------------------------------- */

/* A BitLocker recovery password: 8 blocks of 6 digits, each a multiple of
 * 11 below 720896, separated all by '-', all by ' ' or not at all.
 * Returns the canonical dashed form, or null. */
export function bitlockerPassword(s) {
  const m = /^(\d{6})([- ]?)(\d{6})\2(\d{6})\2(\d{6})\2(\d{6})\2(\d{6})\2(\d{6})\2(\d{6})$/.exec(s);
  if (!m) return null;
  const blocks = [m[1], ...m.slice(3)];
  if (!blocks.every((b) => Number(b) < 720896 && Number(b) % 11 === 0)) return null;
  return blocks.join('-');
}

function textValid(bytes) {
  try {
    const s = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return REFUSED.test(s) ? null : s;
  } catch {
    return null;
  }
}

/* What a person reads, as `escrowctl retrieve` shows it on a terminal: a
 * BitLocker key as its 8 groups of 6 digits, text as text, else hex. */
export function formatSecret(type, bytes) {
  const s = textValid(bytes);
  if (type === 'bitlocker' && s !== null) {
    const canon = bitlockerPassword(s);
    if (canon) return { kind: 'bitlocker', text: canon };
  }
  if (s !== null) return { kind: 'text', text: s };
  return { kind: 'hex', text: bytesToHex(bytes) };
}

/*
 * kecrypto.js - keyescrow's cryptography for the browser (docs/protocol.md,
 * the same bytes as lib/): what a helpdesk technician's page needs to open a
 * recovery key itself, so that escrowd never sees e, a part or the key.
 *
 * WebCrypto does the primitives it has: ECDH (the one-time key e and the
 * sealed parts), HKDF, AES-GCM, SHA-256, HMAC and Ed25519 (the client key).
 * Private keys it makes are non-extractable CryptoKeys.  @noble/curves does
 * the P-256 point arithmetic WebCrypto lacks: decoding and validating points,
 * Feldman public shares, DLEQ verification and the Lagrange combination.
 * Nothing here is hand-written group or field arithmetic.
 *
 * Every point, scalar, length and index from outside is validated as
 * section 1 of the protocol says; a violation throws KeError with a `code`.
 * The secret scalars the page handles (e, the combined S) live in
 * CryptoKeys or are public-value operations (S is the sum of parts that
 * arrived sealed to E; whoever has S can open the one envelope, which is
 * the point).  Deliberately absent: share files.  A share must never be
 * loaded into a page the server serves (docs/threat-model.md).
 *
 * Runs unchanged in Chromium and in node >= 20 (globalThis.crypto).
 */
import { p256 } from '@noble/curves/nist.js';

const Point = p256.Point;
const Fn = Point.Fn;             /* scalars mod n */
const N_ORDER = Fn.ORDER;
const P_FIELD = Point.Fp.ORDER;
const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();

export class KeError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
const fail = (code, msg) => { throw new KeError(code, msg); };

/* ---- encodings ---------------------------------------------------------- */

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export function bytesToHex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/* Lower- or upper-case hex of exactly `len` bytes when len is given. */
export function hexToBytes(h, len) {
  if (typeof h !== 'string' || h.length % 2 || !/^[0-9a-fA-F]*$/.test(h))
    fail('format', 'not hex');
  if (len !== undefined && h.length !== 2 * len)
    fail('format', `expected ${len} bytes of hex`);
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(2 * i, 2), 16);
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export function b64urlEncode(b) {
  let s = '';
  for (let i = 0; i < b.length; i += 3) {
    const v = (b[i] << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    const n = Math.min(3, b.length - i) + 1;
    for (let k = 0; k < n; k++) s += B64[(v >> (18 - 6 * k)) & 63];
  }
  return s;
}

/* Strict: no padding, no other character, no non-zero trailing bits, so
 * each byte string has exactly one encoding (protocol section 1). */
export function b64urlDecode(s, len) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1)
    fail('format', 'not unpadded base64url');
  const out = new Uint8Array(Math.floor((s.length * 6) / 8));
  let acc = 0, bits = 0, o = 0;
  for (const c of s) {
    acc = (acc << 6) | B64.indexOf(c);
    bits += 6;
    if (bits >= 8) { bits -= 8; out[o++] = (acc >> bits) & 0xff; }
  }
  if (acc & ((1 << bits) - 1)) fail('format', 'base64url with non-zero trailing bits');
  if (len !== undefined && out.length !== len) fail('format', `expected ${len} bytes`);
  return out;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
export { equalBytes };

/* ---- points and scalars ------------------------------------------------- */

function bytesToBig(b) {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

function bigToBytes(v, len = 32) {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

/* A point from anywhere: exactly 33 bytes, 02/03, x < p, on the curve; never
 * infinity, never an uncompressed or hybrid encoding. */
export function decodePoint(b) {
  if (!(b instanceof Uint8Array) || b.length !== 33 || (b[0] !== 2 && b[0] !== 3))
    fail('invalid_point', 'a point is 33 bytes, compressed');
  if (bytesToBig(b.subarray(1)) >= P_FIELD) fail('invalid_point', 'x is not below p');
  try {
    const pt = Point.fromBytes(b);
    if (pt.is0()) fail('invalid_point', 'the point at infinity');
    return pt;
  } catch (e) {
    if (e instanceof KeError) throw e;
    return fail('invalid_point', 'not a point of P-256');
  }
}

export function encodePoint(pt) {
  if (pt.is0()) fail('invalid_point', 'the point at infinity');
  return pt.toBytes(true);
}

/* A scalar from anywhere: 32 bytes, 1 <= v <= n-1 (never reduced). */
export function decodeScalar(b) {
  if (!(b instanceof Uint8Array) || b.length !== 32) fail('invalid_scalar', 'a scalar is 32 bytes');
  const v = bytesToBig(b);
  if (v === 0n || v >= N_ORDER) fail('invalid_scalar', 'a scalar is in [1, n-1]');
  return v;
}

function checkIndex(i) {
  if (!Number.isInteger(i) || i < 1 || i > 255) fail('invalid_index', 'an index is 1..255');
  return i;
}

/* ---- primitives (WebCrypto) --------------------------------------------- */

export async function sha256(b) {
  return new Uint8Array(await subtle.digest('SHA-256', b));
}

/* An AES-256-GCM key (non-extractable) from HKDF-SHA256. */
async function hkdfAesKey(ikm, salt, info, usage) {
  const base = await subtle.importKey('raw', ikm, 'HKDF', false, ['deriveKey']);
  return subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt, info: utf8.encode(info) }, base,
                          { name: 'AES-GCM', length: 256 }, false, [usage]);
}

async function gcmOpen(key, nonce, ct, aad) {
  try {
    return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad,
                                                 tagLength: 128 }, key, ct));
  } catch {
    return fail('decrypt', 'authentication failed');
  }
}

async function gcmSeal(key, nonce, pt, aad) {
  return new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad,
                                               tagLength: 128 }, key, pt));
}

function randomBytes(n) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

function randomScalar() {
  for (;;) {
    const b = randomBytes(32), v = bytesToBig(b);
    if (v !== 0n && v < N_ORDER) return b;
  }
}

/* ---- escrow key (2.1, 2.2, 5.1) ----------------------------------------- */

function checkKeyShape(t, n, commitments) {
  if (!Number.isInteger(t) || !Number.isInteger(n) || t < 1 || t > n || n > 255)
    fail('format', 'need 1 <= threshold <= shares <= 255');
  if (!Array.isArray(commitments) || commitments.length !== t)
    fail('format', 'commitments must hold exactly threshold points');
  return commitments.map(decodePoint);
}

/* SHA-256("keyescrow-v1-escrow-key" || t || N || C_0 || ... || C_{t-1}). */
export async function escrowFingerprint(t, n, commitments) {
  checkKeyShape(t, n, commitments);
  return sha256(concat(utf8.encode('keyescrow-v1-escrow-key'), Uint8Array.of(t, n), ...commitments));
}

/* Q_i = sum_j i^j * C_j, for i = 1..N: Map index -> 33 bytes. */
export function publicShares(t, n, commitments) {
  const C = checkKeyShape(t, n, commitments);
  const out = new Map();
  for (let i = 1; i <= n; i++) {
    let acc = Point.ZERO, pow = 1n;
    for (const c of C) {
      acc = acc.add(c.multiply(pow));
      pow = Fn.mul(pow, BigInt(i));
    }
    out.set(i, encodePoint(acc));
  }
  return out;
}

/* The escrow key's public values from a manifest (5.1) or a request file
 * (5.3): threshold, shares and base64url commitments.  Returns {t, n, Q,
 * commitments, publicShares, fingerprint (hex)}. */
export async function escrowKeyOf(obj) {
  if (!obj || !Array.isArray(obj.commitments)) fail('format', 'no commitments');
  const commitments = obj.commitments.map((c) => b64urlDecode(c, 33));
  const t = obj.threshold, n = obj.shares;
  const fpr = await escrowFingerprint(t, n, commitments);
  return { t, n, Q: commitments[0], commitments, publicShares: publicShares(t, n, commitments),
           fingerprint: bytesToHex(fpr) };
}

/* A published manifest (5.1, as escrowd serves it): every stored copy must
 * match what t, N and the commitments give.  The caller then compares the
 * fingerprint with its pin. */
export async function parseManifest(m) {
  if (!m || m.version !== 1 || m.curve !== 'P-256') fail('format', 'not a version 1 P-256 manifest');
  const key = await escrowKeyOf(m);
  if (key.fingerprint !== m.fingerprint) fail('format', 'manifest fingerprint does not match its key');
  if (m.public_key !== b64urlEncode(key.Q)) fail('format', 'public_key is not commitments[0]');
  if (!Array.isArray(m.custodians) || m.custodians.length !== key.n) fail('format', 'need N custodians');
  m.custodians.forEach((c, k) => {
    if (c.index !== k + 1 || c.public_share !== b64urlEncode(key.publicShares.get(k + 1)))
      fail('format', `custodian ${k + 1}: index or public share does not match the commitments`);
  });
  return key;
}

/* ---- envelope (3) -------------------------------------------------------- */

export function parseEnvelope(env) {
  if (!(env instanceof Uint8Array) || env.length < 112 || env.length > 1120)
    fail('format', 'an envelope is 112..1120 bytes');
  if (env[0] !== 0x4b || env[1] !== 0x45 || env[2] !== 1) fail('format', 'not a version 1 envelope');
  const R = env.slice(35, 68);
  decodePoint(R);
  return { fingerprint: env.slice(3, 35), R, nonce: env.slice(68, 80), header: env.slice(0, 80),
           sealed: env.slice(80) };
}

function envelopeAad(header, deviceId, volumeId) {
  return concat(header, utf8.encode(deviceId), Uint8Array.of(0), utf8.encode(volumeId));
}

/* Open with S = d*R (the combination of 4.3).  Q is the escrow public key. */
export async function openEnvelope(S, env, deviceId, volumeId, Q) {
  const e = parseEnvelope(env);
  decodePoint(S);
  decodePoint(Q);
  const key = await hkdfAesKey(S.slice(1), concat(e.R, Q), 'keyescrow-v1-wrap', 'decrypt');
  return gcmOpen(key, e.nonce, e.sealed, envelopeAad(e.header, deviceId, volumeId));
}

/* Seal a secret (16..1024 bytes) to Q.  `rnd` = {k, nonce} only for the
 * known-answer tests; the page never seals. */
export async function sealEnvelope(secret, Q, fingerprint, deviceId, volumeId, rnd = {}) {
  if (secret.length < 16 || secret.length > 1024) fail('format', 'a secret is 16..1024 bytes');
  const k = decodeScalar(rnd.k || randomScalar());
  const nonce = rnd.nonce || randomBytes(12);
  const R = encodePoint(Point.BASE.multiply(k));
  const S = encodePoint(decodePoint(Q).multiply(k));
  const header = concat(Uint8Array.of(0x4b, 0x45, 1), fingerprint, R, nonce);
  const key = await hkdfAesKey(S.slice(1), concat(R, Q), 'keyescrow-v1-wrap', 'encrypt');
  return concat(header, await gcmSeal(key, nonce, secret, envelopeAad(header, deviceId, volumeId)));
}

/* v1 verifier: HMAC-SHA256(secret, "keyescrow-v1-verifier" || dev || 0 || vol). */
export async function verifierV1(secret, deviceId, volumeId) {
  const key = await subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const msg = concat(utf8.encode('keyescrow-v1-verifier'), utf8.encode(deviceId), Uint8Array.of(0),
                     utf8.encode(volumeId));
  return new Uint8Array(await subtle.sign('HMAC', key, msg));
}

/* ---- threshold opening (4.1 .. 4.4) -------------------------------------- */

async function dleqChallenge(Qi, R, Pi, A, B, index, context) {
  const h = await sha256(concat(utf8.encode('keyescrow-v1-dleq'), Qi, R, Pi, A, B,
                                Uint8Array.of(index), utf8.encode(context)));
  return Fn.create(bytesToBig(h));
}

/* Verify proof = P_i || c || s (97 bytes) that log_G(Q_i) = log_R(P_i),
 * bound to `context` (the request id).  Returns P_i (33 bytes); throws
 * KeError 'bad_proof' when the proof does not hold. */
export async function verifyPart(proof, Qi, R, index, context) {
  checkIndex(index);
  if (!(proof instanceof Uint8Array) || proof.length !== 97) fail('format', 'a proof is 97 bytes');
  const Pi = proof.slice(0, 33);
  const PiPt = decodePoint(Pi), QiPt = decodePoint(Qi), RPt = decodePoint(R);
  const c = decodeScalar(proof.slice(33, 65)), s = decodeScalar(proof.slice(65, 97));
  const A = Point.BASE.multiply(s).add(QiPt.multiply(c));
  const B = RPt.multiply(s).add(PiPt.multiply(c));
  if (A.is0() || B.is0()) fail('bad_proof', 'the proof does not verify');
  const c2 = await dleqChallenge(Qi, R, Pi, encodePoint(A), encodePoint(B), index, context);
  if (c2 !== c) fail('bad_proof', 'the proof does not verify');
  return Pi;
}

/* The one-time request key: e stays inside a non-extractable CryptoKey. */
export async function newRequestKey() {
  const kp = await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
  const raw = new Uint8Array(await subtle.exportKey('raw', kp.publicKey));
  return { privateKey: kp.privateKey, E: Point.fromBytes(raw).toBytes(true) };
}

/* For the known-answer tests: an ECDH CryptoKey from a given scalar. */
export async function importRequestKey(eBytes) {
  const e = decodeScalar(eBytes);
  const pub = Point.BASE.multiply(e).toBytes(false);
  const jwk = { kty: 'EC', crv: 'P-256', d: b64urlEncode(eBytes), x: b64urlEncode(pub.slice(1, 33)),
                y: b64urlEncode(pub.slice(33)), ext: false };
  const privateKey = await subtle.importKey('jwk', jwk, { name: 'ECDH', namedCurve: 'P-256' }, false,
                                            ['deriveBits']);
  return { privateKey, E: Point.BASE.multiply(e).toBytes(true) };
}

async function ecdhX(privateKey, peer) {
  const raw = decodePoint(peer).toBytes(false);
  const pub = await subtle.importKey('raw', raw, { name: 'ECDH', namedCurve: 'P-256' }, false, []);
  return new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: pub }, privateKey, 256));
}

function partAad(header, requestId, index) {
  return concat(header, utf8.encode(requestId), Uint8Array.of(index));
}

/* Open a sealed part (161 bytes, 4.2) with the request key: the proof
 * (97 bytes) for verifyPart. */
export async function openPart(requestKey, part, requestId, index) {
  checkIndex(index);
  if (!(part instanceof Uint8Array) || part.length !== 161 || part[0] !== 0x4b || part[1] !== 0x50 ||
      part[2] !== 1)
    fail('format', 'a sealed part is 161 bytes, version 1');
  const Re = part.slice(3, 36), header = part.slice(0, 48);
  const x = await ecdhX(requestKey.privateKey, Re);
  const key = await hkdfAesKey(x, concat(Re, requestKey.E), 'keyescrow-v1-partial', 'decrypt');
  return gcmOpen(key, part.slice(36, 48), part.slice(48), partAad(header, requestId, index));
}

/* For the known-answer tests: seal a proof to E with given k and nonce. */
export async function sealPart(proof, E, requestId, index, rnd = {}) {
  checkIndex(index);
  const k = decodeScalar(rnd.k || randomScalar());
  const nonce = rnd.nonce || randomBytes(12);
  const Re = encodePoint(Point.BASE.multiply(k));
  const x = encodePoint(decodePoint(E).multiply(k)).slice(1);
  const header = concat(Uint8Array.of(0x4b, 0x50, 1), Re, nonce);
  const key = await hkdfAesKey(x, concat(Re, E), 'keyescrow-v1-partial', 'encrypt');
  return concat(header, await gcmSeal(key, nonce, proof, partAad(header, requestId, index)));
}

/* lambda_i = prod_{j != i} j / (j - i) mod n, for distinct indices. */
export function lagrange(indices) {
  indices.forEach(checkIndex);
  if (new Set(indices).size !== indices.length) fail('invalid_index', 'indices must be distinct');
  return indices.map((i) => {
    let num = 1n, den = 1n;
    for (const j of indices) {
      if (j === i) continue;
      num = Fn.mul(num, BigInt(j));
      den = Fn.mul(den, Fn.create(BigInt(j - i)));
    }
    return Fn.div(num, den);
  });
}

/* S = sum lambda_i * P_i over exactly the good parts [{index, P}]. */
export function combine(parts) {
  const lam = lagrange(parts.map((p) => p.index));
  let S = Point.ZERO;
  parts.forEach((p, k) => { S = S.add(decodePoint(p.P).multiply(lam[k])); });
  return encodePoint(S);
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/* 8 characters: base32 of the first 40 bits of
 * SHA-256("keyescrow-v1-sas" || request_id || E || R). */
export async function confirmationCode(requestId, E, R) {
  decodePoint(E);
  decodePoint(R);
  const h = await sha256(concat(utf8.encode('keyescrow-v1-sas'), utf8.encode(requestId), E, R));
  const v = bytesToBig(h.subarray(0, 5));
  let s = '';
  for (let k = 7; k >= 0; k--) s += B32[Number((v >> BigInt(5 * k)) & 31n)];
  return s;
}

/* ---- the scalar-lagrange values, for tests --------------------------------- */
export const scalarToHex = (v) => bytesToHex(bigToBytes(v));

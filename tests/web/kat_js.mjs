/*
 * kat_js.mjs JSDIR VECTORS.json - the browser's crypto module
 * (web/js/kecrypto.js, kelog.js, keretrieval.js) against the known-answer
 * vectors, byte for byte, under node; then the refusals.
 *
 * Every category of the vectors the browser implements is checked.  Not
 * share_file: a share is never unsealed in a page the server serves
 * (docs/threat-model.md), so the browser has no scrypt and no share code.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [jsdir, vectorsFile] = process.argv.slice(2);
const K = await import(pathToFileURL(path.join(jsdir, 'kecrypto.js')));
const L = await import(pathToFileURL(path.join(jsdir, 'kelog.js')));
const RT = await import(pathToFileURL(path.join(jsdir, 'keretrieval.js')));
const V = JSON.parse(fs.readFileSync(vectorsFile, 'utf8'));
const { hexToBytes: hx, bytesToHex: toHex, b64urlEncode: b64 } = K;
let checks = 0;

function check(cond, msg) {
  if (!cond) throw new Error('FAIL: ' + msg);
  checks++;
}
const same = (a, b, msg) => check(toHex(a) === toHex(b), `${msg}: ${toHex(a)} != ${toHex(b)}`);

async function refused(fn, code, msg) {
  try {
    await fn();
  } catch (e) {
    check(e instanceof K.KeError, `${msg}: threw ${e} instead of a KeError`);
    check(code === undefined || e.code === code, `${msg}: code ${e.code}, expected ${code}`);
    return;
  }
  check(false, `${msg}: accepted`);
}

function flip(b, i = 0) {
  const c = Uint8Array.from(b);
  c[i] ^= 1;
  return c;
}

async function ceremony() {
  for (const v of V.ceremony) {
    const C = v.commitments.map((c) => hx(c));
    same(await K.escrowFingerprint(v.t, v.N, C), hx(v.fingerprint), `ceremony t=${v.t} fingerprint`);
    const Q = K.publicShares(v.t, v.N, C);
    for (const s of v.shares) same(Q.get(s.index), hx(s.public_share), `ceremony Q_${s.index}`);
    const key = await K.escrowKeyOf({ threshold: v.t, shares: v.N, commitments: C.map(b64) });
    check(key.fingerprint === v.fingerprint, 'escrowKeyOf fingerprint');
  }
  await refused(() => K.escrowFingerprint(2, 1, [hx(V.ceremony[0].commitments[0])]), 'format', 't > N');
  await refused(() => K.escrowFingerprint(1, 256, [hx(V.ceremony[0].commitments[0])]), 'format', 'N > 255');
  await refused(() => K.escrowFingerprint(2, 3, [hx(V.ceremony[0].commitments[0])]), 'format', 'too few commitments');
}

async function envelopes() {
  for (const v of V.envelope) {
    const env = await K.sealEnvelope(hx(v.secret), hx(v.escrow_public_key), hx(v.escrow_fingerprint),
                                     v.device_id, v.volume_id, { k: hx(v.k), nonce: hx(v.nonce) });
    same(env, hx(v.envelope), `envelope ${v.device_id}/${v.volume_id}`);
    // Opening uses x(S) only: either parity of shared_x is S for the KDF.
    let S = hx('02' + v.shared_x);
    try { K.decodePoint(S); } catch { S = hx('03' + v.shared_x); }
    same(await K.openEnvelope(S, env, v.device_id, v.volume_id, hx(v.escrow_public_key)), hx(v.secret),
         'envelope opens');
    await refused(() => K.openEnvelope(S, env, v.device_id + 'x', v.volume_id, hx(v.escrow_public_key)),
                  'decrypt', 'envelope under another device');
    await refused(() => K.openEnvelope(S, flip(env, env.length - 1), v.device_id, v.volume_id,
                                       hx(v.escrow_public_key)), 'decrypt', 'envelope with a bad tag');
    await refused(() => K.parseEnvelope(env.slice(0, 111)), 'format', 'short envelope');
    await refused(() => K.parseEnvelope(flip(env, 2)), 'format', 'envelope version');
  }
}

async function dleq() {
  for (const v of V.dleq) {
    const proof = K.concat(hx(v.P), hx(v.c), hx(v.s));
    same(await K.verifyPart(proof, hx(v.public_share), hx(v.R), v.index, v.context), hx(v.P),
         `dleq ${v.context}/${v.index}`);
    await refused(() => K.verifyPart(flip(proof, 40), hx(v.public_share), hx(v.R), v.index, v.context),
                  undefined, 'dleq with another c');
    await refused(() => K.verifyPart(flip(proof, 90), hx(v.public_share), hx(v.R), v.index, v.context),
                  undefined, 'dleq with another s');
    await refused(() => K.verifyPart(proof, hx(v.public_share), hx(v.R), v.index, v.context + 'x'),
                  'bad_proof', 'dleq under another context');
    await refused(() => K.verifyPart(proof, hx(v.public_share), hx(v.R), v.index % 255 + 1, v.context),
                  'bad_proof', 'dleq under another index');
    const zero = K.concat(hx(v.P), new Uint8Array(32), hx(v.s));
    await refused(() => K.verifyPart(zero, hx(v.public_share), hx(v.R), v.index, v.context),
                  'invalid_scalar', 'dleq with c = 0');
  }
}

async function combination() {
  for (const v of V.combine) {
    check(K.lagrange(v.indices).map(K.scalarToHex).join() === v.lagrange.join(), 'lagrange coefficients');
    const parts = v.indices.map((index, k) => ({ index, P: hx(v.parts[k]) }));
    const S = K.combine(parts);
    same(S, hx(v.S), 'combined S');
    const ev = V.envelope.find((e) => e.envelope === v.envelope);
    same(await K.openEnvelope(S, hx(v.envelope), v.device_id, v.volume_id, hx(ev.escrow_public_key)),
         hx(v.secret), 'combined S opens the envelope');
    await refused(() => K.combine([parts[0], parts[0]]), 'invalid_index', 'duplicate index');
    await refused(() => K.combine([{ index: 0, P: parts[0].P }]), 'invalid_index', 'index 0');
    await refused(() => K.combine([{ index: 256, P: parts[0].P }]), 'invalid_index', 'index 256');
  }
}

async function sealedParts() {
  for (const v of V.part) {
    const key = await K.importRequestKey(hx(v.requester_private));
    same(key.E, hx(v.requester_public), 'requester E = e*G');
    const part = await K.sealPart(hx(v.plaintext), key.E, v.request_id, v.index,
                                  { k: hx(v.k), nonce: hx(v.nonce) });
    same(part, hx(v.part), 'sealed part');
    same(await K.openPart(key, part, v.request_id, v.index), hx(v.plaintext), 'part opens');
    await refused(() => K.openPart(key, part, v.request_id + 'x', v.index), 'decrypt', 'part of another request');
    await refused(() => K.openPart(key, part, v.request_id, v.index + 1), 'decrypt', 'part of another index');
    await refused(() => K.openPart(key, part.slice(0, 160), v.request_id, v.index), 'format', 'short part');
  }
  const fresh = await K.newRequestKey();
  check(fresh.E.length === 33 && fresh.privateKey.extractable === false, 'the one-time key is non-extractable');
}

async function verifiers() {
  for (const v of V.verifier)
    same(await K.verifierV1(hx(v.secret), v.device_id, v.volume_id), hx(v.verifier), 'verifier v1');
}

async function sas() {
  for (const v of V.sas)
    check(await K.confirmationCode(v.request_id, hx(v.E), hx(v.R)) === v.code, `sas ${v.code}`);
}

async function merkle() {
  for (const v of V.merkle) {
    same(await L.treeHash(v.leaves), hx(v.root), `merkle root of ${v.size}`);
    for (const p of v.inclusion || []) {
      const leaf = await L.leafHash(v.leaves[p.index]);
      const pathH = p.path.map((h) => hx(h));
      check(await L.verifyInclusion(leaf, p.index, v.size, pathH, hx(v.root)), `inclusion ${p.index}/${v.size}`);
      check(!await L.verifyInclusion(flip(leaf), p.index, v.size, pathH, hx(v.root)), 'inclusion of another leaf');
      if (pathH.length)
        check(!await L.verifyInclusion(leaf, p.index, v.size, pathH.slice(1), hx(v.root)), 'short inclusion path');
      check(!await L.verifyInclusion(leaf, v.size, v.size, pathH, hx(v.root)), 'index = size');
    }
    for (const p of v.consistency || []) {
      const old = await L.treeHash(v.leaves.slice(0, p.from));
      const pathH = p.path.map((h) => hx(h));
      check(await L.verifyConsistency(p.from, v.size, old, hx(v.root), pathH), `consistency ${p.from}->${v.size}`);
      check(!await L.verifyConsistency(p.from, v.size, flip(old), hx(v.root), pathH) || p.from === 0,
            'consistency from another root');
      if (pathH.length)
        check(!await L.verifyConsistency(p.from, v.size, old, hx(v.root), pathH.slice(1)), 'short consistency');
    }
  }
  check(!await L.verifyConsistency(3, 2, new Uint8Array(32), new Uint8Array(32), []), 'a smaller tree');
}

async function invalidInputs() {
  for (const v of V.invalid_points)
    await refused(() => K.decodePoint(hx(v.bytes)), 'invalid_point', `point: ${v.why}`);
  const n = 'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551';
  const bad = { zero: '00'.repeat(32), n, 'n+1': n.slice(0, 62) + '52', max: 'ff'.repeat(32),
                '31 bytes': '01'.repeat(31) };
  for (const [why, h] of Object.entries(bad))
    await refused(() => K.decodeScalar(hx(h)), 'invalid_scalar', `scalar: ${why}`);
  check(K.decodeScalar(hx(n.slice(0, 62) + '50')) > 0n, 'n-1 is a scalar');
  for (const s of ['AA==', 'A', 'AB', 'A+', 'A/']) await refused(() => K.b64urlDecode(s), 'format', `base64url ${s}`);
}

async function requestFiles() {
  const ev = V.envelope[0], cer = V.ceremony.find((c) => c.fingerprint === ev.escrow_fingerprint);
  const E = (await K.newRequestKey()).E, client = await RT.newClientKey();
  check(client.privateKey.extractable === false, 'the client key is non-extractable');
  const id = RT.newRequestId(), nonce = RT.newNonce();
  check(/^req-[a-z2-7]{26}$/.test(id) && /^[A-Za-z0-9_-]{22}$/.test(nonce), 'request id and nonce');
  const f = { id, device: ev.device_id, volume: ev.volume_id, key_id: '', E: b64(E), reason: 'locked out',
              ticket: 'INC-1', nonce };
  const stmt = RT.requestStatement(f);
  check(stmt === `keyescrow-v1-retrieval-request\nid=${id}\ndevice=${ev.device_id}\nvolume=${ev.volume_id}\n` +
        `key_id=\nE=${b64(E)}\nreason=locked out\nticket=INC-1\nnonce=${nonce}\n`, 'statement text');
  await refused(() => RT.requestStatement({ ...f, reason: 'a\nticket=x' }), 'format', 'a newline in a field');
  // The form that names one record by its id (an older key): the bytes of
  // tests/lib/test_retrieval.c.
  const older = { id: 'req-aaaaaaaaaaaaaaaaaaaaaaaaaa', device: '', volume: '', key_id: '', E: 'AxyZ',
                  reason: 'restored image', ticket: 'INC-2', nonce: 'AAAAAAAAAAAAAAAAAAAAAA',
                  record: 'rec-bbbbbbbbbbbbbbbbbbbbbbbbbb' };
  check(RT.requestStatement(older) === 'keyescrow-v1-retrieval-request\nid=req-aaaaaaaaaaaaaaaaaaaaaaaaaa\n' +
        'device=\nvolume=\nkey_id=\nrecord=rec-bbbbbbbbbbbbbbbbbbbbbbbbbb\nE=AxyZ\nreason=restored image\n' +
        'ticket=INC-2\nnonce=AAAAAAAAAAAAAAAAAAAAAA\n', 'statement text naming a record');
  check(RT.requestStatement({ ...f, record: '' }) === stmt, 'an empty record adds no line');
  const env = hx(ev.envelope), R = env.slice(35, 68);
  const file = {
    version: 1, request_id: id, device: ev.device_id, volume: ev.volume_id, fingerprint: ev.escrow_fingerprint,
    threshold: cer ? cer.t : 1, shares: cer ? cer.N : 1,
    commitments: cer ? cer.commitments.map((c) => b64(hx(c))) : [b64(hx(ev.escrow_public_key))],
    R: b64(R), E: b64(E), envelope: b64(env), envelope_sha256: toHex(await K.sha256(env)),
    confirmation_code: await K.confirmationCode(id, E, R), created: '2026-12-03T12:00:00Z',
    requester: { user: 'helpdesk1', public_key: b64(client.publicRaw),
                 fingerprint: await RT.clientKeyFingerprint(client.publicRaw), device: ev.device_id,
                 volume: ev.volume_id, key_id: '', reason: f.reason, ticket: f.ticket, nonce,
                 signature: b64(await RT.signStatement(client.privateKey, stmt)) },
  };
  if (!cer) { console.log('request file: no ceremony vector for the envelope key, skipped'); return; }
  const ok = await RT.parseRequestFile(file, { id, E });
  check(ok.code === file.confirmation_code && ok.key.fingerprint === ev.escrow_fingerprint, 'request file parses');
  const mutate = async (edit, code, why) => {
    const g = structuredClone(file);
    edit(g);
    await refused(() => RT.parseRequestFile(g, { id, E }), code, `request file: ${why}`);
  };
  await mutate((g) => { g.extra = 1; }, 'format', 'an unknown field');
  await mutate((g) => { g.confirmation_code = 'AAAAAAAA'; }, 'format', 'another code');
  await mutate((g) => { g.envelope_sha256 = '00'.repeat(32); }, 'format', 'another digest');
  await mutate((g) => { g.requester.reason = 'other'; }, 'auth', 'a reason the key did not sign');
  await mutate((g) => { g.requester.fingerprint = '00'.repeat(32); }, 'fingerprint', 'a false key fingerprint');
  await mutate((g) => { g.device = 'other\u202ename'; }, 'format', 'a bidi override in a label');
  // A request for one record by its id: signed with the record line.
  const rec = 'rec-bbbbbbbbbbbbbbbbbbbbbbbbbb';
  const byRecord = structuredClone(file);
  Object.assign(byRecord.requester, { device: '', volume: '', record: rec,
    signature: b64(await RT.signStatement(client.privateKey,
      RT.requestStatement({ ...f, device: '', volume: '', record: rec }))) });
  const okr = await RT.parseRequestFile(byRecord, { id, E });
  check(okr.code === file.confirmation_code, 'a request file naming a record parses');
  const mutateR = async (edit, code, why) => {
    const g = structuredClone(byRecord);
    edit(g);
    await refused(() => RT.parseRequestFile(g, { id, E }), code, `request file: ${why}`);
  };
  await mutateR((g) => { g.requester.record = 'rec-cccccccccccccccccccccccccc'; }, 'auth', 'a record the key did not sign');
  await mutateR((g) => { delete g.requester.record; g.requester.device = ev.device_id; }, 'auth', 'the record line stripped');
  await mutateR((g) => { g.requester.record = 'rec-BAD'; }, 'format', 'a malformed record id');
  await mutateR((g) => { g.requester.device = ev.device_id; }, 'format', 'a device and a record');
  const otherE = (await K.newRequestKey()).E;
  await refused(() => RT.parseRequestFile(file, { id, E: otherE }), 'not_ours', 'request file with another E');
}

function display() {
  const bl = '123456-234567-345678-456789-567890-678901-789012-890123';
  // The vector secrets are not checksummed BitLocker passwords; a real one:
  const real = '000011-000022-000033-000044-000055-000066-000077-000088';
  check(RT.formatSecret('bitlocker', new TextEncoder().encode(real)).text === real, 'BitLocker shown in groups');
  check(RT.formatSecret('bitlocker', new TextEncoder().encode(real.replaceAll('-', ''))).text === real,
        'BitLocker without dashes shown in groups');
  check(RT.formatSecret('bitlocker', new TextEncoder().encode(bl)).kind === 'text', 'a bad checksum is text');
  check(RT.formatSecret('luks', Uint8Array.of(0, 1, 255)).text === '0001ff', 'binary as hex');
}

for (const [name, fn] of Object.entries({ ceremony, envelopes, dleq, combination, sealedParts, verifiers, sas,
                                          merkle, invalidInputs, requestFiles, display })) {
  await fn();
  console.log(`[web.kat_js] ok: ${name}`);
}
console.log(`[web.kat_js] ok: ${checks} checks; share_file deliberately not in the browser`);

/*
 * retrieve_ui.js - a helpdesk technician opens a recovery key in the page
 * (issue 13), as `escrowctl retrieve` does on a workstation:
 *
 *   1. the client key (Ed25519, non-extractable, kept in IndexedDB per
 *      account) is registered once; the escrow key's fingerprint is pinned
 *      in localStorage and a change is refused;
 *   2. the page makes the one-time key E (non-extractable), signs the
 *      request statement and posts it; the request file in the answer is
 *      checked (kecrypto/keretrieval) and must carry this page's id and E;
 *   3. it shows the confirmation code and the client key's fingerprint to
 *      read to each custodian, and waits (long-poll) for parts and declines;
 *   4. each part is opened and its DLEQ proof verified against Q_i; a bad
 *      one is named and skipped; t good ones are combined and the envelope
 *      opened; the key is shown for its type, with copy and clear, and is
 *      cleared after a while.
 *
 * E, the parts' contents and the key live in this module's memory and the
 * DOM only: nothing of them is sent or stored, and a reload loses them.
 * While the tab lives, reopening the volume resumes the request.
 * An older record (superseded or rotated: a restored disk image, a second
 * protector) is asked for by its record id, which the statement signs;
 * the page refuses an answer for any other record and says "older key".
 * What this trusts (the server serves this code): docs/threat-model.md.
 */
import * as K from './kecrypto.js';
import * as RT from './keretrieval.js';

const CLEAR_AFTER_S = Number(localStorage.getItem('ke.clear-after-seconds')) || 300;
const sessions = new Map(); /* "device\0volume\0record" -> the request in progress */
const sessionKey = (ds) => ds.device + '\0' + ds.volume + '\0' + (ds.record || '');
const older = (ds) => ds.record ? ` (an older key: record ${ds.record}, ${ds.state})` : '';
const olderNote = (ds) => ds.record ? el('p', { id: 'retrieve-older', class: 'retrieve-bad' },
  `This is not the volume's current key: record ${ds.record} was ${ds.state}. Each custodian is ` +
  'told so; policy custodians decline it unless their policy allows older records.') : null;

/* console.js's element builder and API call (one of each in the console;
 * console.js runs first: it is a deferred classic script listed before this
 * module, and these are only used from clicks). */
const el = (...a) => window.keConsole.el(...a);
const api = (...a) => window.keConsole.api(...a);

/* ---- the client key, in IndexedDB ---------------------------------------- */

function idb(mode, fn) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open('keyescrow', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('client-keys');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction('client-keys', mode);
      const req = fn(tx.objectStore('client-keys'));
      tx.oncomplete = () => { open.result.close(); resolve(req.result); };
      tx.onerror = () => { open.result.close(); reject(tx.error); };
    };
  });
}

/* This account's client key, registered (PUT /v1/client-key is idempotent
 * for the same key; another registered key needs the password). */
async function clientKey(user, password) {
  let k = await idb('readonly', (s) => s.get(user));
  if (!k) {
    const n = await RT.newClientKey();
    k = { privateKey: n.privateKey, publicRaw: n.publicRaw };
  }
  const body = { public_key: K.b64urlEncode(k.publicRaw) };
  if (password) body.password = password;
  await api('PUT', '/v1/client-key', body);
  await idb('readwrite', (s) => s.put(k, user));
  return { ...k, fingerprint: await RT.clientKeyFingerprint(k.publicRaw) };
}

/* The published escrow key, checked, its fingerprint pinned on first use. */
async function escrowKey() {
  const ek = await api('GET', '/v1/escrow-key');
  const key = await K.parseManifest(ek.manifest);
  const pinned = localStorage.getItem('ke.escrow-fingerprint');
  if (pinned && pinned !== key.fingerprint)
    throw new Error(`The escrow key changed: its fingerprint is ${key.fingerprint}, this browser pinned ` +
                    `${pinned}. Refused: ask your security officers.`);
  if (!pinned) localStorage.setItem('ke.escrow-fingerprint', key.fingerprint);
  return { key, firstUse: !pinned, names: new Map(ek.manifest.custodians.map((c) => [c.index, c.name])) };
}

const groups = (hex) => hex.match(/.{1,4}/g).join(' ');

/* ---- the panel -------------------------------------------------------- */

/* The panel of the device page on screen, if it shows volume `ds` (the
 * technician may have moved on: a request keeps waiting, unseen). */
function panel(ds) {
  const p = document.getElementById('retrieve-panel');
  const sel = `button.record-retrieve[data-device="${CSS.escape(ds.device)}"][data-volume="${CSS.escape(ds.volume)}"]` +
    (ds.record ? `[data-record="${CSS.escape(ds.record)}"]` : ':not([data-record])');
  if (!p || !document.querySelector(sel)) return null;
  while (p.firstChild) p.removeChild(p.firstChild);
  p.hidden = false;
  return p;
}

function showForm(ds, needPassword, error) {
  const p = panel(ds);
  if (!p) return;
  const reason = el('input', { id: 'retrieve-reason', required: true, maxLength: 500, autocomplete: 'off' });
  const ticket = el('input', { id: 'retrieve-ticket', required: true, maxLength: 128, autocomplete: 'off' });
  const pw = el('input', { id: 'retrieve-password', type: 'password', maxLength: 1024 });
  const form = el('form', { id: 'retrieve-form', autocomplete: 'off' },
    el('label', {}, 'Reason', reason), el('label', {}, 'Ticket', ticket),
    needPassword ? el('label', {}, 'Your password (this browser registers a new client key)', pw) : null,
    el('button', { type: 'submit', id: 'retrieve-submit' }, 'Ask the custodians'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    start(ds, reason.value, ticket.value, needPassword ? pw.value : null);
  });
  p.append(el('h3', {}, `Retrieve the key of ${ds.volume} on ${ds.device}${older(ds)}`), olderNote(ds),
           error ? el('p', { id: 'retrieve-error', class: 'retrieve-bad' }, error) : null, form);
}

async function start(ds, reason, ticket, password) {
  const s = { ds, parts: new Map(), declines: 0, status: 'Registering the request…' };
  try {
    const user = sessionStorage.getItem('ke.user');
    const [ck, ek] = [await clientKey(user, password), await escrowKey()];
    const E = await K.newRequestKey();
    const id = RT.newRequestId(), nonce = RT.newNonce();
    /* The current record by device and volume; an older one by its id. */
    const name = ds.record ? { device: '', volume: '', record: ds.record } : { device: ds.device, volume: ds.volume };
    const f = { id, key_id: '', ...name, E: K.b64urlEncode(E.E), reason, ticket, nonce };
    const sig = await RT.signStatement(ck.privateKey, RT.requestStatement(f));
    const body = { request_id: id, E: f.E, reason, ticket, nonce, signature: K.b64urlEncode(sig) };
    for (const k of ['device', 'volume', 'record']) if (name[k]) body[k] = name[k];
    const ans = await api('POST', '/v1/retrievals', body);
    const req = await RT.parseRequestFile(ans.request, { id, E: E.E });
    if (req.key.fingerprint !== ek.key.fingerprint)
      throw new Error('The request names another escrow key than the pinned one: refused.');
    if (ds.record && (ans.retrieval || {}).record_id !== ds.record)
      throw new Error(`The server answered for another record than ${ds.record}: refused.`);
    Object.assign(s, { id, E, req, ck, ek, view: ans.retrieval, status: 'Waiting for custodians…' });
    sessions.set(sessionKey(ds), s);
    render(s);
    wait(s);
  } catch (e) {
    showForm(ds, e.code === 'reauthentication_required', e.message);
  }
}

function render(s) {
  const p = panel(s.ds);
  if (!p) return;
  const v = s.view || {};
  const rows = [...s.parts.entries()].sort((a, b) => a[0] - b[0]).map(([i, r]) =>
    el('li', { class: r.ok ? 'retrieve-good' : 'retrieve-bad', 'data-index': i },
       `custodian ${i} (${s.ek.names.get(i) || '?'}): ${r.ok ? 'good part' : 'BAD PART, skipped: ' + r.why}`));
  const decl = (v.declines || []).map((d) =>
    el('li', { class: 'retrieve-decline' }, `custodian ${d.custodian_index} (${d.custodian}) declined: ` +
       `rule ${d.rule}: ${d.reason}`));
  p.append(el('h3', {}, `Retrieval ${s.id}: ${s.ds.volume} on ${s.ds.device}${older(s.ds)}`), olderNote(s.ds),
    el('p', {}, 'Read both to each custodian on a channel they trust:'),
    el('dl', {},
      el('dt', {}, 'Confirmation code'), el('dd', { id: 'retrieve-code', class: 'mono' }, s.req.code),
      el('dt', {}, 'Your client key'), el('dd', { id: 'retrieve-fingerprint', class: 'mono' }, groups(s.ck.fingerprint)),
      el('dt', {}, 'Escrow key'), el('dd', { class: 'mono' }, groups(s.ek.key.fingerprint) +
        (s.ek.firstUse ? ' (pinned now, on first use: compare it with the published one)' : ' (pinned)')),
      el('dt', {}, 'Parts'), el('dd', { id: 'retrieve-parts' }, `${v.parts ?? 0} stored, ${s.req.key.t} needed`)),
    el('ul', { id: 'retrieve-part-list' }, ...rows, ...decl),
    el('p', { id: 'retrieve-status' }, s.status));
  if (s.keyText !== undefined) {
    const out = el('output', { id: 'retrieve-key', class: 'mono' }, s.keyText);
    const copy = el('button', { type: 'button', id: 'retrieve-copy' }, 'Copy');
    copy.addEventListener('click', () => navigator.clipboard.writeText(s.keyText).catch(() => {}));
    const clr = el('button', { type: 'button', id: 'retrieve-clear' }, 'Clear');
    clr.addEventListener('click', () => clearKey(s));
    p.append(el('div', { id: 'retrieve-result' }, el('h3', {}, 'Recovery key'), out, ' ', copy, ' ', clr,
                el('p', { class: 'hint' }, `Cleared from this page in ${CLEAR_AFTER_S} s, or now with Clear.`)));
  }
}

function clearKey(s) {
  s.keyText = undefined;
  clearTimeout(s.clearTimer);
  s.status = 'The key was cleared from this page.';
  render(s);
}

async function wait(s) {
  while (!s.done) {
    try {
      const g = await api('GET', `/v1/retrievals/${s.id}?wait=25&since=${s.view.parts}` +
                                 `&declines=${(s.view.declines || []).length}`);
      s.view = g.retrieval;
      if (s.view.parts >= s.req.key.t && s.view.parts > s.parts.size) await openParts(s);
      else if (s.view.state === 'expired') { s.status = 'The request expired.'; s.done = true; }
    } catch (e) {
      s.status = 'Waiting failed: ' + e.message;
      s.done = true;
    }
    render(s);
  }
}

async function openParts(s) {
  const ans = await api('GET', `/v1/retrievals/${s.id}/parts`);
  for (const { index, part } of ans.parts) {
    if (s.parts.has(index)) continue;
    try {
      const Qi = s.req.key.publicShares.get(index);
      if (!Qi) throw new Error('no such custodian index');
      const proof = await K.openPart(s.E, K.b64urlDecode(part, 161), s.id, index);
      const P = await K.verifyPart(proof, Qi, s.req.R, index, s.id);
      s.parts.set(index, { ok: true, P });
    } catch (e) {
      s.parts.set(index, { ok: false, why: e.code === 'bad_proof' ? 'its proof does not verify' : e.message });
    }
  }
  const good = [...s.parts.entries()].filter(([, r]) => r.ok).slice(0, s.req.key.t);
  if (good.length < s.req.key.t) {
    s.status = `${good.length} good part(s) of the ${s.req.key.t} needed: waiting for another custodian.`;
    return;
  }
  const S = K.combine(good.map(([index, r]) => ({ index, P: r.P })));
  const secret = await K.openEnvelope(S, s.req.envelope, s.view.device_id, s.view.volume_id, s.req.key.Q);
  s.keyText = RT.formatSecret(s.ds.type, secret).text;
  secret.fill(0);
  s.done = true;
  s.status = 'Opened in this page. Nothing of it was sent to the server.';
  s.clearTimer = setTimeout(() => clearKey(s), CLEAR_AFTER_S * 1000);
}

document.addEventListener('click', (ev) => {
  const b = ev.target instanceof Element ? ev.target.closest('button.record-retrieve') : null;
  if (!b) return;
  const ds = { device: b.dataset.device, volume: b.dataset.volume, type: b.dataset.type,
               record: b.dataset.record, state: b.dataset.state };
  const s = sessions.get(sessionKey(ds));
  if (s && (!s.done || s.keyText !== undefined)) render(s); /* resume: the tab still holds E */
  else showForm(ds, false, null);
});

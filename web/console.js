/*
 * console.js - the keyescrow web console: login (password or single
 * sign-on), device search, retrieval queue, audit log.  Plain JavaScript, no framework, no build step.
 *
 * Rules that keep it safe to audit:
 *  - every value from the server reaches the page through textContent or
 *    attributes set by property (el() below); no HTML string is ever parsed;
 *  - the bearer token lives in sessionStorage (gone with the tab), is sent
 *    only as an Authorization header to this origin, never in a URL (single
 *    sign-on brings back a one-time handoff in the fragment, traded at once
 *    for the session and removed from the address bar);
 *  - no key is opened in this file: a helpdesk user opens one on a device's
 *    page through the retrieve_ui.js module (which uses el() and api(),
 *    handed over as window.keConsole), custodians approve with escrowctl.
 */
'use strict';

const KE = {
  token: () => sessionStorage.getItem('ke.token'),
  role: () => sessionStorage.getItem('ke.role') || '',
  user: () => sessionStorage.getItem('ke.user') || '',
  cindex: () => sessionStorage.getItem('ke.custodian_index'),
  auditPage: 50,
  auditStart: null,
  auditSize: 0,
};

const $ = (id) => document.getElementById(id);

/* Build an element: attrs are set as properties (never parsed as HTML);
 * children are nodes or strings (text nodes). */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k.startsWith('data-')) e.setAttribute(k, String(v));
    else e[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function show(node, on) { node.hidden = !on; }

function fmtTime(s) {
  if (!s) return '—';
  const d = new Date(s);
  return isNaN(d) ? String(s) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/* Quote a value for a POSIX shell command line shown to copy. */
function shq(s) {
  const v = String(s);
  return /^[A-Za-z0-9._:@%+=,\/-]+$/.test(v) ? v : "'" + v.replace(/'/g, "'\\''") + "'";
}

// A person's rotation request, or the drill that disclosed the record
// (docs/operations.md "What follows a drill").
function rotationText(r) {
  if (r.rotate_requested) {
    return 'requested ' + fmtTime(r.rotate_requested) + ' by ' + (r.rotate_requested_by || '?') +
           ': ' + (r.rotate_reason || '');
  }
  if (r.disclosed_by_drill) {
    return 'disclosed by drill ' + r.disclosed_by_drill +
           (r.state === 'disclosed' ? ': due at the next check-in' : '');
  }
  return '—';
}

function stateBadge(s) {
  const v = s === null || s === undefined ? '—' : String(s);
  return el('span', { class: 'state state-' + v.replace(/[^a-z]/g, '') }, v);
}

/* ---- messages ------------------------------------------------------- */

function showError(err) {
  const box = $('error');
  clear(box);
  if (err && err.code) {
    box.appendChild(el('strong', {}, err.code));
    box.appendChild(document.createTextNode(': ' + err.message));
  } else {
    box.appendChild(document.createTextNode(String(err && err.message ? err.message : err)));
  }
  show(box, true);
}

function showNotice(text) {
  const box = $('notice');
  box.textContent = text;
  show(box, !!text);
}

function clearMessages() { show($('error'), false); show($('notice'), false); }

/* ---- the API -------------------------------------------------------- */

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/* One call: JSON in, JSON out; an error answer becomes an ApiError with
 * the server's code and message (the JSON error model of docs/api.yaml). */
async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const tok = KE.token();
  if (tok) headers.Authorization = 'Bearer ' + tok;
  const init = { method, headers, credentials: 'omit', cache: 'no-store', redirect: 'error' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network_error', 'The server cannot be reached.');
  }
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    const e = data && data.error && typeof data.error === 'object' ? data.error : {};
    const err = new ApiError(r.status, String(e.code || 'http_' + r.status),
                             String(e.message || r.statusText || 'Request failed'));
    if (r.status === 401 && !path.startsWith('/v1/login')) {
      endSession();
      err.message += ' Please log in again.';
    }
    throw err;
  }
  return data;
}

/* ---- session -------------------------------------------------------- */

function startSession(ans) {
  sessionStorage.setItem('ke.token', ans.token);
  sessionStorage.setItem('ke.role', ans.role);
  sessionStorage.setItem('ke.user', ans.user);
  if (ans.custodian_index) sessionStorage.setItem('ke.custodian_index', String(ans.custodian_index));
  else sessionStorage.removeItem('ke.custodian_index');
}

function endSession() {
  for (const k of ['ke.token', 'ke.role', 'ke.user', 'ke.custodian_index']) sessionStorage.removeItem(k);
  render();
}

/* Which views a role may use (the server decides anyway: this only hides
 * buttons that would answer 403). */
const VIEWS = {
  devices: ['helpdesk', 'auditor'],
  retrievals: ['helpdesk', 'custodian', 'auditor', 'admin'],
  audit: ['auditor', 'admin', 'helpdesk', 'custodian'],
};

function allowedViews() {
  return Object.keys(VIEWS).filter((v) => VIEWS[v].includes(KE.role()));
}

function go(view) {
  for (const s of document.querySelectorAll('.view')) show(s, s.id === 'view-' + view);
  for (const b of document.querySelectorAll('nav button[data-view]'))
    b.classList.toggle('active', b.dataset.view === view);
  clearMessages();
  if (view === 'retrievals') loadRetrievals();
  if (view === 'audit') loadAudit(null);
  if (view === 'devices') $('device-q').focus();
}

function render() {
  const logged = !!KE.token();
  show($('nav'), logged);
  if (!logged) {
    for (const s of document.querySelectorAll('.view')) show(s, s.id === 'view-login');
    loadLoginMethods();
    return;
  }
  const views = allowedViews();
  show($('sso'), false);
  for (const b of document.querySelectorAll('nav button[data-view]'))
    show(b, views.includes(b.dataset.view));
  const c = KE.cindex();
  $('whoami').textContent = KE.user() + ' (' + KE.role() + (c ? ', custodian #' + c : '') + ')';
  go(views[0] || 'audit');
}

async function onLogin(ev) {
  ev.preventDefault();
  clearMessages();
  const body = { user: $('login-user').value, password: $('login-password').value };
  if (!$('pwchange').hidden) {
    if ($('login-new').value !== $('login-new2').value) {
      showError('The two new passwords differ.');
      return;
    }
    body.new_password = $('login-new').value;
  }
  try {
    const ans = await api('POST', '/v1/login', body);
    startSession(ans);
    for (const id of ['login-password', 'login-new', 'login-new2']) $(id).value = '';
    show($('pwchange'), false);
    $('login-new').required = false; // a hidden required field would block the next login
    render();
  } catch (e) {
    if (e.code === 'password_change_required') {
      show($('pwchange'), true);
      $('login-new').required = true;
      $('login-new').focus();
      showNotice('Choose a new password to finish logging in.');
      return;
    }
    showError(e);
  }
}

async function onLogout() {
  try { await api('POST', '/v1/logout'); } catch (e) { /* the token is dropped anyway */ }
  endSession();
}

/* ---- single sign-on (issue 19, server/srv_ep_oidc.c) ---------------- */

/* The callback's reasons (#sso-error=REASON), for the person at the login
 * page; anything else is named as it came. */
const SSO_ERRORS = {
  mfa_required: 'Your role needs a second factor at the identity provider (a one-time code), ' +
    'and this sign-in did not use one. Sign in again with your second factor, or ask your ' +
    'identity provider administrator to set one up for you.',
  no_role: 'Your identity provider account is not in a keyescrow group, so it has no role here. ' +
    'Ask your administrator to add you to one.',
  login_expired: 'This sign-in took too long or was already used. Please sign in again.',
  account_disabled: 'Your keyescrow account is disabled. Ask an administrator.',
  custodian_index_taken: 'Your custodian number is already held by another account. Ask an administrator.',
  sso_unavailable: 'Single sign-on is not available right now. Try again later.',
  idp_unreachable: 'The server could not reach the identity provider. Try again later.',
  code_refused: 'The identity provider refused to complete the sign-in. Please sign in again.',
  access_denied: 'The sign-in was cancelled or refused at the identity provider.',
  login_required: 'The identity provider needs you to sign in there first. Please sign in again.',
};
const SSO_UNVERIFIED = ['malformed', 'algorithm_refused', 'unknown_key', 'bad_signature', 'wrong_issuer',
  'wrong_audience', 'expired', 'not_yet_valid', 'nonce_mismatch'];

function ssoErrorText(reason) {
  if (SSO_ERRORS[reason]) return SSO_ERRORS[reason];
  if (SSO_UNVERIFIED.includes(reason))
    return "The identity provider's answer could not be verified, so the sign-in was refused. " +
           'Tell your administrator.';
  return 'Single sign-on failed. Please sign in again, or tell your administrator.';
}

async function loadLoginMethods() {
  let m;
  try { m = await api('GET', '/v1/login/methods'); } catch (e) { return; } // password only
  const sso = m && m.sso;
  show($('sso'), !!sso && !KE.token());
  if (!sso) return;
  $('sso-login').disabled = !sso.ready;
  $('sso-hint').textContent = sso.ready
    ? 'Or, for break-glass accounts, log in with a password below.'
    : 'The identity provider cannot be reached yet: try again in a moment.';
}

async function onSsoStart() {
  clearMessages();
  try {
    const s = await api('POST', '/v1/login/oidc/start');
    const to = new URL(s.authorization_url);
    if (to.protocol !== 'https:' && to.protocol !== 'http:') throw new Error('Bad identity provider address.');
    // Proves at finish that this tab started the login (login CSRF).
    sessionStorage.setItem('ke.sso-binding', s.binding);
    window.location.assign(to.href);
  } catch (e) { showError(e); }
}

/* Back from the IdP: "#sso=HANDOFF" or "#sso-error=REASON".  The fragment
 * leaves the address bar (and the history) before anything else. */
async function ssoReturn() {
  const m = /^#(sso|sso-error)=([A-Za-z0-9_-]{1,64})$/.exec(window.location.hash);
  if (!m) return;
  history.replaceState(null, '', window.location.pathname + window.location.search);
  const binding = sessionStorage.getItem('ke.sso-binding');
  sessionStorage.removeItem('ke.sso-binding');
  if (m[1] === 'sso-error') {
    showError({ code: m[2], message: ssoErrorText(m[2]) });
    return;
  }
  if (!binding) {
    showError('This sign-in was not started in this tab. Please sign in again.');
    return;
  }
  showNotice('Signing you in...');
  try {
    startSession(await api('POST', '/v1/login/oidc/finish', { handoff: m[2], binding }));
    render();
  } catch (e) {
    showNotice('');
    showError(e.code === 'sso_refused'
      ? { code: e.code, message: 'This sign-in could not be completed (it was started elsewhere, ' +
                                 'or already used). Please sign in again.' }
      : e);
  }
}

/* ---- devices -------------------------------------------------------- */

function escrowSummary(records) {
  if (!Array.isArray(records) || records.length === 0) return stateBadge('none');
  const active = records.filter((r) => r.state === 'active').length;
  const disclosed = records.filter((r) => r.state === 'disclosed').length;
  if (disclosed) return stateBadge('disclosed');
  return active ? stateBadge('active') : stateBadge(records[0].state);
}

async function onDeviceSearch(ev) {
  ev.preventDefault();
  clearMessages();
  const q = $('device-q').value.trim();
  if (!q) return;
  const table = $('device-results');
  const tbody = table.querySelector('tbody');
  try {
    const ans = await api('GET', '/v1/devices?q=' + encodeURIComponent(q));
    clear(tbody);
    show($('device-detail'), false);
    for (const d of ans.devices || []) {
      tbody.appendChild(el('tr', { 'data-device': d.device_id },
        el('td', {}, el('button', { type: 'button', class: 'link device-open',
                                    on: { click: () => openDevice(d.device_id) } }, d.hostname)),
        el('td', {}, d.serial), el('td', {}, d.os), el('td', {}, d.group),
        el('td', {}, fmtTime(d.last_checkin)),
        el('td', {}, (d.matched || []).join(', ')),
        el('td', {}, stateBadge(d.disabled ? 'disabled' : 'enabled'))));
    }
    show(table, true);
    if (!(ans.devices || []).length) showNotice('No device matches "' + q + '".');
  } catch (e) { showError(e); }
}

async function openDevice(id) {
  clearMessages();
  const box = $('device-detail');
  try {
    const ans = await api('GET', '/v1/devices/' + encodeURIComponent(id));
    const d = ans.device || {};
    const recs = ans.records || [];
    clear(box);
    box.appendChild(el('h3', {}, 'Device ', d.hostname, ' ', escrowSummary(recs)));
    const dl = el('dl', {});
    const add = (k, v) => { dl.appendChild(el('dt', {}, k)); dl.appendChild(el('dd', {}, v)); };
    add('Device ID', el('span', { class: 'mono' }, d.device_id));
    add('Serial', d.serial);
    add('OS', d.os);
    add('Group', d.group);
    add('Enrolled', fmtTime(d.enrolled));
    add('Last check-in', fmtTime(d.last_checkin));
    add('Agent', d.agent_version || '—');
    add('Escrow key', d.escrow_key_status || '—');
    add('Disabled', d.disabled ? 'yes, since ' + fmtTime(d.disabled_at) + ' by ' +
                                 (d.disabled_by || '?') + ': ' + (d.disabled_reason || '') : 'no');
    box.appendChild(dl);
    const helpdesk = KE.role() === 'helpdesk';
    const t = el('table', { id: 'device-records' },
      el('thead', {}, el('tr', {}, ...['Volume', 'Type', 'Key ID', 'State', 'Created',
        'Superseded', 'Audit leaf', 'Verifier', 'Unlock check', 'Rotation',
        ...(helpdesk ? ['Key'] : [])].map((h) => el('th', {}, h)))));
    const tb = el('tbody', {});
    for (const r of recs) {
      // Any record of a volume can be opened in this page (retrieve_ui.js):
      // the browser makes E and opens the parts itself.  An older one is
      // asked for by its id and says so, to the helpdesk and custodians.
      const current = r.state === 'active' || r.state === 'disclosed';
      const cell = helpdesk ? [el('td', {}, el('button', {
        type: 'button', class: 'record-retrieve' + (current ? '' : ' record-older'),
        'data-device': d.hostname, 'data-volume': r.volume_id, 'data-type': r.key_type,
        ...(current ? {} : { 'data-record': r.record_id, 'data-state': r.state }) },
        current ? 'Retrieve in browser' : 'Retrieve older key'))] : [];
      tb.appendChild(el('tr', { 'data-record': r.record_id },
        el('td', {}, r.volume_id), el('td', {}, r.key_type),
        el('td', { class: 'mono' }, r.key_id || '—'), el('td', {}, stateBadge(r.state)),
        el('td', {}, fmtTime(r.created)), el('td', {}, fmtTime(r.superseded_at)),
        el('td', {}, r.leaf_index === null || r.leaf_index === undefined ? '—' : r.leaf_index),
        el('td', {}, r.last_verifier_match === true ? 'match' :
                     r.last_verifier_match === false ? 'MISMATCH' : '—'),
        el('td', {}, r.last_unlock_check || '—'),
        el('td', {}, rotationText(r)), ...cell));
    }
    t.appendChild(tb);
    box.appendChild(el('h3', {}, 'Escrow history'));
    box.appendChild(t);
    if (helpdesk) box.appendChild(el('div', { id: 'retrieve-panel', hidden: true }));
    if (KE.role() === 'helpdesk' && recs.some((r) => r.state === 'active')) {
      const vol = recs.find((r) => r.state === 'active').volume_id;
      box.appendChild(el('p', { class: 'hint' }, 'Or, on a managed workstation: '));
      box.appendChild(el('pre', {}, 'escrowctl retrieve --device ' + shq(d.hostname) + ' --volume ' +
                                    shq(vol) + ' --reason "..." --ticket REF --wait'));
    }
    show(box, true);
  } catch (e) { showError(e); }
}

/* ---- retrievals ----------------------------------------------------- */

/* What finishes a request, for the person looking at it. */
function finishCommand(r) {
  if (r.state !== 'pending') return r.state === 'completed' ? 'done' : '—';
  const idx = Number(KE.cindex());
  if (KE.role() === 'custodian') {
    if (Array.isArray(r.custodians) && r.custodians.includes(idx)) return 'your part is in';
    return 'escrowctl approve ' + r.request_id;
  }
  if (KE.role() === 'helpdesk' && r.requester === KE.user())
    return 'escrowctl retrieve (your waiting command) opens it at ' + r.needed + ' parts';
  return 'custodians: escrowctl approve ' + r.request_id;
}

async function loadRetrievals() {
  const state = $('retrieval-state').value;
  const table = $('retrieval-list');
  const tbody = table.querySelector('tbody');
  try {
    const ans = await api('GET', '/v1/retrievals' + (state ? '?state=' + encodeURIComponent(state) : ''));
    const list = ans.retrievals || ans.requests || [];
    clear(tbody);
    for (const r of list) {
      tbody.appendChild(el('tr', { 'data-request': r.request_id },
        el('td', { class: 'mono' }, el('button', { type: 'button', class: 'link',
          on: { click: () => openRetrieval(r.request_id) } }, r.request_id)),
        el('td', {}, r.hostname || r.device_id), el('td', {}, r.volume_id),
        el('td', {}, r.requester), el('td', {}, r.reason), el('td', {}, r.ticket),
        el('td', {}, fmtTime(r.created)),
        el('td', { class: 'parts' }, String(r.parts) + ' / ' + String(r.needed)),
        el('td', {}, stateBadge(r.state)),
        el('td', { class: 'mono' }, r.confirmation_code),
        el('td', {}, el('code', { class: 'finish' }, finishCommand(r)))));
    }
    show(table, list.length > 0);
    show($('retrieval-empty'), list.length === 0);
  } catch (e) {
    show(table, false);
    showError(e);
  }
}

async function openRetrieval(id) {
  clearMessages();
  const box = $('retrieval-detail');
  try {
    const ans = await api('GET', '/v1/retrievals/' + encodeURIComponent(id));
    const r = ans.retrieval || {}; // beside it, "request": the file escrowctl approve uses
    clear(box);
    box.appendChild(el('h3', {}, 'Request ', r.request_id, ' ', stateBadge(r.state)));
    const dl = el('dl', {});
    const add = (k, v) => { dl.appendChild(el('dt', {}, k)); dl.appendChild(el('dd', {}, v)); };
    add('Device', (r.hostname || '') + ' (' + r.device_id + ')');
    add('Volume', r.volume_id);
    add('Key', r.key_type + ' ' + (r.key_id || ''));
    add('Record', r.record_id + ' (' + r.record_state + ')');
    const rk = r.requester_key || {};
    add('Requester', r.requester + (rk.fingerprint ? ' (client key ' + rk.fingerprint.match(/.{1,4}/g).join(' ') + ')' : ''));
    add('Reason', r.reason);
    add('Ticket', r.ticket);
    add('Confirmation code', r.confirmation_code);
    add('Parts', String(r.parts) + ' of ' + String(r.needed) +
        (Array.isArray(r.custodians) && r.custodians.length ? ' (custodians #' + r.custodians.join(', #') + ')' : ''));
    add('Age', r.age_seconds === undefined ? '—' : Math.floor(r.age_seconds / 60) + ' min');
    add('Declined by', Array.isArray(r.declines) && r.declines.length
      ? el('ul', { class: 'declines' }, ...r.declines.map((x) => el('li', {},
          'custodian #' + x.custodian_index + ' (' + x.custodian + '): rule ' + x.rule + ': ' + x.reason)))
      : 'nobody');
    add('Created', fmtTime(r.created));
    add('Expires', fmtTime(r.expires));
    add('Finish with', el('code', {}, finishCommand(r)));
    box.appendChild(dl);
    show(box, true);
  } catch (e) { showError(e); }
}

/* ---- audit log ------------------------------------------------------ */

function decodeLeaf(b64) {
  try {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    return null;
  }
}

async function loadAudit(start) {
  clearMessages();
  const cpBox = $('audit-checkpoint');
  try {
    const cp = await api('GET', '/v1/audit/checkpoint');
    KE.auditSize = cp.tree_size;
    clear(cpBox);
    cpBox.appendChild(el('p', {}, 'Latest checkpoint: ', el('strong', { id: 'audit-size' }, String(cp.tree_size)),
      ' entries, signed by ', el('span', { class: 'mono' }, cp.key_name)));
    cpBox.appendChild(el('pre', { id: 'audit-note' }, cp.checkpoint));
    cpBox.appendChild(el('p', { class: 'hint' },
      'Check it against the pinned key with: escrowctl audit verify'));
  } catch (e) {
    showError(e);
    return;
  }
  if (!['auditor'].includes(KE.role())) {
    show($('audit-page'), false);
    show($('audit-entries'), false);
    showNotice('The entries themselves are for auditors.');
    return;
  }
  show($('audit-page'), true);
  if (start === null) start = Math.max(0, KE.auditSize - KE.auditPage);
  start = Math.max(0, Math.min(start, KE.auditSize));
  KE.auditStart = start;
  $('audit-start').value = String(start);
  const tbody = $('audit-entries').querySelector('tbody');
  try {
    const ans = await api('GET', '/v1/audit/entries?start=' + start + '&end=' + (start + KE.auditPage));
    clear(tbody);
    for (const e of (ans.entries || []).slice().reverse()) {
      const ev = decodeLeaf(e.leaf);
      if (!ev) {
        tbody.appendChild(el('tr', {}, el('td', {}, e.index), el('td', { colSpan: 7 }, 'undecodable leaf')));
        continue;
      }
      tbody.appendChild(el('tr', {},
        el('td', {}, e.index), el('td', {}, fmtTime(ev.time)), el('td', {}, ev.actor),
        el('td', {}, ev.action), el('td', {}, stateBadge(ev.outcome)), el('td', {}, ev.object || ''),
        el('td', {}, ev.src || ''),
        el('td', { class: 'mono' }, ev.details ? JSON.stringify(ev.details) : '')));
    }
    show($('audit-entries'), true);
  } catch (e) { showError(e); }
}

/* ---- wiring --------------------------------------------------------- */

/* For the in-browser retrieval module (web/js/retrieve_ui.js): one way to
 * build elements and to call the API, session handling included. */
window.keConsole = Object.freeze({ el, api });

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', onLogin);
  $('sso-login').addEventListener('click', onSsoStart);
  $('logout').addEventListener('click', onLogout);
  $('device-search').addEventListener('submit', onDeviceSearch);
  $('retrieval-filter').addEventListener('submit', (ev) => { ev.preventDefault(); clearMessages(); loadRetrievals(); });
  $('audit-page').addEventListener('submit', (ev) => { ev.preventDefault(); loadAudit(Number($('audit-start').value) || 0); });
  $('audit-prev').addEventListener('click', () => loadAudit(Math.max(0, (KE.auditStart || 0) - KE.auditPage)));
  $('audit-next').addEventListener('click', () => loadAudit((KE.auditStart || 0) + KE.auditPage));
  $('audit-latest').addEventListener('click', () => loadAudit(null));
  for (const b of document.querySelectorAll('nav button[data-view]'))
    b.addEventListener('click', () => go(b.dataset.view));
  ssoReturn(); // first: the fragment leaves the address bar before any request
  render();
});

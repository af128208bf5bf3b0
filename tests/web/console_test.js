/*
 * console_test.js WORLD.json - drive the web console in headless Chromium
 * (Debian's /usr/bin/chromium through playwright-core; nothing downloaded).
 *
 * Environment: KE_NODE_DIR (where package-lock.json was installed),
 * KE_WEB_OUT (screenshots), KE_PROFILE (a fresh, empty --user-data-dir).
 * Every wait is on a selector with a timeout; any page error, console error
 * other than an HTTP error status, CSP violation or dialog fails the run.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require(path.join(process.env.KE_NODE_DIR, 'node_modules', 'playwright-core'));

const world = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const OUT = process.env.KE_WEB_OUT;
const U = world.users;
let step = 'launch';

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

function log(msg) {
  console.log('[web.console] ok: ' + msg);
}

async function login(page, name, password) {
  await page.fill('#login-user', name);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
}

async function logout(page) {
  await page.click('#logout');
  await page.waitForSelector('#login-form', { state: 'visible' });
  await expectVisible(page, ['#view-login', '#login-form'], 'after logout');
  const left = await page.evaluate(() => sessionStorage.length);
  check(left === 0, 'logout left ' + left + ' sessionStorage items');
}

// What a person sees: exactly the elements of `shown` are visible (laid
// out, not display:none, non-empty box) among the console's top-level parts.
const PARTS = ['#nav', '#view-login', '#sso', '#login-form', '#pwchange', '#view-devices',
               '#view-retrievals', '#view-audit'];
async function expectVisible(page, shown, what) {
  for (const sel of PARTS) {
    const vis = await page.isVisible(sel);
    check(vis === shown.includes(sel), what + ': ' + sel + (vis ? ' is visible' : ' is not visible'));
    if (vis) {
      const box = await page.locator(sel).boundingBox();
      check(box && box.width > 0 && box.height > 0, what + ': ' + sel + ' has no box');
    }
  }
}

async function rowText(page, sel) {
  return (await page.textContent(sel)).replace(/\s+/g, ' ');
}

async function main() {
  const ctx = await chromium.launchPersistentContext(process.env.KE_PROFILE, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    chromiumSandbox: false, // root in CI: --no-sandbox
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 900 },
    timeout: 60000,
  });
  ctx.setDefaultTimeout(20000);
  const problems = [];
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.on('console', (m) => {
    // A 4xx answer is logged by Chromium as "Failed to load resource":
    // expected (wrong password, one-time password).  Anything else, CSP
    // reports ("Refused to ...") first of all, is a failure.
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()))
      problems.push('console: ' + m.text());
  });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('dialog', (d) => { problems.push('dialog: ' + d.message()); d.dismiss(); });

  try {
    step = 'load';
    // Without SSO configured the login methods say so: no SSO button.
    const methods = page.waitForResponse((r) => r.url().endsWith('/v1/login/methods'));
    const resp = await page.goto(world.url + '/', { waitUntil: 'load' });
    check((await (await methods).json()).sso === null, 'SSO configured in the console world');
    check(resp.status() === 200, 'GET / status ' + resp.status());
    const h = resp.headers();
    check(/^default-src 'self'/.test(h['content-security-policy'] || ''), 'no CSP on /');
    check(h['x-frame-options'] === 'DENY', 'no X-Frame-Options on /');
    await page.waitForSelector('#login-form', { state: 'visible' });
    await expectVisible(page, ['#view-login', '#login-form'], 'before login');
    await page.screenshot({ path: path.join(OUT, 'login.png') });
    log('the login page loads with its CSP; only the login form is visible (no SSO configured: no SSO button)');

    step = 'browser crypto';
    // The served modules (the build's vendored copies) under the page's CSP:
    // a few known answers, a refusal, a non-extractable E, an Ed25519 key.
    const vectors = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
    const res = await page.evaluate(async (v) => {
      const K = await import('/ui/kecrypto.js');
      const RT = await import('/ui/keretrieval.js');
      const hx = K.hexToBytes;
      const sas = [];
      for (const x of v.sas) sas.push((await K.confirmationCode(x.request_id, hx(x.E), hx(x.R))) === x.code);
      const d = v.dleq[0];
      const P = await K.verifyPart(K.concat(hx(d.P), hx(d.c), hx(d.s)), hx(d.public_share), hx(d.R), d.index,
                                   d.context);
      const c = v.combine[0];
      const ev = v.envelope.find((e) => e.envelope === c.envelope);
      const S = K.combine(c.indices.map((index, k) => ({ index, P: hx(c.parts[k]) })));
      const secret = await K.openEnvelope(S, hx(c.envelope), c.device_id, c.volume_id, hx(ev.escrow_public_key));
      const E = await K.newRequestKey();
      let refused = false;
      try { K.decodePoint(hx(v.invalid_points[1].bytes)); } catch (e) { refused = e.code === 'invalid_point'; }
      const ck = await RT.newClientKey();
      const sig = await RT.signStatement(ck.privateKey, 'x');
      return { sas: sas.length > 0 && sas.every(Boolean), dleq: K.bytesToHex(P) === d.P,
               secret: K.bytesToHex(secret) === c.secret, eExtractable: E.privateKey.extractable,
               refused, ed25519: (await RT.verifyStatement(ck.publicRaw, sig, 'x')) &&
                 !(await RT.verifyStatement(ck.publicRaw, sig, 'y')) && ck.privateKey.extractable === false };
    }, vectors);
    check(res.sas && res.dleq && res.secret && res.eExtractable === false && res.refused && res.ed25519,
          'browser crypto: ' + JSON.stringify(res));
    log('Chromium runs the served crypto modules under the CSP: known answers pass, a bad point is refused, ' +
        'E and the Ed25519 client key are non-extractable');

    step = 'bad login';
    await login(page, U.newhire.name, 'not-the-password-at-all');
    await page.waitForSelector('#error:not([hidden])');
    check((await page.textContent('#error')).includes('invalid_credentials'), 'the JSON error code is not shown');
    log('a wrong password shows the server error invalid_credentials');

    step = 'one-time password';
    await login(page, U.newhire.name, U.newhire.one_time);
    await page.waitForSelector('#pwchange', { state: 'visible' });
    await expectVisible(page, ['#view-login', '#login-form', '#pwchange'], 'one-time password');
    await page.fill('#login-new', U.newhire.new);
    await page.fill('#login-new2', U.newhire.new);
    await page.click('#login-submit');
    await page.waitForSelector('#nav', { state: 'visible' });
    await expectVisible(page, ['#nav', '#view-devices'], 'after the password change');
    check((await page.textContent('#whoami')).includes(U.newhire.name + ' (helpdesk)'), 'whoami');
    const store = await page.evaluate(() => ({
      token: sessionStorage.getItem('ke.token'), local: localStorage.length, cookie: document.cookie }));
    check(/^kes_/.test(store.token || '') && store.local === 0 && store.cookie === '',
          'the token must be in sessionStorage only');
    await logout(page);
    log('first login with the one-time password asks for a new one; the token is in sessionStorage only; logout clears it');

    step = 'helpdesk login';
    await login(page, U.helpdesk.name, U.helpdesk.password);
    await page.waitForSelector('#nav:not([hidden])');

    step = 'device search';
    await page.waitForSelector('#view-devices:not([hidden])');
    await page.fill('#device-q', 'web-lap');
    await page.click('#device-search-submit');
    const devRow = '#device-results tr[data-device="' + world.device.id + '"]';
    await page.waitForSelector(devRow);
    await page.click(devRow + ' button.device-open');
    const recRow = '#device-records tr[data-record="' + world.device.record_id + '"]';
    await page.waitForSelector(recRow);
    const rec = await rowText(page, recRow);
    check(rec.includes('bitlocker') && rec.includes(world.device.key_id) && rec.includes('active') &&
          rec.includes(world.device.volume), 'record row: ' + rec);
    check((await page.textContent('#device-detail h3')).includes(world.device.hostname), 'detail heading');
    // The record a drill disclosed says so, visibly, and that it rotates next.
    const drilledRow = '#device-records tr[data-record="' + world.device.drilled_record_id + '"]';
    await page.waitForSelector(drilledRow, { state: 'visible' });
    const drilled = (await page.innerText(drilledRow)).replace(/\s+/g, ' '); // what is rendered
    check(drilled.includes('disclosed') &&
          drilled.includes('disclosed by drill ' + world.drill_id + ': due at the next check-in'),
          'drilled record row: ' + drilled);
    check(!rec.includes('disclosed by drill'), 'the C: record is not disclosed: ' + rec);
    await page.screenshot({ path: path.join(OUT, 'console-device.png'), fullPage: true });
    log('device search finds ' + world.device.hostname + '; its history shows the active BitLocker record and the one a drill disclosed');

    step = 'HTML in data';
    await page.fill('#device-q', '<img');
    await page.click('#device-search-submit');
    const xRow = '#device-results tr[data-device="' + world.xss_device.id + '"]';
    await page.waitForSelector(xRow);
    await page.click(xRow + ' button.device-open');
    await page.waitForSelector('#device-detail:not([hidden]) h3');
    check((await page.$('#xss-probe')) === null, 'the hostname became markup');
    check((await page.textContent(xRow)).includes(world.xss_device.hostname), 'the hostname is not shown as text');
    check((await page.textContent('#device-detail h3')).includes(world.xss_device.hostname), 'detail heading text');
    check((await page.title()) !== 'pwned', 'script ran');
    log('a hostname made of HTML is shown as text, never parsed');

    check(world.retrieval, 'the world has no pending retrieval request');
    {
      step = 'requester queue';
      await page.click('#nav-retrievals');
      const rq = '#retrieval-list tr[data-request="' + world.retrieval.id + '"]';
      await page.waitForSelector(rq);
      const t = await rowText(page, rq);
      check(t.includes('pending') && t.includes(world.device.hostname) && t.includes(world.retrieval.ticket),
            'requester row: ' + t);
      log('the requester sees the pending request');
    }

    step = 'custodian';
    await logout(page);
    await login(page, U.custodian.name, U.custodian.password);
    await page.waitForSelector('#nav:not([hidden])');
    check(await page.isHidden('#nav-devices'), 'custodians get no device view');
    await page.waitForSelector('#view-retrievals:not([hidden])');
    {
      const rq = '#retrieval-list tr[data-request="' + world.retrieval.id + '"]';
      await page.waitForSelector(rq);
      const t = await rowText(page, rq);
      check(t.includes('pending') && t.includes(world.device.hostname) && t.includes(world.retrieval.code) &&
            t.includes('0 / ' + world.retrieval.needed), 'custodian row: ' + t);
      const cmd = await page.textContent(rq + ' code.finish');
      check(cmd === 'escrowctl approve ' + world.retrieval.id, 'finish command: ' + cmd);
      check((await page.$('#xss-probe')) === null, 'markup from the request');
      await page.click(rq + ' button');
      await page.waitForSelector('#retrieval-detail:not([hidden])');
      const detail = (await page.innerText('#retrieval-detail')).replace(/\s+/g, ' ');
      check(detail.includes(world.retrieval.reason), 'reason shown as text');
      check(/client key [0-9a-f]{4}( [0-9a-f]{4}){15}/.test(detail) && /Age \d+ min/.test(detail),
            'requester key fingerprint and age: ' + detail);
      check(detail.includes('custodian #1 (web-custodian): rule ticket_pattern: ' + world.retrieval.decline),
            'the decline is not shown: ' + detail);
      log('the custodian queue shows the pending request, its code and "escrowctl approve ' + world.retrieval.id +
          '"; its detail the requester\'s key fingerprint, the age and who declined why');
    }
    await page.screenshot({ path: path.join(OUT, 'console-custodian-queue.png'), fullPage: true });

    step = 'auditor';
    await logout(page);
    await login(page, U.auditor.name, U.auditor.password);
    await page.waitForSelector('#nav:not([hidden])');
    await page.click('#nav-audit');
    await page.waitForSelector('#audit-entries:not([hidden]) tbody tr');
    const note = await page.textContent('#audit-note');
    check(/\n\d+\n/.test(note), 'checkpoint note: ' + note);
    const entries = await page.textContent('#audit-entries tbody');
    check(entries.includes('device.search') && entries.includes('user:' + U.helpdesk.name) &&
          entries.includes('auth.login'), 'audit entries lack the session: ' + entries.slice(0, 400));
    await page.screenshot({ path: path.join(OUT, 'console-audit.png'), fullPage: true });
    log('the auditor pages the audit log (decoded leaves) under the latest signed checkpoint');

    check(problems.length === 0, 'browser problems:\n  ' + problems.join('\n  '));
  } catch (e) {
    try { await page.screenshot({ path: path.join(OUT, 'console-failure.png'), fullPage: true }); } catch (e2) { /* none */ }
    e.message = 'step "' + step + '": ' + e.message + (problems.length ? '\nbrowser: ' + problems.join('\n  ') : '');
    throw e;
  } finally {
    await ctx.close();
  }
}

main().then(() => process.exit(0), (e) => {
  console.error('[web.console] FAIL: ' + e.message);
  process.exit(1);
});

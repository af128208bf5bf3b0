/*
 * sso_test.js URL OUTDIR - single sign-on in the console, in headless
 * Chromium, through the test IdP's own login page (glewlwyd, tests/oidc/),
 * driven by t_sso.sh (tests/server/t_sso_browser.sh):
 *
 *   1. the login view offers "Sign in with single sign-on" beside the
 *      password form (break-glass accounts);
 *   2. cleo (custodian) signs in at the IdP with her password and a TOTP
 *      code computed here from KE_SSO_TOTP (base32), and lands back in the
 *      console logged in: the header names her and her role, the custodian
 *      view (retrieval queue) is shown, the address bar has no fragment
 *      and the tab keeps no binding
 *   3. logged out, alice, whose groups the shell made `admin`, signs in
 *      with a password only: the login view says her role needs a second
 *      factor (mfa_required), and she has no session.
 *
 * Environment: KE_NODE_DIR (playwright-core), KE_SSO_PASSWORD (every test
 * user's IdP password), KE_SSO_TOTP (cleo's TOTP secret).  Screenshots
 * into OUTDIR.
 */
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { chromium } = require(path.join(process.env.KE_NODE_DIR, 'node_modules', 'playwright-core'));

const [url, out] = process.argv.slice(2);
const password = process.env.KE_SSO_PASSWORD;
const totpSecret = process.env.KE_SSO_TOTP;
let step = 'launch';
const check = (c, m) => { if (!c) throw new Error(m); };
const log = (m) => console.log('[sso_test] ok: ' + m);

/* RFC 6238 (SHA-1, 6 digits, 30 s), as tests/oidc/idp.py totp(). */
function totp(b32) {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of b32.replace(/=+$/, '').toUpperCase()) bits += A.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const ctr = Buffer.alloc(8);
  ctr.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const mac = crypto.createHmac('sha1', key).update(ctr).digest();
  const off = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1000000).padStart(6, '0');
}

/* The login view, logged out: the SSO button, visible, and the password form. */
async function ssoButton(page) {
  const btn = page.locator('#sso-login');
  await btn.waitFor({ state: 'visible' });
  check((await btn.innerText()).trim() === 'Sign in with single sign-on', 'the button says ' + await btn.innerText());
  check(await btn.isEnabled(), 'the SSO button is disabled');
  check(await page.isVisible('#login-form') && await page.isVisible('#login-submit'),
        'the password form (break-glass) is gone');
  check(!(await page.isVisible('#nav')), 'the navigation shows while logged out');
  return btn;
}

/* glewlwyd's login page (docs/hacking.md, "The test IdP"). */
async function idpLogin(page, user, secret) {
  await page.waitForURL((u) => !u.href.startsWith(url), { timeout: 20000 });
  await page.waitForSelector('#username', { state: 'visible' });
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('#loginbut');
  if (secret) {
    await page.waitForSelector('input#value', { state: 'visible' });
    await page.fill('input#value', totp(secret));
    await page.click('button:has-text("OK")');
  }
  const cont = page.locator('button[title="Continue to client application"]');
  await cont.waitFor({ state: 'visible' });
  if (secret) fs.writeFileSync(path.join(out, 'totp-at'), String(Math.ceil(Date.now() / 1000)) + '\n');
  await page.screenshot({ path: path.join(out, `sso-idp-${user}.png`) });
  await cont.click();
  await page.waitForURL((u) => u.href.startsWith(url + '/'), { timeout: 20000 });
}

async function main() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium', headless: true, chromiumSandbox: false,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 60000,
  });
  // The IdP's certificate is from the test's throwaway CA.
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 800 }, ignoreHTTPSErrors: true });
  ctx.setDefaultTimeout(20000);
  const page = await ctx.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && page.url().startsWith(url) &&
        !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()))
      problems.push('console: ' + m.text());
  });
  page.on('pageerror', (e) => { if (page.url().startsWith(url)) problems.push('page error: ' + e.message); });
  try {
    step = 'login view';
    await page.goto(url + '/', { waitUntil: 'load' });
    const btn = await ssoButton(page);
    await page.screenshot({ path: path.join(out, 'sso-login.png') });
    log('the login view shows "Sign in with single sign-on" and keeps the password form');

    step = 'cleo at the IdP';
    await btn.click();
    await idpLogin(page, 'cleo', totpSecret);
    step = 'cleo back in the console';
    await page.waitForSelector('#nav', { state: 'visible' });
    const who = (await page.innerText('#whoami')).trim();
    check(who === 'cleo (custodian, custodian #4)', 'the header says ' + who);
    check(await page.isVisible('#view-retrievals') && !(await page.isVisible('#view-login')),
          'the custodian view is not shown');
    check(await page.isVisible('#nav-retrievals') && !(await page.isVisible('#nav-devices')),
          'the navigation is not a custodian\'s');
    check(page.url() === url + '/', 'the address bar still has ' + page.url());
    const st = await page.evaluate(() => ({ ...sessionStorage }));
    check(st['ke.token'] && st['ke.role'] === 'custodian' && st['ke.user'] === 'cleo' &&
          st['ke.custodian_index'] === '4' && !('ke.sso-binding' in st), 'session storage: ' + Object.keys(st));
    await page.waitForFunction(() => !document.getElementById('retrieval-empty').hidden ||
                                     !document.getElementById('retrieval-list').hidden);
    check(!(await page.isVisible('#error')), 'an error shows: ' + await page.innerText('#error'));
    await page.screenshot({ path: path.join(out, 'sso-custodian.png') });
    log(`cleo signed in with password + TOTP at the IdP: "${who}", the retrieval queue shown, no fragment left`);

    step = 'logout';
    await page.click('#logout');
    await ssoButton(page);
    await ctx.clearCookies(); // glewlwyd's session of cleo: alice logs in anew

    step = 'alice without a second factor';
    await page.click('#sso-login');
    await idpLogin(page, 'alice', null);
    const err = page.locator('#error');
    await err.waitFor({ state: 'visible' });
    const text = await err.innerText();
    check(text.includes('mfa_required') && text.includes('Your role needs a second factor at the identity provider'),
          'the error says ' + text);
    check(await page.isVisible('#view-login') && !(await page.isVisible('#nav')), 'not the login view');
    check(page.url() === url + '/', 'the address bar still has ' + page.url());
    const st2 = await page.evaluate(() => ({ ...sessionStorage }));
    check(!st2['ke.token'] && !('ke.sso-binding' in st2), 'session storage after a refusal: ' + Object.keys(st2));
    await ssoButton(page);
    await page.screenshot({ path: path.join(out, 'sso-mfa-required.png') });
    log('alice (admin by her groups) without TOTP: the login view says her role needs a second factor');
    check(problems.length === 0, problems.join('; '));
  } catch (e) {
    await page.screenshot({ path: path.join(out, 'sso-failure.png') }).catch(() => {});
    console.error(`[sso_test] FAIL at step "${step}": ${e.message} (at ${page.url()})`);
    if (problems.length) console.error(problems.join('\n'));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}
main();

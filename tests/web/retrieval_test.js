/*
 * retrieval_test.js URL USER PASSWORD KEYID VOLUME OUTDIR OLDREC - a helpdesk user
 * opens a recovery key in headless Chromium (web/js/retrieve_ui.js), driven
 * by t_retrieval.sh's `browser` case, which approves with escrowctl:
 *
 *   1. log in, search the device by a prefix of the record's Key ID (KEYID),
 *      "Retrieve in browser" on VOLUME, give a
 *      reason and a ticket; write OUTDIR/request.json (id, code, client key
 *      fingerprint as the page shows them) for the custodians;
 *   2. wait for the key on the page; the forged part (index 4) is named;
 *   3. every request the page made is checked: no URL or body carries the
 *      key, or any value the page decrypted (the parts' P_i, c, s; the
 *      key): an init script records every AES-GCM plaintext and ECDH
 *      output the page's WebCrypto produced;
 *   4. Clear, then a reload: the key is gone; storage holds no secret;
 *   5. the escrow history offers the older (superseded) record OLDREC as
 *      "Retrieve older key"; its panel says it is an older key, the request
 *      (OUTDIR/request-older.json) names that record, and its key opens.
 * Writes OUTDIR/result.json; screenshots into OUTDIR.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require(path.join(process.env.KE_NODE_DIR, 'node_modules', 'playwright-core'));

const [url, user, password, keyIdPrefix, volume, out, oldRecord] = process.argv.slice(2);
let step = 'launch';
const check = (c, m) => { if (!c) throw new Error(m); };
const log = (m) => console.log('[retrieval_test] ok: ' + m);

/* Step 5: the older record from the escrow history, by its id. */
async function olderKey(page) {
  step = 'older key';
  await page.fill('#device-q', keyIdPrefix);
  await page.click('#device-search-submit');
  await page.click('#device-results tbody tr button.device-open');
  const btn = page.locator(`#device-records button.record-older[data-record="${oldRecord}"]`);
  await btn.waitFor({ state: 'visible' });
  check((await btn.innerText()).trim() === 'Retrieve older key', 'the older record\'s button: ' + await btn.innerText());
  const row = await page.innerText(`#device-records tr[data-record="${oldRecord}"]`);
  check(/superseded/.test(row), 'the history row does not say superseded: ' + row);
  await btn.click();
  const h = page.locator('#retrieve-panel h3').first();
  await h.waitFor({ state: 'visible' });
  check((await h.innerText()).includes(`an older key: record ${oldRecord}, superseded`), 'form title: ' + await h.innerText());
  await page.fill('#retrieve-reason', 'restored disk image needs the old key');
  await page.fill('#retrieve-ticket', 'INC-9002');
  await page.click('#retrieve-submit');
  await page.waitForSelector('#retrieve-code', { state: 'visible' });
  const title = await page.innerText('#retrieve-panel h3');
  const id = (/Retrieval (req-[a-z2-7]{26})/.exec(title) || [])[1];
  check(id && title.includes(`an older key: record ${oldRecord}, superseded`), 'waiting title: ' + title);
  const note = page.locator('#retrieve-older');
  check(await note.isVisible() && (await note.innerText()).includes("not the volume's current key"),
        'no visible older-key notice');
  const code = (await page.innerText('#retrieve-code')).trim();
  await page.screenshot({ path: path.join(out, 'retrieval-older-waiting.png') });
  fs.writeFileSync(path.join(out, 'request-older.json.tmp'), JSON.stringify({ id, code }));
  fs.renameSync(path.join(out, 'request-older.json.tmp'), path.join(out, 'request-older.json'));
  log(`older request ${id}: the panel says it is an older key (record ${oldRecord})`);
  await page.waitForSelector('#retrieve-key', { state: 'visible', timeout: 120000 });
  const key = (await page.innerText('#retrieve-key')).trim();
  await page.screenshot({ path: path.join(out, 'retrieval-older-key.png'), fullPage: true });
  log('the older key is shown');
  return key;
}

async function main() {
  const ctx = await chromium.launchPersistentContext(path.join(out, 'profile'), {
    executablePath: '/usr/bin/chromium', headless: true, chromiumSandbox: false,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 1000 }, timeout: 60000,
  });
  ctx.setDefaultTimeout(20000);
  const page = ctx.pages()[0] || (await ctx.newPage());
  const problems = [], sent = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()))
      problems.push('console: ' + m.text());
  });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('request', (r) => sent.push({ url: r.url(), body: r.postData() || '' }));
  // What the page's WebCrypto derives or decrypts: the values that must
  // never leave it.
  await page.addInitScript(() => {
    const seen = (window.__keSeen = []);
    const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
    const s = crypto.subtle;
    const dec = s.decrypt.bind(s), bits = s.deriveBits.bind(s);
    s.decrypt = async (...a) => { const r = await dec(...a); seen.push(hex(r)); return r; };
    s.deriveBits = async (...a) => { const r = await bits(...a); seen.push(hex(r)); return r; };
  });
  try {
    step = 'login';
    await page.goto(url + '/', { waitUntil: 'load' });
    await page.fill('#login-user', user);
    await page.fill('#login-password', password);
    await page.click('#login-submit');
    await page.waitForSelector('#nav', { state: 'visible' });

    step = 'request';
    await page.fill('#device-q', keyIdPrefix);
    await page.click('#device-search-submit');
    await page.waitForSelector('#device-results tbody tr', { state: 'visible' });
    const matched = await page.innerText('#device-results tbody tr');
    check(/key_id|Key ID/i.test(matched), 'the device was not found by its Key ID: ' + matched);
    await page.click('#device-results tbody tr button.device-open');
    const btn = `button.record-retrieve:not(.record-older)[data-volume="${volume}"]`;
    await page.waitForSelector(btn, { state: 'visible' });
    await page.click(btn);
    await page.fill('#retrieve-reason', 'user locked out after a firmware update');
    await page.fill('#retrieve-ticket', 'INC-9001');
    await page.click('#retrieve-submit');
    await page.waitForSelector('#retrieve-code', { state: 'visible' });
    const code = (await page.innerText('#retrieve-code')).trim();
    const fpr = (await page.innerText('#retrieve-fingerprint')).replace(/\s+/g, '');
    const title = await page.innerText('#retrieve-panel h3');
    const id = (/Retrieval (req-[a-z2-7]{26})/.exec(title) || [])[1];
    check(/^[A-Z2-7]{8}$/.test(code) && /^[0-9a-f]{64}$/.test(fpr) && id, `code ${code}, fpr ${fpr}, ${title}`);
    await page.screenshot({ path: path.join(out, 'retrieval-waiting.png') });
    fs.writeFileSync(path.join(out, 'request.json.tmp'), JSON.stringify({ id, code, fingerprint: fpr }));
    fs.renameSync(path.join(out, 'request.json.tmp'), path.join(out, 'request.json'));
    log(`request ${id}: the page shows code ${code} and the client key fingerprint`);

    step = 'key';
    await page.waitForSelector('#retrieve-key', { state: 'visible', timeout: 120000 });
    const key = (await page.innerText('#retrieve-key')).trim();
    const bad = page.locator('#retrieve-part-list li.retrieve-bad[data-index="4"]');
    check(await bad.isVisible() && /BAD PART/.test(await bad.innerText()), 'the forged part is not named');
    const good = await page.locator('#retrieve-part-list li.retrieve-good').count();
    check(good >= 3, `${good} good parts shown`);
    await page.screenshot({ path: path.join(out, 'retrieval-key.png'), fullPage: true });
    log('the key is shown; the forged part of custodian 4 is named and skipped');

    step = 'requests';
    const seen = await page.evaluate(() => window.__keSeen);
    check(seen.length >= 4, `only ${seen.length} decrypted values recorded`);
    const b64u = (h) => Buffer.from(h, 'hex').toString('base64url');
    const secrets = [key, key.replace(/-/g, ''), Buffer.from(key).toString('hex'), Buffer.from(key).toString('base64url')];
    for (const h of seen) {
      secrets.push(h, b64u(h));
      if (h.length === 194) secrets.push(h.slice(0, 66), b64u(h.slice(0, 66))); // P_i of a proof
    }
    for (const r of sent)
      for (const x of secrets)
        check(!r.url.includes(x) && !r.body.includes(x), `a request carries a secret value: ${r.url}`);
    log(`${sent.length} requests made by the page carry neither the key nor any decrypted value or P_i`);

    step = 'clear and reload';
    await page.click('#retrieve-clear');
    await page.waitForSelector('#retrieve-key', { state: 'detached' });
    await page.reload({ waitUntil: 'load' });
    await page.waitForSelector('#nav', { state: 'visible' });
    const html = await page.content();
    check(!html.includes(key), 'the key is in the page after a reload');
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    for (const x of secrets) check(!stored.includes(x), 'web storage holds a secret value');
    log('after Clear and a reload the key is gone; web storage holds no secret');
    const older = await olderKey(page);
    check(problems.length === 0, problems.join('; '));
    fs.writeFileSync(path.join(out, 'result.json'), JSON.stringify({ key, older }));
  } catch (e) {
    await page.screenshot({ path: path.join(out, 'retrieval-failure.png') }).catch(() => {});
    console.error(`[retrieval_test] FAIL at step "${step}": ${e.message}`);
    if (problems.length) console.error(problems.join('\n'));
    process.exitCode = 1;
  } finally {
    await ctx.close();
  }
}
main();

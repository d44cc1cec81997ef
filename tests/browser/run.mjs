// End-to-end tests of Aidmart's pages in a real browser (Debian's Chromium driven by playwright-core).
//
// Starts its own server on a free port with a fresh SQLite database in a temporary directory,
// then drives the visible UI the way a person would. Run: `npm test` (or `node --test run.mjs`).
//
// Env: AIDMART_BIN   the server binary (default ../../target/debug/aidmart)
//      CHROMIUM_BIN  the browser (default /usr/bin/chromium)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const BIN = process.env.AIDMART_BIN ? path.resolve(process.env.AIDMART_BIN) : path.join(REPO, 'target', 'debug', 'aidmart');
const SEED_DIR = path.join(REPO, 'seed');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const SHOTS = path.join(HERE, 'screenshots');
const STARTUP_TIMEOUT_MS = 60_000;

// The visible texts the tests look for (i18n/zh-CN.toml and i18n/en.toml).
const ZH = {
  campaigns: '正在进行的帮扶活动',
  counties: '帮扶县',
  aidedBadge: '帮扶县',
  search: '搜索帮扶产品',
  email: '电子邮箱',
  password: '密码',
  loginButton: '登录',
  points: '积分余额',
};
const EN = { counties: 'Aided counties', signIn: 'Sign in', search: 'Search assistance products' };

let server; // { child, base, dataDir, log }
let browser;

/** A port that was free a moment ago on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startServer() {
  if (!existsSync(BIN)) throw new Error(`server binary not found: ${BIN} (build it, or set AIDMART_BIN)`);
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'aidmart-browser-'));
  const env = { ...process.env, AIDMART_DATA_DIR: dataDir, AIDMART_SEED_DIR: SEED_DIR };
  delete env.DATABASE_URL; // SQLite in the data dir
  delete env.REDIS_URL; // in-process cache and rate limits
  const log = [];
  const child = spawn(BIN, ['serve', '--bind', `127.0.0.1:${port}`], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => log.push(d.toString()));
  child.stderr.on('data', (d) => log.push(d.toString()));
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  server = { child, base: `http://127.0.0.1:${port}`, dataDir, log };

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`server exited early (${JSON.stringify(exited)}):\n${log.join('')}`);
    try {
      const res = await fetch(`${server.base}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch { /* not listening yet */ }
    await sleep(250);
  }
  throw new Error(`server did not answer 200 on /healthz within ${STARTUP_TIMEOUT_MS / 1000} s:\n${log.join('')}`);
}

async function stopServer() {
  if (!server) return;
  const { child, dataDir } = server;
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  }
  rmSync(dataDir, { recursive: true, force: true });
  server = undefined;
}

// Last resort if the runner is interrupted: never leave the server behind.
process.on('exit', () => {
  if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
  if (server) rmSync(server.dataDir, { recursive: true, force: true });
});

before(async () => {
  await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  try {
    if (browser) await browser.close();
  } finally {
    await stopServer();
  }
});

/**
 * A fresh context (no cookies) and page, as a Chinese-speaking visitor. Records failed sub-resources
 * (stylesheet, images…) and page errors so each test can check the page loaded whole.
 */
async function openPage(t, options = {}) {
  const context = await browser.newContext({ baseURL: server.base, locale: 'zh-CN', ...options });
  t.after(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    const type = r.request().resourceType();
    if (type !== 'document' && r.status() >= 400 && !r.url().endsWith('/favicon.ico')) {
      problems.push(`${r.status()} ${type} ${r.url()}`);
    }
  });
  return { context, page, problems };
}

async function htmlLang(page) {
  return page.evaluate(() => document.documentElement.lang);
}

/** The stylesheet applied: the site header is painted green, not transparent. */
async function assertStyled(page) {
  const bg = await page.locator('header.site-header').evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.equal(bg, 'rgb(43, 106, 58)', 'site header should have the stylesheet\'s green background');
}

test('home lists campaigns and aided counties', async (t) => {
  const { page, problems } = await openPage(t);
  const res = await page.goto('/');
  assert.equal(res.status(), 200);
  assert.equal(await htmlLang(page), 'zh-CN');
  await assertStyled(page);

  const campaigns = page.getByRole('region', { name: ZH.campaigns, exact: true });
  assert.ok(await campaigns.getByRole('listitem').count() >= 1, 'at least one campaign is listed');
  assert.ok(await campaigns.getByRole('heading', { level: 3 }).count() >= 1, 'campaigns have a name heading');

  const counties = page.getByRole('region', { name: ZH.counties, exact: true });
  const countyLinks = counties.locator('a[href^="/counties/"]');
  assert.ok(await countyLinks.count() >= 1, 'a link to an aided county');
  const guyuan = countyLinks.filter({ hasText: '沽源县' });
  assert.equal(await guyuan.count(), 1, '沽源县 has one county card');
  await guyuan.getByText(ZH.aidedBadge, { exact: true }).waitFor();
  assert.match(await page.locator('main').innerText(), /沽源县/);
  assert.deepEqual(problems, []);
});

test('search in Chinese finds every quinoa product', async (t) => {
  const { page, problems } = await openPage(t);
  await page.goto('/');
  const box = page.getByRole('banner').getByRole('searchbox', { name: ZH.search });
  await box.fill('藜麦');
  await Promise.all([page.waitForURL((u) => u.pathname === '/search'), box.press('Enter')]);
  const url = new URL(page.url());
  assert.equal(url.pathname, '/search');
  assert.equal(url.searchParams.get('q'), '藜麦');

  const main = page.locator('main');
  const hrefs = await main.locator('a[href^="/products/"]').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  const products = [...new Set(hrefs.filter((h) => /^\/products\/\d+$/.test(h)))];
  assert.equal(products.length, 3, `three quinoa products, got ${JSON.stringify(products)}`);
  for (const href of products) {
    const card = main.locator('article', { has: page.locator(`a[href="${href}"]`) });
    assert.equal(await card.count(), 1, `one card for ${href}`);
    assert.match(await card.innerText(), /藜麦/, `card ${href} mentions 藜麦`);
  }
  // The search page's own box keeps the query.
  assert.equal(await main.getByRole('searchbox').inputValue(), '藜麦');
  assert.deepEqual(problems, []);
});

test('login with the form and see points', async (t) => {
  {
    const { page, problems } = await openPage(t);
    await page.goto('/login');
    const main = page.getByRole('main');
    await main.getByLabel(ZH.email, { exact: true }).fill('employee@example.com');
    await main.getByLabel(ZH.password, { exact: true }).fill('aidmart-demo');
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/account'),
      main.getByRole('button', { name: ZH.loginButton, exact: true }).click(),
    ]);
    assert.equal(new URL(page.url()).pathname, '/account');
    const points = page.getByRole('region', { name: ZH.points, exact: true });
    assert.match(await points.innerText(), /5,000/);
    // The header now names the signed-in user.
    await page.getByRole('banner').getByRole('link', { name: /李强/ }).waitFor();
    assert.deepEqual(problems, []);
  }
  {
    const { page, context } = await openPage(t);
    await page.goto('/login');
    const main = page.getByRole('main');
    await main.getByLabel(ZH.email, { exact: true }).fill('employee@example.com');
    await main.getByLabel(ZH.password, { exact: true }).fill('wrong-password');
    await main.getByRole('button', { name: ZH.loginButton, exact: true }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.ok((await alert.innerText()).trim().length > 0, 'the alert says what went wrong');
    assert.notEqual(new URL(page.url()).pathname, '/account');
    // The email typed is kept, the password is not.
    assert.equal(await main.getByLabel(ZH.email, { exact: true }).inputValue(), 'employee@example.com');
    assert.equal(await main.getByLabel(ZH.password, { exact: true }).inputValue(), '');
    const account = await context.request.get('/account', { maxRedirects: 0 });
    assert.notEqual(account.status(), 200, 'no session after a wrong password');
  }
});

test('English via ?lang=en', async (t) => {
  // The browser asks for Chinese (Accept-Language: zh-CN), so only the choice made can keep English.
  const { page, context, problems } = await openPage(t);
  await page.goto('/?lang=en');
  assert.equal(await htmlLang(page), 'en');
  await page.getByRole('heading', { name: EN.counties, exact: true }).waitFor();
  const cookies = await context.cookies();
  assert.equal(cookies.find((c) => c.name === 'lang')?.value, 'en', 'a lang cookie remembers the choice');

  const res = await page.goto('/counties/1');
  assert.equal(res.status(), 200);
  assert.equal(await htmlLang(page), 'en');
  await page.getByRole('banner').getByRole('link', { name: EN.signIn, exact: true }).waitFor();
  await page.getByRole('banner').getByRole('searchbox', { name: EN.search, exact: true }).waitFor();
  assert.deepEqual(problems, []);
});

test('works on a phone', async (t) => {
  {
    const { page, problems } = await openPage(t, { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
    const res = await page.goto('/products/1');
    assert.equal(res.status(), 200);
    await assertStyled(page);
    const { scrollWidth, clientWidth } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
    }));
    assert.equal(clientWidth, 360);
    assert.ok(scrollWidth <= 360 + 1, `no horizontal overflow on a 360 px phone: scrollWidth ${scrollWidth}`);
    await page.screenshot({ path: path.join(SHOTS, 'product-phone.png'), fullPage: true });
    // English words are longer (campaign badges, table headers): the page must still fit.
    await page.goto('/products/1?lang=en');
    assert.equal(await htmlLang(page), 'en');
    const enWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(enWidth <= 360 + 1, `no horizontal overflow on a 360 px phone in English: scrollWidth ${enWidth}`);
    assert.deepEqual(problems, []);
  }
  {
    const { page, problems } = await openPage(t, { viewport: { width: 1280, height: 800 } });
    await page.goto('/');
    await assertStyled(page);
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= 1280 + 1, `no horizontal overflow on the desktop: scrollWidth ${scrollWidth}`);
    await page.screenshot({ path: path.join(SHOTS, 'home-desktop.png'), fullPage: true });
    assert.deepEqual(problems, []);
  }
});

// End-to-end tests of Aidmart's pages in a real browser (Debian's Chromium driven by playwright-core).
//
// Starts its own server on a free port with a fresh SQLite database in a temporary directory,
// then drives the visible UI the way a person would. Run: `npm test` (or `node --test run.mjs`).
//
// Env: AIDMART_BIN   the server binary (default ../../target/debug/aidmart)
//      CHROMIUM_BIN  the browser (default /usr/bin/chromium)
//      AIDMART_SCREENSHOTS  where screenshots go (default ../../target/screenshots)
//      AIDMART_SHOW_SERVER_LOG=1  print everything the server wrote at the end (a failing test
//                    always shows what the server wrote while it ran)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync, readFileSync } from 'node:fs';
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
const SHOTS = process.env.AIDMART_SCREENSHOTS ? path.resolve(process.env.AIDMART_SCREENSHOTS) : path.join(REPO, 'target', 'screenshots');
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
  // Cart, checkout, orders and the sandbox payment page.
  quantity: '数量',
  addToCart: '加入购物车',
  cartHeading: '购物车',
  cartTotal: '合计：',
  cartEmpty: '购物车还是空的。',
  checkout: '去结算',
  checkoutHeading: '确认订单',
  addrName: '收货人',
  addrMobile: '手机号',
  addrProvince: '省',
  addrCity: '市',
  addrDistrict: '区/县',
  addrDetail: '详细地址',
  usePoints: '使用积分',
  campaign: '本单计入的帮扶活动',
  submitOrder: '提交订单',
  orderPlaced: '订单已提交，请尽快完成支付。',
  payNow: '立即支付',
  cancelOrder: '取消订单',
  sandboxHeading: '沙箱支付（测试环境）',
  paySucceed: '确认支付',
  paidNotice: '支付成功，感谢您的支持！',
  cancelledNotice: '订单已取消。',
  pendingPayment: '待支付',
  paid: '已支付',
  cancelled: '已取消',
  badAddress: '收货地址不完整或手机号格式错误。',
  ordersHeading: '我的订单',
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
  server = await spawnServer({});
}

/** Starts a server (with extra settings in `extra`) on a free port and a fresh SQLite database. */
async function spawnServer(extra) {
  if (!existsSync(BIN)) throw new Error(`server binary not found: ${BIN} (build it, or set AIDMART_BIN)`);
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'aidmart-browser-'));
  const env = { ...process.env, AIDMART_DATA_DIR: dataDir, AIDMART_SEED_DIR: SEED_DIR, NO_COLOR: '1', ...extra };
  delete env.DATABASE_URL; // SQLite in the data dir
  delete env.REDIS_URL; // in-process cache and rate limits
  const log = [];
  const child = spawn(BIN, ['serve', '--bind', `127.0.0.1:${port}`], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => log.push(d.toString()));
  child.stderr.on('data', (d) => log.push(d.toString()));
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  const started = { child, base: `http://127.0.0.1:${port}`, dataDir, log };

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`server exited early (${JSON.stringify(exited)}):\n${log.join('')}`);
    try {
      const res = await fetch(`${started.base}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return started;
    } catch { /* not listening yet */ }
    await sleep(250);
  }
  throw new Error(`server did not answer 200 on /healthz within ${STARTUP_TIMEOUT_MS / 1000} s:\n${log.join('')}`);
}

async function stopServer() {
  if (!server) return;
  await stopOne(server);
  server = undefined;
}

async function stopOne(one) {
  const { child, dataDir } = one;
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  }
  rmSync(dataDir, { recursive: true, force: true });
}

// Last resort if the runner is interrupted: never leave the server behind.
const others = new Set();
process.on('exit', () => {
  for (const one of others) if (one.child.exitCode === null) one.child.kill('SIGKILL');
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
    if (process.env.AIDMART_SHOW_SERVER_LOG && server) process.stderr.write(`--- server output ---\n${server.log.join('')}`);
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
  return pageOf(t, context);
}

/** A page of `context`, recording failed sub-resources and page errors (see openPage). */
async function pageOf(t, context) {
  t.after(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // A favicon or a (lazy) photo still loading when the test moves on is cancelled by the
  // browser: not a problem. Any other failure, and any photo answered with an error, is.
  page.on('requestfailed', (r) => {
    const cancelledImage = r.resourceType() === 'image' && r.failure()?.errorText === 'net::ERR_ABORTED';
    if (!cancelledImage && !/\/favicon\.(ico|svg)$/.test(new URL(r.url()).pathname)) {
      problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`);
    }
  });
  page.on('response', (r) => {
    const type = r.request().resourceType();
    if (type !== 'document' && r.status() >= 400 && !r.url().endsWith('/favicon.ico')) {
      problems.push(`${r.status()} ${type} ${r.url()}`);
    } else if (r.status() >= 500) {
      problems.push(`${r.status()} ${r.request().method()} ${type} ${r.url()}`);
    }
  });
  return { context, page, problems };
}

/**
 * Wraps a test body so that, when it fails, the error carries what the server printed meanwhile
 * (its request log, warnings and errors): a failure caused by the server is then diagnosable.
 */
function withServerLog(fn) {
  return async (t) => {
    const mark = server.log.length;
    try {
      await fn(t);
    } catch (e) {
      const output = server.log.slice(mark).join('').trim();
      const extra = `\n--- server output during this test ---\n${output || '(nothing)'}\n--- end of server output ---`;
      if (e && typeof e === 'object' && typeof e.message === 'string') e.message += extra;
      throw e;
    }
  };
}

/** Signs in with the /login form; the form sends the user to /account. */
async function logIn(page, email, password = 'aidmart-demo') {
  await page.goto('/login');
  const main = page.getByRole('main');
  await main.getByLabel(ZH.email, { exact: true }).fill(email);
  await main.getByLabel(ZH.password, { exact: true }).fill(password);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/account'),
    main.getByRole('button', { name: ZH.loginButton, exact: true }).click(),
  ]);
}

/** The SKU table's row for a SKU, by the start of its visible name (the row header). */
function skuRow(page, skuName) {
  const escaped = skuName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return page.getByRole('main').getByRole('row').filter({
    has: page.getByRole('rowheader', { name: new RegExp(`^${escaped}(\\s|$)`) }),
  });
}

/** Adds a SKU to the cart with its row's form on the product page; lands on /cart. */
async function addToCart(page, productPath, skuName, quantity) {
  const res = await page.goto(productPath);
  assert.equal(res.status(), 200, `GET ${productPath}`);
  const row = skuRow(page, skuName);
  assert.equal(await row.count(), 1, `one SKU row named ${skuName} on ${productPath}`);
  await row.getByLabel(ZH.quantity, { exact: true }).fill(String(quantity));
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/cart'),
    row.getByRole('button', { name: ZH.addToCart, exact: true }).click(),
  ]);
}

/** Fills the checkout form's address fieldset. */
async function fillAddress(page, a) {
  const main = page.getByRole('main');
  await main.getByLabel(ZH.addrName, { exact: true }).fill(a.name);
  await main.getByLabel(ZH.addrMobile, { exact: true }).fill(a.mobile);
  await main.getByLabel(ZH.addrProvince, { exact: true }).fill(a.province);
  await main.getByLabel(ZH.addrCity, { exact: true }).fill(a.city);
  await main.getByLabel(ZH.addrDistrict, { exact: true }).fill(a.district);
  await main.getByLabel(ZH.addrDetail, { exact: true }).fill(a.detail);
}

/** The order page's status badge (the one in its header, not the history's). */
function orderStatus(page) {
  return page.getByRole('main').locator('header.page-header .badge-status');
}

/** Screenshot at a 360 px phone width, then back to the previous viewport; returns the page's scrollWidth. */
async function phoneShot(page, name) {
  const before = page.viewportSize();
  await page.setViewportSize({ width: 360, height: 740 });
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
  if (before) await page.setViewportSize(before);
  return scrollWidth;
}

const ADDRESS = { name: '李强', mobile: '13800138000', province: '北京市', city: '北京市', district: '西城区', detail: '金融大街1号' };
const ORDER_PATH = /^\/orders\/AM[0-9A-Z]+$/;

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
  assert.equal(products.length, 4, `four quinoa products (one on pre-sale), got ${JSON.stringify(products)}`);
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

test('checkout with points plus cash, then pay in the sandbox', withServerLog(async (t) => {
  const { page, problems } = await openPage(t, { viewport: { width: 1280, height: 800 } });
  const main = page.getByRole('main');
  await logIn(page, 'employee@example.com');

  // 沽源藜麦, "1kg 袋装" at ¥39.90: two bags.
  await addToCart(page, '/products/1', '1kg 袋装', 2);
  await main.getByRole('heading', { level: 1, name: ZH.cartHeading, exact: true }).waitFor();
  const cartLine = skuRow(page, '沽源藜麦');
  assert.equal(await cartLine.count(), 1, 'one cart line for 沽源藜麦');
  assert.match(await cartLine.getByRole('rowheader').innerText(), /1kg 袋装/);
  assert.equal(await cartLine.getByLabel(ZH.quantity, { exact: true }).inputValue(), '2');
  assert.match(await cartLine.innerText(), /¥79\.80/, 'line total ¥79.80');
  assert.match(await main.locator('p', { hasText: ZH.cartTotal }).innerText(), /¥79\.80/, 'cart total ¥79.80');

  await Promise.all([
    page.waitForURL((u) => u.pathname === '/checkout'),
    main.getByRole('link', { name: ZH.checkout, exact: true }).click(),
  ]);
  await main.getByRole('heading', { level: 1, name: ZH.checkoutHeading, exact: true }).waitFor();
  await fillAddress(page, ADDRESS);

  // checkout.js: 1000 points at 100 points per yuan take ¥10.00 off ¥79.80.
  const cashDue = main.locator('#cash-due');
  assert.equal((await cashDue.textContent()).trim(), '79.80', 'before any points, all of it is cash');
  const points = main.getByLabel(ZH.usePoints, { exact: true });
  assert.equal(await points.getAttribute('id'), 'points');
  await points.fill('1000');
  await page.waitForFunction(() => document.getElementById('cash-due')?.textContent.trim() === '69.80', null, { timeout: 5000 })
    .catch(async () => assert.fail(`#cash-due should show 69.80 after 1000 points, shows ${await cashDue.textContent()}`));

  // The campaign: keep the one the page chose.
  const campaign = main.getByLabel(ZH.campaign, { exact: true });
  const chosen = await campaign.evaluate((s) => ({ value: s.value, text: s.selectedOptions[0]?.textContent.trim() ?? '' }));
  assert.ok(chosen.value !== '' && chosen.text !== '', `a campaign is chosen by default: ${JSON.stringify(chosen)}`);
  await campaign.selectOption(chosen.value);

  const checkoutWidth = await phoneShot(page, 'checkout-phone.png');
  assert.ok(checkoutWidth <= 360 + 1, `checkout fits a 360 px phone: scrollWidth ${checkoutWidth}`);

  await Promise.all([
    page.waitForURL((u) => ORDER_PATH.test(u.pathname)),
    main.getByRole('button', { name: ZH.submitOrder, exact: true }).click(),
  ]);
  const orderPath = new URL(page.url()).pathname;
  const orderNo = orderPath.split('/').pop();
  assert.equal((await orderStatus(page).innerText()).trim(), ZH.pendingPayment);
  assert.equal((await page.getByRole('status').innerText()).trim(), ZH.orderPlaced);
  assert.match(await main.locator('header.page-header').innerText(), new RegExp(chosen.text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
    'the order names the campaign chosen');
  const amounts = main.getByRole('region', { name: '金额', exact: true });
  const amountsText = await amounts.innerText();
  assert.match(amountsText, /¥79\.80/, 'order total');
  assert.match(amountsText, /1,000/, 'points used');
  assert.match(amountsText, /¥69\.80/, 'cash due');

  const pay = main.getByRole('link', { name: new RegExp(`^${ZH.payNow}`) });
  assert.equal(await pay.count(), 1, 'a pay link');
  assert.match(await pay.innerText(), /¥69\.80/);
  await Promise.all([
    page.waitForURL((u) => u.pathname.startsWith('/pay/sandbox/')),
    pay.click(),
  ]);
  await main.getByRole('heading', { level: 1, name: ZH.sandboxHeading, exact: true }).waitFor();
  const sandboxText = await main.innerText();
  assert.ok(sandboxText.includes(orderNo), 'the sandbox page names the order');
  assert.match(sandboxText, /¥69\.80/, 'the sandbox charges the cash due');

  await Promise.all([
    page.waitForURL((u) => u.pathname === orderPath),
    main.getByRole('button', { name: ZH.paySucceed, exact: true }).click(),
  ]);
  assert.equal((await orderStatus(page).innerText()).trim(), ZH.paid);
  assert.equal((await page.getByRole('status').innerText()).trim(), ZH.paidNotice);
  assert.equal(await main.getByRole('link', { name: new RegExp(`^${ZH.payNow}`) }).count(), 0, 'no pay link once paid');
  assert.equal(await main.getByRole('button', { name: ZH.cancelOrder, exact: true }).count(), 0, 'no cancel button once paid');
  const paidWidth = await phoneShot(page, 'order-paid-phone.png');
  assert.ok(paidWidth <= 360 + 1, `the paid order fits a 360 px phone: scrollWidth ${paidWidth}`);

  // The orders list has it, paid.
  const res = await page.goto('/orders');
  assert.equal(res.status(), 200);
  await main.getByRole('heading', { level: 1, name: ZH.ordersHeading, exact: true }).waitFor();
  const card = main.getByRole('listitem').filter({ has: page.locator(`a[href="${orderPath}"]`) });
  assert.equal(await card.count(), 1, `/orders lists ${orderNo}`);
  assert.match(await card.innerText(), new RegExp(ZH.paid));
  assert.match(await card.innerText(), /¥69\.80/);

  // The points are spent: 5000 − 1000.
  const me = await page.request.get('/api/v1/me');
  assert.equal(me.status(), 200);
  assert.equal((await me.json()).points_balance, 4000);
  assert.deepEqual(problems, []);
}));

test('an order can be cancelled from its page and the cart survives a bad mobile number', withServerLog(async (t) => {
  const { page, problems } = await openPage(t, { viewport: { width: 1280, height: 800 } });
  const main = page.getByRole('main');
  await logIn(page, 'buyer@example.com');
  await addToCart(page, '/products/1', '1kg 袋装', 1);
  assert.equal(await skuRow(page, '沽源藜麦').count(), 1, 'the cart has the line');

  await page.goto('/checkout');
  assert.equal(new URL(page.url()).pathname, '/checkout');
  await fillAddress(page, { ...ADDRESS, name: '王芳', mobile: '12345' });
  // Let the browser send what its own checks would stop, so the server's check is what is tested.
  await main.getByLabel(ZH.addrMobile, { exact: true }).evaluate((el) => {
    el.removeAttribute('pattern');
    el.removeAttribute('required');
    el.removeAttribute('maxlength');
  });
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/checkout'),
    main.getByRole('button', { name: ZH.submitOrder, exact: true }).click(),
  ]);
  await page.waitForLoadState('load');
  assert.equal(refused.status(), 400, 'a bad mobile number is a 400');
  assert.equal(new URL(page.url()).pathname, '/checkout', 'still on the checkout page');
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.equal((await alert.innerText()).trim(), ZH.badAddress);
  // What was typed is shown again, and the cart is still there.
  assert.equal(await main.getByLabel(ZH.addrName, { exact: true }).inputValue(), '王芳');
  assert.equal(await main.getByLabel(ZH.addrMobile, { exact: true }).inputValue(), '12345');
  assert.equal(await skuRow(page, '沽源藜麦').count(), 1, 'the checkout page still lists the line');
  {
    const probe = await page.context().newPage();
    await probe.goto('/cart');
    assert.equal(await skuRow(probe, '沽源藜麦').count(), 1, '/cart still has the line after the refusal');
    await probe.close();
  }

  await main.getByLabel(ZH.addrMobile, { exact: true }).fill(ADDRESS.mobile);
  await Promise.all([
    page.waitForURL((u) => ORDER_PATH.test(u.pathname)),
    main.getByRole('button', { name: ZH.submitOrder, exact: true }).click(),
  ]);
  const orderPath = new URL(page.url()).pathname;
  assert.equal((await orderStatus(page).innerText()).trim(), ZH.pendingPayment);

  const cancel = main.getByRole('button', { name: ZH.cancelOrder, exact: true });
  assert.equal(await cancel.count(), 1, 'a cancel button');
  await Promise.all([
    page.waitForURL((u) => u.pathname === orderPath && u.searchParams.get('notice') === 'cancelled'),
    cancel.click(),
  ]);
  assert.equal((await orderStatus(page).innerText()).trim(), ZH.cancelled);
  assert.equal((await page.getByRole('status').innerText()).trim(), ZH.cancelledNotice);
  assert.equal(await cancel.count(), 0, 'no cancel button once cancelled');
  assert.equal(await main.getByRole('link', { name: new RegExp(`^${ZH.payNow}`) }).count(), 0, 'no pay link once cancelled');

  // The order emptied the cart.
  await page.goto('/cart');
  await main.getByText(ZH.cartEmpty, { exact: true }).waitFor();
  assert.deepEqual(problems, []);
}));

test('a points donation is credited in the ledger, which the entry page verifies', withServerLog(async (t) => {
  const { page, problems } = await openPage(t, { viewport: { width: 1280, height: 800 } });
  const main = page.getByRole('main');
  await logIn(page, 'employee@example.com');

  const res = await page.goto('/donate/love-library');
  assert.equal(res.status(), 200);
  await main.getByRole('heading', { level: 1, name: '爱心图书角', exact: true }).waitFor();
  const raisedBefore = (await main.getByTestId('raised').innerText()).trim();
  await main.getByLabel('捐赠积分（50 的整数倍）', { exact: true }).fill('150');
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/donate/love-library' && u.searchParams.get('donated') === '150'),
    main.getByRole('button', { name: '确认捐赠', exact: true }).click(),
  ]);
  assert.match(await page.getByRole('status').innerText(), /150/);
  const raised = (await main.getByTestId('raised').innerText()).trim();
  assert.notEqual(raised, raisedBefore);
  assert.match(raised, /¥1\.50$/, `the project shows the 150 points as ¥1.50, after ${raisedBefore}`);
  const donateWidth = await phoneShot(page, 'donate-phone.png');
  assert.ok(donateWidth <= 360 + 1, `the project page fits a 360 px phone: scrollWidth ${donateWidth}`);

  // The newest ledger entry is the donation; its page recomputes the hash and finds it matches.
  await page.goto('/ledger');
  const newest = main.locator('table tbody tr').first();
  assert.match(await newest.innerText(), /积分捐赠/);
  assert.match(await newest.innerText(), /¥1\.50/);
  await Promise.all([
    page.waitForURL((u) => /^\/ledger\/\d+$/.test(u.pathname)),
    newest.getByRole('link').first().click(),
  ]);
  await main.getByTestId('hash-ok').waitFor();
  assert.match(await main.innerText(), /与上一条相连/);

  // The campaign dashboard draws its charts and fits a phone.
  await page.goto('/campaigns/dragon-boat-2027');
  assert.ok(await main.locator('svg.chart').count() >= 6, 'server-rendered SVG charts');
  const dashWidth = await phoneShot(page, 'campaign-phone.png');
  assert.ok(dashWidth <= 360 + 1, `the dashboard fits a 360 px phone: scrollWidth ${dashWidth}`);
  assert.deepEqual(problems, []);
}));

// ---- Phone first: every page of every role at 390 px, and axe-core on the main ones ----

// bypassCSP: the page's CSP (script-src 'self') would refuse the axe-core script the test injects;
// the other tests keep the CSP on.
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, bypassCSP: true };
const AXE = readFileSync(path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/** Zero serious or critical axe-core violations (WCAG 2.x A/AA rules). */
async function assertAccessible(page, label) {
  await page.addScriptTag({ content: AXE });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  });
  assert.deepEqual(result, [], `${label}: axe-core serious/critical violations`);
}

/** Opens `url` at 390 px, checks it fits without horizontal scrolling, and photographs it. */
async function visitOnPhone(page, url, shot) {
  const res = await page.goto(url);
  assert.ok(res.status() < 400, `GET ${url}: ${res.status()}`);
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
  }));
  assert.ok(scrollWidth <= innerWidth, `${url} fits a 390 px phone: scrollWidth ${scrollWidth} > ${innerWidth}`);
  await page.screenshot({ path: path.join(SHOTS, `phone-${shot}.png`), fullPage: true });
}

/** A box that lies wholly inside the visible viewport. */
async function assertInViewport(page, locator, what) {
  const box = await locator.boundingBox();
  assert.ok(box, `${what} is rendered`);
  const { w, h } = await page.evaluate(() => ({ w: window.innerWidth, h: window.innerHeight }));
  assert.ok(box.x >= 0 && box.y >= 0 && box.x + box.width <= w && box.y + box.height <= h,
    `${what} is inside the ${w}×${h} viewport: ${JSON.stringify(box)}`);
}

test('every page of every role fits a 390 px phone; main pages pass axe-core', withServerLog(async (t) => {
  const anonymous = ['/', '/counties/1', '/search?q=%E8%97%9C%E9%BA%A6', '/login', '/register', '/cart',
    '/campaigns/dragon-boat-2027', '/campaigns/year-round', '/campaigns/new-season-presale', '/ledger', '/ledger/verify',
    '/donate/love-library', '/draws', '/adoptions', '/adoptions/1'];
  {
    const { page, problems } = await openPage(t, PHONE);
    const products = await (await page.request.get('/api/v1/products?page=1')).json();
    const productPaths = products.items.map((p) => `/products/${p.id}`);
    assert.ok(productPaths.length >= 5, 'the demo store has products');
    // English last: ?lang=en is remembered by a cookie.
    for (const url of [...anonymous, ...productPaths, '/products/2?lang=en', '/?lang=en']) {
      await visitOnPhone(page, url, `anon${url.replace(/[^a-z0-9]+/gi, '-')}`);
    }
    await page.goto('/?lang=zh-CN');
    // The product page's price and add-to-cart button are on screen without scrolling.
    for (const url of productPaths) {
      await page.goto(url);
      await assertInViewport(page, page.getByTestId('bar-price'), `${url}: the price`);
      await assertInViewport(page, page.getByTestId('bar-add'), `${url}: 加入购物车`);
    }
    for (const url of ['/', '/products/1', '/login', '/campaigns/dragon-boat-2027']) {
      await page.goto(url);
      await assertAccessible(page, url);
    }
    assert.deepEqual(problems, []);
  }
  {
    // A buyer: cart, checkout, an order, the sandbox payment page, the account.
    const { page, problems } = await openPage(t, PHONE);
    await logIn(page, 'buyer@example.com');
    await page.goto('/products/1');
    await Promise.all([page.waitForURL((u) => u.pathname === '/cart'), page.getByTestId('bar-add').click()]);
    await page.goto('/products/2');
    await Promise.all([page.waitForURL((u) => u.pathname === '/cart'), page.getByTestId('bar-add').click()]);
    // The header counts what is in the cart.
    assert.match(await page.locator('header.site-header .cart-count').innerText(), /^2/);
    for (const url of ['/cart', '/checkout', '/account', '/orders', '/account/addresses', '/account/invoices']) {
      await visitOnPhone(page, url, `buyer${url.replace(/[^a-z0-9]+/gi, '-')}`);
      await assertAccessible(page, url);
    }
    // Cart and checkout keep their total and main action on screen.
    await page.goto('/cart');
    await assertInViewport(page, page.locator('.action-bar .cart-total'), 'the cart total');
    await assertInViewport(page, page.getByRole('link', { name: ZH.checkout, exact: true }), '去结算');
    await page.goto('/checkout');
    await assertInViewport(page, page.locator('#cash-due'), 'the amount due');
    await assertInViewport(page, page.getByRole('button', { name: ZH.submitOrder, exact: true }), '提交订单');
    await fillAddress(page, ADDRESS);
    await Promise.all([
      page.waitForURL((u) => ORDER_PATH.test(u.pathname)),
      page.getByRole('button', { name: ZH.submitOrder, exact: true }).click(),
    ]);
    const orderPath = new URL(page.url()).pathname;
    await visitOnPhone(page, orderPath, 'buyer-order');
    await assertAccessible(page, orderPath);
    const pay = await page.getByRole('main').getByRole('link', { name: new RegExp(`^${ZH.payNow}`) }).getAttribute('href');
    await visitOnPhone(page, pay, 'buyer-sandbox');
    // The address typed at checkout is offered next time.
    await page.goto('/products/1');
    await Promise.all([page.waitForURL((u) => u.pathname === '/cart'), page.getByTestId('bar-add').click()]);
    await page.goto('/checkout');
    assert.equal(await page.getByRole('main').getByLabel(ZH.addrName, { exact: true }).inputValue(), ADDRESS.name);
    // Cloud adoption: the seeded offer's form, a unit adopted and paid, its page and certificate.
    await visitOnPhone(page, '/adoptions/1', 'buyer-adoption-offer');
    await assertAccessible(page, '/adoptions/1');
    const adopted = await page.request.post('/api/v1/adoptions/1/adopt', {
      data: { units: 1, certificate_name: '李明', address: { ...ADDRESS, detail: '金融大街 1 号' } },
    });
    assert.equal(adopted.status(), 201, await adopted.text());
    const adoption = await adopted.json();
    const paidAdoption = await page.request.post(`/api/v1/payments/sandbox/${adoption.order.payment_id}/complete`);
    assert.equal(paidAdoption.status(), 200);
    const unitId = adoption.units[0].id;
    for (const url of [`/adopted-units/${unitId}`, `/adopted-units/${unitId}/certificate`, '/adoptions']) {
      await visitOnPhone(page, url, `buyer${url.replace(/[^a-z0-9]+/gi, '-')}`);
      await assertAccessible(page, url);
    }
    assert.deepEqual(problems, []);
  }
  {
    // A live flash sale: its box on the product and campaign pages (price, what is left, the
    // countdown, the live stream, 立即抢购), and the buy page.
    const { page, problems } = await openPage(t, PHONE);
    await logIn(page, 'admin@example.com');
    const detail = await (await page.request.get('/api/v1/products/1')).json();
    const iso = (ms) => `${new Date(ms).toISOString().slice(0, 19)}Z`;
    const made = await page.request.post('/api/v1/flash-sales', { data: {
      sku_id: detail.skus[0].id, price: '9.90', quantity: 5, per_buyer_limit: 1,
      starts_at: iso(Date.now() - 60e3), ends_at: iso(Date.now() + 3600e3), stream_url: 'https://live.example.com/guyuan',
    } });
    assert.equal(made.status(), 201, await made.text());
    const sale = await made.json();
    for (const url of ['/products/1', '/campaigns/year-round', `/flash-sales/${sale.id}`]) {
      await visitOnPhone(page, url, `flash${url.replace(/[^a-z0-9]+/gi, '-')}`);
      await assertAccessible(page, `flash sale on ${url}`);
    }
    await page.goto('/products/1');
    const box = page.locator(`[data-flash-sale="${sale.id}"]`);
    await box.getByRole('link', { name: '立即抢购', exact: true }).waitFor();
    assert.match(await box.locator('.flash-countdown').innerText(), /^距结束 \d\d:\d\d:\d\d$/);
    assert.deepEqual(problems, []);
  }
  const roles = [
    ['union@example.com', ['/union', '/account']],
    ['canteen@example.com', ['/canteen']],
    ['coop@example.com', ['/coop', '/coop/shipping', '/coop/reports', '/coop/stock/bulk', '/coop/after-sales', '/coop/earnings',
      '/coop/invoices', '/coop/adoptions', '/coop/adoptions/1']],
    ['admin@example.com', ['/admin', '/admin/points', '/admin/users', '/account', '/ledger', '/admin/after-sales',
      '/admin/settlement', '/admin/payouts']],
  ];
  for (const [email, urls] of roles) {
    const { page, problems } = await openPage(t, PHONE);
    await logIn(page, email);
    for (const url of urls) {
      await visitOnPhone(page, url, `${email.split('@')[0]}${url.replace(/[^a-z0-9]+/gi, '-')}`);
    }
    await page.goto(urls[0]);
    await assertAccessible(page, `${email} ${urls[0]}`);
    if (email.startsWith('admin')) {
      await page.goto('/admin/points');
      await assertAccessible(page, `${email} /admin/points`);
      // The admin menu reaches every admin page.
      for (const name of ['发放积分', '发放记录', '用户与角色', '结算', '付款', '帮扶记账本', '校验整本账']) {
        await page.getByRole('navigation', { name: '管理菜单' }).getByRole('link', { name, exact: true }).waitFor();
      }
    }
    if (email.startsWith('canteen')) {
      // The product picker prices the order as it is typed.
      const main = page.getByRole('main');
      const form = main.locator('form[action="/canteen/orders"]');
      await form.getByLabel('商品', { exact: true }).selectOption({ index: 1 });
      await form.getByLabel('数量', { exact: true }).fill('6');
      const total = await main.locator('#ord-total').innerText();
      assert.match(total, /^合计： ¥[\d,]+\.\d{2} × 6 = ¥[\d,]+\.\d{2}$/, `the live total: ${total}`);
      // A schedule shows what it delivers and pauses from the page.
      const details = main.locator('details', { hasText: '新建定期订单' });
      await details.locator('summary').click();
      const sch = details.locator('form');
      await sch.getByLabel('商品', { exact: true }).selectOption({ index: 1 });
      await sch.getByLabel('数量', { exact: true }).fill('3');
      const end = new Date(Date.now() + 40 * 86400e3).toISOString().slice(0, 10);
      await sch.getByLabel('结束日期', { exact: true }).fill(end);
      for (const [label, value] of [['收货人', '刘军'], ['手机号', '13800138000'], ['省', '北京市'], ['市', '北京市'], ['区县', '西城区']]) {
        await sch.getByLabel(label, { exact: true }).fill(value);
      }
      await Promise.all([page.waitForURL((u) => u.searchParams.get('notice') === 'scheduled'), sch.getByRole('button').click()]);
      const card = main.getByTestId('canteen-schedules').locator('li.order-card').first();
      assert.match(await card.innerText(), /× 3/);
      await Promise.all([
        page.waitForURL((u) => u.searchParams.get('notice') === 'schedule_paused'),
        card.getByRole('button', { name: '暂停', exact: true }).click(),
      ]);
      assert.match(await main.getByTestId('canteen-schedules').locator('li.order-card').first().innerText(), /已暂停/);
      await visitOnPhone(page, '/canteen', 'canteen-after-schedule');
      await assertAccessible(page, 'canteen with a paused schedule');
    }
    if (email.startsWith('canteen')) {
      const statement = await page.getByRole('main').locator('a[href^="/canteen/statement"]:not([href*="format="])')
        .first().getAttribute('href');
      await visitOnPhone(page, statement, 'canteen-statement');
    }
    if (email.startsWith('union') || email.startsWith('canteen')) {
      // The organisation's invoices, statement (reconciliation) and aid-procurement pages,
      // reached from the account page.
      await page.goto('/account');
      const links = await page.getByRole('main').locator('a[href^="/org/"]')
        .evaluateAll((as) => [...new Set(as.map((a) => a.getAttribute('href')))]);
      const org = links.find((u) => u.startsWith('/org/invoices'))?.split('org=')[1];
      assert.ok(org, `${email}: the account page links the organisation's invoices`);
      for (const url of [`/org/invoices?org=${org}`, `/org/statement?org=${org}`, `/org/procurement?org=${org}`]) {
        await visitOnPhone(page, url, `${email.split('@')[0]}${url.replace(/[^a-z0-9]+/gi, '-')}`);
        await assertAccessible(page, `${email} ${url}`);
      }
    }
    if (email.startsWith('coop')) {
      await page.goto('/coop/invoices');
      await assertAccessible(page, `${email} /coop/invoices`);
      // The cooperative's SKU and product pages, reached from its portal.
      const links = await page.getByRole('main').locator('a[href^="/coop/skus/"], a[href^="/coop/products/"]')
        .evaluateAll((as) => [...new Set(as.map((a) => a.getAttribute('href')))].slice(0, 4));
      for (const url of links) await visitOnPhone(page, url, `coop${url.replace(/[^a-z0-9]+/gi, '-')}`);
      for (const url of ['/coop/adoptions', '/coop/adoptions/1']) {
        await page.goto(url);
        await assertAccessible(page, url);
      }
    }
    assert.deepEqual(problems, []);
  }
}));

// ---- After the parcel leaves: receipt, an after-sales case with a photo, the cooperative accepts ----

test('ship, confirm receipt, open a case with a photo, the cooperative accepts, the refund shows', withServerLog(async (t) => {
  const buyer = await openPage(t, PHONE);
  await logIn(buyer.page, 'buyer@example.com');
  const api = buyer.page.request;
  // A paid order of two bags of product 1 (the quinoa cooperative's), through the API.
  const product = await (await api.get('/api/v1/products/1')).json();
  const sku = product.skus[0].id;
  const address = { ...ADDRESS, detail: '金融大街 1 号' };
  const placed = await api.post('/api/v1/orders', { data: { lines: [{ sku_id: sku, quantity: 2 }], address } });
  assert.equal(placed.status(), 201, await placed.text());
  const order = await placed.json();
  const paid = await api.post(`/api/v1/payments/sandbox/${order.payment_id}/complete`);
  assert.equal(paid.status(), 200);
  // The cooperative ships it with a SF tracking number.
  const coop = await openPage(t, PHONE);
  await logIn(coop.page, 'coop@example.com');
  const shipped = await coop.page.request.post('/api/v1/coop/shipments',
    { data: { order_no: order.order_no, carrier: '顺丰速运', tracking_no: 'SF1234567890123' } });
  assert.equal(shipped.status(), 201, await shipped.text());

  // The buyer confirms receipt on the order page.
  const orderPath = `/orders/${order.order_no}`;
  await visitOnPhone(buyer.page, orderPath, 'buyer-order-shipped');
  const main = buyer.page.getByRole('main');
  await main.getByTestId('parcel').getByText('SF1234567890123').waitFor();
  await Promise.all([
    buyer.page.waitForURL((u) => u.pathname === orderPath),
    buyer.page.getByTestId('confirm-receipt').click(),
  ]);
  assert.equal(await buyer.page.getByTestId('confirm-receipt').count(), 0, 'received once');
  await main.getByTestId('parcel').getByText('已收货').first().waitFor();
  await assertAccessible(buyer.page, 'order page after receipt');

  // Opens a refund_only case for one bag with a photo (a screenshot is a real PNG).
  await Promise.all([
    buyer.page.waitForURL((u) => u.pathname.endsWith('/after-sales/new')),
    buyer.page.getByTestId('open-case').first().click(),
  ]);
  await assertAccessible(buyer.page, 'new after-sales case');
  const photo = await buyer.page.screenshot({ clip: { x: 0, y: 0, width: 40, height: 40 } });
  await main.getByLabel('数量', { exact: true }).fill('1');
  await main.getByLabel('金额（元）', { exact: true }).fill('10.00');
  await main.getByLabel('说明', { exact: true }).fill('一袋破了');
  await main.getByLabel('照片（最多 6 张）', { exact: true }).setInputFiles({ name: 'bag.png', mimeType: 'image/png', buffer: photo });
  await Promise.all([
    buyer.page.waitForURL((u) => /\/after-sales\/\d+$/.test(u.pathname)),
    buyer.page.getByTestId('submit-case').click(),
  ]);
  const casePath = new URL(buyer.page.url()).pathname;
  assert.equal((await buyer.page.getByTestId('case-status').textContent()).trim(), '待合作社处理');
  assert.equal(await main.locator('img[src^="/images/"]').count(), 1, 'the photo is shown');
  await visitOnPhone(buyer.page, casePath, 'buyer-case-requested');
  await assertAccessible(buyer.page, 'case page');

  // The cooperative accepts it from its after-sales queue in one tap.
  await visitOnPhone(coop.page, '/coop/after-sales', 'coop-after-sales');
  await assertAccessible(coop.page, 'coop after-sales queue');
  assert.equal(await coop.page.getByRole('main').locator('img[src^="/images/"]').count(), 1, 'the cooperative sees the photo');
  await Promise.all([
    coop.page.waitForURL((u) => u.pathname === '/coop/after-sales'),
    coop.page.getByTestId('accept-case').first().click(),
  ]);

  // The buyer sees the refund.
  await visitOnPhone(buyer.page, casePath, 'buyer-case-refunded');
  assert.equal((await buyer.page.getByTestId('case-status').textContent()).trim(), '已退款');
  assert.equal((await buyer.page.getByTestId('case-refunded').textContent()).trim(), '¥10.00');
  await buyer.page.goto(orderPath);
  await main.getByTestId('case-link').getByText('已退款').waitFor();
  assert.deepEqual(buyer.problems, []);
  assert.deepEqual(coop.problems, []);
}));

// ---- A distribution recipient confirms receipt through the parcel's link, with no account ----

test('a union admin forwards a recipient their parcel link; the recipient confirms on a phone', withServerLog(async (t) => {
  const admin = await openPage(t, PHONE);
  await logIn(admin.page, 'union@example.com');
  const me = await (await admin.page.request.get('/api/v1/me')).json();
  const union = me.organisations.find((o) => o.slug === 'demo-group-union').id;
  const csv = 'name,mobile,address,sku,quantity\n张三,13800138000,北京市西城区金融大街 1 号,GY-QUINOA-1KG,1\n';
  const placed = await admin.page.request.post(`/api/v1/orgs/${union}/distributions`,
    { headers: { 'content-type': 'text/csv' }, data: csv });
  assert.equal(placed.status(), 201, await placed.text());
  const order = await placed.json();
  const coop = await openPage(t, PHONE);
  await logIn(coop.page, 'coop@example.com');
  const view = await (await admin.page.request.get(`/api/v1/orgs/${union}/orders/${order.order_no}`)).json();
  const recipient = view.parts[0].recipient_id;
  const shipped = await coop.page.request.post('/api/v1/coop/shipments',
    { data: { order_no: order.order_no, recipient_id: recipient, carrier: '顺丰速运', tracking_no: 'SF1234567890777' } });
  assert.equal(shipped.status(), 201, await shipped.text());
  // The admin's order page carries the link to forward.
  await visitOnPhone(admin.page, `/orders/${order.order_no}`, 'union-order-receipt-link');
  await assertAccessible(admin.page, 'union order page with receipt links');
  const link = await admin.page.getByTestId('receipt-link').locator('a').getAttribute('href');
  assert.match(link, /\/receipt\/\d+\/[0-9a-f]{24}$/);
  // The recipient, no account, on a phone.
  const phone = await openPage(t, PHONE);
  await visitOnPhone(phone.page, new URL(link).pathname, 'recipient-receipt');
  await assertAccessible(phone.page, 'recipient receipt page');
  const path = new URL(link).pathname;
  await Promise.all([
    phone.page.waitForURL((u) => u.pathname === path),
    phone.page.getByTestId('recipient-confirm').click(),
  ]);
  assert.equal((await phone.page.getByTestId('parcel-status').textContent()).trim(), '已收货');
  assert.equal(await phone.page.getByTestId('recipient-confirm').count(), 0, 'received once');
  await visitOnPhone(phone.page, `${path}?lang=en`, 'recipient-receipt-en');
  assert.equal((await phone.page.getByTestId('parcel-status').textContent()).trim(), 'Received');
  assert.deepEqual(admin.problems, []);
  assert.deepEqual(phone.problems, []);
}));

// ---- The money reaches the growers: pending, a statement confirmed, the payout paid ----

test('a cooperative manager on a phone sees pending, confirms a statement, and sees it paid', async (t) => {
  // A server of its own: the after-sales window closes at once and the jobs run every second,
  // so an order received completes (and its earnings become available) within the test.
  const own = await spawnServer({ AIDMART_AFTER_SALES_DAYS: '0', AIDMART_JOB_INTERVAL_SECS: '1' });
  others.add(own);
  t.after(async () => { await stopOne(own); others.delete(own); });
  const open = async () => pageOf(t, await browser.newContext({ baseURL: own.base, locale: 'zh-CN', ...PHONE }));
  const buyer = await open();
  await logIn(buyer.page, 'buyer@example.com');
  const campaigns = await (await buyer.page.request.get('/api/v1/campaigns')).json();
  const yearRound = campaigns.items.find((c) => c.slug === 'year-round').id;
  const products = await (await buyer.page.request.get('/api/v1/products?page=1')).json();
  let sku;
  for (const p of products.items) {
    const detail = await (await buyer.page.request.get(`/api/v1/products/${p.id}`)).json();
    sku = (detail.skus || []).find((s) => s.code === 'GY-QUINOA-1KG');
    if (sku) break;
  }
  assert.ok(sku, 'the quinoa SKU is on sale');
  const placed = await buyer.page.request.post('/api/v1/orders', { data: {
    lines: [{ sku_id: sku.id, quantity: 2 }], points: 0, campaign_id: yearRound, account: 'personal',
    address: { name: '王芳', mobile: '13900139000', province: '河北省', city: '张家口市', district: '沽源县', detail: '平定堡镇 1 号' },
  } });
  assert.equal(placed.status(), 201, await placed.text());
  const order = await placed.json();
  const paid = await buyer.page.request.post(`/api/v1/payments/sandbox/${order.payment_id}/complete`);
  assert.equal(paid.status(), 200, await paid.text());

  // The manager, on a phone, sees the sale pending.
  const coop = await open();
  await logIn(coop.page, 'coop@example.com');
  await visitOnPhone(coop.page, '/coop/earnings', 'coop-earnings-pending');
  await assertAccessible(coop.page, 'coop earnings');
  const pending = (await coop.page.getByTestId('earnings-pending').textContent()).trim();
  assert.notEqual(pending, '¥0.00', 'the paid order is pending');
  await coop.page.getByTestId('next-settlement').waitFor();

  // Shipped, received, and (the window closed) completed: the money becomes available.
  const shipped = await coop.page.request.post('/api/v1/coop/shipments',
    { data: { order_no: order.order_no, carrier: '顺丰速运', tracking_no: 'SF1234567890888' } });
  assert.equal(shipped.status(), 201, await shipped.text());
  const view = await (await buyer.page.request.get(`/api/v1/orders/${order.order_no}`)).json();
  const received = await buyer.page.request.post(`/api/v1/orders/${order.order_no}/parts/${view.parts[0].id}/receipt`, { data: {} });
  assert.equal(received.status(), 200, await received.text());
  let earnings;
  for (let i = 0; i < 60; i += 1) {
    earnings = await (await coop.page.request.get('/api/v1/coop/earnings')).json();
    if (earnings.available !== '0.00') break;
    await sleep(250);
  }
  assert.notEqual(earnings.available, '0.00', `completed: ${JSON.stringify(earnings)}`);

  // The admin makes the statements from the settlement page.
  const admin = await open();
  await logIn(admin.page, 'admin@example.com');
  await visitOnPhone(admin.page, '/admin/settlement', 'admin-settlement');
  await assertAccessible(admin.page, 'admin settlement');
  await Promise.all([
    admin.page.waitForURL((u) => u.searchParams.get('done') === 'run'),
    admin.page.getByTestId('run-settlement').click(),
  ]);

  // The manager confirms the statement on the phone.
  await visitOnPhone(coop.page, '/coop/earnings', 'coop-earnings-statement');
  const card = coop.page.getByRole('main').locator('li[data-testid^="statement-"]').first();
  const payable = (await card.locator('strong').last().textContent()).trim();
  assert.equal(payable, `¥${earnings.available}`, 'the statement pays what was available');
  await Promise.all([
    coop.page.waitForURL((u) => u.searchParams.get('done') === 'confirmed'),
    card.getByRole('button', { name: '确认对账单', exact: true }).click(),
  ]);
  assert.match(await coop.page.getByRole('main').locator('li[data-testid^="statement-"]').first().innerText(), /已确认，待付款/);

  // The admin marks the payout paid with the bank's reference.
  await visitOnPhone(admin.page, '/admin/payouts', 'admin-payouts');
  await assertAccessible(admin.page, 'admin payouts');
  const payout = admin.page.getByRole('main').locator('li[data-testid^="payout-"]').first();
  await payout.getByLabel('银行流水号', { exact: true }).fill('ABC20261127000001');
  await Promise.all([
    admin.page.waitForURL((u) => u.searchParams.get('done') === 'paid'),
    payout.getByRole('button', { name: '标记已付款', exact: true }).click(),
  ]);
  await visitOnPhone(admin.page, '/admin/payouts?status=paid', 'admin-payouts-paid');
  assert.match(await admin.page.getByRole('main').locator('li[data-testid^="payout-"]').first().innerText(), /ABC20261127000001/);

  // The manager sees it paid.
  await visitOnPhone(coop.page, '/coop/earnings', 'coop-earnings-paid');
  assert.match(await coop.page.getByRole('main').locator('li[data-testid^="statement-"]').first().innerText(), /已付款/);
  assert.equal((await coop.page.getByTestId('earnings-paid-out').textContent()).trim(), payable);

  // Anyone sees the amount paid out to the cooperatives on the campaign page, and the buyer
  // follows the line to the payout on the public ledger.
  const visitor = await open();
  await visitOnPhone(visitor.page, '/campaigns/year-round', 'campaign-paid-out');
  assert.equal((await visitor.page.getByTestId('paid-out').textContent()).trim(), payable);
  await visitOnPhone(buyer.page, `/orders/${order.order_no}`, 'order-settled');
  await buyer.page.getByTestId('payout-ledger-link').waitFor();
  await assertAccessible(buyer.page, 'settled order page');

  // The union's funding statement page, from its portal.
  const union = await open();
  await logIn(union.page, 'union@example.com');
  await union.page.goto('/union');
  const funding = await union.page.getByTestId('funding-link').getAttribute('href');
  await visitOnPhone(union.page, funding, 'union-funding');
  await assertAccessible(union.page, 'union funding statement');
  for (const p of [buyer, coop, admin, visitor, union]) assert.deepEqual(p.problems, []);
});

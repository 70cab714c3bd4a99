// The web frontend, end to end, in headless Chromium: every step acts like
// a person (labels, buttons, links) and checks what the page shows.
// Usage: node browser.mjs BASE_URL OUTDIR
// Env: E2E_NODE_MODULES (where playwright-core is installed),
//      E2E_CHROMIUM (the browser binary, default /usr/bin/chromium),
//      E2E_ADMIN_USER, E2E_ADMIN_PASSWORD (an active admin, registered and
//      promoted before any login), E2E_MAIL_DIR (where the SMTP sink writes
//      each mail as a file).
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { execFileSync } from 'node:child_process';

const [base, outDir] = process.argv.slice(2);
if (!base || !outDir) {
  console.error('usage: node browser.mjs BASE_URL OUTDIR');
  process.exit(2);
}
const nodeModules = process.env.E2E_NODE_MODULES;
if (!nodeModules || !existsSync(join(nodeModules, 'playwright-core'))) {
  console.error(`FAIL: playwright-core not found (E2E_NODE_MODULES=${nodeModules || ''})`);
  process.exit(1);
}
const chromiumPath = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
if (!existsSync(chromiumPath)) {
  console.error(`FAIL: ${chromiumPath} is missing: install the Debian package chromium`);
  process.exit(1);
}
const require = createRequire(join(dirname(nodeModules), 'e2e.cjs'));
const { chromium, request: apiRequest } = require('playwright-core');
mkdirSync(outDir, { recursive: true });

const TIMEOUT = 10_000;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const STATIC = new Set(['/', '/index.html', '/app.js', '/app.css', '/favicon.svg']);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const user = `e2e_${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const email = `${user}@example.com`;
let password = 'correct horse battery staple';
const adminUser = process.env.E2E_ADMIN_USER;
const adminPassword = process.env.E2E_ADMIN_PASSWORD;
if (!adminUser || !adminPassword) {
  console.error('FAIL: E2E_ADMIN_USER and E2E_ADMIN_PASSWORD must name an admin (browser.sh makes one)');
  process.exit(1);
}
const mailDir = process.env.E2E_MAIL_DIR;
if (!mailDir) {
  console.error('FAIL: E2E_MAIL_DIR must name the mail sink\'s directory (browser.sh starts one)');
  process.exit(1);
}
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

let passed = 0;
let shot = 0;
let browser;
let page; // the page the helpers below look at
const problems = []; // console errors, page errors, CSP violations, failed assets
const responses = []; // {method, path, status} of every page's answers

function fail(msg) {
  throw new Error(msg);
}

async function until(desc, fn, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last && last.ok) return last.value;
    } catch (e) {
      last = { seen: e.message };
    }
    if (Date.now() > deadline) fail(`${desc} (saw: ${JSON.stringify(last && last.seen)})`);
    await sleep(100);
  }
}

// Waits until the first element of locator is visible and its text matches.
function seeText(locator, expected, desc) {
  return until(`${desc}: expected ${expected}`, async () => {
    const el = locator.first();
    if (!(await el.isVisible())) return { seen: '(not visible)' };
    const text = (await el.innerText()).replace(/\s+/g, ' ').trim();
    const ok = typeof expected === 'string' ? text.includes(expected) : expected.test(text);
    return { ok, value: text, seen: text };
  });
}

/* The mails to `to` in the sink, oldest first, as raw text. */
function mailsTo(to) {
  if (!existsSync(mailDir)) return [];
  return readdirSync(mailDir)
    .filter((f) => f.endsWith('.eml'))
    .sort()
    .map((f) => readFileSync(join(mailDir, f), 'utf8'))
    .filter((m) => m.includes(`To: <${to}>`));
}

/* Waits for mail number `nth` (1-based) to `to` and returns the link of
 * its plain-text part that opens `route` (e.g. "/verify-email"). */
async function mailLink(to, nth, route) {
  const re = new RegExp(`https?://[^\\s"<>]*#${route}\\?token=[A-Za-z0-9_-]{43}`);
  return until(`mail ${nth} to ${to} with a ${route} link`, async () => {
    const mails = mailsTo(to);
    if (mails.length < nth) return { ok: false, seen: `${mails.length} mails` };
    const m = re.exec(mails[nth - 1]);
    return { ok: Boolean(m), value: m && m[0], seen: 'no link in the mail' };
  });
}

/* TOTP codes (RFC 6238, 30 s steps) made by oathtool, as an authenticator
 * app would. The server takes a code of the step before, the current one
 * or the one after, each step once and only after the last one it took:
 * so each code here is of the first step after the last one used (with the
 * same key) that is the current or the next one, waiting for the clock
 * when it must. */
const TOTP_STEP_S = 30;
const lastStepOf = new Map();
const totpAt = (key, s) => execFileSync('oathtool', ['--totp', '-b', '-N', `@${s * TOTP_STEP_S}`, key],
  { encoding: 'utf8' }).trim();

async function totpCode(key) {
  for (;;) {
    const now = Math.floor(Date.now() / 1000 / TOTP_STEP_S);
    const s = Math.max((lastStepOf.get(key) || 0) + 1, now);
    if (s <= now + 1) {
      lastStepOf.set(key, s);
      return totpAt(key, s);
    }
    await sleep(250);
  }
}

/* Six digits that are no code of the steps the server would take now. */
function wrongCode(key) {
  const now = Math.floor(Date.now() / 1000 / TOTP_STEP_S);
  const near = [now - 1, now, now + 1, now + 2].map((s) => totpAt(key, s));
  return ['000000', '111111', '222222'].find((c) => !near.includes(c));
}

function atRoute(hash) {
  return until(`the address should end in ${hash}`, async () => {
    const h = new URL(page.url()).hash;
    return { ok: h === hash, seen: h };
  });
}

// Nothing sticks out sideways: the page does not scroll horizontally and
// every element of the view stays inside its card.
async function checkLayout(name) {
  const bad = await page.evaluate(() => {
    const out = [];
    const doc = document.documentElement;
    if (doc.scrollWidth > window.innerWidth) out.push(`page is ${doc.scrollWidth}px wide in ${window.innerWidth}px`);
    for (const card of document.querySelectorAll('#view .card')) {
      const edge = card.getBoundingClientRect().right + 0.5;
      for (const el of card.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.right > edge) {
          out.push(`<${el.tagName.toLowerCase()} class="${el.className}"> ends at ${Math.round(r.right)}px, past its card (${Math.round(edge)}px)`);
          break;
        }
      }
    }
    return out;
  });
  if (bad.length) fail(`layout of ${name}: ${bad.join('; ')}`);
}

async function screenshot(name) {
  await checkLayout(name);
  shot += 1;
  const file = join(outDir, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

async function step(name, fn) {
  process.stdout.write(`- ${name} ... `);
  await fn();
  if (problems.length) fail(`browser reported: ${problems.join(' | ')}`);
  passed += 1;
  console.log('ok');
}

function noProblems() {
  if (problems.length) fail(`browser reported: ${problems.join(' | ')}`);
}

// A browser context of its own (its own cookie jar) with one page, whose
// console errors, page errors, CSP violations and failed files all count
// as problems.
async function openPage() {
  const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
  context.setDefaultTimeout(TIMEOUT);
  // Reported through the console as well, with the directive that blocked.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
    });
  });
  const p = await context.newPage();
  p.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    const where = (msg.location() && msg.location().url) || '';
    // Chromium logs every 4xx answer of fetch(); the API's refusals are
    // expected here (a wrong password, a logged-out /profile, a normal
    // user's /admin/users): only failures of the page's own files count.
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(text) && where) {
      const path = new URL(where, base).pathname;
      if (!STATIC.has(path)) return;
    }
    problems.push(`console error: ${text}${where ? ` (${where})` : ''}`);
  });
  p.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  p.on('requestfailed', (req) => {
    const why = (req.failure() && req.failure().errorText) || '';
    // A reload or navigation cancels what the old document had in flight.
    if (why === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${req.method()} ${req.url()} ${why}`);
  });
  p.on('response', (res) => {
    const u = new URL(res.url());
    responses.push({ method: res.request().method(), path: u.pathname, status: res.status() });
    if (STATIC.has(u.pathname) && res.status() >= 400) problems.push(`${u.pathname} answered ${res.status()}`);
  });
  return { context, page: p };
}

async function main() {
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  const { context, page: userPage } = await openPage();
  page = userPage;

  const nav = page.getByRole('navigation', { name: 'Main' });
  const heading = page.locator('#view h1');
  const flash = page.locator('#flash');

  await step('the page loads with a strict CSP and shows the login form', async () => {
    const res = await page.goto(`${base}/`);
    if (!res || res.status() !== 200) fail(`GET / answered ${res && res.status()}`);
    const csp = res.headers()['content-security-policy'] || '';
    if (!/script-src 'self'/.test(csp) || /unsafe-inline|unsafe-eval/.test(csp)) {
      fail(`the page's Content-Security-Policy is not strict: "${csp}"`);
    }
    await atRoute('#/login');
    await seeText(heading, 'Log in', 'login heading');
    await seeText(nav.getByRole('link', { name: 'Register' }), 'Register', 'nav offers Register');
    if (await nav.getByRole('button', { name: 'Log out' }).isVisible()) fail('nav shows Log out while logged out');
    for (const f of ['/app.js', '/app.css']) {
      if (!responses.some((r) => r.path === f && r.status === 200)) fail(`${f} was not loaded`);
    }
    await screenshot('login');
  });

  await step('register: invalid fields are shown next to their inputs', async () => {
    await nav.getByRole('link', { name: 'Register' }).click();
    await atRoute('#/register');
    await seeText(heading, 'Create an account', 'register heading');
    await page.getByLabel('Username').fill('a b');
    await page.getByLabel('Email').fill('not-an-email');
    await page.getByLabel('Password').fill('short');
    const answer = page.waitForResponse((r) => r.url().endsWith('/register'));
    await page.getByRole('button', { name: 'Create account' }).click();
    const res = await answer;
    if (res.status() !== 400) fail(`bad registration answered ${res.status()}`);
    const problem = await res.json();
    for (const field of ['username', 'email', 'password']) {
      const fe = problem.errors.find((e) => e.field === field);
      if (!fe) fail(`the API named no error for ${field}`);
      await seeText(page.locator(`#register-${field}-error`), fe.message, `${field} error`);
      const invalid = await page.locator(`#register-${field}`).getAttribute('aria-invalid');
      if (invalid !== 'true') fail(`${field} input is not marked aria-invalid`);
    }
    await seeText(page.locator('#register .form-error'), problem.detail, 'problem detail');
    await screenshot('register-errors');
  });

  await step(`register ${user}`, async () => {
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await atRoute('#/login');
    await seeText(flash, `Almost done, ${user}: check your mail at ${email}`, 'registration confirmed');
    const prefilled = await page.getByLabel('Username').inputValue();
    if (prefilled !== user) fail(`login form prefilled with "${prefilled}"`);
    await screenshot('registered');
  });

  await step('a wrong password shows the problem detail', async () => {
    await page.getByLabel('Password').fill('not the password at all');
    const answer = page.waitForResponse((r) => r.url().endsWith('/login'));
    await page.getByRole('button', { name: 'Log in' }).click();
    const res = await answer;
    if (res.status() !== 401) fail(`wrong password answered ${res.status()}`);
    const problem = await res.json();
    if (!problem.detail) fail('the 401 has no detail');
    await seeText(page.locator('#login .form-error'), problem.detail, 'login error');
    await atRoute('#/login');
    await screenshot('login-wrong-password');
  });

  await step('log in', async () => {
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await atRoute('#/profile');
    await seeText(heading, 'Your profile', 'profile heading');
    await seeText(page.locator('.profile-handle'), `@${user}`, 'profile handle');
    await seeText(nav, `Signed in as ${user}`, 'nav shows the user');
    const cookies = await context.cookies();
    if (!cookies.length) fail('login set no cookie');
    const readable = cookies.filter((c) => !c.httpOnly);
    if (readable.length) fail(`cookies readable by scripts: ${readable.map((c) => c.name).join(', ')}`);
    const stored = await page.evaluate(() => ({
      local: localStorage.length,
      session: sessionStorage.length,
      cookie: document.cookie,
    }));
    if (stored.local || stored.session) fail('the page stored something in Web Storage');
    if (/eyJ/.test(stored.cookie)) fail('a token is visible in document.cookie');
    await screenshot('profile');
  });

  await step('the profile says the address is unverified; a new link is sent and verifies it', async () => {
    const notice = page.locator('#email-unverified');
    await seeText(notice, 'not verified', 'unverified notice');
    await mailLink(email, 1, '/verify-email');
    await screenshot('email-unverified');
    await page.getByRole('button', { name: 'Send the link again' }).click();
    await seeText(page.locator('#verify-resend-status'), 'on its way', 'resend confirmed');
    const link = await mailLink(email, 2, '/verify-email');
    await page.goto(link);
    await seeText(heading, 'Email address verified', 'verification page');
    if (page.url().includes('token=')) fail('the token stayed in the address bar');
    await screenshot('email-verified');
    await page.getByRole('link', { name: 'Go to your profile' }).click();
    await atRoute('#/profile');
    await seeText(heading, 'Your profile', 'profile heading');
    if (await notice.count()) fail('the unverified notice is still shown after the verification');
  });

  await step('edit the profile (display name and bio)', async () => {
    await nav.getByRole('link', { name: 'Edit profile' }).click();
    await atRoute('#/profile/edit');
    await seeText(heading, 'Edit profile', 'edit heading');
    await page.getByLabel('Display name').fill('Ada E2E Lovelace');
    await page.getByLabel('Bio').fill('Writes the first program.\nLikes engines.');
    // Holds the PATCH for a moment to see the form while it is in flight.
    let release;
    const held = new Promise((r) => { release = r; });
    await page.route('**/profile', async (route) => {
      if (route.request().method() === 'PATCH') {
        const h = route.request().headers();
        if (!/^"v\d+"$/.test(h['if-match'] || '')) problems.push(`PATCH without If-Match (${h['if-match']})`);
        const body = JSON.parse(route.request().postData() || '{}');
        const keys = Object.keys(body).sort().join(',');
        if (keys !== 'bio,display_name') problems.push(`PATCH sent ${keys}, not only the changed fields`);
        await held;
      }
      await route.continue();
    });
    await page.getByRole('button', { name: 'Save changes' }).click();
    const saving = page.locator('#profile-edit button[type=submit]');
    await until('the save button is disabled while saving', async () => ({ ok: await saving.isDisabled() }));
    await seeText(saving, 'Saving', 'busy label');
    release();
    await atRoute('#/profile');
    await page.unroute('**/profile');
    await seeText(flash, 'Profile saved.', 'save confirmed');
    await seeText(page.locator('#profile-display-name'), 'Ada E2E Lovelace', 'new display name');
    await seeText(page.locator('#profile-bio'), 'Writes the first program. Likes engines.', 'new bio');
    await seeText(nav, 'Signed in as Ada E2E Lovelace', 'nav shows the display name');
    await screenshot('profile-saved');
  });

  await step('an invalid avatar URL shows the field error', async () => {
    await page.getByRole('link', { name: 'Edit profile' }).first().click();
    await atRoute('#/profile/edit');
    await page.getByLabel('Avatar URL').fill('http://x');
    const answer = page.waitForResponse((r) => r.url().endsWith('/profile') && r.request().method() === 'PATCH');
    await page.getByRole('button', { name: 'Save changes' }).click();
    const res = await answer;
    if (res.status() !== 400) fail(`http avatar answered ${res.status()}`);
    const problem = await res.json();
    const fe = (problem.errors || []).find((e) => e.field === 'avatar_url');
    if (!fe) fail(`no avatar_url error in ${JSON.stringify(problem)}`);
    await seeText(page.locator('#profile-edit-avatar_url-error'), fe.message, 'avatar_url error');
    if ((await page.getByLabel('Avatar URL').getAttribute('aria-invalid')) !== 'true') fail('avatar_url not aria-invalid');
    await seeText(page.locator('#profile-edit .form-error'), problem.detail, 'problem detail');
    await atRoute('#/profile/edit');
    await screenshot('edit-invalid-avatar');
    await page.getByRole('link', { name: 'Cancel' }).click();
    await atRoute('#/profile');
  });

  await step('a profile changed elsewhere meanwhile is reported (412) and can be reloaded', async () => {
    await page.getByRole('link', { name: 'Edit profile' }).first().click();
    await atRoute('#/profile/edit');
    await seeText(heading, 'Edit profile', 'edit heading');
    // Another tab of the same browser saves first.
    const status = await page.evaluate(() => fetch('/profile', {
      method: 'PATCH',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ locale: 'en-GB' }),
    }).then((r) => r.status));
    if (status !== 200) fail(`the other tab's PATCH answered ${status}`);
    await page.getByLabel('Bio').fill('A bio that loses the race.');
    const answer = page.waitForResponse((r) => r.url().endsWith('/profile') && r.request().method() === 'PATCH');
    await page.getByRole('button', { name: 'Save changes' }).click();
    const res = await answer;
    if (res.status() !== 412) fail(`the stale PATCH answered ${res.status()}`);
    await seeText(page.locator('#profile-edit .form-error'), 'changed somewhere else', 'stale version reported');
    await screenshot('edit-stale-version');
    await page.getByRole('button', { name: 'Reload profile' }).click();
    await until('the form shows the saved locale', async () => {
      const v = await page.getByLabel('Locale').inputValue();
      return { ok: v === 'en-GB', seen: v };
    });
    const bio = await page.getByLabel('Bio').inputValue();
    if (bio !== 'Writes the first program.\nLikes engines.') fail(`bio after reload: ${JSON.stringify(bio)}`);
    await page.getByRole('link', { name: 'Cancel' }).click();
    await atRoute('#/profile');
    await seeText(page.locator('.details'), 'en-GB', 'locale on the profile');
  });

  await step('after a reload the user is still logged in and sees the new values', async () => {
    await page.reload();
    await atRoute('#/profile');
    await seeText(heading, 'Your profile', 'profile heading');
    await seeText(page.locator('#profile-display-name'), 'Ada E2E Lovelace', 'display name after reload');
    await seeText(page.locator('#profile-bio'), 'Writes the first program.', 'bio after reload');
    await screenshot('profile-reloaded');
  });

  await step('an expired access cookie is renewed through POST /refresh', async () => {
    const cookies = await context.cookies();
    const access = cookies.find((c) => /access/i.test(c.name));
    if (!access) fail(`no access cookie among ${cookies.map((c) => c.name).join(', ')}`);
    await context.clearCookies({ name: access.name });
    const before = responses.length;
    await page.reload();
    await atRoute('#/profile');
    await seeText(page.locator('#profile-display-name'), 'Ada E2E Lovelace', 'profile after refresh');
    const seen = responses.slice(before).filter((r) => r.path === '/profile' || r.path === '/refresh');
    const order = seen.map((r) => `${r.method} ${r.path} ${r.status}`).join(', ');
    if (!/GET \/profile 401, POST \/refresh 200, GET \/profile 200/.test(order)) fail(`unexpected calls: ${order}`);
    if (!(await context.cookies()).some((c) => c.name === access.name)) fail('the refresh set no new access cookie');
  });

  await step('the profile page at phone width', async () => {
    await page.setViewportSize(PHONE);
    await seeText(page.locator('#profile-display-name'), 'Ada E2E Lovelace', 'profile on a phone');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 0) fail(`the page scrolls sideways by ${overflow}px at 390px`);
    await screenshot('phone-profile');
    await page.getByRole('link', { name: 'Edit profile' }).first().click();
    await atRoute('#/profile/edit');
    await seeText(heading, 'Edit profile', 'edit on a phone');
    const overflow2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow2 > 0) fail(`the edit page scrolls sideways by ${overflow2}px at 390px`);
    await screenshot('phone-edit');
    await page.setViewportSize(DESKTOP);
    await page.getByRole('link', { name: 'Cancel' }).click();
    await atRoute('#/profile');
  });

  // A second device: a phone browser, as far as the edge can tell (its own
  // cookie jar, a Safari User-Agent, the Origin a page of this edge sends).
  const other = await apiRequest.newContext({
    baseURL: base,
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 ' +
      '(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
    extraHTTPHeaders: { Origin: base },
  });
  try {
    await step('sessions: lists this browser and a second device, ends the other one', async () => {
      const login = await other.post('/login', { data: { username: user, password } });
      if (login.status() !== 200) fail(`second login answered ${login.status()}`);
      const check = await other.get('/profile');
      if (check.status() !== 200) fail(`the second device's GET /profile answered ${check.status()}`);
      await nav.getByRole('link', { name: 'Sessions' }).click();
      await atRoute('#/sessions');
      await seeText(heading, 'Your sessions', 'sessions heading');
      const items = page.locator('#session-list > li');
      await until('two sessions listed', async () => ({ ok: (await items.count()) === 2, seen: await items.count() }));
      await seeText(items.filter({ hasText: 'This browser' }), 'Chrome', 'this browser is marked');
      const second = items.filter({ hasText: 'Safari on iOS' });
      await seeText(second, 'Safari on iOS', 'the second device is listed');
      await screenshot('sessions');
      await second.getByRole('button', { name: /End session/ }).click();
      await seeText(flash, 'Session ended.', 'session end confirmed');
      await until('one session left', async () => ({ ok: (await items.count()) === 1, seen: await items.count() }));
      await seeText(page.locator('#session-count'), 'on 1 device', 'count updated');
      // The ended session can no longer be renewed from its cookie.
      const r = await other.post('/refresh', { data: {} });
      if (r.status() !== 401) fail(`the ended session's POST /refresh answered ${r.status()}`);
      await screenshot('sessions-ended-other');
    });
  } finally {
    await other.dispose();
  }

  await step('log out', async () => {
    await nav.getByRole('button', { name: 'Log out' }).click();
    await atRoute('#/login');
    await seeText(flash, 'You are logged out.', 'logout confirmed');
    await seeText(nav.getByRole('link', { name: 'Log in' }), 'Log in', 'nav offers Log in');
    if (await nav.getByRole('link', { name: 'Sessions' }).isVisible()) fail('nav still shows Sessions');
    await screenshot('logged-out');
  });

  await step('after logging out the profile is refused', async () => {
    await page.goto(`${base}/#/profile`);
    await atRoute('#/login');
    await seeText(heading, 'Log in', 'login instead of the profile');
    await page.reload();
    await atRoute('#/login');
    await seeText(heading, 'Log in', 'login after a reload');
    const status = await page.evaluate(() =>
      fetch('/profile', { credentials: 'same-origin', headers: { 'Content-Type': 'application/json' } }).then((r) => r.status));
    if (status !== 401) fail(`GET /profile from the page answered ${status}`);
    await screenshot('profile-refused');
  });

  await step("ending this browser's own session logs out", async () => {
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await atRoute('#/profile');
    await nav.getByRole('link', { name: 'Sessions' }).click();
    await atRoute('#/sessions');
    const items = page.locator('#session-list > li');
    await until('one session listed', async () => ({ ok: (await items.count()) === 1, seen: await items.count() }));
    await items.first().getByRole('button', { name: /Log out here/ }).click();
    await atRoute('#/login');
    await seeText(flash, 'logged out', 'own session ended');
    const status = await page.evaluate(() => fetch('/profile', { credentials: 'same-origin' }).then((r) => r.status));
    if (status !== 401) fail(`GET /profile after ending the own session answered ${status}`);
  });

  // ------------------------------------------------------- administration

  const adminLinkOf = (n) => n.getByRole('link', { name: 'Admin', exact: true });

  // The role the page was told by GET /profile (from the token), and
  // whether it called the admin API on its own since index `from`.
  const roleOf = () => page.evaluate(() => fetch('/profile', { credentials: 'same-origin' })
    .then((r) => r.json()).then((j) => j.role || ''));
  const calledAdminApi = (from) => responses.slice(from).some((r) => r.path.startsWith('/admin/'));

  await step('a normal user sees no Admin link and is refused the admin pages', async () => {
    page = userPage;
    const before = responses.length;
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await atRoute('#/profile');
    const role = await roleOf();
    if (role !== 'user') fail(`GET /profile gave a normal user the role "${role}"`);
    if (calledAdminApi(before)) fail('the page called the admin API for a normal user');
    if (await adminLinkOf(nav).isVisible()) fail('a normal user sees the Admin link');
    if (await flash.locator('.alert-error').count()) fail('the refused probe showed an error');
    await page.goto(`${base}/#/admin/users`);
    await atRoute('#/admin/users');
    await seeText(heading, 'Admins only', 'the users page is refused');
    await seeText(page.locator('#admin-refused'), 'for administrators', 'refusal text');
    if (await page.locator('#admin-users-table').count()) fail('a normal user sees the users table');
    await screenshot('admin-refused');
    await page.goto(`${base}/#/admin/audit`);
    await atRoute('#/admin/audit');
    await seeText(heading, 'Admins only', 'the audit page is refused');
    if (await adminLinkOf(nav).isVisible()) fail('the Admin link appeared after a refusal');
    const status = await page.evaluate(() => fetch('/admin/audit', { credentials: 'same-origin' }).then((r) => r.status));
    if (status !== 403) fail(`GET /admin/audit as a normal user answered ${status}`);
    // This browser stays signed in on the profile until the admin disables
    // the account below.
    await nav.getByRole('link', { name: 'Profile', exact: true }).click();
    await atRoute('#/profile');
    await seeText(page.locator('.profile-handle'), `@${user}`, 'profile of the normal user');
  });

  const { page: adminPage } = await openPage();
  const aNav = adminPage.getByRole('navigation', { name: 'Main' });
  const aHeading = adminPage.locator('#view h1');
  const aFlash = adminPage.locator('#flash');
  const userRows = adminPage.locator('#admin-users-table tbody tr');
  const rowTexts = async () => (await userRows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
  let userId = '';

  await step(`the admin ${adminUser} logs in (another browser) and sees the Admin link`, async () => {
    page = adminPage;
    await page.goto(`${base}/`);
    await atRoute('#/login');
    const before = responses.length;
    await page.getByLabel('Username').fill(adminUser);
    await page.getByLabel('Password').fill(adminPassword);
    await page.getByRole('button', { name: 'Log in' }).click();
    await atRoute('#/profile');
    const role = await roleOf();
    if (role !== 'admin') fail(`GET /profile gave the admin the role "${role}"`);
    if (calledAdminApi(before)) fail('logging in called the admin API (each call is audited)');
    await seeText(adminLinkOf(aNav), 'Admin', 'the Admin link');
  });

  await step('the users page lists the accounts, pages through them and the search narrows them', async () => {
    await adminLinkOf(aNav).click();
    await atRoute('#/admin/users');
    await seeText(aHeading, 'Users', 'users heading');
    await until('both accounts listed', async () => {
      const rows = await rowTexts();
      return { ok: rows.some((t) => t.includes(user)) && rows.some((t) => t.includes(adminUser)), seen: rows };
    });
    await seeText(userRows.filter({ hasText: adminUser }), 'You', 'the admin marked as the signed-in account');
    await seeText(userRows.filter({ hasText: adminUser }), 'Admin', 'the admin role');
    await seeText(userRows.filter({ hasText: user }), `${user}@example.com`, 'the user email');
    await seeText(userRows.filter({ hasText: user }), 'Active', 'the user status');
    if ((await aNav.getByRole('link', { name: 'Admin', exact: true }).getAttribute('aria-current')) !== 'page') {
      fail('the Admin link is not marked as the current page');
    }
    await screenshot('admin-users');

    // One account per page: Next and First page.
    await page.goto(`${base}/#/admin/users?page_size=1`);
    await until('one account on the page', async () => {
      const rows = await rowTexts();
      return { ok: rows.length === 1, seen: rows };
    });
    const first = (await rowTexts())[0];
    await page.getByRole('button', { name: 'Next page' }).click();
    await until('the next page shows another account', async () => {
      const rows = await rowTexts();
      return { ok: rows.length === 1 && rows[0] !== first, seen: rows };
    });
    if (!/page_token=/.test(page.url())) fail(`the address keeps no page token: ${page.url()}`);
    await seeText(page.locator('#admin-users-summary'), 'Page 2', 'page number');
    await page.getByRole('button', { name: 'First page' }).click();
    await until('back on the first page', async () => {
      const rows = await rowTexts();
      return { ok: rows.length === 1 && rows[0] === first, seen: rows };
    });

    await page.goto(`${base}/#/admin/users`);
    await until('the full list again', async () => ({ ok: (await userRows.count()) >= 2, seen: await userRows.count() }));
    await page.getByLabel('Search').fill(user.toUpperCase());
    await until('the search narrows the list to the user', async () => {
      const rows = await rowTexts();
      return { ok: rows.length === 1 && rows[0].includes(user), seen: rows };
    });
    const hash = decodeURIComponent(new URL(page.url()).hash);
    if (hash !== `#/admin/users?query=${user.toUpperCase()}`) fail(`the address does not keep the search: ${hash}`);
    await page.getByLabel('Role').selectOption('admin');
    await until('no user is both found and an admin', async () => ({
      ok: await page.locator('#admin-users-results .empty').isVisible(),
      seen: await rowTexts(),
    }));
    await page.getByRole('button', { name: 'Clear' }).click();
    await until('the full list again', async () => ({ ok: (await userRows.count()) >= 2, seen: await userRows.count() }));
  });

  await step(`the admin opens ${user} and disables the account (with a confirmation)`, async () => {
    await userRows.getByRole('link', { name: user, exact: true }).click();
    userId = await until('the address names the user', async () => {
      const m = /^#\/admin\/users\/([^/?]+)$/.exec(new URL(page.url()).hash);
      const id = m ? decodeURIComponent(m[1]) : '';
      return { ok: UUID_RE.test(id), value: id, seen: page.url() };
    });
    await seeText(aHeading, user, 'user heading');
    await seeText(page.locator('#admin-user-details'), userId, 'the user id');
    await seeText(page.locator('#admin-user-status'), 'Active', 'status before');
    await seeText(page.locator('#admin-sessions-title'), /Active sessions\s*1$/, 'the open browser of the user');
    await seeText(page.locator('#admin-sessions-table'), 'Chrome', 'the session device');
    await screenshot('admin-user');

    // A first click only asks; Cancel does nothing.
    const writes = () => responses.filter((r) => r.path.startsWith('/admin/') && r.method !== 'GET').length;
    const before = writes();
    await page.getByRole('button', { name: 'End all sessions', exact: true }).click();
    await seeText(page.locator('#admin-confirm'), `of “${user}”?`, 'the end-sessions question');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await until('the question is gone', async () => ({ ok: await page.locator('#admin-confirm').isHidden() }));
    await page.getByRole('button', { name: 'Disable', exact: true }).click();
    await seeText(page.locator('#admin-confirm'), `Disable “${user}”?`, 'the disable question');
    if (writes() !== before) fail('a change was sent before it was confirmed');
    await screenshot('admin-user-confirm');
    const answer = page.waitForResponse((r) => r.request().method() === 'PATCH' && r.url().endsWith(`/admin/users/${userId}`));
    await page.getByRole('button', { name: 'Yes, disable' }).click();
    const res = await answer;
    if (res.status() !== 200) fail(`PATCH /admin/users/{id} answered ${res.status()}`);
    const body = JSON.parse(res.request().postData() || '{}');
    if (JSON.stringify(body) !== '{"status":"disabled"}') fail(`the PATCH sent ${JSON.stringify(body)}`);
    await seeText(aFlash, `“${user}” is disabled`, 'disable confirmed');
    await seeText(page.locator('#admin-user-status'), 'Disabled', 'status after');
    await seeText(page.locator('#admin-sessions-title'), /Active sessions\s*0$/, 'no session left');
    await seeText(page.getByRole('button', { name: 'Enable', exact: true }), 'Enable', 'Enable offered');
    await screenshot('admin-user-disabled');
  });

  await step('the audit trail shows users.update by the admin on the user, outcome ok', async () => {
    await page.getByRole('navigation', { name: 'Administration' }).getByRole('link', { name: 'Audit trail' }).click();
    await atRoute('#/admin/audit');
    await seeText(aHeading, 'Audit trail', 'audit heading');
    const rows = page.locator('#admin-audit-table tr.audit-row');
    await until('audit rows listed', async () => ({ ok: (await rows.count()) > 0, seen: await rows.count() }));
    await page.getByLabel('Action').selectOption('users.update');
    await until('only users.update rows', async () => {
      const actions = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.action));
      // The address changes when the filtered page is in (the default, changes only, may already be all updates).
      const filtered = new URL(page.url()).hash.includes('action=');
      return { ok: filtered && actions.length > 0 && actions.every((a) => a === 'users.update'), seen: actions };
    });
    const hash = new URL(page.url()).hash;
    if (hash !== '#/admin/audit?action=users.update&kind=changes') fail(`the address does not keep the filter: ${hash}`);
    const row = rows.and(page.locator(`[data-target="${userId}"]`)).first();
    await seeText(row.locator('td[data-label="Outcome"]'), /^ok$/, 'outcome');
    await seeText(row.locator('td[data-label="Outcome"] .badge-ok'), 'ok', 'outcome badge colour');
    await seeText(row.locator('td[data-label="Actor"]'), new RegExp(`^${adminUser}$`), 'actor');
    await seeText(row.locator('td[data-label="Action"]'), 'status active → disabled', 'change summary');
    const target = row.locator('td[data-label="Target"] a');
    if ((await target.getAttribute('href')) !== `#/admin/users/${userId}`) fail('the target does not link to the user');
    if ((await target.getAttribute('title')) !== userId) fail('the target is not the user id');
    await row.getByRole('button', { name: 'Details' }).click();
    const detail = page.locator(`#${await row.getByRole('button').getAttribute('aria-controls')}`);
    await seeText(detail, userId, 'target id in the details');
    const pre = await detail.locator('pre').innerText();
    let parsed;
    try {
      parsed = JSON.parse(pre);
    } catch (_) {
      fail(`the detail is not JSON: ${pre}`);
    }
    if (!parsed.after || parsed.after.status !== 'disabled') fail(`unexpected detail: ${pre}`);
    if (!pre.includes('\n  "')) fail(`the detail is not pretty-printed: ${pre}`);
    // The API answers the detail as an object, not as JSON in a string.
    const apiDetail = await page.evaluate(() => fetch('/admin/audit?action=users.update', { credentials: 'same-origin' })
      .then((r) => r.json()).then((j) => (j.entries && j.entries[0] ? typeof j.entries[0].detail : 'none')));
    if (apiDetail !== 'object') fail(`the API's audit detail is ${apiDetail}, not an object`);
    await screenshot('admin-audit');
  });

  await step('the admin pages at phone width', async () => {
    await page.setViewportSize(PHONE);
    await seeText(aHeading, 'Audit trail', 'audit on a phone');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 0) fail(`the audit page scrolls sideways by ${overflow}px at 390px`);
    await screenshot('phone-admin-audit');
    await page.getByRole('navigation', { name: 'Administration' }).getByRole('link', { name: 'Users' }).click();
    await atRoute('#/admin/users');
    await until('users listed', async () => ({ ok: (await userRows.count()) >= 2, seen: await userRows.count() }));
    const overflow2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow2 > 0) fail(`the users page scrolls sideways by ${overflow2}px at 390px`);
    await screenshot('phone-admin-users');
    await page.setViewportSize(DESKTOP);
  });

  // --------------------------------------------------------- admin pages
  // The audit shows changes unless asked for reads; each search and page is
  // a history entry of its own; an address wraps only between its parts on
  // a phone.
  const READS = ['users.list', 'users.get', 'audit.list'];
  const auditRows = adminPage.locator('#admin-audit-table tr.audit-row');
  const auditActions = () => auditRows.evaluateAll((trs) => trs.map((tr) => tr.dataset.action));

  await step('admin pages: the audit trail shows changes, the reads only on request', async () => {
    page = adminPage;
    await page.goto(`${base}/#/admin/audit`);
    await atRoute('#/admin/audit');
    await until('changes listed', async () => ({ ok: (await auditRows.count()) > 0, seen: await auditRows.count() }));
    const shown = await auditActions();
    if (shown.some((a) => READS.includes(a))) fail(`the default audit view lists reads: ${shown.join(', ')}`);
    if (!shown.includes('users.update')) fail(`the default audit view misses the changes: ${shown.join(', ')}`);
    if ((await page.getByLabel('Show').inputValue()) !== 'changes') fail('the Show filter does not say Changes');
    await screenshot('admin-audit-changes');
    await page.getByLabel('Show').selectOption('all');
    await until('the reads listed too', async () => {
      const a = await auditActions();
      return { ok: a.includes('users.list') && a.includes('audit.list'), seen: a };
    });
    if (!new URL(page.url()).hash.includes('kind=all')) fail(`the address does not keep the kind: ${page.url()}`);
    await page.getByLabel('Show').selectOption('reads');
    await until('only the reads', async () => {
      const a = await auditActions();
      return { ok: a.length > 0 && a.every((x) => READS.includes(x)), seen: a };
    });
    await screenshot('admin-audit-reads');
  });

  await step('admin pages: Back returns to the previous search and page', async () => {
    const rowTexts = () => userRows.evaluateAll((trs) => trs.map((tr) => tr.innerText));
    const search = page.getByLabel('Search');
    await page.goto(`${base}/#/admin/users`);
    await until('the full list', async () => ({ ok: (await userRows.count()) >= 2, seen: await userRows.count() }));
    await search.fill(user);
    await until('the search for the user', async () => {
      const rows = await rowTexts();
      return { ok: rows.length === 1 && rows[0].includes(user) && /query=/.test(page.url()), seen: rows };
    });
    await search.fill(adminUser);
    await until('the search for the admin', async () => {
      const rows = await rowTexts();
      return { ok: rows.some((t) => t.includes(adminUser)) && !rows.some((t) => t.includes(user)), seen: rows };
    });
    await page.goBack();
    await until('Back shows the previous search again', async () => {
      const rows = await rowTexts();
      return { ok: rows.length === 1 && rows[0].includes(user) && (await search.inputValue()) === user, seen: rows };
    });
    await page.goBack();
    await until('Back again shows the whole list', async () => ({
      ok: (await userRows.count()) >= 2 && (await search.inputValue()) === '', seen: await rowTexts(),
    }));
    await page.goForward();
    await until('Forward shows the search again', async () => ({ ok: (await search.inputValue()) === user, seen: await rowTexts() }));

    await page.goto(`${base}/#/admin/users?page_size=1`);
    await until('one account on the page, no search', async () => ({
      ok: (await userRows.count()) === 1 && (await search.inputValue()) === '', seen: await rowTexts(),
    }));
    const first = (await rowTexts())[0];
    await page.getByRole('button', { name: 'Next page' }).click();
    await until('page 2', async () => {
      const rows = await rowTexts();
      return { ok: rows.length === 1 && rows[0] !== first, seen: rows };
    });
    await page.goBack();
    await until('Back shows page 1 again', async () => {
      const rows = await rowTexts();
      return { ok: rows.length === 1 && rows[0] === first && !/page_token=/.test(page.url()), seen: rows };
    });
  });

  await step('admin pages: a long address wraps only between its parts on a phone', async () => {
    const long = `${user}_m`;
    const email = `${user}.firstname.lastname@mail.department.example-organisation.com`;
    const reg = await page.evaluate(async (body) => {
      const r = await fetch('/register', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
      return { status: r.status, json: await r.json() };
    }, { username: long, email, password });
    if (reg.status !== 201) fail(`registering ${long} answered ${reg.status}`);
    // Each word of the address on one line (a text piece between its <wbr>
    // seams, cut after a hyphen as any text may be): no word cut in two.
    const cutWords = (sel) => page.evaluate(([s, addr]) => {
      const out = [];
      let lines = 0;
      for (const el of document.querySelectorAll(s)) {
        if (el.textContent !== addr) continue;
        const all = document.createRange();
        all.selectNodeContents(el);
        lines = Math.max(lines, new Set([...all.getClientRects()].map((r) => Math.round(r.top))).size);
        const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
        for (let n = walk.nextNode(); n; n = walk.nextNode()) {
          let at = 0;
          for (const word of n.textContent.split(/(?<=-)/)) {
            const r = document.createRange();
            r.setStart(n, at);
            r.setEnd(n, at + word.length);
            at += word.length;
            if (new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size > 1) out.push(word);
          }
        }
      }
      return { out, lines };
    }, [sel, email]);
    await page.setViewportSize(PHONE);
    await page.goto(`${base}/#/admin/users/${reg.json.user.id}`);
    await seeText(aHeading, long, 'the long-address user');
    const d = await cutWords('#admin-user-details dd');
    if (d.lines < 2) fail(`the address did not need to wrap at 390px (${d.lines} line): the check proves nothing`);
    if (d.out.length) fail(`the address is cut inside a word on a phone: ${d.out.join(' | ')}`);
    await screenshot('phone-admin-user-long-email');
    await page.goto(`${base}/#/admin/users?query=${long}`);
    await until('the long-address user listed', async () => ({ ok: (await userRows.count()) === 1, seen: await userRows.count() }));
    const t = await cutWords('#admin-users-table td .cell');
    if (t.out.length) fail(`the address is cut inside a word in the list on a phone: ${t.out.join(' | ')}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 0) fail(`the users page scrolls sideways by ${overflow}px at 390px`);
    await screenshot('phone-admin-users-long-email');
    await page.setViewportSize(DESKTOP);
  });
  await step('admin pages: the audit names targets by username', async () => {
    await page.goto(`${base}/#/admin/audit?action=users.update`);
    const row = auditRows.and(page.locator(`[data-target="${userId}"]`)).first();
    await seeText(row.locator('td[data-label="Target"] a'), new RegExp(`^${user}$`), 'the target by username');
  });

  await step('admin pages: a middle part of a name finds its users, with the total', async () => {
    const summary = page.locator('#admin-users-summary');
    await page.goto(`${base}/#/admin/users`);
    await seeText(summary, /^\d+ users · Page 1/, 'the number of users');
    const middle = user.slice(5, -2).toUpperCase(); // neither its start nor its end
    await page.getByLabel('Search').fill(middle);
    await until('the users whose name holds the part', async () => {
      const rows = await userRows.evaluateAll((trs) => trs.map((tr) => tr.innerText));
      return { ok: rows.length === 2 && rows.every((t) => t.includes(user)), seen: rows };
    });
    await seeText(summary, /^2 matches · Page 1/, 'the number of matches');
    await screenshot('admin-users-substring');
  });
  // ----------------------------------------------------- end of admin pages

  await step(`${user}'s open browser is locked out at once`, async () => {
    page = userPage;
    await atRoute('#/profile');
    await page.reload();
    await atRoute('#/login');
    await seeText(heading, 'Log in', 'login instead of the profile');
    const status = await page.evaluate(() => fetch('/profile', { credentials: 'same-origin' }).then((r) => r.status));
    if (status !== 401) fail(`GET /profile of the disabled user answered ${status}`);
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password').fill(password);
    const answer = page.waitForResponse((r) => r.url().endsWith('/login'));
    await page.getByRole('button', { name: 'Log in' }).click();
    const res = await answer;
    if (res.status() !== 403) fail(`logging in to a disabled account answered ${res.status()}`);
    const problem = await res.json();
    if (!/disabled/.test(problem.detail || '')) fail(`unexpected detail: ${problem.detail}`);
    await seeText(page.locator('#login .form-error'), problem.detail, 'the disabled account is reported');
    await atRoute('#/login');
    await screenshot('disabled-login');
  });

  await step(`the admin enables ${user} again and the user can log in`, async () => {
    page = adminPage;
    await page.goto(`${base}/#/admin/users/${userId}`);
    await seeText(page.locator('#admin-user-status'), 'Disabled', 'status before');
    await page.getByRole('button', { name: 'Enable', exact: true }).click();
    await page.getByRole('button', { name: 'Yes, enable' }).click();
    await seeText(aFlash, `“${user}” is enabled`, 'enable confirmed');
    await seeText(page.locator('#admin-user-status'), 'Active', 'status after');
    page = userPage;
    const before = responses.length;
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await atRoute('#/profile');
    await seeText(page.locator('.profile-handle'), `@${user}`, 'the user is back');
    if ((await roleOf()) !== 'user') fail('the enabled user is not a plain user');
    if (calledAdminApi(before)) fail('the page called the admin API for the enabled user');
    if (await adminLinkOf(nav).isVisible()) fail('the enabled user sees the Admin link');
  });

  await step('the last admin cannot take away their own admin role', async () => {
    page = adminPage;
    await page.goto(`${base}/#/admin/users?role=admin`);
    await until('only the admin listed', async () => {
      const rows = await rowTexts();
      return { ok: rows.length === 1 && rows[0].includes(adminUser), seen: rows };
    });
    if ((await page.getByLabel('Role').inputValue()) !== 'admin') fail('the role filter is not shown');
    await userRows.getByRole('link', { name: adminUser, exact: true }).click();
    await seeText(aHeading, adminUser, 'own account');
    await page.getByRole('button', { name: 'Make user', exact: true }).click();
    await seeText(page.locator('#admin-confirm'), 'Remove your own admin role?', 'the question');
    const answer = page.waitForResponse((r) => r.request().method() === 'PATCH');
    await page.getByRole('button', { name: 'Yes, make user' }).click();
    const res = await answer;
    // 400 (docs/api.md: FAILED_PRECONDITION outside the If-Match routes).
    if (res.status() < 400 || res.status() >= 500) fail(`demoting the last admin answered ${res.status()}`);
    const problem = await res.json();
    if (!/last active admin/.test(problem.detail || '')) fail(`unexpected detail: ${problem.detail}`);
    await seeText(page.locator('#admin-user-error'), problem.detail, 'the refusal is shown');
    await seeText(page.locator('#admin-user-role'), 'Admin', 'still an admin');
    if (!(await page.locator('#admin-confirm').isHidden())) fail('the question stayed open after the answer');
    await screenshot('admin-last-admin');
  });

  await step(`the admin deletes another account (with a confirmation); the audit keeps its id`, async () => {
    page = adminPage;
    const other = `${user}_x`;
    const reg = await page.evaluate(async (body) => {
      const r = await fetch('/register', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
      return { status: r.status, json: await r.json() };
    }, { username: other, email: `${other}@example.com`, password });
    if (reg.status !== 201) fail(`registering ${other} answered ${reg.status}`);
    const otherId = reg.json.user.id;
    await page.goto(`${base}/#/admin/users/${otherId}`);
    await seeText(aHeading, other, 'the other user');
    await page.getByRole('button', { name: 'Delete account', exact: true }).click();
    await seeText(page.locator('#admin-confirm'), `Delete “${other}”?`, 'the delete question');
    await screenshot('admin-delete-confirm');
    const answer = page.waitForResponse((r) => r.request().method() === 'DELETE' && r.url().endsWith(`/admin/users/${otherId}`));
    await page.getByRole('button', { name: 'Yes, delete for good' }).click();
    const res = await answer;
    if (res.status() !== 200) fail(`DELETE /admin/users/{id} answered ${res.status()}`);
    await atRoute('#/admin/users');
    await seeText(aFlash, `“${other}” is deleted`, 'delete confirmed');
    const gone = await page.evaluate((id) => fetch(`/admin/users/${id}`, { credentials: 'same-origin' })
      .then((r) => r.status), otherId);
    if (gone !== 404) fail(`GET /admin/users/{id} of the deleted user answered ${gone}`);
    await page.goto(`${base}/#/admin/audit?action=users.delete`);
    const row = page.locator(`#admin-audit-table tr.audit-row[data-target="${otherId}"]`).first();
    await seeText(row.locator('td[data-label="Outcome"]'), /^ok$/, 'the deletion is audited');
    await screenshot('admin-user-deleted');
  });

  await step(`${user} changes their password; this browser stays signed in and a notice arrives`, async () => {
    page = userPage;
    await page.goto(`${base}/#/profile`);
    await seeText(heading, 'Your profile', 'profile heading');
    const mailsBefore = mailsTo(email).length;
    await page.getByRole('link', { name: 'Change password' }).click();
    await atRoute('#/password/change');
    await seeText(heading, 'Change your password', 'change-password heading');
    const next = 'a brand new horse battery';
    await page.getByLabel('Current password').fill('not the password at all');
    await page.locator('#change-password-new_password').fill(next);
    await page.locator('#change-password-new_password_confirm').fill(next);
    await page.getByRole('button', { name: 'Change password' }).click();
    await seeText(page.locator('#change-password .form-error'), 'That password is not right.', 'a wrong current password');
    await page.getByLabel('Current password').fill(password);
    await page.locator('#change-password-new_password_confirm').fill(`${next}!`);
    await page.getByRole('button', { name: 'Change password' }).click();
    await seeText(page.locator('#change-password-new_password_confirm-error'), 'does not match', 'a mismatch');
    await page.locator('#change-password-new_password_confirm').fill(next);
    await screenshot('change-password');
    const answer = page.waitForResponse((r) => r.url().endsWith('/password') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Change password' }).click();
    const res = await answer;
    if (res.status() !== 200) fail(`POST /password answered ${res.status()}`);
    await atRoute('#/profile');
    await seeText(flash, 'Password changed', 'the change is confirmed');
    await seeText(page.locator('.profile-handle'), `@${user}`, 'still signed in');
    password = next;
    await until('the notice mail', async () => {
      const mails = mailsTo(email).slice(mailsBefore);
      return { ok: mails.some((m) => m.includes('Subject: Your password was changed')), seen: `${mails.length} new mails` };
    });
    await screenshot('password-changed');
  });

  await step('forgot password: the mail\'s link sets a new one, and the user logs in with it', async () => {
    page = userPage;
    await nav.getByRole('button', { name: 'Log out' }).click();
    await atRoute('#/login');
    const mailsBefore = mailsTo(email).length;
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await atRoute('#/forgot-password');
    await page.getByLabel('Email').fill(email);
    await page.getByRole('button', { name: 'Send me a link' }).click();
    await seeText(page.locator('#forgot-password-sent'), 'a link to set a new password is on its way', 'check your mail');
    await screenshot('forgot-password-sent');
    const link = await mailLink(email, mailsBefore + 1, '/reset-password');
    await page.goto(link);
    await seeText(heading, 'Set a new password', 'reset heading');
    if (page.url().includes('token=')) fail('the reset token stayed in the address bar');
    const next = 'a recovered horse battery';
    await page.locator('#reset-password-new_password').fill(next);
    await page.locator('#reset-password-new_password_confirm').fill(next);
    await screenshot('reset-password');
    const answer = page.waitForResponse((r) => r.url().endsWith('/password/reset'));
    await page.getByRole('button', { name: 'Set new password' }).click();
    if ((await answer).status() !== 200) fail('POST /password/reset did not answer 200');
    await atRoute('#/login');
    await seeText(flash, 'Your new password is set', 'the reset is confirmed');
    password = next;
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await atRoute('#/profile');
    await seeText(page.locator('.profile-handle'), `@${user}`, 'logged in with the new password');
    await page.goto(link);
    await page.locator('#reset-password-new_password').fill('yet another horse battery');
    await page.locator('#reset-password-new_password_confirm').fill('yet another horse battery');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await seeText(page.locator('#reset-password-bad-link'), 'used already', 'the used link is refused');
    await screenshot('reset-link-used');
  });

  await step(`${user} moves the account to a new email address with the link sent there`, async () => {
    page = userPage;
    await page.goto(`${base}/#/profile`);
    await seeText(heading, 'Your profile', 'profile heading');
    const moved = `moved_${email}`;
    const oldBefore = mailsTo(email).length;
    await page.getByRole('link', { name: 'Change email' }).click();
    await atRoute('#/account/email');
    await page.getByLabel('New email address').fill(moved);
    await page.getByLabel('Your password').fill(password);
    await page.getByRole('button', { name: 'Send the confirmation link' }).click();
    await seeText(page.locator('#change-email-sent'), 'Check your new mailbox', 'check the new mailbox');
    await screenshot('change-email-sent');
    const link = await mailLink(moved, 1, '/confirm-email');
    await until('the notice to the old address', async () => {
      const mails = mailsTo(email).slice(oldBefore);
      return { ok: mails.length >= 1, seen: `${mails.length} new mails` };
    });
    await page.goto(link);
    await seeText(page.locator('#confirm-email-done'), 'now uses this address', 'the address changed');
    if (page.url().includes('token=')) fail('the confirmation token stayed in the address bar');
    await screenshot('email-changed');
    await page.getByRole('link', { name: 'Go to your profile' }).click();
    await atRoute('#/profile');
  });

  // ----------------------------------------------------- two-factor login

  let secret = '';
  let recovery = [];
  const mfaLeft = userPage.locator('#mfa-codes-left');
  const mfaStatus = userPage.locator('#mfa-status');

  // Turns two-factor login on from the profile: the password, then the key
  // read from the page and a code of it, then the ten recovery codes.
  async function enrolTotp(shots) {
    await page.goto(`${base}/#/profile`);
    await page.getByRole('link', { name: 'Two-factor login' }).click();
    await atRoute('#/security');
    await seeText(heading, 'Security', 'security heading');
    await seeText(mfaStatus, 'Two-factor login is off', 'off before');
    if (shots) await screenshot('security-off');
    await page.getByRole('button', { name: 'Turn on two-factor login' }).click();
    await page.getByLabel('Your password').fill(password);
    await page.getByRole('button', { name: 'Continue' }).click();
    const grouped = await seeText(page.locator('#mfa-secret'), /^[A-Z2-7]{4}( [A-Z2-7]{1,4})+$/, 'the key in groups');
    secret = grouped.replace(/\s+/g, '');
    const qr = page.locator('#mfa-qr');
    await until('the QR code is drawn', async () => ({
      ok: await qr.evaluate((img) => img.complete && img.naturalWidth > 0), seen: await qr.getAttribute('alt'),
    }));
    if (!(await qr.getAttribute('src')).startsWith('data:image/svg+xml')) fail('the QR code is not a data: image');
    const field = page.getByLabel('Code from your authenticator app');
    if ((await field.getAttribute('inputmode')) !== 'numeric') fail('the code field is not numeric');
    if ((await field.getAttribute('autocomplete')) !== 'one-time-code') fail('the code field is no one-time-code');
    if (shots) await screenshot('security-setup');
    await field.fill(await totpCode(secret));
    await page.getByRole('button', { name: 'Turn on', exact: true }).click();
    const items = page.locator('#recovery-codes li');
    await until('ten recovery codes', async () => ({ ok: (await items.count()) === 10, seen: await items.count() }));
    recovery = (await items.allInnerTexts()).map((t) => t.trim());
    if (!recovery.every((c) => /^[a-z0-9]{5}-[a-z0-9]{5}$/i.test(c))) fail(`odd recovery codes: ${recovery}`);
    await seeText(page.locator('#recovery-codes-box'), 'Save these codes now', 'the warning');
    if (shots) {
      const download = page.waitForEvent('download');
      await page.getByRole('link', { name: 'Download' }).click();
      const file = await (await download).path();
      const text = readFileSync(file, 'utf8');
      if (!recovery.every((c) => text.includes(c))) fail('the download lacks codes');
      await screenshot('security-recovery-codes');
      await page.setViewportSize(PHONE);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 0) fail(`the security page scrolls sideways by ${overflow}px at 390px`);
      await screenshot('phone-security-recovery-codes');
      await page.setViewportSize(DESKTOP);
    }
    await page.getByRole('button', { name: 'I saved them' }).click();
    await seeText(flash, 'Two-factor login is on.', 'turned on');
    await seeText(mfaStatus, 'Two-factor login is on', 'on after');
    await seeText(mfaLeft, '10 recovery codes left', 'ten left');
  }

  // Logs out, then logs in with the password: the second step is asked for.
  async function passwordStep() {
    await nav.getByRole('button', { name: 'Log out' }).click();
    await atRoute('#/login');
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password').fill(password);
    const answer = page.waitForResponse((r) => r.url().endsWith('/login'));
    await page.getByRole('button', { name: 'Log in' }).click();
    const body = await (await answer).json();
    if (body.mfa_required !== true || !body.mfa_ticket) fail(`POST /login answered ${JSON.stringify(body)}`);
    if (body.access_token) fail('POST /login answered a token before the second factor');
    await seeText(heading, 'Two-factor login', 'the second step');
    await atRoute('#/login');
    return body.mfa_ticket;
  }

  await step(`${user} turns on two-factor login: password, QR code and key, first code, recovery codes`, async () => {
    page = userPage;
    await enrolTotp(true);
    await screenshot('security-on');
  });

  await step('log in with the password and a code from the app; a wrong code is shown at its field', async () => {
    page = userPage;
    const ticket = await passwordStep();
    const stored = await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + location.href);
    if (stored.includes(ticket)) fail('the ticket was stored or put in the address');
    const field = page.getByLabel('Code from your authenticator app');
    if ((await field.getAttribute('autocomplete')) !== 'one-time-code') fail('the code field is no one-time-code');
    await screenshot('login-mfa');
    await field.fill(wrongCode(secret));
    const answer = page.waitForResponse((r) => r.url().endsWith('/login/mfa'));
    await page.getByRole('button', { name: 'Verify' }).click();
    if ((await answer).status() !== 401) fail('a wrong code was not refused');
    await seeText(page.locator('#login-mfa-code-error'), 'is not right', 'the error at the field');
    await seeText(heading, 'Two-factor login', 'still the second step');
    await screenshot('login-mfa-wrong-code');
    await field.fill(await totpCode(secret));
    await page.getByRole('button', { name: 'Verify' }).click();
    await atRoute('#/profile');
    await seeText(page.locator('.profile-handle'), `@${user}`, 'logged in with two factors');
  });

  await step('a login step used elsewhere sends the user back to the password; a recovery code logs in', async () => {
    page = userPage;
    const ticket = await passwordStep();
    // The same browser finishes this ticket by itself first (as another
    // tab would): the page's ticket is then used.
    const status = await page.evaluate(([t, rc]) => fetch('/login/mfa', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ mfa_ticket: t, recovery_code: rc }),
    }).then((r) => r.status), [ticket, recovery[0]]);
    if (status !== 200) fail(`finishing the ticket by hand answered ${status}`);
    await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
    await page.getByLabel('Recovery code').fill(recovery[1]);
    await page.getByRole('button', { name: 'Verify' }).click();
    await seeText(flash, 'Log in again with your password', 'the used ticket is explained');
    await seeText(heading, 'Log in', 'back at the password step');
    if ((await page.getByLabel('Username').inputValue()) !== user) fail('the username is not kept');
    await screenshot('login-mfa-ticket-used');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await seeText(heading, 'Two-factor login', 'the second step again');
    await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
    // Refused with the used ticket, so not used up.
    await page.getByLabel('Recovery code').fill(recovery[1]);
    await screenshot('login-mfa-recovery-code');
    await page.getByRole('button', { name: 'Verify' }).click();
    await atRoute('#/profile');
    await page.getByRole('link', { name: 'Two-factor login' }).click();
    await atRoute('#/security');
    await seeText(mfaLeft, '8 recovery codes left', 'two codes used');
  });

  await step('new recovery codes with a recovery code; then turned off with one of the new codes', async () => {
    page = userPage;
    await page.getByRole('button', { name: 'New recovery codes' }).click();
    await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
    await page.getByLabel('Recovery code').fill(recovery[2]);
    await page.getByRole('button', { name: 'Make new codes' }).click();
    const items = page.locator('#recovery-codes li');
    await until('ten new codes', async () => ({ ok: (await items.count()) === 10, seen: await items.count() }));
    const fresh = (await items.allInnerTexts()).map((t) => t.trim());
    if (fresh.some((c) => recovery.includes(c))) fail('an old code is among the new ones');
    await screenshot('security-new-recovery-codes');
    await page.getByRole('button', { name: 'I saved them' }).click();
    await seeText(mfaLeft, '10 recovery codes left', 'a full new set');
    await page.getByRole('button', { name: 'Turn off two-factor login' }).click();
    await seeText(page.locator('#mfa-disable-warning'), 'password alone', 'the question');
    await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
    await page.getByLabel('Recovery code').fill(recovery[3]);
    await page.getByRole('button', { name: 'Yes, turn it off' }).click();
    await seeText(page.locator('#mfa-disable-recovery_code-error'), 'wrong or was used', 'an old code refused');
    await page.getByLabel('Recovery code').fill(fresh[0]);
    await screenshot('security-turn-off');
    await page.getByRole('button', { name: 'Yes, turn it off' }).click();
    await seeText(flash, 'Two-factor login is off', 'turned off');
    await seeText(mfaStatus, 'Two-factor login is off', 'off after');
  });

  await step(`${user} turns it on again; wrong codes at the login are throttled and the page says when to retry`, async () => {
    page = userPage;
    await enrolTotp(false);
    await passwordStep();
    const field = page.getByLabel('Code from your authenticator app');
    let status = 0;
    for (let i = 0; i < 12 && status !== 429; i++) {
      await field.fill(wrongCode(secret));
      const answer = page.waitForResponse((r) => r.url().endsWith('/login/mfa'));
      await page.getByRole('button', { name: 'Verify' }).click();
      status = (await answer).status();
      if (status !== 401 && status !== 429) fail(`a wrong code answered ${status}`);
    }
    if (status !== 429) fail('12 wrong codes were not throttled');
    await seeText(page.locator('#login-mfa .form-error'), /Too many wrong codes: try again in \d+ (s|minutes)\./, 'the retry time');
    await seeText(heading, 'Two-factor login', 'still the second step');
    await screenshot('login-mfa-throttled');
  });

  await step(`the admin resets ${user}'s two-factor login (with a confirmation); the audit shows it`, async () => {
    page = adminPage;
    await page.goto(`${base}/#/admin/users/${userId}`);
    await seeText(aHeading, user, 'the user');
    const writes = responses.filter((r) => r.method === 'DELETE').length;
    await page.getByRole('button', { name: 'Reset two-factor login' }).click();
    await seeText(page.locator('#admin-confirm'), `Turn off two-factor login of “${user}”?`, 'the question');
    if (responses.filter((r) => r.method === 'DELETE').length !== writes) fail('reset before the confirmation');
    await screenshot('admin-reset-mfa-confirm');
    const answer = page.waitForResponse((r) => r.request().method() === 'DELETE' && r.url().endsWith(`/admin/users/${userId}/mfa`));
    await page.getByRole('button', { name: 'Yes, reset it' }).click();
    const res = await answer;
    if (res.status() !== 200) fail(`DELETE /admin/users/{id}/mfa answered ${res.status()}`);
    await seeText(aFlash, `Two-factor login of “${user}” is reset`, 'reset confirmed');
    await page.goto(`${base}/#/admin/audit`);
    await page.getByLabel('Action').selectOption('users.reset_mfa');
    const row = page.locator(`#admin-audit-table tr.audit-row[data-target="${userId}"]`).first();
    await seeText(row.locator('td[data-label="Action"]'), 'two-factor login turned off', 'the audit summary');
    await seeText(row.locator('td[data-label="Outcome"]'), /^ok$/, 'the reset is audited');
    await screenshot('admin-audit-reset-mfa');
    // The throttled user logs in with the password alone now.
    page = userPage;
    await page.getByRole('button', { name: 'Back' }).click();
    await seeText(heading, 'Log in', 'back at the password step');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await atRoute('#/profile');
    await page.getByRole('link', { name: 'Two-factor login' }).click();
    await atRoute('#/security');
    await seeText(mfaStatus, 'Two-factor login is off', 'off for the user');
    await page.goto(`${base}/#/profile`);
    await atRoute('#/profile');
  });

  await step(`${user} deletes their own account with their password`, async () => {
    page = userPage;
    await atRoute('#/profile');
    await page.getByRole('link', { name: 'Delete account' }).click();
    await atRoute('#/account/delete');
    await seeText(heading, 'Delete your account', 'delete heading');
    await seeText(page.locator('#view .alert-error'), `This deletes “${user}” for good.`, 'the warning');
    await page.getByLabel('Your password').fill('not the password at all');
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await seeText(page.locator('#delete-account .form-error'), 'That password is not right.', 'a wrong password');
    await atRoute('#/account/delete');
    await screenshot('delete-account-wrong-password');
    await page.getByLabel('Your password').fill(password);
    await screenshot('delete-account');
    const answer = page.waitForResponse((r) => r.url().endsWith('/account/delete'));
    await page.getByRole('button', { name: 'Delete my account' }).click();
    const res = await answer;
    if (res.status() !== 200) fail(`POST /account/delete answered ${res.status()}`);
    await atRoute('#/login');
    await seeText(flash, `The account “${user}” is deleted.`, 'deletion confirmed');
    await screenshot('account-deleted');
    const status = await page.evaluate(() => fetch('/profile', { credentials: 'same-origin' }).then((r) => r.status));
    if (status !== 401) fail(`GET /profile after the deletion answered ${status}`);
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password').fill(password);
    const login = page.waitForResponse((r) => r.url().endsWith('/login'));
    await page.getByRole('button', { name: 'Log in' }).click();
    if ((await login).status() !== 401) fail('the deleted account could still log in');
    await atRoute('#/login');
  });

  noProblems();
  await browser.close();
  console.log(`browser_e2e: ${passed} passed, 0 failed`);
}

main().catch(async (err) => {
  console.log('FAILED');
  console.log(`FAIL: ${err.message}`);
  if (problems.length) console.log(`browser reported:\n  ${problems.join('\n  ')}`);
  if (page) {
    try {
      const file = join(outDir, 'failure.png');
      await page.screenshot({ path: file, fullPage: true });
      console.log(`screenshot of the failure: ${file} (at ${page.url()})`);
    } catch (_) {
      /* the page is gone */
    }
  }
  if (browser) await browser.close().catch(() => {});
  console.log(`browser_e2e: ${passed} passed, 1 failed`);
  process.exit(1);
});

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

// ------------------------------------------------------------ accessibility
// WCAG 2.2 AA: axe-core on every page at both sizes, a keyboard-only walk
// with focus assertions, and the non-text contrast of the focus ring and of
// input borders computed from the rendered styles. Its own browser contexts
// (CSP bypassed only so that axe can be injected), signed in as the admin.
const axePath = join(nodeModules, 'axe-core', 'axe.min.js');

async function a11yPage() {
  const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US', bypassCSP: true });
  context.setDefaultTimeout(TIMEOUT);
  const p = await context.newPage();
  p.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  return { context, page: p };
}

// The view of hash is shown (its h1 is there and the view no longer busy),
// in a new page load: a change of the hash alone would not load the page.
async function a11yShow(p, hash) {
  await p.goto('about:blank');
  await p.goto(`${base}/${hash}`);
  await until(`${hash} is shown`, async () => {
    const seen = await p.evaluate(() => ({
      busy: document.querySelector('#view').getAttribute('aria-busy'),
      h1: (document.querySelector('#view h1') || {}).textContent || '',
    }));
    return { ok: seen.busy === 'false' && seen.h1 !== '', seen };
  });
}

/* A screenshot's name for the page at hash: "#/admin/users/id" -> "admin-users-id". */
function pageName(hash) {
  return hash.replace(/^#\//, '').replace(/[^a-z0-9]+/gi, '-');
}

async function axeViolations(p) {
  if (!(await p.evaluate(() => typeof window.axe === 'object'))) await p.addScriptTag({ path: axePath });
  return p.evaluate(async () => {
    const r = await window.axe.run(document);
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  });
}

// In the page: the WCAG contrast ratio of two CSS colors, and the opaque
// color behind an element (its ancestors' backgrounds, blended).
const CONTRAST_JS = `
  window.__rgb = (s) => {
    const m = /^rgba?\\(([\\d.]+),? ([\\d.]+),? ([\\d.]+)(?:,? \\/?\\s*([\\d.]+))?\\)$/.exec(s);
    if (!m) throw new Error('unparsed color ' + s);
    return [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])];
  };
  window.__behind = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = window.__rgb(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] === 1) break;
    }
    let out = [255, 255, 255];
    for (const c of layers.reverse()) out = out.map((v, i) => c[i] * c[3] + v * (1 - c[3]));
    return out;
  };
  window.__ratio = (a, b) => {
    const lum = (c) => {
      const [r, g, bl] = c.slice(0, 3).map((v) => v / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
      return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
    };
    const [x, y] = [lum(a), lum(b)].sort((m, n) => n - m);
    return (x + 0.05) / (y + 0.05);
  };`;

// The focused element's outline against what is behind it (outside the
// element: the parent's background) and against the element's own.
async function focusRingContrast(p, desc) {
  const seen = await p.evaluate((js) => {
    if (!window.__ratio) (0, eval)(js);
    const el = document.activeElement;
    const cs = getComputedStyle(el);
    if (cs.outlineStyle === 'none' || parseFloat(cs.outlineWidth) < 2) return { none: `${el.tagName} ${cs.outlineStyle} ${cs.outlineWidth}` };
    const ring = window.__rgb(cs.outlineColor);
    return {
      tag: el.tagName,
      outside: window.__ratio(ring, window.__behind(el.parentElement)),
      color: cs.outlineColor,
    };
  }, CONTRAST_JS);
  if (seen.none) fail(`${desc}: the focused element shows no focus ring (${seen.none})`);
  if (seen.outside < 3) fail(`${desc}: focus ring ${seen.color} on ${seen.tag} has contrast ${seen.outside.toFixed(2)}:1 against its background, below 3:1`);
}

// The same ring color and the input border color against the other
// backgrounds a control can sit on: the page, a card, each kind of alert
// (made for the measurement and removed).
async function ringAndBorderOnAllBackgrounds(p) {
  const bad = await p.evaluate((js) => {
    if (!window.__ratio) (0, eval)(js);
    const el = document.activeElement;
    const ring = window.__rgb(getComputedStyle(el).outlineColor);
    const probe = document.createElement('input');
    probe.className = 'input';
    const out = [];
    const grounds = [['page', document.body], ['card', document.querySelector('#view .card')]];
    const made = ['error', 'success', 'info', 'warn'].map((k) => {
      const a = document.createElement('div');
      a.className = `alert alert-${k}`;
      document.querySelector('#view').append(a);
      grounds.push([`alert-${k}`, a]);
      return a;
    });
    document.querySelector('#view').append(probe);
    const border = window.__rgb(getComputedStyle(probe).borderTopColor);
    for (const [name, g] of grounds) {
      if (!g) continue;
      const bg = window.__behind(g);
      const r = window.__ratio(ring, bg);
      const b = window.__ratio(border, bg);
      if (r < 3) out.push(`focus ring on ${name}: ${r.toFixed(2)}:1`);
      if (b < 3) out.push(`input border on ${name}: ${b.toFixed(2)}:1`);
    }
    for (const a of made) a.remove();
    probe.remove();
    return out;
  }, CONTRAST_JS);
  if (bad.length) fail(`non-text contrast below 3:1: ${bad.join('; ')}`);
}

// Every visible input's border against the background inside and outside it.
async function inputBorderContrast(p, desc) {
  const bad = await p.evaluate((js) => {
    if (!window.__ratio) (0, eval)(js);
    const out = [];
    for (const el of document.querySelectorAll('#view .input')) {
      if (!el.getClientRects().length || el.getAttribute('aria-invalid') === 'true') continue;
      const border = window.__rgb(getComputedStyle(el).borderTopColor);
      const ratio = Math.min(window.__ratio(border, window.__behind(el)), window.__ratio(border, window.__behind(el.parentElement)));
      if (ratio < 3) out.push(`#${el.id} border ${getComputedStyle(el).borderTopColor} ${ratio.toFixed(2)}:1`);
    }
    return out;
  }, CONTRAST_JS);
  if (bad.length) fail(`${desc}: input borders below 3:1: ${bad.join('; ')}`);
}

// Tab from the top through the whole page: every stop is a visible
// control with a focus ring of at least 2px, and the walk ends back at
// the top (no trap).
async function keyboardWalk(p, desc) {
  const seen = [];
  for (let i = 0; i < 200; i += 1) {
    await p.keyboard.press('Tab');
    const f = await p.evaluate(() => {
      const el = document.activeElement;
      const cs = getComputedStyle(el);
      const r = el.getBoundingClientRect();
      return { tag: el.tagName.toLowerCase(), id: el.id, text: (el.textContent || '').trim().slice(0, 30),
        ring: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2, size: r.width * r.height,
        // Headless Chromium matches neither :focus nor :focus-visible on a
        // date-time input whose inner field has the focus (a real window
        // does): its ring is not measurable here.
        dateTime: el.tagName === 'INPUT' && /^(date|time|datetime-local)$/.test(el.type) && !el.matches(':focus'),
        outline: `${cs.outlineStyle} ${cs.outlineWidth} ${cs.outlineColor}` };
    });
    if (f.id === 'skip-link' && i > 0) return seen;
    if (f.tag === 'body') {
      if (i > 0) return seen;
      fail(`${desc}: Tab from the top focused nothing`);
    }
    if (!f.ring && !f.dateTime) fail(`${desc}: <${f.tag} id="${f.id}"> "${f.text}" shows no focus ring (outline ${f.outline})`);
    if (!f.size) fail(`${desc}: <${f.tag} id="${f.id}"> "${f.text}" is focused but not visible`);
    seen.push(f.tag);
  }
  fail(`${desc}: 200 Tab presses never came back to the top`);
}

const focusedIs = (p) => p.evaluate(() => {
  const el = document.activeElement;
  return { tag: el.tagName.toLowerCase(), id: el.id, text: (el.textContent || '').trim().slice(0, 40), label: el.getAttribute('aria-label') || '' };
});

async function accessibility() {
  const guestPages = ['#/login', '#/register', '#/forgot-password', '#/reset-password?token=a11y-check'];
  const { context: guestContext, page: guest } = await a11yPage();
  const saved = page;
  page = guest;
  try {
    await step('accessibility: Tab reaches the skip link first, which moves the focus to main', async () => {
      await a11yShow(guest, '#/login');
      await guest.keyboard.press('Tab');
      let f = await focusedIs(guest);
      if (f.id !== 'skip-link') fail(`the first Tab stop is <${f.tag} id="${f.id}"> "${f.text}", not the skip link`);
      const box = await guest.locator('#skip-link').boundingBox();
      if (!box || box.y < 0 || box.y > 100) fail(`the focused skip link is not visible at the top (box ${JSON.stringify(box)})`);
      await screenshot('a11y-skip-link');
      await guest.keyboard.press('Enter');
      f = await focusedIs(guest);
      if (f.id !== 'main') fail(`Enter on the skip link focused <${f.tag} id="${f.id}">, not main`);
      if (new URL(guest.url()).hash !== '#/login') fail(`the skip link changed the address to ${guest.url()}`);
    });

    await step('accessibility: the focus ring and input borders keep 3:1 against their backgrounds', async () => {
      await guest.keyboard.press('Tab');
      const f = await focusedIs(guest);
      if (f.tag !== 'input') fail(`Tab after main focused <${f.tag}> "${f.text}", not the first input`);
      await focusRingContrast(guest, 'focused login input');
      await ringAndBorderOnAllBackgrounds(guest);
      await inputBorderContrast(guest, 'login form');
      await screenshot('a11y-focus-ring');
      // A button's ring, reached by keyboard.
      for (let i = 0; i < 6 && (await focusedIs(guest)).tag !== 'button'; i += 1) await guest.keyboard.press('Tab');
      if ((await focusedIs(guest)).tag !== 'button') fail('Tab never reached the login button');
      await focusRingContrast(guest, 'focused login button');
    });

    await step('accessibility: reduced motion turns transitions off', async () => {
      await guest.emulateMedia({ reducedMotion: 'reduce' });
      const d = await guest.evaluate(() => getComputedStyle(document.querySelector('#view .button')).transitionDuration);
      if (d.split(',').some((x) => parseFloat(x) !== 0)) fail(`a button still has a ${d} transition with reduced motion`);
      await guest.emulateMedia({ reducedMotion: null });
    });

    await step('accessibility: axe-core finds no violation on the guest pages at both sizes', async () => {
      const found = [];
      for (const size of [DESKTOP, PHONE]) {
        await guest.setViewportSize(size);
        for (const hash of guestPages) {
          await a11yShow(guest, hash);
          for (const v of await axeViolations(guest)) found.push(`${hash} at ${size.width}px: ${v}`);
          await screenshot(`page-${size.width}-${pageName(hash)}`);
          if (size === DESKTOP) await keyboardWalk(guest, `${hash} by keyboard`);
        }
      }
      await guest.setViewportSize(DESKTOP);
      if (found.length) fail(`axe-core violations:\n  ${found.join('\n  ')}`);
    });

    await step('accessibility: keyboard-only login (Tab through the form, Enter submits)', async () => {
      await a11yShow(guest, '#/login');
      await guest.keyboard.press('Tab'); // skip link
      await guest.keyboard.press('Enter'); // main
      await guest.keyboard.press('Tab');
      if ((await focusedIs(guest)).tag !== 'input') fail('Tab from main does not reach the username input');
      await guest.keyboard.type(adminUser);
      await guest.keyboard.press('Tab');
      const f = await focusedIs(guest);
      if (f.tag !== 'input') fail(`Tab from the username focused <${f.tag}> "${f.text}", not the password`);
      await guest.keyboard.type(adminPassword);
      await guest.keyboard.press('Enter');
      await atRoute('#/profile');
      await until('the focus is in the profile view', async () => {
        const g = await focusedIs(guest);
        return { ok: g.tag === 'h1' || g.tag === 'input', seen: g };
      });
    });

    await step('accessibility: after "End session" the focus stays on a sensible element', async () => {
      const other = await apiRequest.newContext({ baseURL: base, extraHTTPHeaders: { Origin: base } });
      try {
        const login = await other.post('/login', { data: { username: adminUser, password: adminPassword } });
        if (login.status() !== 200) fail(`second admin login answered ${login.status()}`);
        await a11yShow(guest, '#/sessions');
        const end = guest.getByRole('button', { name: /^End session/ }).first();
        await end.focus();
        await guest.keyboard.press('Enter');
        await seeText(guest.locator('#flash'), 'Session ended.', 'session end confirmed');
        const f = await focusedIs(guest);
        if (f.tag === 'body' || f.tag === 'html') fail('after "End session" the focus fell to <body>');
        if (!/Log out here|End session/.test(f.label) && f.tag !== 'h1') fail(`after "End session" the focus is on <${f.tag}> "${f.text}"`);
        await screenshot('a11y-session-ended-focus');
        await guest.getByRole('button', { name: 'Dismiss message' }).click();
        const g = await focusedIs(guest);
        if (g.tag !== 'h1') fail(`after dismissing the message the focus is on <${g.tag}> "${g.text}", not the heading`);
      } finally {
        await other.dispose();
      }
    });

    await step('accessibility: axe-core finds no violation on the signed-in and admin pages at both sizes', async () => {
      const me = await guest.evaluate(() => fetch('/profile', { credentials: 'same-origin' }).then((r) => r.json()));
      const id = me.profile && me.profile.user_id;
      if (!id) fail(`GET /profile has no profile.user_id: ${JSON.stringify(me)}`);
      const pages = ['#/profile', '#/profile/edit', '#/sessions', '#/security', '#/password/change', '#/account/email',
        '#/account/delete', '#/admin/users', `#/admin/users/${id}`, '#/admin/audit'];
      const found = [];
      for (const size of [DESKTOP, PHONE]) {
        await guest.setViewportSize(size);
        for (const hash of pages) {
          await a11yShow(guest, hash);
          for (const v of await axeViolations(guest)) found.push(`${hash} at ${size.width}px: ${v}`);
          await screenshot(`page-${size.width}-${pageName(hash.replace(id, 'id'))}`);
          await inputBorderContrast(guest, hash);
          if (size === DESKTOP) await keyboardWalk(guest, `${hash} by keyboard`);
        }
      }
      await guest.setViewportSize(DESKTOP);
      if (found.length) fail(`axe-core violations:\n  ${found.join('\n  ')}`);
    });
  } finally {
    page = saved;
    await guestContext.close();
  }
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
    // Each field says its problem in plain words, never the API's phrasing.
    const words = {
      username: 'Your username can only use letters, digits, “_”, “.” and “-” (no spaces).',
      email: 'Enter an email address like name@example.com.',
      password: 'Your password is too short: it needs at least 8 characters.',
    };
    for (const field of ['username', 'email', 'password']) {
      const fe = problem.errors.find((e) => e.field === field);
      if (!fe) fail(`the API named no error for ${field}`);
      const text = await seeText(page.locator(`#register-${field}-error`), words[field], `${field} error`);
      if (text.includes(fe.message)) fail(`${field} error shows the API's words: ${text}`);
      const invalid = await page.locator(`#register-${field}`).getAttribute('aria-invalid');
      if (invalid !== 'true') fail(`${field} input is not marked aria-invalid`);
    }
    await seeText(page.locator('#register .form-error'), 'Please fix these 3 things:', 'the summary');
    await seeText(page.locator('#register .form-error li').nth(2), words.password, 'the summary lists the words');
    await screenshot('register-errors');
  });

  await step(`register ${user}`, async () => {
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    // Registering signs the new user in (see "conflicts and registration").
    await atRoute('#/profile');
    await seeText(flash, `Welcome, ${user}`, 'registration confirmed');
    await seeText(nav, `Signed in as ${user}`, 'nav shows the new user');
    await screenshot('registered');
    await nav.getByRole('button', { name: 'Log out' }).click();
    await atRoute('#/login');
  });

  await step('a wrong password shows the problem detail', async () => {
    await page.getByLabel('Username').fill(user);
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
    const avatarWords = 'The avatar URL must be a secure web address starting with https://, like https://example.com/me.png.';
    await seeText(page.locator('#profile-edit-avatar_url-error'), avatarWords, 'avatar_url error');
    if ((await page.getByLabel('Avatar URL').getAttribute('aria-invalid')) !== 'true') fail('avatar_url not aria-invalid');
    const summary = await seeText(page.locator('#profile-edit .form-error'), `Please fix this: ${avatarWords}`, 'the summary');
    if (summary.includes(`avatar_url: ${fe.message}`)) fail(`the summary shows the API's words: ${summary}`);
    await atRoute('#/profile/edit');
    await screenshot('edit-invalid-avatar');
    await page.getByRole('link', { name: 'Cancel' }).click();
    await atRoute('#/profile');
  });

  /* ------------------------------------------ messages and failure states */
  // Every message in plain words (register, profile edit), and a designed
  // state for each failure simulated at the network layer: a proxy's 502
  // HTML page, no network, a slow GET /profile at start, a 503 at start.
  // Screenshots of each at desktop and phone size.
  const NOT_ANSWERING = 'The server is not answering properly. Try again in a moment.';
  // The simulated failures are logged by Chromium as failed loads: those
  // (and only those) are expected here.
  const forgive = (re) => {
    for (let i = problems.length - 1; i >= 0; i--) if (re.test(problems[i])) problems.splice(i, 1);
  };
  const bothSizes = async (name) => {
    await screenshot(`${name}-desktop`);
    await page.setViewportSize(PHONE);
    await screenshot(`${name}-phone`);
    await page.setViewportSize(DESKTOP);
  };
  const fieldError = (form, field) => page.locator(`#${form}-${field}-error`);

  await step('register: required, too short, invalid and taken are said plainly at their fields', async () => {
    const signedInPage = page;
    const guest = await openPage();
    page = guest.page;
    try {
      await page.goto(`${base}/#/register`);
      await seeText(page.locator('#view h1'), 'Create an account', 'register heading');
      await seeText(page.locator('#register-username-hint'), 'Capital letters are saved as small ones.',
        'the hint says usernames are lower-cased');
      const submit = async (u, e, pw, status) => {
        await page.getByLabel('Username').fill(u);
        await page.getByLabel('Email').fill(e);
        await page.getByLabel('Password').fill(pw);
        const answer = page.waitForResponse((r) => r.url().endsWith('/register'));
        await page.getByRole('button', { name: 'Create account' }).click();
        const res = await answer;
        if (res.status() !== status) fail(`registering ${JSON.stringify([u, e])} answered ${res.status()}, not ${status}`);
      };
      await submit('', '', '', 400);
      await seeText(fieldError('register', 'username'), 'Enter a username.', 'empty username');
      const emailText = await seeText(fieldError('register', 'email'), 'Enter your email address.', 'empty email');
      if (/characters/.test(emailText)) fail(`an empty email speaks of a length: ${emailText}`);
      await seeText(fieldError('register', 'password'), 'Enter a password.', 'empty password');
      await seeText(page.locator('#register .form-error'), 'Please fix these 3 things:', 'the summary counts them');
      await bothSizes('register-empty');

      const good = 'a long enough password 1';
      await submit('ab', `ab-${Date.now()}@example.com`, good, 400);
      await seeText(fieldError('register', 'username'), 'Your username is too short: it needs 3 to 32 characters.', 'short username');
      if (await fieldError('register', 'email').isVisible()) fail('a good email shows an error');

      await submit(`ok_${Date.now()}`, 'ada@', good, 400);
      await seeText(fieldError('register', 'email'), 'Enter an email address like name@example.com.', 'bad email');

      await submit(adminUser, `taken-${Date.now()}@example.com`, good, 409);
      await seeText(fieldError('register', 'username'), 'That username is taken. Choose another one.', 'taken username');
      if ((await page.getByLabel('Username').getAttribute('aria-invalid')) !== 'true') fail('a taken username is not marked');
      if (!(await page.getByLabel('Username').evaluate((el) => el === document.activeElement))) {
        fail('focus is not on the taken username');
      }
      // The API's words and the request id stay for support, folded away.
      const details = page.locator('#register .form-error details');
      if (await details.getAttribute('open') !== null) fail('the details are open by default');
      if (await page.locator('#register .form-error').getByText(/Reference:/).count()) fail('a "Reference:" line is shown');
      await details.locator('summary').click();
      await seeText(details, /HTTP status 409 .*Request id: \S{8,}/, 'the details for support');
      await bothSizes('register-taken');

      // Capitals are kept as small letters, and the confirmation says so.
      const mixed = `Up_${Date.now().toString(36)}`;
      await submit(mixed, `${mixed.toLowerCase()}@example.com`, good, 201);
      // A registration signs the new user in (conflicts and registration).
      await atRoute('#/profile');
      await seeText(page.locator('#flash'), `Your username is “${mixed.toLowerCase()}”: usernames are kept in small letters.`,
        'the lower-casing is said');
    } finally {
      await guest.context.close();
      page = signedInPage;
    }
  });

  await step("a proxy's 502 HTML page and a lost network show plain words and a Retry, never the page", async () => {
    let tries = 0;
    const patch = (r) => r.request().method() === 'PATCH';
    await page.route('**/profile', async (route) => {
      if (!patch(route)) return route.fallback();
      tries += 1;
      return route.fulfill({ status: 502, contentType: 'text/html',
        body: '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>' });
    });
    try {
      await page.getByRole('link', { name: 'Edit profile' }).first().click();
      await atRoute('#/profile/edit');
      await page.getByLabel('Bio').fill('This never reaches the server.');
      await page.getByRole('button', { name: 'Save changes' }).click();
      const box = page.locator('#profile-edit .form-error');
      const text = await seeText(box, NOT_ANSWERING, 'the 502 in plain words');
      if (/Bad Gateway|nginx|<|>/.test(text)) fail(`the proxy's page shows through: ${text}`);
      await bothSizes('proxy-502');
      await box.getByRole('button', { name: 'Retry' }).click();
      await until('Retry sends the form again', async () => ({ ok: tries === 2, seen: tries }));
      await seeText(box, NOT_ANSWERING, 'the 502 again');
      await page.unroute('**/profile');
      await page.route('**/profile', (route) => (patch(route) ? route.abort('internetdisconnected') : route.fallback()));
      await page.getByRole('button', { name: 'Save changes' }).click();
      await seeText(box, 'Could not reach the server. Check your connection and try again.', 'no network');
      if (!(await box.getByRole('button', { name: 'Retry' }).isVisible())) fail('no Retry for a lost network');
      await bothSizes('network-error');
    } finally {
      await page.unroute('**/profile');
    }
    await page.getByRole('link', { name: 'Cancel' }).click();
    await atRoute('#/profile');
    forgive(/status of 502|ERR_INTERNET_DISCONNECTED/);
  });

  await step('a slow GET /profile at start (10 s) shows a neutral skeleton, never the guest menu', async () => {
    const DELAY_MS = 10_000;
    let held = 0;
    await page.route('**/profile', async (route) => {
      if (route.request().method() !== 'GET') return route.fallback();
      held += 1;
      await sleep(DELAY_MS);
      return route.fallback();
    });
    const t0 = Date.now();
    try {
      await page.reload();
      await until('GET /profile is held', async () => ({ ok: held > 0, seen: held }));
      await until('a skeleton while /profile is slow',
        async () => ({ ok: await page.locator('#starting .skeleton-line').first().isVisible(), seen: await page.locator('#view').innerHTML() }),
        3000);
      if ((await page.locator('#starting [role=status]').textContent()) !== 'Loading…') fail('the skeleton says nothing to a screen reader');
      await sleep(300);
      for (const name of ['Log in', 'Register']) {
        if (await nav.getByRole('link', { name }).isVisible()) fail(`the guest menu (${name}) shows while /profile is slow`);
      }
      if (await page.locator('#login').count()) fail('the login form shows while /profile is slow');
      await bothSizes('slow-start');
      await until('the profile once /profile answers', async () => {
        const text = (await heading.isVisible()) ? await heading.innerText() : '(not visible)';
        return { ok: text === 'Your profile', seen: text };
      }, DELAY_MS + TIMEOUT);
    } finally {
      await page.unroute('**/profile');
    }
    if (Date.now() - t0 < DELAY_MS) fail(`the profile showed after ${Date.now() - t0} ms, before /profile answered`);
    await seeText(nav, 'Signed in as Ada E2E Lovelace', 'the user menu');
  });

  await step('a 503 at start shows "unavailable" with a Retry and retries by itself, not the login form', async () => {
    let tries = 0;
    await page.route('**/profile', (route) => {
      if (route.request().method() !== 'GET') return route.fallback();
      tries += 1;
      return route.fulfill({ status: 503, contentType: 'application/problem+json',
        body: JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503,
          detail: 'no connection', request_id: 'e2e-simulated-503' }) });
    });
    try {
      await page.reload();
      await seeText(heading, 'The service is unavailable', 'the unavailable state');
      await seeText(page.locator('#unavailable-countdown'), /Trying again by itself in \d+ s\./, 'the countdown');
      if (await page.locator('#login').count()) fail('a 503 at start shows the login form');
      if (await nav.getByRole('link', { name: 'Log in' }).isVisible()) fail('a 503 at start shows the guest menu');
      if (!(await page.locator('#unavailable-retry').evaluate((el) => el === document.activeElement))) {
        fail('focus is not on Retry');
      }
      await bothSizes('start-503');
      await until('it retries by itself', async () => ({ ok: tries >= 2, seen: tries }), 6000);
      await seeText(heading, 'The service is unavailable', 'still unavailable after the retry');
    } finally {
      await page.unroute('**/profile');
    }
    await page.getByRole('button', { name: 'Retry' }).click();
    await seeText(heading, 'Your profile', 'the profile once the service is back');
    forgive(/status of 503/);
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
    // The other tab's locale is taken in, this tab's bio is kept.
    await seeText(page.locator('#profile-conflict'), 'saved somewhere else', 'stale version reported');
    await seeText(page.locator('#conflict-taken'), 'Locale', 'the locale is taken from the other tab');
    if ((await page.getByLabel('Bio').inputValue()) !== 'A bio that loses the race.') fail('the typed bio was lost');
    await screenshot('edit-stale-version');
    // "Reload profile" still drops this tab's edits, for who wants that.
    await page.getByRole('button', { name: 'Reload profile' }).click();
    await until('the form shows the saved bio again', async () => {
      const v = await page.getByLabel('Bio').inputValue();
      return { ok: v === 'Writes the first program.\nLikes engines.', seen: v };
    });
    const locale = await page.getByLabel('Locale').inputValue();
    if (locale !== 'en-GB') fail(`locale after reload: ${JSON.stringify(locale)}`);
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
      await seeText(page.locator('#session-count'), 'You have 2 active sessions', 'sessions counted as sessions');
      await screenshot('sessions');
      await second.getByRole('button', { name: /End session/ }).click();
      await seeText(flash, 'Session ended.', 'session end confirmed');
      await until('one session left', async () => ({ ok: (await items.count()) === 1, seen: await items.count() }));
      await seeText(page.locator('#session-count'), 'You have 1 active session', 'count updated');
      // The ended session can no longer be renewed from its cookie.
      const r = await other.post('/refresh', { data: {} });
      if (r.status() !== 401) fail(`the ended session's POST /refresh answered ${r.status()}`);
      await screenshot('sessions-ended-other');
    });
  } finally {
    await other.dispose();
  }

  // ---- conflicts and registration: registering signs the new user in (an
  // address that has an account still lands on the login page); a 412 keeps
  // both tabs' edits and is resolved field by field; avatar initials are
  // letters; the counter counts what the API counts. A user and two
  // browsers of its own, so the steps above and below see nothing of it.
  {
    const mainPage = page;
    const crUser = `cr_${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
    const crEmail = `${crUser}@example.com`;
    const crPassword = 'conflicts and registration';
    const tabA = await openPage();
    const tabB = await openPage();
    const both = async (name) => {
      await screenshot(`${name}-desktop`);
      await page.setViewportSize(PHONE);
      await screenshot(`${name}-phone`);
      await page.setViewportSize(DESKTOP);
    };
    const register = async (name, address) => {
      await page.goto(`${base}/#/register`);
      await atRoute('#/register');
      await page.getByLabel('Username').fill(name);
      await page.getByLabel('Email').fill(address);
      await page.getByLabel('Password').fill(crPassword);
      const answer = page.waitForResponse((r) => r.url().endsWith('/register'));
      await page.getByRole('button', { name: 'Create account' }).click();
      if ((await answer).status() !== 201) fail(`registering ${name} did not answer 201`);
    };
    const save = async () => {
      const answer = page.waitForResponse((r) => r.url().endsWith('/profile') && r.request().method() === 'PATCH');
      await page.getByRole('button', { name: 'Save changes' }).click();
      return answer;
    };
    // The avatar URL below is answered here, not on the internet.
    for (const t of [tabA, tabB]) {
      await t.context.route('https://example.com/**', (r) => r.fulfill({ status: 200, contentType: 'image/svg+xml',
        body: '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8" fill="#2f5bd3"/></svg>' }));
    }
    try {
      page = tabA.page;
      await step('registering signs the new user in; the profile asks to verify the address', async () => {
        await register(crUser, crEmail);
        await atRoute('#/profile');
        await seeText(page.locator('#flash'), `Welcome, ${crUser}`, 'welcome flash');
        await seeText(page.locator('#flash'), `We sent a link to ${crEmail}`, 'the flash asks to verify');
        await seeText(page.locator('#email-unverified'), 'not verified', 'unverified notice');
        await seeText(page.getByRole('navigation', { name: 'Main' }), `Signed in as ${crUser}`, 'signed in');
        const details = await page.locator('.details').innerText();
        if (/Version/.test(details)) fail('the profile shows the version to its user');
        await both('cr-registered');
      });

      page = tabB.page;
      await step('registering with an address that has an account lands on the login page, as before', async () => {
        const other = `${crUser}_b`;
        await register(other, crEmail);
        await atRoute('#/login');
        await seeText(page.locator('#flash'), `Almost done, ${other}: check your mail at ${crEmail}`, 'neutral message');
        if ((await page.getByLabel('Username').inputValue()) !== other) fail('the login form is not prefilled');
        if (await page.getByRole('button', { name: 'Log out' }).isVisible()) fail('signed in without an account');
        await both('cr-registered-address-taken');
        // The second browser of the same user, for the conflict below.
        await page.getByLabel('Username').fill(crUser);
        await page.getByLabel('Password').fill(crPassword);
        await page.getByRole('button', { name: 'Log in' }).click();
        await atRoute('#/profile');
      });

      page = tabA.page;
      await step('the counter counts code points of what is sent, as the server does', async () => {
        await page.goto(`${base}/#/profile/edit`);
        await atRoute('#/profile/edit');
        const counter = page.locator('#profile-edit .field', { has: page.locator('#profile-edit-display_name') })
          .locator('.counter');
        // 64 emoji are 128 UTF-16 units but 64 characters; the outer spaces are trimmed.
        await page.locator('#profile-edit-display_name').fill(`  ${'😀'.repeat(64)}  `);
        await seeText(counter, '64/64', 'counter at the limit');
        await page.locator('#profile-edit-display_name').fill('😀'.repeat(65));
        await seeText(counter, '65/64', 'counter past the limit');
        if (!(await counter.evaluate((el) => el.classList.contains('counter-over')))) fail('65/64 is not marked');
        await both('cr-counter-over');
        if ((await save()).status() !== 400) fail('65 characters were taken');
        await page.locator('#profile-edit-display_name').fill(`  ${'😀'.repeat(64)}  `);
        const res = await save();
        if (res.status() !== 200) fail(`64 characters answered ${res.status()}`);
        const sent = JSON.parse(res.request().postData() || '{}').display_name;
        if (Array.from(sent).length !== 64) fail(`sent ${Array.from(sent).length} characters`);
        await atRoute('#/profile');
      });

      await step('avatar initials are letters: an emoji-prefixed name, an emoji-only one', async () => {
        const initials = page.locator('.profile-head .avatar-initials');
        await seeText(initials, crUser[0].toUpperCase(), 'emoji-only name: the username\'s letter');
        await page.goto(`${base}/#/profile/edit`);
        await page.locator('#profile-edit-display_name').fill('🚀 ada 9 lovelace');
        if ((await save()).status() !== 200) fail('saving the name failed');
        await atRoute('#/profile');
        await seeText(initials, 'AL', 'initials of an emoji-prefixed name');
        await both('cr-initials');
      });

      await step('a 412 keeps both tabs\' edits; the user resolves it field by field', async () => {
        for (const t of [tabA, tabB]) {
          page = t.page;
          await page.goto(`${base}/#/profile/edit`);
          await atRoute('#/profile/edit');
          await until('the form shows the saved name', async () => {
            const v = await page.locator('#profile-edit-display_name').inputValue();
            return { ok: v === '🚀 ada 9 lovelace', seen: v };
          });
        }
        page = tabB.page; // saves first
        await page.locator('#profile-edit-display_name').fill('Ada from B');
        await page.locator('#profile-edit-bio').fill('Bio written in B.');
        await page.locator('#profile-edit-locale').fill('de');
        if ((await save()).status() !== 200) fail('tab B could not save');
        await atRoute('#/profile');

        page = tabA.page; // same fields, one more, and one left alone
        await page.locator('#profile-edit-display_name').fill('Ada from A');
        await page.locator('#profile-edit-bio').fill('Bio written in A,\nover two lines.');
        await page.locator('#profile-edit-avatar_url').fill('https://example.com/a.png');
        const stale = await save();
        if (stale.status() !== 412) fail(`the stale save answered ${stale.status()}`);
        const box = page.locator('#profile-conflict');
        await seeText(box, 'saved somewhere else', 'conflict reported');
        await seeText(box.locator('#conflict-display_name'), 'Ada from A', 'mine shown');
        await seeText(box.locator('#conflict-display_name'), 'Ada from B', 'theirs shown beside it');
        await seeText(box.locator('#conflict-bio'), 'Bio written in B.', 'their bio shown');
        await seeText(box.locator('#conflict-taken'), 'Locale', 'the untouched locale is taken from B');
        if (await box.locator('#conflict-avatar_url').count()) fail('a field only A changed is asked about');
        if (!(await page.locator('#conflict-bio-mine').isChecked())) fail('"Mine" is not the default');
        const focused = await page.evaluate(() => document.activeElement && document.activeElement.closest('#profile-conflict') !== null);
        if (!focused) fail('focus did not move to the conflict');
        await both('cr-conflict');
        // Their name, my bio (the default), their locale, my avatar.
        await page.locator('label[for="conflict-display_name-theirs"]').click();
        const name = await page.locator('#profile-edit-display_name').inputValue();
        if (name !== 'Ada from B') fail(`"Theirs" put ${JSON.stringify(name)} in the form`);
        if ((await page.locator('#profile-edit-locale').inputValue()) !== 'de') fail('the form lost B\'s locale');
        const res = await save();
        if (res.status() !== 200) fail(`the resolved save answered ${res.status()}`);
        const ifMatch = res.request().headers()['if-match'];
        if (ifMatch === stale.request().headers()['if-match']) fail('the resolved save sent the stale ETag');
        await atRoute('#/profile');
        const saved = await page.evaluate(() => fetch('/profile', { credentials: 'same-origin' }).then((r) => r.json()));
        const p = saved.profile || {};
        const want = { display_name: 'Ada from B', bio: 'Bio written in A,\nover two lines.', locale: 'de',
          avatar_url: 'https://example.com/a.png' };
        for (const [k, v] of Object.entries(want)) {
          if (p[k] !== v) fail(`saved ${k} is ${JSON.stringify(p[k])}, not ${JSON.stringify(v)}`);
        }
        await seeText(page.locator('#profile-display-name'), 'Ada from B', 'the merged profile');
      });
    } finally {
      page = mainPage;
      await tabA.context.close();
      await tabB.context.close();
    }
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
    await seeText(page.locator('#change-password-new_password_confirm-error'),
      'The two passwords are not the same. Type the new password again.', 'a mismatch');
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
    await seeText(page.locator('#login-mfa-code-error'), 'That code is not right. Enter the newest code from your app.',
      'the error at the field');
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
    await seeText(page.locator('#mfa-disable-recovery_code-error'), 'That recovery code is not right or was used already.',
      'an old code refused');
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

  await accessibility();

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

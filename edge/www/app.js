/* microcore web frontend: one page, hash routes, the JSON API of the edge.
 *
 * The browser session lives in HttpOnly cookies set by the edge: this script
 * never sees a token and stores none. Every call is same-origin with a JSON
 * body; a 401 triggers one POST /refresh (shared by concurrent callers) and
 * one retry of the call. */
'use strict';

(() => {
  const APP_NAME = 'microcore';

  /* ---------------------------------------------------------------- DOM */

  const $ = (sel, root = document) => root.querySelector(sel);

  /* h('tag', {attr: value, class: 'x', text: 'y', onclick: fn}, ...children) */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const dom = {
    view: () => $('#view'),
    flash: () => $('#flash'),
  };

  /* -------------------------------------------------------------- state */

  const state = {
    profile: null,     /* the signed-in user's profile, null when signed out */
    etag: null,        /* ETag of the last profile read or write */
    pendingFlash: null, /* {kind, text} shown by the next view */
    verifyToken: null, /* the verification link's token, once off the URL */
    confirmEmailToken: null, /* the email change link's token, likewise */
    afterLogin: null,  /* route to return to once logged in */
    renderSeq: 0,      /* bumps on each navigation; stale async renders stop */
    loginUsername: '', /* prefills the login form after registering */
    isAdmin: false,    /* GET /profile's role, or the last admin call's answer */
  };

  const signedIn = () => state.profile !== null;

  /* ---------------------------------------------------------------- API */

  class ApiError extends Error {
    constructor(status, problem, headers) {
      const p = problem && typeof problem === 'object' ? problem : {};
      super(p.detail || p.title || (status ? `Request failed (HTTP ${status})` : 'Request failed'));
      this.name = 'ApiError';
      this.status = status;
      this.problem = p;
      this.requestId = p.request_id || (headers && headers.get('X-Request-Id')) || '';
      this.fieldErrors = Array.isArray(p.errors) ? p.errors.filter((e) => e && e.field) : [];
      /* No answer, an unreadable one or a server failure: the user can
       * only try again; what the server said stays under "Details". */
      this.unavailable = status === 0 || status >= 500 || p.unreadable === true;
      this.apiDetail = p.unreadable ? '' : p.detail || p.title || '';
      const ra = Number(p.retry_after || (headers && headers.get('Retry-After')) || 0);
      this.retryAfter = Number.isFinite(ra) && ra > 0 ? ra : 0;
      if (this.unavailable && status !== 0) {
        this.message = p.unreadable ? NOT_ANSWERING
          : `The service is not available right now. Try again ${this.retryAfter ? `in ${this.retryAfter} s` : 'in a moment'}.`;
      }
    }
  }

  const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
  /* A 401 from these means a wrong password or token, not an expired
   * session: no refresh, and the session is not ended for it. (The
   * account deletion page reads the profile first, which refreshes a
   * session whose access token has expired.) */
  const NO_REFRESH = new Set(['/login', '/register', '/refresh', '/account/delete', '/email/verify']);
  /* The email change: a 401 is a wrong password (its page reads the
   * profile first, as the deletion page does); the link's token is no
   * session. */
  NO_REFRESH.add('/email');
  NO_REFRESH.add('/email/confirm');
  /* The password pages: a 401 of POST /password is a wrong current
   * password (the page reads the profile first, as the deletion page). */
  for (const p of ['/password', '/password/forgot', '/password/reset']) NO_REFRESH.add(p);

  const NOT_ANSWERING = 'The server is not answering properly. Try again in a moment.';

  async function readBody(res) {
    const type = res.headers.get('Content-Type') || '';
    const text = await res.text().catch(() => '');
    if (!text) return {};
    if (type.includes('json')) {
      try {
        return JSON.parse(text);
      } catch (_) {
        return { detail: NOT_ANSWERING, unreadable: true };
      }
    }
    /* A proxy's HTML error page or the like: its text is never shown. */
    return { detail: NOT_ANSWERING, unreadable: true };
  }

  function send(method, path, body, headers) {
    const init = {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      /* Token-Delivery: cookie — /login and /refresh answer their tokens
       * in HttpOnly cookies only, never in a body this script could read. */
      headers: Object.assign(
        { 'Content-Type': 'application/json', Accept: 'application/json', 'Token-Delivery': 'cookie' },
        headers || {},
      ),
    };
    if (UNSAFE.has(method)) init.body = JSON.stringify(body === undefined ? {} : body);
    return fetch(path, init);
  }

  /* One refresh at a time: every caller that saw a 401 meanwhile waits for
   * the same answer. Resolves to true when new cookies were set. */
  let refreshInFlight = null;
  function refreshSession() {
    if (!refreshInFlight) {
      refreshInFlight = send('POST', '/refresh', {})
        .then(async (res) => {
          await res.text().catch(() => '');
          return res.ok;
        })
        .catch(() => false)
        .finally(() => {
          refreshInFlight = null;
        });
    }
    return refreshInFlight;
  }

  /* api(method, path, {body, headers}) → {status, data, headers}; throws
   * ApiError (status 0 for a network failure). */
  async function api(method, path, opts = {}) {
    let res;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await send(method, path, opts.body, opts.headers);
      } catch (_) {
        throw new ApiError(0, {
          title: 'Network error',
          detail: 'Could not reach the server. Check your connection and try again.',
        });
      }
      if (res.status !== 401 || attempt > 0 || NO_REFRESH.has(path)) break;
      await res.text().catch(() => '');
      if (!(await refreshSession())) {
        sessionEnded();
        throw new ApiError(401, { title: 'Unauthorized', detail: 'Your session has ended. Please log in again.' });
      }
    }
    const data = await readBody(res);
    if (!res.ok) {
      if (res.status === 401 && !NO_REFRESH.has(path)) sessionEnded();
      throw new ApiError(res.status, data, res.headers);
    }
    return { status: res.status, data, headers: res.headers };
  }

  /* ---------------------------------------------------------- formatting */

  function problemText(err) {
    let text = err && err.message ? err.message : 'Something went wrong.';
    if (err && err.retryAfter && !/\d+\s*s/.test(text)) {
      text += ` Try again in ${err.retryAfter} s.`;
    }
    return text;
  }

  /* ------------------------------------------------------ user's words */

  /* The words a person reads for a field's problem: one table keyed by the
   * field and the rule the API's message names (or the form's own check
   * found). The API's messages ("must be 3 to 32 characters") stay behind
   * "Details". {min}, {max} and {n} (characters typed) fill in. */
  const FIELD_WORDS = {
    username: { what: 'your username', required: 'Enter a username.',
      short: 'Your username is too short: it needs {min} to {max} characters.',
      long: 'Your username is too long: it can have at most {max} characters.',
      invalid: 'Your username can only use letters, digits, “_”, “.” and “-” (no spaces).',
      taken: 'That username is taken. Choose another one.' },
    email: { what: 'your email address', required: 'Enter your email address.',
      invalid: 'Enter an email address like name@example.com.' },
    new_email: { what: 'the new email address', required: 'Enter the new email address.',
      invalid: 'Enter an email address like name@example.com.',
      same: 'That is already your email address.' },
    password: { what: 'your password', required: 'Enter a password.',
      short: 'Your password is too short: it needs at least {min} characters.',
      long: 'Your password is too long: it can have at most {max} characters.',
      common: 'That password is too common. Choose one that is harder to guess.',
      username: 'Your password must not be your username.' },
    new_password: { what: 'the new password', required: 'Enter a new password.',
      short: 'The new password is too short: it needs at least {min} characters.',
      long: 'The new password is too long: it can have at most {max} characters.',
      common: 'That password is too common. Choose one that is harder to guess.',
      username: 'The new password must not be your username.',
      same: 'The new password must differ from the current one.' },
    new_password_confirm: { what: 'the new password again', required: 'Type the new password again.',
      mismatch: 'The two passwords are not the same. Type the new password again.' },
    current_password: { what: 'your password', required: 'Enter your password.',
      wrong: 'That password is not right. Try again.' },
    display_name: { what: 'your display name',
      long: 'Your display name is too long: it can have at most {max} characters.' },
    bio: { what: 'your bio', long: 'Your bio is too long: it can have at most {max} characters.' },
    avatar_url: { what: 'the avatar URL',
      invalid: 'The avatar URL must be a secure web address starting with https://, like https://example.com/me.png.',
      long: 'The avatar URL is too long: it can have at most {max} characters.' },
    locale: { what: 'the locale',
      invalid: 'Enter a language code like en, de or pt-BR.',
      long: 'The locale is too long: it can have at most {max} characters.' },
    code: { what: 'the code', required: 'Enter the 6-digit code from your authenticator app.',
      wrong: 'That code is not right. Enter the newest code from your app.',
      invalid: 'Enter the 6-digit code from your authenticator app.' },
    recovery_code: { what: 'the recovery code', required: 'Enter one of your recovery codes.',
      wrong: 'That recovery code is not right or was used already.',
      invalid: 'Enter one of your recovery codes as it was shown.' },
  };
  /* Any field the table does not name: the same rules in general words. */
  const RULE_WORDS = {
    required: 'Fill in {what}.',
    short: 'That is too short: {what} needs at least {min} characters.',
    long: 'That is too long: {what} can have at most {max} characters.',
    invalid: 'Check {what}: it is not in the expected form.',
    taken: 'That is taken. Choose another one.',
    wrong: 'That is not right. Try again.',
    mismatch: 'The two entries are not the same.',
    same: 'That is the same as before. Enter a different one.',
    common: 'That is too common. Choose something harder to guess.',
    username: 'That must not be your username.',
  };

  /* The rule an API (or form) message names, with its numbers. */
  function ruleOf(message, value) {
    const m = String(message || '');
    const n = Array.from(String(value || '')).length;
    let r = /^must be (\d+) to (\d+) characters$/.exec(m);
    let min = 0;
    let max = 0;
    if (r) [min, max] = [Number(r[1]), Number(r[2])];
    else if ((r = /^must be at least (\d+) characters$/.exec(m))) min = Number(r[1]);
    else if ((r = /^must be at most (\d+) characters$/.exec(m))) max = Number(r[1]);
    let rule = 'invalid';
    if (/^is required$/.test(m) || (value !== undefined && String(value).trim() === '')) rule = 'required';
    else if (r) rule = max && n > max ? 'long' : 'short';
    else if (/taken|already (in use|registered)/.test(m)) rule = 'taken';
    else if (/^is (wrong|not right)|incorrect/.test(m)) rule = 'wrong';
    else if (/does not match/.test(m)) rule = 'mismatch';
    else if (/must differ|already the account's/.test(m)) rule = 'same';
    else if (/common password/.test(m)) rule = 'common';
    else if (/must not be the username/.test(m)) rule = 'username';
    return { rule, min, max, n };
  }

  /* fe: {field, message} of a problem; value: what the field holds. */
  function fieldWords(fe, value) {
    const { rule, min, max, n } = ruleOf(fe.message, value);
    const own = FIELD_WORDS[fe.field] || {};
    const what = own.what || String(fe.field || 'this field').replace(/_/g, ' ');
    let text = own[rule] || RULE_WORDS[rule];
    /* A length rule the field has no words for, or one without its
     * bound: said generally, still without the API's phrasing. */
    if ((rule === 'short' && !min) || (rule === 'long' && !max)) text = RULE_WORDS.invalid;
    text = text.replace(/\{(\w+)\}/g, (_, k) => String({ what, min, max, n }[k]));
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  /* "Details" for support: the status, the API's own words and the request
   * id, folded away; null when there is nothing beyond the message. */
  function problemDetails(err) {
    if (!err || !(err.requestId || err.status)) return null;
    const lines = [];
    if (err.status) lines.push(h('p', { text: `HTTP status ${err.status}` }));
    if (err.apiDetail && err.apiDetail !== err.message) lines.push(h('p', { text: err.apiDetail }));
    for (const fe of err.fieldErrors || []) lines.push(h('p', { text: `${fe.field}: ${fe.message}` }));
    if (err.requestId) {
      lines.push(h('p', null, 'Request id: ', h('code', { class: 'request-id', text: err.requestId })));
    }
    if (!lines.length) return null;
    return h('details', { class: 'problem-details' }, h('summary', { text: 'Details' }), lines);
  }

  const dateFmt = (() => {
    try {
      return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    } catch (_) {
      return null;
    }
  })();

  function fmtDate(value) {
    if (!value) return '—';
    const d = new Date(value);
    if (Number.isNaN(d.getTime())) return String(value);
    return dateFmt ? dateFmt.format(d) : d.toLocaleString();
  }

  function timeEl(value) {
    if (!value) return h('span', { text: '—' });
    return h('time', { datetime: value, title: String(value) }, fmtDate(value));
  }

  function isHttpsUrl(url) {
    if (typeof url !== 'string' || !url.startsWith('https://')) return false;
    try {
      return new URL(url).protocol === 'https:';
    } catch (_) {
      return false;
    }
  }

  /* Letters only: the first letter of the first and last word of the
   * display name (an emoji or a digit is no initial), else the username's
   * first letter. */
  function initials(profile) {
    const firstLetter = (word) => (word.match(/\p{L}/u) || [''])[0];
    const words = String(profile.display_name || '').split(/\s+/).map(firstLetter).filter(Boolean);
    const chars = words.length > 1 ? [words[0], words[words.length - 1]] : words;
    const fromName = chars.join('');
    return (fromName || firstLetter(String(profile.username || ''))).toUpperCase() || '?';
  }

  function avatar(profile, size) {
    const cls = `avatar avatar-${size}`;
    const fallback = h('span', { class: `${cls} avatar-initials`, 'aria-hidden': 'true' }, initials(profile));
    if (!isHttpsUrl(profile.avatar_url)) return fallback;
    const img = h('img', {
      class: cls,
      src: profile.avatar_url,
      alt: `Avatar of ${profile.display_name || profile.username}`,
      referrerpolicy: 'no-referrer',
      loading: 'lazy',
      decoding: 'async',
    });
    img.addEventListener('error', () => img.replaceWith(fallback), { once: true });
    return img;
  }

  function describeAgent(ua) {
    if (!ua) return 'Unknown device';
    const browsers = [
      [/Edg\//, 'Edge'], [/OPR\//, 'Opera'], [/Firefox\//, 'Firefox'],
      [/HeadlessChrome\//, 'Headless Chrome'], [/Chromium\//, 'Chromium'],
      [/Chrome\//, 'Chrome'], [/Version\/[\d.]+.*Safari\//, 'Safari'],
      [/^curl\//, 'curl'], [/^node|undici/i, 'Node.js'],
    ];
    const systems = [
      [/Android/, 'Android'], [/iPhone|iPad|iPod/, 'iOS'], [/CrOS/, 'ChromeOS'],
      [/Windows/, 'Windows'], [/Mac OS X|Macintosh/, 'macOS'], [/Linux/, 'Linux'],
    ];
    const b = browsers.find(([re]) => re.test(ua));
    const s = systems.find(([re]) => re.test(ua));
    if (b && s) return `${b[1]} on ${s[1]}`;
    if (b) return b[1];
    if (s) return s[1];
    return ua.length > 40 ? `${ua.slice(0, 40)}…` : ua;
  }

  /* ------------------------------------------------------------- chrome */

  function updateNav() {
    const inside = signedIn();
    $('#nav-guest').hidden = inside;
    $('#nav-user').hidden = !inside;
    $('#nav-account').hidden = !inside;
    $('#nav-admin').hidden = !(inside && state.isAdmin);
    const name = inside ? state.profile.display_name || state.profile.username || '' : '';
    $('#nav-username').textContent = name;
    $('.nav-who').title = name ? `Signed in as ${name}` : '';
    const current = currentPath();
    for (const a of document.querySelectorAll('.nav [data-route], .nav [data-route-prefix]')) {
      const prefix = a.getAttribute('data-route-prefix');
      const on = prefix ? current.startsWith(prefix) : a.getAttribute('data-route') === current;
      if (on) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  /* Where the focus goes when the element that had it disappears: the
   * view's heading (focusable with tabindex -1), so it never falls to <body>. */
  function focusHeading() {
    const heading = $('#view h1');
    if (heading) heading.focus({ preventScroll: true });
    else $('#main').focus({ preventScroll: true });
  }

  function flashLater(kind, text) {
    state.pendingFlash = { kind, text };
  }

  function showFlash(kind, text) {
    const area = dom.flash();
    area.replaceChildren();
    if (!text) return;
    const close = h('button', { type: 'button', class: 'flash-close', 'aria-label': 'Dismiss message' }, '×');
    const box = h('div', { class: `alert alert-${kind} flash` }, h('p', { text }), close);
    close.addEventListener('click', () => {
      box.remove();
      focusHeading();
    });
    area.append(box);
  }

  function setProfile(profile, etag) {
    state.profile = profile || null;
    if (etag !== undefined) state.etag = etag;
    if (!profile) {
      state.etag = null;
      state.isAdmin = false;
    }
    updateNav();
  }

  /* A 401 that a refresh could not cure: the session is gone. */
  function sessionEnded() {
    if (!signedIn()) return;
    setProfile(null);
    flashLater('info', 'Your session has ended. Please log in again.');
  }

  async function loadProfile() {
    const { data, headers } = await api('GET', '/profile');
    /* The role as the token states it: it only decides what the nav
     * offers; the admin pages are checked by the server on every call. */
    state.isAdmin = data.role === 'admin';
    state.emailVerified = data.email_verified === true;
    setProfile(data.profile || {}, headers.get('ETag'));
    return state.profile;
  }

  /* ------------------------------------------------------------- forms */

  /* Characters as the API counts them (proto/rules.c): code points. */
  const codePoints = (text) => Array.from(text).length;

  /* fields: [{name, label, type, autocomplete, hint, value, required,
   * maxlength, multiline, inputmode, placeholder, spellcheck, counter,
   * count}]: count(value) is what the counter shows, code points of the
   * value by default. */
  function buildForm({ id, fields, submit, secondary, onSubmit }) {
    const formError = h('div', { class: 'alert alert-error form-error', role: 'alert', hidden: true });
    const inputs = {};
    const rows = fields.map((f) => {
      const fid = `${id}-${f.name}`;
      const hintId = `${fid}-hint`;
      const errId = `${fid}-error`;
      const attrs = {
        id: fid,
        name: f.name,
        class: 'input',
        autocomplete: f.autocomplete || 'off',
        required: f.required || false,
        /* A counted field has no maxlength: the browser's counts UTF-16
         * code units, so it would stop an emoji-rich text the server takes. */
        maxlength: (!f.counter && f.maxlength) || null,
        inputmode: f.inputmode || null,
        placeholder: f.placeholder || null,
        spellcheck: f.spellcheck === undefined ? null : String(f.spellcheck),
        autocapitalize: f.autocapitalize || null,
        'aria-describedby': [f.hint ? hintId : '', errId].filter(Boolean).join(' '),
      };
      let input;
      if (f.multiline) {
        input = h('textarea', Object.assign(attrs, { rows: f.rows || 4 }));
        input.value = f.value || '';
      } else {
        input = h('input', Object.assign(attrs, { type: f.type || 'text' }));
        input.value = f.value || '';
      }
      inputs[f.name] = input;
      const counter = f.counter
        ? h('span', { class: 'counter', 'aria-hidden': 'true' })
        : null;
      if (counter) {
        const update = () => {
          const n = (f.count || codePoints)(input.value);
          counter.textContent = `${n}/${f.maxlength}`;
          counter.classList.toggle('counter-over', n > f.maxlength);
        };
        input.addEventListener('input', update);
        update();
      }
      const err = h('p', { class: 'field-error', id: errId, hidden: true });
      input.addEventListener('input', () => {
        if (!err.hidden) {
          err.hidden = true;
          err.textContent = '';
          input.removeAttribute('aria-invalid');
        }
      });
      return h('div', { class: 'field' },
        h('div', { class: 'field-label' },
          h('label', { for: fid }, f.label, f.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
          counter),
        input,
        f.hint ? h('p', { class: 'hint', id: hintId, text: f.hint }) : null,
        err);
    });
    const submitBtn = h('button', { type: 'submit', class: 'button button-primary' }, submit);
    const form = h('form', { id, class: 'form', novalidate: true },
      formError,
      rows,
      h('div', { class: 'actions' }, submitBtn, secondary || null));

    const ctl = {
      form,
      inputs,
      values() {
        const out = {};
        for (const [k, el] of Object.entries(inputs)) out[k] = el.value;
        return out;
      },
      clearErrors() {
        formError.hidden = true;
        formError.replaceChildren();
        for (const el of Object.values(inputs)) {
          el.removeAttribute('aria-invalid');
          const e = $(`#${el.id}-error`, form);
          e.hidden = true;
          e.textContent = '';
        }
      },
      /* Shows an ApiError (or any Error): each field's problem in the
       * user's words under its input and again in the summary on top; a
       * problem of no field as the summary; what the API said behind
       * "Details"; a Retry when the server could not answer. Focus goes
       * to the first bad input. */
      showError(err) {
        ctl.clearErrors();
        let first = null;
        const said = [];
        for (const fe of (err && err.fieldErrors) || []) {
          const el = inputs[fe.field];
          const words = fieldWords(fe, el ? el.value : undefined);
          if (!said.includes(words)) said.push(words);
          if (!el) continue;
          const e = $(`#${el.id}-error`, form);
          if (!e.textContent.includes(words)) e.textContent = e.textContent ? `${e.textContent} ${words}` : words;
          e.hidden = false;
          el.setAttribute('aria-invalid', 'true');
          if (!first) first = el;
        }
        const parts = [];
        if (said.length) {
          parts.push(h('p', { class: 'alert-title',
            text: said.length === 1 ? 'Please fix this:' : `Please fix these ${said.length} things:` }));
          parts.push(h('ul', { class: 'error-list' }, said.map((w) => h('li', { text: w }))));
        } else {
          parts.push(h('p', { class: 'alert-title', text: problemText(err) }));
        }
        if (err && err.unavailable) {
          const retry = h('button', { type: 'button', class: 'button', 'data-retry': '' }, 'Retry');
          retry.addEventListener('click', () => form.requestSubmit());
          parts.push(h('div', { class: 'actions' }, retry));
        }
        const details = problemDetails(err);
        if (details) parts.push(details);
        formError.replaceChildren(...parts);
        formError.hidden = false;
        (first || formError).focus({ preventScroll: false });
        if (!first) formError.scrollIntoView({ block: 'nearest' });
      },
      setBusy(busy, label) {
        form.setAttribute('aria-busy', busy ? 'true' : 'false');
        for (const b of form.querySelectorAll('button')) b.disabled = busy;
        for (const a of form.querySelectorAll('a.button')) {
          if (busy) a.setAttribute('aria-disabled', 'true');
          else a.removeAttribute('aria-disabled');
        }
        submitBtn.textContent = busy ? label || 'Working…' : submit;
      },
    };
    formError.tabIndex = -1;
    let inFlight = false;
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (inFlight) return;
      inFlight = true;
      ctl.clearErrors();
      showFlash(null);
      try {
        await onSubmit(ctl);
      } catch (err) {
        if (form.isConnected) ctl.showError(err);
      } finally {
        inFlight = false;
        if (form.isConnected && form.getAttribute('aria-busy') === 'true') ctl.setBusy(false);
      }
    });
    return ctl;
  }

  /* ------------------------------------------------------------- views */

  function page(title, ...content) {
    document.title = `${title} · ${APP_NAME}`;
    return h('section', { class: 'card' },
      h('h1', { class: 'card-title', tabindex: '-1', text: title }),
      content);
  }

  function loadingView(text) {
    return h('p', { class: 'loading', role: 'status', text: text || 'Loading…' });
  }

  function errorView(err, retry) {
    document.title = `Error · ${APP_NAME}`;
    const btn = h('button', { type: 'button', class: 'button' }, 'Retry');
    btn.addEventListener('click', retry);
    return h('section', { class: 'card' },
      h('h1', { class: 'card-title', tabindex: '-1', text: 'Something went wrong' }),
      h('div', { class: 'alert alert-error', role: 'alert' },
        h('p', { class: 'alert-title', text: problemText(err) }),
        problemDetails(err)),
      h('div', { class: 'actions' }, btn));
  }

  /* Logged in (cookies set): the profile, then where the user was going. */
  async function loginDone() {
    await loadProfile();
    state.loginUsername = '';
    const next = state.afterLogin || '/profile';
    state.afterLogin = null;
    go(next);
  }

  function viewLogin() {
    mfaLogin = null; /* a second step left half-way starts over */
    const ctl = buildForm({
      id: 'login',
      submit: 'Log in',
      fields: [
        { name: 'username', label: 'Username', autocomplete: 'username', required: true,
          value: state.loginUsername, autocapitalize: 'none', spellcheck: false },
        { name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', required: true },
      ],
      secondary: h('a', { href: '#/register', class: 'button button-quiet' }, 'Create an account'),
      async onSubmit(f) {
        const v = f.values();
        const missing = [];
        if (!v.username.trim()) missing.push({ field: 'username', message: 'is required' });
        if (!v.password) missing.push({ field: 'password', message: 'is required' });
        if (missing.length) {
          throw Object.assign(new Error('Enter your username and password.'), { fieldErrors: missing });
        }
        f.setBusy(true, 'Logging in…');
        /* The tokens in the answer are ignored: the edge sets cookies. */
        const { data } = await api('POST', '/login', { body: { username: v.username.trim(), password: v.password } });
        if (data && data.mfa_required === true) {
          /* The password was right; the second factor finishes the login. */
          showLoginMfa({ ticket: String(data.mfa_ticket || ''), username: v.username.trim(),
            expiresIn: Number(data.mfa_ticket_expires_in) || 0 }, 'code');
          return;
        }
        await loginDone();
      },
    });
    const view = page('Log in',
      h('p', { class: 'lead', text: 'Welcome back. Log in to see your profile.' }),
      ctl.form,
      h('p', { class: 'hint' },
        h('a', { href: '#/forgot-password', id: 'forgot-password-link' }, 'Forgot password?')));
    return { view, focus: ctl.inputs[state.loginUsername ? 'password' : 'username'] };
  }

  /* Usernames are kept in small letters: said when the typed one had
   * capitals, so the login does not surprise. */
  function lowercasedNote(typed, saved) {
    return typed !== saved && typed.toLowerCase() === saved
      ? ` Your username is “${saved}”: usernames are kept in small letters.` : '';
  }

  function viewRegister() {
    const ctl = buildForm({
      id: 'register',
      submit: 'Create account',
      fields: [
        { name: 'username', label: 'Username', autocomplete: 'username', required: true,
          hint: '3 to 32 characters: letters, digits, “_”, “.” and “-”. Capital letters are saved as small ones.',
          maxlength: 32,
          autocapitalize: 'none', spellcheck: false },
        { name: 'email', label: 'Email', type: 'email', autocomplete: 'email', required: true,
          inputmode: 'email', spellcheck: false },
        { name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password', required: true,
          hint: 'At least 8 characters; not your username or a common password.' },
      ],
      secondary: h('a', { href: '#/login', class: 'button button-quiet' }, 'I already have an account'),
      async onSubmit(f) {
        const v = f.values();
        f.setBusy(true, 'Creating account…');
        const email = v.email.trim();
        let data;
        try {
          ({ data } = await api('POST', '/register', {
            body: { username: v.username.trim(), email, password: v.password },
          }));
        } catch (err) {
          /* Only a username is ever "taken": an email address that has
           * an account is answered as a new one, and its mail says so. */
          if (err.status === 409) {
            throw Object.assign(new Error('That username is taken. Choose another one.'),
              { fieldErrors: [{ field: 'username', message: 'is taken' }], requestId: err.requestId,
                status: err.status, apiDetail: err.apiDetail });
          }
          throw err;
        }
        const name = (data.user && data.user.username) || v.username.trim();
        f.setBusy(true, 'Signing in…');
        await registerSignIn(name, v.password, email, lowercasedNote(v.username.trim(), name));
      },
    });
    const view = page('Create an account',
      h('p', { class: 'lead', text: 'One account for every microcore service.' }),
      ctl.form);
    return { view, focus: ctl.inputs.username };
  }

  /* After POST /register 201: the same credentials log in, as the login
   * page does, and the profile (with its unverified notice) opens. An
   * address that already had an account is answered 201 as well but no
   * account was made, so that login fails: then the login page says the
   * same as before this sign-in existed, and the mail tells the address's
   * owner what happened. (That the login worked or not is the one
   * difference left: docs/api.md, POST /register.) A new account has no
   * two-factor login, so mfa_required cannot come. */
  async function registerSignIn(name, password, email, note) {
    try {
      await api('POST', '/login', { body: { username: name, password } });
      await loadProfile();
    } catch (_) {
      state.loginUsername = name;
      flashLater('success', `Almost done, ${name}: check your mail at ${email} and follow ` +
        `what it says, then log in.${note}`);
      go('/login');
      return;
    }
    state.loginUsername = '';
    state.afterLogin = null;
    flashLater('success', `Welcome, ${name}: your account is ready. We sent a link to ${email}: ` +
      `open it to verify your address.${note}`);
    go('/profile');
  }

  function profileDetails(p) {
    const row = (label, value) => h('div', { class: 'detail' }, h('dt', { text: label }), h('dd', null, value));
    return h('dl', { class: 'details' },
      row('Username', h('span', { class: 'mono', text: p.username || '—' })),
      row('Display name', p.display_name || h('span', { class: 'muted', text: 'Not set' })),
      row('Locale', p.locale || h('span', { class: 'muted', text: 'Not set' })),
      row('Avatar', p.avatar_url
        ? h('span', { class: 'break', text: p.avatar_url })
        : h('span', { class: 'muted', text: 'Not set' })),
      row('Member since', timeEl(p.created_at)),
      row('Last updated', timeEl(p.updated_at)));
  }

  async function viewProfile(seq) {
    await loadProfile();
    if (seq !== state.renderSeq) return null;
    const p = state.profile;
    const view = page('Your profile',
      h('div', { class: 'profile-head' },
        avatar(p, 'lg'),
        h('div', { class: 'profile-names' },
          h('p', { class: 'profile-name', id: 'profile-display-name', text: p.display_name || p.username }),
          h('p', { class: 'profile-handle muted', text: `@${p.username}` }))),
      h('div', { class: 'bio', id: 'profile-bio' },
        p.bio ? h('p', { class: 'prewrap', text: p.bio }) : h('p', { class: 'muted', text: 'No bio yet.' })),
      state.emailVerified ? null : unverifiedNotice(),
      profileDetails(p),
      h('div', { class: 'actions' },
        h('a', { href: '#/profile/edit', class: 'button button-primary' }, 'Edit profile'),
        h('a', { href: '#/sessions', class: 'button button-quiet' }, 'Manage sessions'),
        h('a', { href: '#/account/email', class: 'button button-quiet', id: 'change-email-link' }, 'Change email'),
        h('a', { href: '#/password/change', class: 'button button-quiet', id: 'change-password-link' },
          'Change password'),
        h('a', { href: '#/security', class: 'button button-quiet', id: 'security-link' }, 'Two-factor login'),
        h('a', { href: '#/account/delete', class: 'button button-danger', id: 'delete-account-link' }, 'Delete account')));
    return { view };
  }

  /* Shown on the profile while the token says the address is not proven:
   * the mail may be lost, so the link can be sent again (the server
   * throttles it and says when to try again). */
  function unverifiedNotice() {
    const status = h('p', { id: 'verify-resend-status', role: 'status' });
    const again = h('button', { type: 'button', class: 'button button-quiet', id: 'verify-resend' },
      'Send the link again');
    again.addEventListener('click', async () => {
      again.disabled = true;
      status.className = '';
      status.textContent = 'Sending…';
      try {
        await api('POST', '/email/verify/resend');
        status.textContent = 'A new link is on its way. Earlier links no longer work.';
      } catch (err) {
        if (err.status === 400) {
          /* Verified meanwhile (another tab, the link): a fresh token says so. */
          status.textContent = 'Your address is already verified.';
          await refreshSession();
        } else {
          status.className = 'field-error';
          status.textContent = problemText(err);
        }
      } finally {
        again.disabled = false;
      }
    });
    return h('div', { class: 'alert alert-info', id: 'email-unverified' },
      h('p', { class: 'alert-title', text: 'Your email address is not verified yet.' }),
      h('p', { text: 'Open the link in the mail we sent when you registered. No mail?' }),
      h('div', { class: 'actions' }, again), status);
  }

  async function viewDeleteAccount(seq) {
    await loadProfile();
    if (seq !== state.renderSeq) return null;
    const name = state.profile.username;
    const ctl = buildForm({
      id: 'delete-account',
      submit: 'Delete my account',
      fields: [
        { name: 'current_password', label: 'Your password', type: 'password', autocomplete: 'current-password',
          required: true, hint: 'To be sure it is you.' },
      ],
      secondary: h('a', { href: '#/profile', class: 'button button-quiet' }, 'Cancel'),
      async onSubmit(f) {
        const v = f.values();
        if (!v.current_password) {
          throw Object.assign(new Error('Enter your password to delete your account.'),
            { fieldErrors: [{ field: 'current_password', message: 'is required' }] });
        }
        f.setBusy(true, 'Deleting…');
        try {
          await api('POST', '/account/delete', { body: { current_password: v.current_password } });
        } catch (err) {
          if (err.status === 401) {
            throw Object.assign(new Error('That password is not right.'),
              { fieldErrors: [{ field: 'current_password', message: 'is wrong' }], requestId: err.requestId });
          }
          throw err;
        }
        setProfile(null);
        state.afterLogin = null;
        flashLater('success', `The account “${name}” is deleted. Goodbye.`);
        go('/login');
      },
    });
    ctl.form.querySelector('button[type="submit"]').className = 'button button-danger-solid';
    const view = page('Delete your account',
      h('div', { class: 'alert alert-error' },
        h('p', { class: 'alert-title', text: `This deletes “${name}” for good.` }),
        h('p', { text: 'Your profile and every session go at once, and you are logged out on every device. ' +
          'This cannot be undone. Your username can then be registered again, by anyone.' })),
      ctl.form);
    return { view, focus: ctl.inputs.current_password };
  }

  const EDITABLE = ['display_name', 'bio', 'avatar_url', 'locale'];

  async function viewProfileEdit(seq) {
    await loadProfile();
    if (seq !== state.renderSeq) return null;
    const p = state.profile;
    const original = {};
    for (const k of EDITABLE) original[k] = p[k] || '';
    const ctl = buildForm({
      id: 'profile-edit',
      submit: 'Save changes',
      fields: [
        { name: 'display_name', label: 'Display name', autocomplete: 'nickname', value: original.display_name,
          maxlength: 64, counter: true, hint: 'Shown instead of your username.',
          /* Sent trimmed (onSubmit), so its outer spaces do not count. */
          count: (text) => codePoints(text.trim()) },
        { name: 'bio', label: 'Bio', multiline: true, rows: 5, value: original.bio, maxlength: 500, counter: true },
        { name: 'avatar_url', label: 'Avatar URL', type: 'url', inputmode: 'url', value: original.avatar_url,
          placeholder: 'https://…', hint: 'An https:// link to an image. Leave empty for none.', spellcheck: false },
        { name: 'locale', label: 'Locale', value: original.locale, placeholder: 'en, pt-BR',
          hint: 'A language tag such as en, de or pt-BR.', spellcheck: false, autocapitalize: 'none' },
      ],
      secondary: h('a', { href: '#/profile', class: 'button button-quiet' }, 'Cancel'),
      async onSubmit(f) {
        const v = f.values();
        const changed = {};
        for (const k of EDITABLE) {
          const nv = k === 'bio' ? v[k] : v[k].trim();
          if (nv !== original[k]) changed[k] = nv;
        }
        if (Object.keys(changed).length === 0) {
          showFlash('info', 'Nothing changed.');
          return;
        }
        f.setBusy(true, 'Saving…');
        const headers = state.etag ? { 'If-Match': state.etag } : {};
        try {
          const { data, headers: rh } = await api('PATCH', '/profile', { body: changed, headers });
          setProfile(data.profile || state.profile, rh.get('ETag'));
        } catch (err) {
          if (err.status === 412) {
            const latest = await loadProfile(); /* and its ETag, for the next save */
            if (!conflictBox.isConnected) return;
            profileConflict(ctl, conflictBox, original, latest);
            return;
          }
          throw err;
        }
        flashLater('success', 'Profile saved.');
        go('/profile');
      },
    });
    const conflictBox = h('div', { class: 'alert alert-warn conflict', id: 'profile-conflict', hidden: true });
    const reload = h('button', { type: 'button', class: 'button button-quiet', id: 'profile-reload' }, 'Reload profile');
    reload.addEventListener('click', () => render());
    const view = page('Edit profile',
      h('div', { class: 'profile-head profile-head-sm' },
        avatar(p, 'md'),
        h('div', { class: 'profile-names' },
          h('p', { class: 'profile-name', text: p.display_name || p.username }),
          h('p', { class: 'profile-handle muted', text: `@${p.username}` }))),
      conflictBox,
      ctl.form,
      h('p', { class: 'hint reload-hint' }, 'Changed your profile in another tab? ', reload));
    return { view, focus: ctl.inputs.display_name };
  }

  const PROFILE_LABELS = { display_name: 'Display name', bio: 'Bio', avatar_url: 'Avatar URL', locale: 'Locale' };

  /* A save answered 412: the profile was saved elsewhere since the form
   * was loaded from `base`. Field by field against base: changed only
   * there, the form takes the saved value; changed only here, the user's
   * text stays; changed on both sides to different values, both are shown
   * and the user picks one per field (what they typed until they choose
   * otherwise). base then becomes
   * the saved version, so the next "Save changes" sends what differs from
   * it with its ETag. Nothing the user typed is dropped without a choice. */
  function profileConflict(ctl, box, base, latest) {
    const setInput = (input, value) => {
      input.value = value;
      input.dispatchEvent(new Event('input')); /* the counter follows */
    };
    const shown = (text) => (text === '' ? h('em', { class: 'muted', text: '(empty)' }) : text);
    const rows = [];
    const taken = [];
    for (const k of EDITABLE) {
      const input = ctl.inputs[k];
      const typed = input.value;
      const mine = k === 'bio' ? typed : typed.trim();
      const theirs = latest[k] || '';
      const was = base[k];
      base[k] = theirs;
      if (theirs === was || mine === theirs) continue;
      if (mine === was) {
        setInput(input, theirs);
        taken.push(PROFILE_LABELS[k]);
        continue;
      }
      const name = `conflict-${k}`;
      const option = (which, label, value, restore, checked) => {
        const radio = h('input', { type: 'radio', name, id: `${name}-${which}`, value: which, checked });
        radio.addEventListener('change', () => setInput(input, restore));
        return h('div', { class: 'conflict-option' },
          radio,
          h('label', { for: radio.id }, h('span', { class: 'conflict-which', text: label }),
            h('span', { class: 'conflict-text prewrap break' }, shown(value))));
      };
      rows.push(h('fieldset', { class: 'conflict-field', id: `${name}` },
        h('legend', { text: PROFILE_LABELS[k] }),
        option('mine', 'Mine (typed here)', mine, typed, true),
        option('theirs', 'Theirs (saved elsewhere)', theirs, theirs, false)));
    }
    const title = h('h2', { class: 'alert-title', tabindex: '-1',
      text: 'Your profile was saved somewhere else while you were editing.' });
    box.replaceChildren(...[
      title,
      h('p', { text: rows.length
        ? 'Nothing you typed is lost. Where both changed the same field, choose which text to keep ' +
          '(or edit the field below), then save again.'
        : 'Nothing you typed is lost, and the other changes are in the form as well. Save again to keep both.' }),
      taken.length ? h('p', { id: 'conflict-taken', text: `Taken from there: ${taken.join(', ')}.` }) : null,
      ...rows,
    ].filter(Boolean));
    box.hidden = false;
    title.focus();
  }

  async function viewSessions(seq) {
    const { data } = await api('GET', '/sessions');
    if (seq !== state.renderSeq) return null;
    const sessions = Array.isArray(data.sessions) ? data.sessions.slice() : [];
    sessions.sort((a, b) => (b.current ? 1 : 0) - (a.current ? 1 : 0) ||
      String(b.last_used_at || b.created_at || '').localeCompare(String(a.last_used_at || a.created_at || '')));
    const status = h('div', { class: 'alert alert-error', role: 'alert', hidden: true, tabindex: '-1' });
    const list = h('ul', { class: 'sessions', id: 'session-list' });

    const endSession = async (s, btn, item) => {
      let after = null;
      status.hidden = true;
      for (const b of list.querySelectorAll('button')) b.disabled = true;
      btn.textContent = 'Ending…';
      try {
        await api('DELETE', `/sessions/${encodeURIComponent(s.id)}`);
        if (s.current) {
          await api('POST', '/logout', {}).catch(() => {});
          setProfile(null);
          flashLater('info', 'You ended the session of this browser and are logged out.');
          go('/login');
          return;
        }
        /* The focus goes to the next session's button, else the previous
         * one's, else the count: never to <body> with the removed item. */
        const near = item.nextElementSibling || item.previousElementSibling;
        item.remove();
        showFlash('success', 'Session ended.');
        const left = list.querySelectorAll('li').length;
        $('#session-count').textContent = sessionCountText(left);
        after = near ? $('button', near) : null;
        if (!after) focusHeading();
      } catch (err) {
        if (!signedIn()) return render();
        status.replaceChildren(h('p', { class: 'alert-title', text: problemText(err) }));
        status.hidden = false;
        status.focus();
      } finally {
        if (list.isConnected) {
          for (const b of list.querySelectorAll('button')) {
            b.disabled = false;
            b.textContent = b.dataset.label;
          }
        }
        if (after) after.focus(); /* once enabled: a disabled button takes no focus */
      }
    };

    for (const s of sessions) {
      const label = s.current ? 'Log out here' : 'End session';
      const btn = h('button', { type: 'button', class: s.current ? 'button button-quiet' : 'button button-danger',
        'data-label': label, 'aria-label': `${label}: ${describeAgent(s.user_agent)}` }, label);
      const item = h('li', { class: 'session' },
        h('div', { class: 'session-main' },
          h('p', { class: 'session-agent' },
            describeAgent(s.user_agent),
            s.current ? h('span', { class: 'badge', text: 'This browser' }) : null),
          h('p', { class: 'session-meta muted' },
            h('span', null, 'IP ', h('span', { class: 'mono', text: s.client_ip || 'unknown' })),
            h('span', null, 'Signed in ', timeEl(s.created_at)),
            h('span', null, 'Last active ', timeEl(s.last_used_at || s.created_at))),
          s.user_agent ? h('p', { class: 'session-ua muted', title: s.user_agent, text: s.user_agent }) : null),
        h('div', { class: 'session-actions' }, btn));
      btn.addEventListener('click', () => endSession(s, btn, item));
      list.append(item);
    }
    const view = page('Your sessions',
      h('p', { class: 'lead', id: 'session-count', text: sessionCountText(sessions.length) }),
      status,
      sessions.length ? list : h('p', { class: 'muted', text: 'No active sessions.' }));
    return { view };
  }

  function sessionCountText(n) {
    /* Each login is a session: two logins from one browser are two. */
    return n === 1
      ? 'You have 1 active session: a login on a device or browser.'
      : `You have ${n} active sessions: each is a login on a device or browser.`;
  }

  /* The link of the verification mail, #/verify-email?token=...: the
   * token leaves the address bar and the history before it is sent, and
   * the answer says whether the address is now verified. */
  async function viewVerifyEmail() {
    const given = hashQuery().get('token');
    if (given !== null) {
      state.verifyToken = given;
      history.replaceState(null, '', '#/verify-email');
    }
    const token = state.verifyToken || '';
    const next = h('div', { class: 'actions' },
      h('a', { href: signedIn() ? '#/profile' : '#/login', class: 'button button-primary' },
        signedIn() ? 'Go to your profile' : 'Go to log in'));
    if (!token) {
      return { view: page('Verify your email address',
        h('p', { class: 'lead', text: 'This link is incomplete. Open the link of the mail again, whole.' }), next) };
    }
    try {
      await api('POST', '/email/verify', { body: { token } });
    } catch (err) {
      if (err.status !== 400) throw err;
      state.verifyToken = null;
      return { view: page('This link does not work',
        h('p', { class: 'lead', text: 'It may have been used already, have expired, or have been replaced by a newer mail.' }),
        next) };
    }
    state.verifyToken = null;
    /* The access token still says "not verified": a new one says it is. */
    if (signedIn()) await refreshSession();
    return { view: page('Email address verified',
      h('p', { class: 'lead', text: 'Thank you: your email address is verified.' }), next) };
  }

  /* The email change (#/account/email): the new address and the current
   * password. The address changes only when the link mailed to the new
   * address is opened, and the answer is the same whether or not that
   * address has an account: so the page says "check your new mailbox". */
  async function viewChangeEmail(seq) {
    await loadProfile();
    if (seq !== state.renderSeq) return null;
    const back = () => h('a', { href: '#/profile', class: 'button button-quiet' }, 'Back to your profile');
    const ctl = buildForm({
      id: 'change-email',
      submit: 'Send the confirmation link',
      fields: [
        { name: 'new_email', label: 'New email address', type: 'email', autocomplete: 'email', required: true,
          inputmode: 'email', spellcheck: false, autocapitalize: 'none', maxlength: 254,
          hint: 'A link to confirm it goes there. Your account keeps its address until you open it.' },
        { name: 'current_password', label: 'Your password', type: 'password', autocomplete: 'current-password',
          required: true, hint: 'To be sure it is you.' },
      ],
      secondary: h('a', { href: '#/profile', class: 'button button-quiet' }, 'Cancel'),
      async onSubmit(f) {
        const v = f.values();
        const address = v.new_email.trim();
        const missing = [];
        if (!address) missing.push({ field: 'new_email', message: 'is required' });
        if (!v.current_password) missing.push({ field: 'current_password', message: 'is required' });
        if (missing.length) {
          throw Object.assign(new Error('Enter the new address and your password.'), { fieldErrors: missing });
        }
        f.setBusy(true, 'Sending…');
        try {
          await api('POST', '/email', { body: { new_email: address, current_password: v.current_password } });
        } catch (err) {
          if (err.status === 401) {
            throw Object.assign(new Error('That password is not right.'),
              { fieldErrors: [{ field: 'current_password', message: 'is wrong' }], requestId: err.requestId });
          }
          throw err;
        }
        const sent = h('div', { id: 'change-email-sent' },
          h('div', { class: 'alert alert-success', role: 'status', tabindex: '-1' },
            h('p', { class: 'alert-title', text: 'Check your new mailbox' }),
            h('p', { text: `We sent a link to ${address}. Open it to move your account to that address; ` +
              'until then your account keeps its current one. The link works once and for a limited time; ' +
              'asking again replaces it. Your current address got a notice.' })),
          h('div', { class: 'actions' }, back()));
        f.form.replaceWith(sent);
        $('.alert', sent).focus();
      },
    });
    const view = page('Change your email address',
      h('p', { class: 'lead', text: 'Mail about your account will go to the new address once you confirm it.' }),
      ctl.form);
    return { view, focus: ctl.inputs.new_email };
  }

  /* The link of an email change's mail, #/confirm-email?token=...: as the
   * verification link, the token leaves the address bar and the history
   * before it is sent; the answer says whether the account moved. */
  async function viewConfirmEmail() {
    const given = hashQuery().get('token');
    if (given !== null) {
      state.confirmEmailToken = given;
      history.replaceState(null, '', '#/confirm-email');
    }
    const token = state.confirmEmailToken || '';
    const next = h('div', { class: 'actions' },
      h('a', { href: signedIn() ? '#/profile' : '#/login', class: 'button button-primary' },
        signedIn() ? 'Go to your profile' : 'Go to log in'));
    if (!token) {
      return { view: page('Confirm your new email address',
        h('p', { class: 'lead', text: 'This link is incomplete. Open the link of the mail again, whole.' }), next) };
    }
    try {
      await api('POST', '/email/confirm', { body: { token } });
    } catch (err) {
      /* Kept for "Try again" only when the server did not answer it. */
      if (err.status === 409 || err.status === 400) state.confirmEmailToken = null;
      if (err.status === 409) {
        return { view: page('That address is taken now',
          h('p', { class: 'lead', id: 'confirm-email-taken',
            text: 'Another account registered this address after you asked for the change, so your account ' +
              'keeps its current address.' }), next) };
      }
      if (err.status !== 400) throw err;
      return { view: page('This link does not work',
        h('p', { class: 'lead', id: 'confirm-email-bad',
          text: 'It may have been used already, have expired, or have been replaced by a newer request.' }),
        next) };
    }
    state.confirmEmailToken = null;
    return { view: page('Email address changed',
      h('p', { class: 'lead', id: 'confirm-email-done',
        text: 'Your account now uses this address, and it is verified. Mail about your account goes here from now on.' }),
      next) };
  }

  /* ---------------------------------------------------------- passwords */

  const PASSWORD_RULES = 'At least 8 characters; not your username or a common password.';
  /* The reset link's token, once off the address bar. */
  let resetToken = null;

  /* The new password and its repetition: a field error on the second when
   * they differ. */
  function newPasswordFields() {
    return [
      { name: 'new_password', label: 'New password', type: 'password', autocomplete: 'new-password',
        required: true, maxlength: 128, hint: PASSWORD_RULES },
      { name: 'new_password_confirm', label: 'New password, again', type: 'password',
        autocomplete: 'new-password', required: true, maxlength: 128, hint: 'Type it once more.' },
    ];
  }

  function checkNewPassword(v) {
    const bad = [];
    if (!v.new_password) bad.push({ field: 'new_password', message: 'is required' });
    else if (v.new_password !== v.new_password_confirm) {
      bad.push({ field: 'new_password_confirm', message: 'does not match the new password' });
    }
    if (bad.length) throw Object.assign(new Error('Check the new password.'), { fieldErrors: bad });
  }

  /* #/forgot-password: an address, then "check your mail" — the same
   * answer whether an account has the address or not. */
  function viewForgotPassword() {
    const ctl = buildForm({
      id: 'forgot-password',
      submit: 'Send me a link',
      fields: [
        { name: 'email', label: 'Email', type: 'email', autocomplete: 'email', required: true,
          inputmode: 'email', spellcheck: false, hint: 'The address of your account.' },
      ],
      secondary: h('a', { href: '#/login', class: 'button button-quiet' }, 'Back to log in'),
      async onSubmit(f) {
        const v = f.values();
        if (!v.email.trim()) {
          throw Object.assign(new Error('Enter the address of your account.'),
            { fieldErrors: [{ field: 'email', message: 'is required' }] });
        }
        f.setBusy(true, 'Sending…');
        await api('POST', '/password/forgot', { body: { email: v.email.trim() } });
        const sent = page('Check your mail',
          h('p', { class: 'lead', id: 'forgot-password-sent',
            text: `If an account has the address ${v.email.trim()}, a link to set a new password is on its way. ` +
              'It works once, for 30 minutes.' }),
          h('p', { class: 'muted', text: 'No mail? Look in the spam folder, or ask again in a few minutes.' }),
          h('div', { class: 'actions' }, h('a', { href: '#/login', class: 'button button-primary' }, 'Back to log in')));
        dom.view().replaceChildren(sent);
        const heading = $('h1', sent);
        if (heading) heading.focus();
      },
    });
    const view = page('Forgot your password?',
      h('p', { class: 'lead', text: 'Enter the email address of your account: we send a link to set a new password.' }),
      ctl.form);
    return { view, focus: ctl.inputs.email };
  }

  /* #/reset-password?token=...: the link of the reset mail. The token
   * leaves the address bar and the history at once, as on the
   * verification page. */
  function viewResetPassword() {
    const given = hashQuery().get('token');
    if (given !== null) {
      resetToken = given;
      history.replaceState(null, '', '#/reset-password');
    }
    const again = h('div', { class: 'actions' },
      h('a', { href: '#/forgot-password', class: 'button button-primary' }, 'Ask for a new link'));
    if (!resetToken) {
      return { view: page('Set a new password',
        h('p', { class: 'lead', text: 'This link is incomplete. Open the link of the mail again, whole.' }), again) };
    }
    const ctl = buildForm({
      id: 'reset-password',
      submit: 'Set new password',
      fields: newPasswordFields(),
      async onSubmit(f) {
        const v = f.values();
        checkNewPassword(v);
        f.setBusy(true, 'Setting…');
        try {
          await api('POST', '/password/reset', { body: { token: resetToken, new_password: v.new_password } });
        } catch (err) {
          if (err.status === 400 && err.fieldErrors.length === 0) {
            resetToken = null;
            dom.view().replaceChildren(page('This link does not work',
              h('p', { class: 'lead', id: 'reset-password-bad-link',
                text: 'It may have been used already, have expired, or have been replaced by a newer mail.' }),
              again));
            return;
          }
          throw err;
        }
        resetToken = null;
        /* Every session ended, this browser's too. */
        setProfile(null);
        flashLater('success', 'Your new password is set, and every session was signed out. Log in with it.');
        go('/login');
      },
    });
    const view = page('Set a new password',
      h('p', { class: 'lead', text: 'Choose the new password of your account. Every device signed in to it is signed out.' }),
      ctl.form);
    return { view, focus: ctl.inputs.new_password };
  }

  /* #/password/change: the current password proves it is the user; the
   * answer's new tokens arrive as cookies, so this browser stays signed
   * in while every other session ends. */
  async function viewChangePassword(seq) {
    await loadProfile();
    if (seq !== state.renderSeq) return null;
    const ctl = buildForm({
      id: 'change-password',
      submit: 'Change password',
      fields: [
        { name: 'current_password', label: 'Current password', type: 'password', autocomplete: 'current-password',
          required: true, maxlength: 128, hint: 'To be sure it is you.' },
        ...newPasswordFields(),
      ],
      secondary: h('a', { href: '#/profile', class: 'button button-quiet' }, 'Cancel'),
      async onSubmit(f) {
        const v = f.values();
        if (!v.current_password) {
          throw Object.assign(new Error('Enter your current password.'),
            { fieldErrors: [{ field: 'current_password', message: 'is required' }] });
        }
        checkNewPassword(v);
        f.setBusy(true, 'Changing…');
        try {
          await api('POST', '/password', {
            body: { current_password: v.current_password, new_password: v.new_password },
          });
        } catch (err) {
          if (err.status === 401) {
            throw Object.assign(new Error('That password is not right.'),
              { fieldErrors: [{ field: 'current_password', message: 'is wrong' }], requestId: err.requestId });
          }
          throw err;
        }
        flashLater('success', 'Password changed. Every other device was signed out.');
        go('/profile');
      },
    });
    const view = page('Change your password',
      h('p', { class: 'lead', text: 'Every other device signed in to your account is signed out; this one stays.' }),
      ctl.form);
    return { view, focus: ctl.inputs.current_password };
  }

  /* --------------------------------------------------- two-factor login */

  /* The second step of a login, {ticket, username, expiresIn}: kept in
   * this script's memory only (never in storage or the address), and
   * dropped whenever the login page is shown again. */
  let mfaLogin = null;

  function fieldError(field, message, text, requestId) {
    return Object.assign(new Error(text), { fieldErrors: [{ field, message }], requestId });
  }

  /* The field of a second-factor proof: the app's code, or a recovery code. */
  function proofField(mode) {
    if (mode === 'recovery') {
      return { name: 'recovery_code', label: 'Recovery code', autocomplete: 'off', required: true, maxlength: 32,
        spellcheck: false, autocapitalize: 'none', placeholder: 'xxxxx-xxxxx',
        hint: 'One of the codes you saved when you turned on two-factor login. Each works once.' };
    }
    return { name: 'code', label: 'Code from your authenticator app', autocomplete: 'one-time-code', required: true,
      inputmode: 'numeric', maxlength: 7, spellcheck: false, placeholder: '123456',
      hint: 'The 6 digits your app shows now.' };
  }

  /* The request body of a proof form, or a field error before any call. */
  function proofBody(mode, v) {
    if (mode === 'recovery') {
      const rc = v.recovery_code.trim();
      if (!rc) throw fieldError('recovery_code', 'is required', 'Enter one of your recovery codes.');
      return { recovery_code: rc };
    }
    const code = v.code.replace(/\s+/g, '');
    if (!/^\d{6}$/.test(code)) throw fieldError('code', 'is 6 digits', 'Enter the 6 digits your app shows.');
    return { code };
  }

  /* A 401 of a proof: the code is wrong (or used), said next to its field. */
  function wrongProof(mode, err) {
    return mode === 'recovery'
      ? fieldError('recovery_code', 'is wrong or was used already', 'That recovery code does not work.', err.requestId)
      : fieldError('code', 'is not right', 'That code is not right. Enter the code your app shows now.', err.requestId);
  }

  /* A 429 of a proof: the throttle's wait, in words. */
  function tooManyCodes(err) {
    const s = err.retryAfter;
    const wait = !s ? 'a few minutes' : s < 120 ? `${s} s` : `${Math.ceil(s / 60)} minutes`;
    return new ApiError(429, Object.assign({}, err.problem, {
      detail: `Too many wrong codes: try again in ${wait}.`,
      retry_after: 0, /* said above already */
    }));
  }

  /* A form asking for the second factor, with a link that switches between
   * the app's code and a recovery code (the form is built again on a
   * switch). opts: {id, submit, busy, danger, secondary() → node,
   * run(body, mode)}; returns {box, focus()}. */
  function proofForm(opts) {
    const box = h('div', { class: 'proof' });
    let input = null;
    const build = (mode) => {
      const ctl = buildForm({
        id: opts.id,
        submit: opts.submit,
        fields: [proofField(mode)],
        secondary: opts.secondary ? opts.secondary() : null,
        async onSubmit(f) {
          const body = proofBody(mode, f.values());
          f.setBusy(true, opts.busy);
          try {
            await opts.run(body, mode);
          } catch (err) {
            if (err.status === 429) throw tooManyCodes(err);
            throw err;
          }
        },
      });
      if (opts.danger) ctl.form.querySelector('button[type="submit"]').className = 'button button-danger-solid';
      const toggle = h('button', { type: 'button', class: 'link-button', id: `${opts.id}-switch` },
        mode === 'recovery' ? 'Use a code from the app instead' : 'Use a recovery code instead');
      toggle.addEventListener('click', () => {
        build(mode === 'recovery' ? 'code' : 'recovery');
        input.focus();
      });
      input = ctl.inputs[mode === 'recovery' ? 'recovery_code' : 'code'];
      box.replaceChildren(ctl.form, h('p', { class: 'proof-switch' }, toggle));
    };
    build('code');
    return { box, focus: () => input.focus() };
  }

  /* Back to the password step: the ticket is gone (expired, used, or the
   * password changed meanwhile). */
  function loginStartOver(username, text) {
    mfaLogin = null;
    state.loginUsername = username;
    flashLater('error', text);
    if (currentPath() === '/login') render();
    else go('/login');
  }

  /* The second step of the login page, in place of the password form. */
  function showLoginMfa(login) {
    mfaLogin = login;
    const back = () => {
      const b = h('button', { type: 'button', class: 'button button-quiet', id: 'login-mfa-back' }, 'Back');
      b.addEventListener('click', () => {
        mfaLogin = null;
        state.loginUsername = login.username;
        render();
      });
      return b;
    };
    const proof = proofForm({
      id: 'login-mfa',
      submit: 'Verify',
      busy: 'Verifying…',
      secondary: back,
      async run(body, mode) {
        if (mfaLogin !== login) return; /* started over meanwhile */
        try {
          await api('POST', '/login/mfa', { body: Object.assign({ mfa_ticket: login.ticket }, body) });
        } catch (err) {
          /* A wrong code keeps the ticket; a dead ticket names itself. */
          if (err.status === 401 && /ticket/i.test(err.message)) {
            loginStartOver(login.username, 'This login took too long or was finished elsewhere. ' +
              'Log in again with your password.');
            return;
          }
          if (err.status === 401) throw wrongProof(mode, err);
          throw err;
        }
        mfaLogin = null;
        await loginDone();
      },
    });
    const minutes = Math.max(1, Math.round(login.expiresIn / 60));
    const view = page('Two-factor login',
      h('p', { class: 'lead', id: 'login-mfa-lead',
        text: `Your password is right, ${login.username}. Now enter the code from your authenticator app.` }),
      proof.box,
      h('p', { class: 'hint', text: `This step works for ${minutes} ${minutes === 1 ? 'minute' : 'minutes'}; ` +
        'after that, log in with your password again.' }));
    showFlash(null);
    dom.view().replaceChildren(view);
    proof.focus();
  }

  /* The QR code of an enrolment: the server's SVG document, shown as an
   * image. An SVG in an <img> runs no script and loads nothing, and the
   * page's img-src allows data: URLs. */
  function qrImage(svg) {
    if (typeof svg !== 'string' || !svg.includes('<svg') || svg.length > 200000) return null;
    return h('img', { class: 'mfa-qr', id: 'mfa-qr', width: '200', height: '200',
      src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`,
      alt: 'QR code of the key, for your authenticator app' });
  }

  /* The base32 key in groups of four, for typing it in by hand. */
  const groupSecret = (s) => String(s || '').replace(/(.{4})(?=.)/g, '$1 ');

  /* Ten codes shown once: a list, a copy button and a download link. */
  function recoveryCodesView(codes, title, doneText) {
    const list = codes.map((c) => String(c));
    const text = `${APP_NAME} recovery codes\n\n${list.join('\n')}\n\nEach code works once, in place of a code from your app.\n`;
    const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
    const copied = h('span', { class: 'muted', id: 'recovery-codes-copied', role: 'status' });
    const copy = h('button', { type: 'button', class: 'button', id: 'recovery-codes-copy' }, 'Copy');
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(list.join('\n'));
        copied.textContent = 'Copied.';
      } catch (_) {
        /* No clipboard (an insecure origin, a refusal): select them instead. */
        const range = document.createRange();
        range.selectNodeContents($('#recovery-codes'));
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        copied.textContent = 'Selected: copy them with your keyboard or menu.';
      }
    });
    const done = h('button', { type: 'button', class: 'button button-primary', id: 'recovery-codes-done' },
      'I saved them');
    done.addEventListener('click', () => {
      URL.revokeObjectURL(url);
      flashLater('success', doneText);
      render();
    });
    return h('div', { id: 'recovery-codes-box' },
      h('h2', { class: 'section-title', text: title }),
      h('div', { class: 'alert alert-warn', role: 'alert' },
        h('p', { class: 'alert-title', text: 'Save these codes now: they are not shown again.' }),
        h('p', { text: 'If you lose your phone, each code logs you in once in place of a code from the app. ' +
          'Keep them somewhere safe, apart from your phone.' })),
      h('ol', { class: 'recovery-codes mono', id: 'recovery-codes' }, list.map((c) => h('li', { text: c }))),
      h('div', { class: 'actions' },
        copy,
        h('a', { class: 'button', id: 'recovery-codes-download', href: url,
          download: `${APP_NAME}-recovery-codes.txt` }, 'Download'),
        done, copied));
  }

  /* #/security: whether two-factor login is on, turning it on (password →
   * QR code and key → first code → recovery codes), new recovery codes,
   * turning it off. Changes need the password or the second factor, not
   * only the session. */
  async function viewSecurity(seq) {
    const { data } = await api('GET', '/mfa');
    if (seq !== state.renderSeq) return null;
    const on = data.totp_enabled === true;
    const left = Number(data.recovery_codes_left) || 0;
    const body = h('div', { id: 'security-body' });
    const cancel = () => {
      const b = h('button', { type: 'button', class: 'button button-quiet' }, 'Cancel');
      b.addEventListener('click', () => render());
      return b;
    };
    /* A fresh session first: a 401 of the change is then a wrong proof. */
    const proofCall = async (method, path, proofBodyIn, mode) => {
      await api('GET', '/mfa');
      try {
        return await api(method, path, { body: proofBodyIn });
      } catch (err) {
        if (err.status === 401) throw wrongProof(mode, err);
        throw err;
      }
    };
    const statusView = (isOn, n) => (isOn
      ? h('div', { class: 'mfa-status', id: 'mfa-status' },
        h('p', null, h('span', { class: 'badge badge-ok', text: 'On' }), ' Two-factor login is on: logging in needs ' +
          'your password and a code from your authenticator app.'),
        h('p', { id: 'mfa-codes-left', class: n <= 3 ? 'field-error' : 'muted',
          text: `${plural(n, 'recovery code', 'recovery codes')} left.${n <= 3 ? ' Make new ones soon.' : ''}` }))
      : h('div', { class: 'mfa-status', id: 'mfa-status' },
        h('p', null, h('span', { class: 'badge badge-neutral', text: 'Off' }), ' Two-factor login is off: your ' +
          'password alone logs you in.'),
        h('p', { class: 'muted', text: 'Turn it on and a login also needs a code from an authenticator app on ' +
          'your phone, so a stolen password is not enough.' })));
    let status = statusView(on, left);
    const footer = h('div', { class: 'actions' },
      h('a', { href: '#/profile', class: 'button button-quiet' }, 'Back to your profile'));
    /* The codes are on screen once: the page says what is true now and
     * moves on only with "I saved them". */
    const showCodes = (codes, title, doneText) => {
      const next = statusView(true, codes.length);
      status.replaceWith(next);
      status = next;
      footer.hidden = true;
      show(recoveryCodesView(codes, title, doneText));
    };
    const show = (...nodes) => {
      body.replaceChildren(...nodes);
      const target = $('input', body) || $('h2', body);
      if (target) {
        if (target.tagName === 'H2') target.tabIndex = -1;
        target.focus();
      }
    };

    const enrolStep = () => {
      const ctl = buildForm({
        id: 'mfa-enroll',
        submit: 'Continue',
        fields: [{ name: 'current_password', label: 'Your password', type: 'password',
          autocomplete: 'current-password', required: true, maxlength: 128, hint: 'To be sure it is you.' }],
        secondary: cancel(),
        async onSubmit(f) {
          const v = f.values();
          if (!v.current_password) {
            throw fieldError('current_password', 'is required', 'Enter your password.');
          }
          f.setBusy(true, 'Checking…');
          let res;
          try {
            res = await api('POST', '/mfa/totp', { body: { current_password: v.current_password } });
          } catch (err) {
            if (err.status === 401) {
              throw fieldError('current_password', 'is wrong', 'That password is not right.', err.requestId);
            }
            throw err;
          }
          show(...setupStep(res.data));
        },
      });
      return [h('h2', { class: 'section-title', text: 'Turn on two-factor login' }), ctl.form];
    };

    const setupStep = (d) => {
      const qr = qrImage(d.qr_svg);
      const uri = typeof d.otpauth_uri === 'string' && d.otpauth_uri.startsWith('otpauth://') ? d.otpauth_uri : '';
      const minutes = Math.max(1, Math.round((Number(d.expires_in) || 600) / 60));
      const ctl = buildForm({
        id: 'mfa-confirm',
        submit: 'Turn on',
        fields: [proofField('code')],
        secondary: cancel(),
        async onSubmit(f) {
          const proof = proofBody('code', f.values());
          f.setBusy(true, 'Turning on…');
          let res;
          try {
            res = await proofCall('POST', '/mfa/totp/confirm', proof, 'code');
          } catch (err) {
            if (err.status === 400 && !err.fieldErrors.length) {
              throw new ApiError(400, Object.assign({}, err.problem, {
                detail: 'This setup is no longer pending (it lasts ' +
                  `${minutes} minutes). Cancel and start again.`,
              }));
            }
            throw err;
          }
          const codes = Array.isArray(res.data.recovery_codes) ? res.data.recovery_codes : [];
          showCodes(codes, 'Two-factor login is on', 'Two-factor login is on.');
        },
      });
      return [
        h('h2', { class: 'section-title', text: 'Set up your authenticator app' }),
        h('ol', { class: 'mfa-steps' },
          h('li', null,
            h('p', { text: 'Scan this QR code with your authenticator app (any app for TOTP codes).' }),
            qr || h('p', { class: 'muted', text: 'The QR code cannot be shown: type the key below instead.' })),
          h('li', null,
            h('p', { text: 'Or type this key in the app:' }),
            h('p', null, h('code', { class: 'mfa-secret', id: 'mfa-secret', text: groupSecret(d.secret) })),
            uri ? h('p', { class: 'hint' }, h('a', { href: uri, id: 'mfa-otpauth' }, 'Open in an authenticator app on this device')) : null),
          h('li', null,
            h('p', { text: `Enter the code the app shows, within ${minutes} minutes.` }),
            ctl.form)),
      ];
    };

    const regenerateStep = () => {
      const proof = proofForm({
        id: 'mfa-regenerate',
        submit: 'Make new codes',
        busy: 'Making codes…',
        secondary: cancel,
        async run(proofIn, mode) {
          const res = await proofCall('POST', '/mfa/recovery-codes', proofIn, mode);
          const codes = Array.isArray(res.data.recovery_codes) ? res.data.recovery_codes : [];
          showCodes(codes, 'Your new recovery codes', 'You have ten new recovery codes.');
        },
      });
      return [h('h2', { class: 'section-title', text: 'New recovery codes' }),
        h('p', { text: 'Your current recovery codes stop working. Enter a code from your app, or one of your ' +
          'recovery codes, to be sure it is you.' }),
        proof.box];
    };

    const disableStep = () => {
      const proof = proofForm({
        id: 'mfa-disable',
        submit: 'Yes, turn it off',
        busy: 'Turning off…',
        danger: true,
        secondary: cancel,
        async run(proofIn, mode) {
          await proofCall('DELETE', '/mfa/totp', proofIn, mode);
          flashLater('success', 'Two-factor login is off. Your password alone logs you in.');
          render();
        },
      });
      return [h('h2', { class: 'section-title', text: 'Turn off two-factor login?' }),
        h('div', { class: 'alert alert-error', id: 'mfa-disable-warning' },
          h('p', { class: 'alert-title', text: 'Your password alone then logs you in.' }),
          h('p', { text: 'Your key and your recovery codes are deleted. Enter a code from your app, or one of ' +
            'your recovery codes, to turn it off.' })),
        proof.box];
    };

    const button = (id, cls, label, step) => {
      const b = h('button', { type: 'button', class: cls, id }, label);
      b.addEventListener('click', () => show(...step()));
      return b;
    };
    body.append(h('div', { class: 'actions' }, on
      ? [button('mfa-new-codes', 'button', 'New recovery codes', regenerateStep),
        button('mfa-disable-start', 'button button-danger', 'Turn off two-factor login', disableStep)]
      : button('mfa-enable', 'button button-primary', 'Turn on two-factor login', enrolStep)));
    const view = page('Security',
      h('p', { class: 'lead', text: 'Two-factor login protects your account with a second proof besides ' +
        'your password.' }),
      status, body, footer);
    return { view };
  }

  for (const p of ['/login/mfa', '/mfa/totp', '/mfa/totp/confirm', '/mfa/recovery-codes']) NO_REFRESH.add(p);

  function viewNotFound() {
    return {
      view: page('Page not found',
        h('p', { class: 'lead', text: 'There is nothing at this address.' }),
        h('div', { class: 'actions' },
          h('a', { href: signedIn() ? '#/profile' : '#/login', class: 'button button-primary' },
            signedIn() ? 'Go to your profile' : 'Go to log in'))),
    };
  }

  /* -------------------------------------------------------------- admin */

  /* The role is in the HttpOnly token, so the page learns it by asking: an
   * admin call that answers 200 means admin, 403 means not. The server
   * checks every call anyway; this only decides what the nav offers. */

  /* Enums are short lower-case names in the API (docs/api.md, "JSON
   * style"); null when a service did not say. */
  const ROLE_LABELS = { user: 'User', admin: 'Admin' };
  const STATUS_LABELS = { active: 'Active', disabled: 'Disabled' };
  const AUDIT_ACTIONS = ['users.list', 'users.get', 'users.update', 'users.revoke_sessions', 'users.delete',
    'account.delete', 'audit.list', 'users.reset_mfa'];
  const OUTCOME_BADGES = { ok: 'badge-ok', denied: 'badge-warn', failed: 'badge-danger' };
  const USERS_PAGE_SIZE = 20;
  const AUDIT_PAGE_SIZE = 25;
  const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  function setAdmin(yes) {
    if (state.isAdmin === yes) return;
    state.isAdmin = yes;
    updateNav();
  }

  /* api() for /admin/...: keeps the nav's idea of the role current. */
  async function adminApi(method, path, opts) {
    try {
      const out = await api(method, path, opts);
      if (signedIn()) setAdmin(true);
      return out;
    } catch (err) {
      if (err.status === 403) setAdmin(false);
      throw err;
    }
  }

  /* ?a=1&b=2 from an object; empty values are left out. */
  function queryString(params) {
    const parts = [];
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined || v === null || v === '') continue;
      parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
    }
    return parts.length ? `?${parts.join('&')}` : '';
  }

  function hashQuery() {
    const raw = location.hash.replace(/^#/, '');
    const i = raw.indexOf('?');
    return new URLSearchParams(i < 0 ? '' : raw.slice(i + 1));
  }

  const userHref = (id) => `#/admin/users/${encodeURIComponent(id)}`;

  /* An email address that wraps only at its seams on a narrow screen:
   * before the @ and before each dot (and after a hyphen, as any text),
   * never inside a word unless one part alone is wider than the screen. */
  function emailText(email) {
    if (!email) return '—';
    const parts = [];
    email.split(/(?=[.@])/).forEach((piece, i) => {
      if (i) parts.push(document.createElement('wbr'));
      parts.push(piece);
    });
    return h('span', { class: 'email', title: email }, parts);
  }
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  const quoted = (name) => `“${name}”`;

  function roleBadge(role) {
    const label = ROLE_LABELS[role] || role || 'Unknown';
    return h('span', { class: `badge ${role === 'admin' ? 'badge-info' : 'badge-neutral'}`, text: label });
  }

  function statusBadge(status) {
    const label = STATUS_LABELS[status] || status || 'Unknown';
    return h('span', { class: `badge ${status === 'disabled' ? 'badge-danger' : 'badge-ok'}`, text: label });
  }

  function outcomeBadge(outcome) {
    return h('span', { class: `badge ${OUTCOME_BADGES[outcome] || 'badge-neutral'}`, text: outcome || 'unknown' });
  }

  const preciseFmt = (() => {
    try {
      return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
    } catch (_) {
      return null;
    }
  })();

  function preciseTimeEl(value) {
    if (!value) return h('span', { text: '—' });
    const d = new Date(value);
    const text = Number.isNaN(d.getTime()) ? String(value)
      : preciseFmt ? preciseFmt.format(d) : d.toLocaleString();
    return h('time', { datetime: value, title: String(value) }, text);
  }

  /* <input type=datetime-local> speaks local time without a zone; the API
   * RFC 3339. */
  function isoToLocalInput(iso) {
    const d = new Date(iso);
    if (!iso || Number.isNaN(d.getTime())) return '';
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  }

  function localInputToIso(value) {
    if (!value) return '';
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? '' : d.toISOString();
  }

  function prettyJson(value) {
    if (value === undefined || value === null) return '';
    return JSON.stringify(value, null, 2);
  }

  function problemAlert(box, err) {
    box.replaceChildren(
      h('p', { class: 'alert-title', text: problemText(err) }),
      problemDetails(err));
    box.hidden = false;
  }

  /* The admin pages: a tab bar above the card. */
  function adminPage(section, title, ...content) {
    const tab = (href, key, label) => h('li', null,
      h('a', { href, 'aria-current': section === key ? 'page' : null }, label));
    return h('div', { class: 'admin' },
      h('nav', { class: 'subnav', 'aria-label': 'Administration' },
        h('ul', null,
          tab('#/admin/users', 'users', 'Users'),
          tab('#/admin/audit', 'audit', 'Audit trail'))),
      page(title, content));
  }

  function adminRefusedView() {
    return page('Admins only',
      h('div', { class: 'alert alert-error', role: 'alert', id: 'admin-refused' },
        h('p', { class: 'alert-title', text: 'This page is for administrators.' }),
        h('p', { text: 'Your account does not have the admin role.' })),
      h('div', { class: 'actions' },
        h('a', { href: '#/profile', class: 'button button-primary' }, 'Go to your profile')));
  }

  /* A table that turns into one card per row on narrow screens: every cell
   * carries its column's name in data-label for the CSS. columns:
   * [{label, cell(item) → node}] */
  function dataTable(id, columns, items, rowClass) {
    return h('table', { class: 'table', id },
      h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', text: c.label })))),
      h('tbody', null, items.map((item) => h('tr', { class: rowClass || null },
        columns.map((c) => h('td', { 'data-label': c.label },
          h('div', { class: c.cls ? `cell ${c.cls}` : 'cell' }, c.cell(item))))))));
  }

  /* Filters that apply themselves: a select or a date at once, text after a
   * pause in typing, Enter at once. controls: [{name, label, options?,
   * type?, placeholder?, value, toInput?, fromInput?}]; values are the
   * request's (fromInput converts what the input holds). */
  function filterBar(id, controls, onApply) {
    const inputs = {};
    const errors = {};
    let timer = null;
    const apply = () => {
      clearTimeout(timer);
      timer = null;
      onApply();
    };
    const fields = controls.map((c) => {
      const fid = `${id}-${c.name}`;
      let input;
      if (c.options) {
        input = h('select', { id: fid, name: c.name, class: 'input', 'aria-describedby': `${fid}-error` },
          c.options.map(([value, label]) => h('option', { value }, label)));
        input.addEventListener('change', apply);
      } else {
        input = h('input', {
          id: fid, name: c.name, class: 'input', type: c.type || 'search', autocomplete: 'off',
          spellcheck: 'false', autocapitalize: 'none', placeholder: c.placeholder || null,
          maxlength: c.maxlength || null, 'aria-describedby': `${fid}-error`,
        });
        if (c.type === 'datetime-local') {
          input.addEventListener('change', apply);
        } else {
          input.addEventListener('input', () => {
            clearTimeout(timer);
            timer = setTimeout(apply, 350);
          });
        }
      }
      input.value = c.toInput ? c.toInput(c.value || '') : c.value || '';
      input.addEventListener('input', () => {
        if (!errors[c.name].hidden) {
          errors[c.name].hidden = true;
          input.removeAttribute('aria-invalid');
        }
      });
      inputs[c.name] = input;
      errors[c.name] = h('p', { class: 'field-error', id: `${fid}-error`, hidden: true });
      return h('div', { class: `field filter filter-${c.name}` },
        h('label', { for: fid, text: c.label }), input, errors[c.name]);
    });
    const clear = h('button', { type: 'button', class: 'button button-quiet', id: `${id}-clear` }, 'Clear');
    clear.addEventListener('click', () => {
      for (const el of Object.values(inputs)) {
        el.value = '';
        if (el.selectedIndex < 0) el.selectedIndex = 0; /* a select without an empty choice */
      }
      apply();
    });
    const form = h('form', { id, class: 'filters', role: 'search', novalidate: true },
      fields,
      h('div', { class: 'filter-actions' },
        h('button', { type: 'submit', class: 'button' }, 'Search'),
        clear));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      apply();
    });
    return {
      form,
      values() {
        const out = {};
        for (const c of controls) {
          const raw = c.options ? inputs[c.name].value : inputs[c.name].value.trim();
          out[c.name] = c.fromInput ? c.fromInput(raw) : raw;
        }
        return out;
      },
      clearErrors() {
        for (const [name, el] of Object.entries(inputs)) {
          errors[name].hidden = true;
          el.removeAttribute('aria-invalid');
        }
      },
      showFieldErrors(list) {
        for (const fe of list || []) {
          if (!inputs[fe.field]) continue;
          errors[fe.field].textContent = fe.message;
          errors[fe.field].hidden = false;
          inputs[fe.field].setAttribute('aria-invalid', 'true');
        }
      },
    };
  }

  /* A filtered, paged admin list: filters and page live in the address,
   * each search and page a history entry of its own (pushed, so Back
   * returns to the previous one: the hashchange renders it again), pages
   * load in place; a 403 or a lost session renders the route again. The
   * address's page_size (1–200) overrides cfg.pageSize. cfg: {id, path,
   * endpoint, key, pageSize, controls, table(items), noun: [one, many],
   * empty, total?(data, filters) → the summary's first words} */
  async function adminList(seq, cfg) {
    const q = hashQuery();
    let filters = {};
    for (const c of cfg.controls) {
      c.value = q.get(c.name) || c.fallback || '';
      filters[c.name] = c.value;
    }
    const size = Number(q.get('page_size'));
    const pageSize = Number.isInteger(size) && size >= 1 && size <= 200 ? size : cfg.pageSize;
    let pages = [q.get('page_token') || '']; /* tokens of the pages seen; pages[index] is shown */
    let index = 0;
    let next = '';
    let loadSeq = 0;

    const url = (f, token) => cfg.endpoint + queryString(Object.assign({}, f, { page_size: pageSize, page_token: token }));

    let firstData = null;
    let firstErr = null;
    try {
      ({ data: firstData } = await adminApi('GET', url(filters, pages[0])));
    } catch (err) {
      if (err.status !== 400) throw err;
      firstErr = err; /* a filter or token in the address the API refuses */
    }
    if (seq !== state.renderSeq) return null;

    const summary = h('p', { class: 'list-summary', id: `${cfg.id}-summary`, role: 'status', tabindex: '-1' });
    const error = h('div', { class: 'alert alert-error', role: 'alert', hidden: true, id: `${cfg.id}-error` });
    const results = h('div', { class: 'list-results', id: `${cfg.id}-results` });
    const firstBtn = h('button', { type: 'button', class: 'button button-quiet', id: `${cfg.id}-first` }, 'First page');
    const prevBtn = h('button', { type: 'button', class: 'button button-quiet', id: `${cfg.id}-prev` }, 'Previous page');
    const nextBtn = h('button', { type: 'button', class: 'button', id: `${cfg.id}-next` }, 'Next page');
    const pager = h('div', { class: 'pager' }, firstBtn, prevBtn, nextBtn);

    const bar = filterBar(`${cfg.id}-filters`, cfg.controls, () => load(bar.values(), 0, ['']));

    const updatePager = (busy) => {
      firstBtn.disabled = busy || (index === 0 && pages[0] === '');
      prevBtn.hidden = index === 0;
      prevBtn.disabled = busy;
      nextBtn.disabled = busy || !next;
    };

    const show = (data) => {
      const items = Array.isArray(data[cfg.key]) ? data[cfg.key] : [];
      next = data.next_page_token || '';
      error.hidden = true;
      const where = pages[0] === '' ? `Page ${index + 1}` : 'A later page';
      const total = cfg.total ? `${cfg.total(data, filters)} · ` : '';
      summary.textContent = total + (items.length
        ? `${where} · ${plural(items.length, cfg.noun[0], cfg.noun[1])}${next ? ', more on the next page' : ''}`
        : `${where} · no ${cfg.noun[1]}`);
      results.replaceChildren(items.length ? cfg.table(items) : h('p', { class: 'empty muted', text: cfg.empty }));
    };

    const showError = (err) => {
      next = '';
      problemAlert(error, err);
      bar.showFieldErrors(err.fieldErrors);
      summary.textContent = '';
      results.replaceChildren();
    };

    const syncAddress = () => {
      if (!results.isConnected || currentPath() !== cfg.path) return;
      const qs = queryString(Object.assign({}, filters, {
        page_size: pageSize === cfg.pageSize ? '' : pageSize,
        page_token: pages[index],
      }));
      if (location.hash !== `#${cfg.path}${qs}`) history.pushState(null, '', `#${cfg.path}${qs}`);
    };

    async function load(f, newIndex, newPages, focusSummary) {
      const my = ++loadSeq;
      results.classList.add('is-loading');
      results.setAttribute('aria-busy', 'true');
      updatePager(true);
      bar.clearErrors();
      try {
        const { data } = await adminApi('GET', url(f, newPages[newIndex]));
        if (my !== loadSeq || !results.isConnected) return;
        filters = f;
        pages = newPages;
        index = newIndex;
        show(data);
      } catch (err) {
        if (my !== loadSeq || !results.isConnected) return;
        if (!signedIn() || err.status === 401 || err.status === 403) {
          render();
          return;
        }
        filters = f;
        pages = newPages;
        index = newIndex;
        showError(err);
      } finally {
        if (my === loadSeq && results.isConnected) {
          results.classList.remove('is-loading');
          results.removeAttribute('aria-busy');
          updatePager(false);
          syncAddress();
          if (focusSummary) summary.focus();
        }
      }
    }

    firstBtn.addEventListener('click', () => load(filters, 0, [''], true));
    prevBtn.addEventListener('click', () => load(filters, index - 1, pages, true));
    nextBtn.addEventListener('click', () => load(filters, index + 1, pages.slice(0, index + 1).concat([next]), true));

    if (firstErr) showError(firstErr);
    else show(firstData);
    updatePager(false);
    return { form: bar.form, summary, error, results, pager };
  }

  async function viewAdminUsers(seq) {
    const me = state.profile && state.profile.user_id;
    const list = await adminList(seq, {
      id: 'admin-users',
      path: '/admin/users',
      endpoint: '/admin/users',
      key: 'users',
      pageSize: USERS_PAGE_SIZE,
      noun: ['user', 'users'],
      empty: 'No user matches these filters.',
      /* All pages together: "12 users" unfiltered, "3 matches" filtered. */
      total: (data, f) => {
        const n = Number(data.total) || 0;
        return Object.values(f).some((v) => v) ? plural(n, 'match', 'matches') : plural(n, 'user', 'users');
      },
      controls: [
        { name: 'query', label: 'Search', placeholder: 'Part of a username or email', maxlength: 254 },
        { name: 'status', label: 'Status', options: [['', 'Any status'],
          ['active', 'Active'], ['disabled', 'Disabled']] },
        { name: 'role', label: 'Role', options: [['', 'Any role'], ['user', 'User'], ['admin', 'Admin']] },
      ],
      table: (users) => dataTable('admin-users-table', [
        { label: 'Username', cell: (u) => [
          h('a', { href: userHref(u.id), class: 'mono' }, u.username || u.id),
          u.id === me ? h('span', { class: 'badge badge-neutral badge-you', text: 'You' }) : null] },
        { label: 'Email', cell: (u) => emailText(u.email) },
        { label: 'Role', cell: (u) => roleBadge(u.role) },
        { label: 'Status', cell: (u) => statusBadge(u.status) },
        { label: 'Created', cell: (u) => timeEl(u.created_at) },
      ], users),
    });
    if (!list) return null;
    const view = adminPage('users', 'Users',
      h('p', { class: 'lead', text: 'Every account, by username. Open one to disable it, change its role or end its sessions.' }),
      list.form, list.error, list.summary, list.results, list.pager);
    return { view, focus: $('input', list.form) };
  }

  async function viewAdminUser(seq, params) {
    const path = `/admin/users/${encodeURIComponent(params.id)}`;
    const { data } = await adminApi('GET', path);
    if (seq !== state.renderSeq) return null;
    const u = data.user || {};
    const sessions = Array.isArray(data.sessions) ? data.sessions : [];
    const self = Boolean(state.profile && u.id && u.id === state.profile.user_id);
    const name = u.username || u.id || '';
    const disabled = u.status === 'disabled';
    const admin = u.role === 'admin';

    const patch = (body) => () => adminApi('PATCH', path, { body });
    const actions = [
      disabled ? {
        label: 'Enable', yes: 'Yes, enable', busy: 'Enabling…', cls: 'button',
        question: self ? 'Enable your own account?' : `Enable ${quoted(name)}? They can log in again.`,
        run: patch({ status: 'active' }),
        done: () => `${quoted(name)} is enabled.`,
      } : {
        label: 'Disable', yes: 'Yes, disable', busy: 'Disabling…', cls: 'button button-danger',
        question: self
          ? 'Disable your own account? You are logged out at once and cannot log in until another admin enables it.'
          : `Disable ${quoted(name)}? They are logged out everywhere at once and cannot log in until the account is enabled again.`,
        run: patch({ status: 'disabled' }),
        done: () => `${quoted(name)} is disabled and logged out everywhere.`,
      },
      admin ? {
        label: 'Make user', yes: 'Yes, make user', busy: 'Changing role…', cls: 'button button-danger',
        question: self
          ? 'Remove your own admin role? You lose access to these pages at once.'
          : `Remove the admin role from ${quoted(name)}? They keep their sessions but lose access to the admin pages at once.`,
        run: patch({ role: 'user' }),
        done: () => `${quoted(name)} is no longer an admin.`,
      } : {
        label: 'Make admin', yes: 'Yes, make admin', busy: 'Changing role…', cls: 'button',
        question: `Make ${quoted(name)} an admin? They can then list and change every account and read the audit trail.`,
        run: patch({ role: 'admin' }),
        done: () => `${quoted(name)} is now an admin.`,
      },
      {
        label: 'End all sessions', yes: 'Yes, end all sessions', busy: 'Ending sessions…', cls: 'button button-danger',
        question: `End ${sessions.length === 1 ? 'the session' : `all ${sessions.length} sessions`} of ${self ? 'your own account, this browser included' : quoted(name)}? ` +
          `${self ? 'You are' : 'They are'} logged out everywhere; the account stays active.`,
        run: () => adminApi('POST', `${path}/revoke-sessions`, { body: {} }),
        done: (res) => `Ended ${plural(Number(res.data.revoked || 0), 'session', 'sessions')} of ${quoted(name)}.`,
      },
      {
        label: 'Reset two-factor login', yes: 'Yes, reset it', busy: 'Resetting…', cls: 'button button-danger',
        question: `Turn off two-factor login of ${self ? 'your own account' : quoted(name)}? ` +
          `${self ? 'Your' : 'Their'} password alone then logs in, until ${self ? 'you turn' : 'they turn'} it on again; ` +
          `${self ? 'you are' : 'they are'} told by mail. Do this only for someone who lost both their app and their recovery codes, ` +
          'once you are sure who they are.',
        run: () => adminApi('DELETE', `${path}/mfa`),
        done: (res) => (res.data.was_enabled
          ? `Two-factor login of ${quoted(name)} is reset: off until they turn it on again.`
          : `${quoted(name)} did not have two-factor login on; nothing changed.`),
      },
      {
        label: 'Delete account', yes: 'Yes, delete for good', busy: 'Deleting…', cls: 'button button-danger',
        question: self
          ? 'Delete your own account? Your profile and sessions go, you are logged out at once, and this cannot be undone.'
          : `Delete ${quoted(name)}? Their profile and sessions go and they are logged out everywhere at once. This cannot be undone.`,
        run: () => adminApi('DELETE', path),
        done: () => `${quoted(name)} is deleted.`,
        /* The page shows an account that no longer exists. */
        next: self ? '/login' : '/admin/users',
      },
    ];

    const error = h('div', { class: 'alert alert-error', role: 'alert', hidden: true, tabindex: '-1', id: 'admin-user-error' });
    const question = h('p', { class: 'confirm-question', id: 'admin-confirm-question' });
    const yesBtn = h('button', { type: 'button', class: 'button button-danger', id: 'admin-confirm-yes' });
    const noBtn = h('button', { type: 'button', class: 'button button-quiet', id: 'admin-confirm-no' }, 'Cancel');
    const confirm = h('div', { class: 'confirm', id: 'admin-confirm', hidden: true, tabindex: '-1',
      role: 'group', 'aria-labelledby': 'admin-confirm-question' },
    question, h('div', { class: 'actions' }, yesBtn, noBtn));
    const buttons = actions.map((a) => h('button', { type: 'button', class: a.cls, 'aria-controls': 'admin-confirm' }, a.label));
    let pending = null;
    let busy = false;

    const closeConfirm = (refocus) => {
      confirm.hidden = true;
      for (const b of buttons) b.removeAttribute('aria-expanded');
      if (refocus && pending) buttons[actions.indexOf(pending)].focus();
      pending = null;
    };
    actions.forEach((a, i) => {
      buttons[i].addEventListener('click', () => {
        if (busy) return;
        error.hidden = true;
        pending = a;
        for (const b of buttons) b.removeAttribute('aria-expanded');
        buttons[i].setAttribute('aria-expanded', 'true');
        question.textContent = a.question;
        yesBtn.textContent = a.yes;
        yesBtn.className = a.cls.includes('danger') ? 'button button-danger-solid' : 'button button-primary';
        confirm.hidden = false;
        confirm.focus();
      });
    });
    noBtn.addEventListener('click', () => closeConfirm(true));
    confirm.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && !busy) closeConfirm(true);
    });
    yesBtn.addEventListener('click', async () => {
      if (!pending || busy) return;
      const a = pending;
      busy = true;
      for (const b of [...buttons, yesBtn, noBtn]) b.disabled = true;
      yesBtn.textContent = a.busy;
      let res;
      try {
        res = await a.run();
      } catch (err) {
        busy = false;
        if (!signedIn()) {
          render();
          return;
        }
        for (const b of [...buttons, yesBtn, noBtn]) b.disabled = false;
        yesBtn.textContent = a.yes;
        closeConfirm(false);
        problemAlert(error, err);
        error.focus();
        return;
      }
      /* The page is read again to show the account as it is now. */
      flashLater('success', a.done(res));
      if (a.next === '/login') setProfile(null);
      if (a.next) go(a.next);
      else render();
    });

    const row = (label, value) => h('div', { class: 'detail' }, h('dt', { text: label }), h('dd', null, value));
    const sessionTable = dataTable('admin-sessions-table', [
      { label: 'Device', cell: (s) => h('span', { title: s.user_agent || null, text: describeAgent(s.user_agent) }) },
      { label: 'IP', cell: (s) => h('span', { class: 'mono', text: s.client_ip || 'unknown' }) },
      { label: 'Signed in', cell: (s) => timeEl(s.created_at) },
      { label: 'Last active', cell: (s) => timeEl(s.last_used_at || s.created_at) },
    ], sessions);

    const view = adminPage('users', name,
      h('p', { class: 'lead' },
        h('a', { href: '#/admin/users', class: 'back' }, '← All users'),
        self ? h('span', { class: 'badge badge-neutral badge-you', text: 'You' }) : null),
      error,
      h('dl', { class: 'details', id: 'admin-user-details' },
        row('User id', h('span', { class: 'mono', text: u.id || '—' })),
        row('Username', h('span', { class: 'mono', text: u.username || '—' })),
        row('Email', emailText(u.email)),
        row('Role', h('span', { id: 'admin-user-role' }, roleBadge(u.role))),
        row('Status', h('span', { id: 'admin-user-status' }, statusBadge(u.status))),
        row('Created', timeEl(u.created_at)),
        row('Updated', timeEl(u.updated_at))),
      h('h2', { class: 'section-title', text: 'Actions' }),
      h('div', { class: 'actions admin-actions' }, buttons),
      confirm,
      h('h2', { class: 'section-title', id: 'admin-sessions-title' },
        'Active sessions ', h('span', { class: 'count', text: String(sessions.length) })),
      sessions.length ? sessionTable : h('p', { class: 'muted', text: 'No active sessions.' }),
      h('p', { class: 'audit-link' },
        h('a', { href: `#/admin/audit${queryString({ target: u.id })}` }, 'Audit trail of this account')));
    return { view };
  }

  /* A short account of what an audit row's detail says. */
  function auditSummary(detail) {
    if (!detail || typeof detail !== 'object') return '';
    if (detail.before && detail.after && typeof detail.before === 'object') {
      const changes = Object.keys(detail.after)
        .filter((k) => detail.before[k] !== detail.after[k])
        .map((k) => `${k} ${detail.before[k]} → ${detail.after[k]}`);
      return changes.length ? changes.join(', ') : 'no change';
    }
    if (detail.was_enabled !== undefined) {
      return detail.was_enabled ? 'two-factor login turned off' : 'two-factor login was off already';
    }
    if (detail.revoked !== undefined) return plural(Number(detail.revoked) || 0, 'session ended', 'sessions ended');
    if (detail.sessions_revoked !== undefined) {
      return `deleted, ${plural(Number(detail.sessions_revoked) || 0, 'session ended', 'sessions ended')}`;
    }
    if (typeof detail.message === 'string') return detail.message;
    if (detail.requested && typeof detail.requested === 'object') {
      return Object.entries(detail.requested).map(([k, v]) => `${k} → ${v}`).join(', ');
    }
    return '';
  }

  function auditTable(entries) {
    const rows = [];
    for (const e of entries) {
      /* The detail is an object (a google.protobuf.Struct), or null. */
      const detail = e.detail && typeof e.detail === 'object' ? e.detail : null;
      const summary = auditSummary(detail);
      const detailId = `audit-detail-${String(e.id).replace(/[^A-Za-z0-9_-]/g, '')}`;
      const toggle = h('button', { type: 'button', class: 'button button-quiet button-small',
        'aria-expanded': 'false', 'aria-controls': detailId }, 'Details');
      /* A user by the name they have now; the log keeps only ids, so a
       * deleted account is shown as such, by the start of its id. */
      const target = !e.target ? h('span', { class: 'muted', text: '—' })
        : e.target_deleted
          ? h('span', { class: 'muted', title: e.target }, 'deleted account ', h('span', { class: 'mono', text: `${e.target.slice(0, 8)}…` }))
          : UUID_RE.test(e.target)
            ? h('a', { href: userHref(e.target), class: e.target_username ? 'target-name' : 'mono', title: e.target },
              e.target_username || `${e.target.slice(0, 8)}…`)
            : h('span', { class: 'mono break', text: e.target });
      const actor = e.actor_username
        ? (e.actor_id ? h('a', { href: userHref(e.actor_id) }, e.actor_username) : e.actor_username)
        : h('span', { class: 'muted', text: 'no valid token' });
      const cell = (label, ...content) => h('td', { 'data-label': label }, h('div', { class: 'cell' }, content));
      rows.push(h('tr', { class: 'audit-row', 'data-id': e.id, 'data-action': e.action || '',
        'data-outcome': e.outcome || '', 'data-target': e.target || '' },
      cell('Time', preciseTimeEl(e.time)),
      cell('Actor', actor),
      cell('Action', h('span', { class: 'mono', text: e.action || '—' }),
        summary ? h('span', { class: 'audit-summary muted', text: summary }) : null),
      cell('Target', target),
      cell('Outcome', outcomeBadge(e.outcome)),
      h('td', { class: 'cell-toggle' }, h('div', { class: 'cell' }, toggle))));
      const more = h('tr', { class: 'audit-detail', id: detailId, hidden: true },
        h('td', { colspan: '6' },
          h('dl', { class: 'audit-meta' },
            h('div', null, h('dt', { text: 'Entry' }), h('dd', { class: 'mono', text: String(e.id || '—') })),
            h('div', null, h('dt', { text: 'Target' }), h('dd', { class: 'mono break', text: e.target || '—' })),
            h('div', null, h('dt', { text: 'Actor id' }), h('dd', { class: 'mono break', text: e.actor_id || '—' })),
            h('div', null, h('dt', { text: 'Client IP' }), h('dd', { class: 'mono', text: e.client_ip || '—' })),
            h('div', null, h('dt', { text: 'Request id' }), h('dd', { class: 'mono break', text: e.request_id || '—' }))),
          h('pre', { class: 'json', text: prettyJson(detail) || '(no detail)' })));
      toggle.addEventListener('click', () => {
        const open = more.hidden;
        more.hidden = !open;
        toggle.setAttribute('aria-expanded', String(open));
        toggle.textContent = open ? 'Hide' : 'Details';
      });
      rows.push(more);
    }
    return h('table', { class: 'table table-audit', id: 'admin-audit-table' },
      h('thead', null, h('tr', null,
        ['Time', 'Actor', 'Action', 'Target', 'Outcome'].map((t) => h('th', { scope: 'col', text: t })),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden', text: 'Details' })))),
      h('tbody', null, rows));
  }

  async function viewAdminAudit(seq) {
    const list = await adminList(seq, {
      id: 'admin-audit',
      path: '/admin/audit',
      endpoint: '/admin/audit',
      key: 'entries',
      pageSize: AUDIT_PAGE_SIZE,
      noun: ['entry', 'entries'],
      empty: 'No entry matches these filters.',
      controls: [
        { name: 'actor', label: 'Actor', placeholder: 'Username or user id', maxlength: 128 },
        { name: 'action', label: 'Action', options: [['', 'Any action']].concat(AUDIT_ACTIONS.map((a) => [a, a])) },
        { name: 'target', label: 'Target', placeholder: 'User id', maxlength: 128 },
        /* Every page view is a read: changes first, the reads on request. */
        { name: 'kind', label: 'Show', fallback: 'changes', options: [['changes', 'Changes'],
          ['all', 'Changes and reads'], ['reads', 'Reads only']] },
        { name: 'since', label: 'Since', type: 'datetime-local', toInput: isoToLocalInput, fromInput: localInputToIso },
      ],
      table: auditTable,
    });
    if (!list) return null;
    const view = adminPage('audit', 'Audit trail',
      h('p', { class: 'lead', text: 'Every administration call, allowed or refused, newest first. Reads (listing and opening accounts, this page) are shown on request.' }),
      list.form, list.error, list.summary, list.results, list.pager);
    return { view };
  }

  /* ------------------------------------------------------------ routing */

  const ROUTES = {
    '/login': { view: viewLogin, guest: true },
    '/register': { view: viewRegister, guest: true },
    '/profile': { view: viewProfile, auth: true },
    '/profile/edit': { view: viewProfileEdit, auth: true },
    '/sessions': { view: viewSessions, auth: true },
    '/account/delete': { view: viewDeleteAccount, auth: true },
    '/verify-email': { view: viewVerifyEmail },
    '/account/email': { view: viewChangeEmail, auth: true },
    '/confirm-email': { view: viewConfirmEmail },
    '/admin/users': { view: viewAdminUsers, auth: true, admin: true },
    '/admin/audit': { view: viewAdminAudit, auth: true, admin: true },
  };

  /* The password pages. */
  Object.assign(ROUTES, {
    '/forgot-password': { view: viewForgotPassword },
    '/reset-password': { view: viewResetPassword },
    '/password/change': { view: viewChangePassword, auth: true },
  });

  /* Two-factor login. */
  ROUTES['/security'] = { view: viewSecurity, auth: true };

  /* Routes with a parameter: [pattern, route, (match) => params]. */
  const PATTERNS = [
    [/^\/admin\/users\/([^/]+)$/, { view: viewAdminUser, auth: true, admin: true }, (m) => ({ id: m[1] })],
  ];

  function matchRoute(path) {
    if (Object.prototype.hasOwnProperty.call(ROUTES, path)) return { route: ROUTES[path], params: {} };
    for (const [re, route, params] of PATTERNS) {
      const m = re.exec(path);
      if (!m) continue;
      try {
        return { route, params: params(m.map((part) => decodeURIComponent(part))) };
      } catch (_) {
        return { route: null, params: {} }; /* malformed %-escape */
      }
    }
    return { route: null, params: {} };
  }

  function currentPath() {
    const raw = location.hash.replace(/^#/, '');
    const path = raw.split('?')[0].replace(/\/+$/, '');
    return path || '';
  }

  /* The path and its query, to come back to after logging in. */
  function currentTarget() {
    const raw = location.hash.replace(/^#/, '');
    const i = raw.indexOf('?');
    return i < 0 ? currentPath() : currentPath() + raw.slice(i);
  }

  function go(path) {
    if (currentPath() === path) render();
    else location.hash = `#${path}`;
  }

  async function render() {
    const seq = ++state.renderSeq;
    const path = currentPath();
    if (path === '') {
      location.replace(`#${signedIn() ? '/profile' : '/login'}`);
      return;
    }
    const { route, params } = matchRoute(path);
    if (route && route.auth && !signedIn()) {
      state.afterLogin = currentTarget();
      if (!state.pendingFlash) flashLater('info', 'Please log in to continue.');
      location.replace('#/login');
      return;
    }
    if (route && route.guest && signedIn()) {
      location.replace('#/profile');
      return;
    }
    updateNav();
    const flash = state.pendingFlash;
    state.pendingFlash = null;
    showFlash(flash ? flash.kind : null, flash ? flash.text : null);

    const target = dom.view();
    target.setAttribute('aria-busy', 'true');
    const slow = setTimeout(() => {
      if (seq === state.renderSeq) target.replaceChildren(loadingView());
    }, 150);
    let out;
    try {
      out = await (route ? route.view(seq, params) : viewNotFound());
    } catch (err) {
      if (seq !== state.renderSeq) return;
      if (err && err.status === 401 && !signedIn()) {
        clearTimeout(slow);
        state.afterLogin = currentTarget();
        location.replace('#/login');
        return;
      }
      if (err && err.status === 403 && route && route.admin) out = { view: adminRefusedView(), narrow: true };
      else out = { view: errorView(err, () => render()) };
    } finally {
      clearTimeout(slow);
    }
    if (!out || seq !== state.renderSeq) return;
    const samePage = target.dataset.path === path;
    $('#main').classList.toggle('main-wide', Boolean(route && route.admin && !out.narrow));
    target.replaceChildren(out.view);
    target.dataset.path = path;
    if (!samePage) window.scrollTo(0, 0);
    target.setAttribute('aria-busy', 'false');
    updateNav();
    const heading = $('h1', target);
    /* The first view of a page load leaves the focus at the top, so that
     * Tab reaches "Skip to content" first; later views take the focus. */
    const firstView = !state.viewShown;
    state.viewShown = true;
    if (firstView) return;
    if (out.focus && !matchMedia('(hover: none)').matches) out.focus.focus();
    else if (heading) heading.focus({ preventScroll: true });
  }

  async function logout() {
    const btn = $('#logout');
    btn.disabled = true;
    btn.textContent = 'Logging out…';
    let message = { kind: 'success', text: 'You are logged out.' };
    try {
      await api('POST', '/logout', {});
    } catch (err) {
      if (err.status !== 401) {
        message = { kind: 'error', text: `Logging out on the server failed: ${problemText(err)}` };
      }
    } finally {
      btn.disabled = false;
      btn.textContent = 'Log out';
    }
    setProfile(null);
    state.pendingFlash = message;
    state.afterLogin = null;
    go('/login');
  }

  /* ------------------------------------------------------------- start */

  /* Until GET /profile answers nobody knows whether the user is signed in
   * (the cookies are HttpOnly): the nav shows neither menu (html without
   * .ready, app.css) and the view a neutral skeleton, never the guest's. */
  function startingView() {
    return h('section', { class: 'card skeleton', id: 'starting', 'aria-busy': 'true' },
      h('p', { class: 'visually-hidden', role: 'status', text: 'Loading…' }),
      h('div', { class: 'skeleton-line skeleton-title' }),
      h('div', { class: 'skeleton-line' }),
      h('div', { class: 'skeleton-line' }),
      h('div', { class: 'skeleton-line skeleton-short' }));
  }

  /* The service could not say who the user is (no answer, an unreadable
   * one or a 5xx): not the login form, which would tell a signed-in user
   * they are out. Resolves when the user asks again or after `delay` s. */
  function unavailableWait(err, delay, focus) {
    return new Promise((resolve) => {
      let left = delay;
      const count = h('p', { id: 'unavailable-countdown', class: 'muted' });
      const tick = () => {
        count.textContent = `Trying again by itself in ${left} s.`;
      };
      let timer = null;
      const done = () => {
        clearInterval(timer);
        resolve();
      };
      timer = setInterval(() => {
        left -= 1;
        if (left <= 0) done();
        else tick();
      }, 1000);
      tick();
      const btn = h('button', { type: 'button', class: 'button button-primary', id: 'unavailable-retry' }, 'Retry');
      btn.addEventListener('click', done);
      document.title = `Service unavailable · ${APP_NAME}`;
      const view = h('section', { class: 'card', id: 'unavailable' },
        h('h1', { class: 'card-title', tabindex: '-1', text: 'The service is unavailable' }),
        h('div', { class: 'alert alert-error', role: 'alert' },
          h('p', { class: 'alert-title', text: err.status === 0
            ? 'Could not reach the server. Check your connection; we keep trying.'
            : 'The service is not answering right now. It is probably starting or busy; we keep trying.' }),
          problemDetails(err)),
        count,
        h('div', { class: 'actions' }, btn));
      dom.view().replaceChildren(view);
      dom.view().setAttribute('aria-busy', 'false');
      if (focus) btn.focus();
    });
  }

  let started = false;

  /* "Skip to content": the address's hash is the router's, so the link
   * moves the focus to <main> itself instead of navigating to #main. */
  function skipToContent(event) {
    event.preventDefault();
    const main = $('#main');
    main.focus();
    main.scrollIntoView();
  }

  async function boot() {
    $('#skip-link').addEventListener('click', skipToContent);
    $('#logout').addEventListener('click', logout);
    window.addEventListener('hashchange', () => {
      if (started) render();
    });
    /* Shown at once only if the answer is slow, so a quick start does not
     * flash a skeleton. */
    const slow = setTimeout(() => dom.view().replaceChildren(startingView()), 150);
    for (let attempt = 1; ; attempt++) {
      try {
        await loadProfile();
        break;
      } catch (err) {
        if (err.unavailable) {
          clearTimeout(slow);
          /* Backoff: 2, 4, 8, 16, then every 30 s. */
          await unavailableWait(err, Math.min(30, 2 ** attempt), attempt === 1);
          dom.view().replaceChildren(startingView());
          continue;
        }
        setProfile(null);
        state.pendingFlash = null;
        if (err.status !== 401) flashLater('error', `Could not load your session: ${problemText(err)}`);
        break;
      }
    }
    clearTimeout(slow);
    started = true;
    document.documentElement.classList.add('ready');
    render();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();

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
    afterLogin: null,  /* route to return to once logged in */
    renderSeq: 0,      /* bumps on each navigation; stale async renders stop */
    loginUsername: '', /* prefills the login form after registering */
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
      const ra = Number(p.retry_after || (headers && headers.get('Retry-After')) || 0);
      this.retryAfter = Number.isFinite(ra) && ra > 0 ? ra : 0;
    }
  }

  const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
  /* Calls for which a 401 means "wrong credentials", not "token expired". */
  const NO_REFRESH = new Set(['/login', '/register', '/refresh']);

  async function readBody(res) {
    const type = res.headers.get('Content-Type') || '';
    const text = await res.text().catch(() => '');
    if (!text) return {};
    if (type.includes('json')) {
      try {
        return JSON.parse(text);
      } catch (_) {
        return { detail: 'The server sent an unreadable answer.' };
      }
    }
    return { detail: text.slice(0, 300) };
  }

  function send(method, path, body, headers) {
    const init = {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: Object.assign({ 'Content-Type': 'application/json', Accept: 'application/json' }, headers || {}),
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

  function initials(profile) {
    const name = (profile.display_name || profile.username || '?').trim();
    const parts = name.split(/\s+/).filter(Boolean);
    const chars = parts.length > 1 ? [parts[0], parts[parts.length - 1]] : [name];
    return chars.map((p) => Array.from(p)[0] || '').join('').toUpperCase() || '?';
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
    const name = inside ? state.profile.display_name || state.profile.username || '' : '';
    $('#nav-username').textContent = name;
    $('.nav-who').title = name ? `Signed in as ${name}` : '';
    const current = currentPath();
    for (const a of document.querySelectorAll('.nav [data-route]')) {
      if (a.getAttribute('data-route') === current) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
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
    close.addEventListener('click', () => box.remove());
    area.append(box);
  }

  function setProfile(profile, etag) {
    state.profile = profile || null;
    if (etag !== undefined) state.etag = etag;
    if (!profile) state.etag = null;
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
    setProfile(data.profile || {}, headers.get('ETag'));
    return state.profile;
  }

  /* ------------------------------------------------------------- forms */

  /* fields: [{name, label, type, autocomplete, hint, value, required,
   * maxlength, multiline, inputmode, placeholder, spellcheck}] */
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
        maxlength: f.maxlength || null,
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
          counter.textContent = `${Array.from(input.value).length}/${f.maxlength}`;
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
      /* Shows an ApiError (or any Error): the problem's detail on top, each
       * field error under its input; focus goes to the first bad input. */
      showError(err) {
        ctl.clearErrors();
        let first = null;
        const unplaced = [];
        for (const fe of (err && err.fieldErrors) || []) {
          const el = inputs[fe.field];
          if (!el) {
            unplaced.push(fe);
            continue;
          }
          const e = $(`#${el.id}-error`, form);
          e.textContent = e.textContent ? `${e.textContent}; ${fe.message}` : fe.message;
          e.hidden = false;
          el.setAttribute('aria-invalid', 'true');
          if (!first) first = el;
        }
        const parts = [h('p', { class: 'alert-title', text: problemText(err) })];
        if (unplaced.length) {
          parts.push(h('ul', null, unplaced.map((fe) => h('li', { text: `${fe.field}: ${fe.message}` }))));
        }
        if (err && err.requestId) parts.push(h('p', { class: 'alert-meta', text: `Reference: ${err.requestId}` }));
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
    const btn = h('button', { type: 'button', class: 'button' }, 'Try again');
    btn.addEventListener('click', retry);
    return h('section', { class: 'card' },
      h('h1', { class: 'card-title', tabindex: '-1', text: 'Something went wrong' }),
      h('div', { class: 'alert alert-error', role: 'alert' },
        h('p', { class: 'alert-title', text: problemText(err) }),
        err && err.requestId ? h('p', { class: 'alert-meta', text: `Reference: ${err.requestId}` }) : null),
      h('div', { class: 'actions' }, btn));
  }

  function viewLogin() {
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
        await api('POST', '/login', { body: { username: v.username.trim(), password: v.password } });
        await loadProfile();
        state.loginUsername = '';
        const next = state.afterLogin || '/profile';
        state.afterLogin = null;
        go(next);
      },
    });
    const view = page('Log in',
      h('p', { class: 'lead', text: 'Welcome back. Log in to see your profile.' }),
      ctl.form);
    return { view, focus: ctl.inputs[state.loginUsername ? 'password' : 'username'] };
  }

  function viewRegister() {
    const ctl = buildForm({
      id: 'register',
      submit: 'Create account',
      fields: [
        { name: 'username', label: 'Username', autocomplete: 'username', required: true,
          hint: '3 to 32 characters: letters, digits, “_”, “.” and “-”.', maxlength: 32,
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
        const { data } = await api('POST', '/register', {
          body: { username: v.username.trim(), email: v.email.trim(), password: v.password },
        });
        const name = (data.user && data.user.username) || v.username.trim();
        state.loginUsername = name;
        flashLater('success', `Account “${name}” created. You can log in now.`);
        go('/login');
      },
    });
    const view = page('Create an account',
      h('p', { class: 'lead', text: 'One account for every microcore service.' }),
      ctl.form);
    return { view, focus: ctl.inputs.username };
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
      row('Last updated', timeEl(p.updated_at)),
      row('Version', h('span', { class: 'mono', text: String(p.version || '') })));
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
      profileDetails(p),
      h('div', { class: 'actions' },
        h('a', { href: '#/profile/edit', class: 'button button-primary' }, 'Edit profile'),
        h('a', { href: '#/sessions', class: 'button button-quiet' }, 'Manage sessions')));
    return { view };
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
          maxlength: 64, counter: true, hint: 'Shown instead of your username.' },
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
            throw new ApiError(412, Object.assign({}, err.problem, {
              detail: 'Your profile was changed somewhere else since this page loaded. ' +
                'Reload to get the latest version, then make your changes again.',
            }));
          }
          throw err;
        }
        flashLater('success', 'Profile saved.');
        go('/profile');
      },
    });
    const reload = h('button', { type: 'button', class: 'button button-quiet', id: 'profile-reload' }, 'Reload profile');
    reload.addEventListener('click', () => render());
    const view = page('Edit profile',
      h('div', { class: 'profile-head profile-head-sm' },
        avatar(p, 'md'),
        h('div', { class: 'profile-names' },
          h('p', { class: 'profile-name', text: p.display_name || p.username }),
          h('p', { class: 'profile-handle muted', text: `@${p.username}` }))),
      ctl.form,
      h('p', { class: 'hint reload-hint' }, 'Changed your profile in another tab? ', reload));
    return { view, focus: ctl.inputs.display_name };
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
        item.remove();
        showFlash('success', 'Session ended.');
        const left = list.querySelectorAll('li').length;
        $('#session-count').textContent = sessionCountText(left);
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
    return n === 1
      ? 'You are signed in on 1 device or browser.'
      : `You are signed in on ${n} devices or browsers.`;
  }

  function viewNotFound() {
    return {
      view: page('Page not found',
        h('p', { class: 'lead', text: 'There is nothing at this address.' }),
        h('div', { class: 'actions' },
          h('a', { href: signedIn() ? '#/profile' : '#/login', class: 'button button-primary' },
            signedIn() ? 'Go to your profile' : 'Go to log in'))),
    };
  }

  /* ------------------------------------------------------------ routing */

  const ROUTES = {
    '/login': { view: viewLogin, guest: true },
    '/register': { view: viewRegister, guest: true },
    '/profile': { view: viewProfile, auth: true },
    '/profile/edit': { view: viewProfileEdit, auth: true },
    '/sessions': { view: viewSessions, auth: true },
  };

  function currentPath() {
    const raw = location.hash.replace(/^#/, '');
    const path = raw.split('?')[0].replace(/\/+$/, '');
    return path || '';
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
    const route = ROUTES[path];
    if (route && route.auth && !signedIn()) {
      state.afterLogin = path;
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
      out = await (route ? route.view(seq) : viewNotFound());
    } catch (err) {
      if (seq !== state.renderSeq) return;
      if (err && err.status === 401 && !signedIn()) {
        clearTimeout(slow);
        state.afterLogin = path;
        location.replace('#/login');
        return;
      }
      out = { view: errorView(err, () => render()) };
    } finally {
      clearTimeout(slow);
    }
    if (!out || seq !== state.renderSeq) return;
    const samePage = target.dataset.path === path;
    target.replaceChildren(out.view);
    target.dataset.path = path;
    if (!samePage) window.scrollTo(0, 0);
    target.setAttribute('aria-busy', 'false');
    updateNav();
    const heading = $('h1', target);
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

  async function boot() {
    $('#logout').addEventListener('click', logout);
    window.addEventListener('hashchange', () => render());
    try {
      await loadProfile();
    } catch (err) {
      setProfile(null);
      state.pendingFlash = null;
      if (err.status !== 401) flashLater('error', `Could not load your session: ${problemText(err)}`);
    }
    document.documentElement.classList.add('ready');
    render();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();

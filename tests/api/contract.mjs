// The contract test: every operation of the edge's OpenAPI document is
// called against the running stack, for its success and for each error a
// test can provoke, and every answer must be one the document lists for
// that operation: its status listed, its body valid against the schema of
// its content type (Ajv, JSON Schema 2020-12, with formats), its required
// headers present and valid, the API's own headers it carries listed, the
// parameters it used documented. Each request also states the status it
// must get, so a case that stops provoking its error fails too. Ends with a
// table of the statuses seen per operation; an operation never called fails.
//
// Usage: node contract.mjs BASE_URL DOCUMENT.json
// Env: API_NODE_MODULES (ajv, ajv-formats), API_SVC_AUTH (the svc-auth
// binary, for promote-admin), API_PIDS ("auth:PID user:PID admin:PID": the
// services, stopped one by one at the end for the 503 answers),
// API_REGISTER_MAX (registrations per address the stack allows),
// API_LOGIN_MAX (login attempts per username), API_MAX_BODY (the edge's
// EDGE_MAX_BODY_BYTES).
import { createRequire } from 'node:module';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';

const [base, docPath] = process.argv.slice(2);
const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const require = createRequire(join(env('API_NODE_MODULES'), 'api.cjs'));
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats').default;

const doc = JSON.parse(readFileSync(docPath, 'utf8'));
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const problems = [];
const problem = (msg) => {
  problems.push(msg);
  console.error(`FAIL: ${msg}`);
};

// --- The document's schemas -------------------------------------------------

// A JSON pointer into the document ("#/components/schemas/Problem").
function pointer(ref) {
  if (!ref.startsWith('#/')) throw new Error(`$ref ${ref}: only local references are expected`);
  let at = doc;
  for (const raw of ref.slice(2).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (at === null || typeof at !== 'object' || !(part in at)) throw new Error(`$ref ${ref} resolves to nothing`);
    at = at[part];
  }
  return at;
}
// A response, header or parameter object, following its $ref if any.
function deref(obj) {
  for (let n = 0; obj && obj.$ref && n < 16; n++) obj = pointer(obj.$ref);
  return obj;
}
const escapePtr = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');

// The whole document is added as one schema resource, so that a schema
// compiled from inside it (by its JSON pointer) resolves its
// "#/components/..." references against the document. The OpenAPI Schema
// Object's own keywords and any x- extension are annotations.
// Strict about keywords (a misspelt one is an error), not about style.
const ajv = new Ajv2020({ strict: false, strictSchema: true, strictNumbers: true, allErrors: true });
addFormats(ajv);
ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
const known = new Set(Object.keys(ajv.formats));
const seenKeys = new Set();
(function scan(node) {
  if (Array.isArray(node)) return node.forEach(scan);
  if (!node || typeof node !== 'object') return;
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith('x-')) seenKeys.add(k);
    if (k === 'format' && typeof v === 'string' && !known.has(v)) {
      // OpenAPI allows formats of its own; they are named and not checked.
      console.log(`note: format "${v}" is not one Ajv checks; not checked`);
      ajv.addFormat(v, true);
      known.add(v);
    }
    scan(v);
  }
})(doc.components?.schemas ?? {});
for (const k of seenKeys) ajv.addKeyword(k);
// Only paths and components: the document's other members are no keywords.
const DOC_ID = 'urn:microcore:openapi';
ajv.addKeyword('paths');
ajv.addKeyword('components');
ajv.addSchema({ $id: DOC_ID, paths: doc.paths ?? {}, components: doc.components ?? {} });
const validators = new Map();
function validatorAt(ptr) {
  if (!validators.has(ptr)) {
    let v;
    try {
      v = ajv.getSchema(`${DOC_ID}#${ptr}`);
      if (!v) throw new Error('no schema there');
    } catch (e) {
      problem(`the schema at ${ptr} does not compile: ${e.message}`);
      v = null;
    }
    validators.set(ptr, v);
  }
  return validators.get(ptr);
}
// Every component schema compiles (an error here is the document's).
for (const name of Object.keys(doc.components?.schemas ?? {})) {
  validatorAt(`/components/schemas/${escapePtr(name)}`);
}

// --- Operations --------------------------------------------------------------

// "METHOD /template" -> { method, template, op, ptr }
const operations = new Map();
for (const [template, item] of Object.entries(doc.paths ?? {})) {
  for (const m of METHODS) {
    if (!item[m]) continue;
    const key = `${m.toUpperCase()} ${template}`;
    operations.set(key, {
      key,
      method: m,
      template,
      op: item[m],
      ptr: `/paths/${escapePtr(template)}/${m}`,
      seen: new Map(), // status -> count
    });
  }
}
if (operations.size === 0) problem('the document has no operation');

const errorText = (errors) =>
  errors.map((e) => `${e.instancePath || '(root)'} ${e.message}${e.params && Object.keys(e.params).length ? ' ' + JSON.stringify(e.params) : ''}`).join('; ');

const mediaType = (ct) => (ct || '').split(';')[0].trim().toLowerCase();
const isJson = (mt) => mt === 'application/json' || mt.endsWith('+json');

// The answer headers that carry the API's meaning (not the security and
// caching headers every answer has).
const OWN_HEADERS = ['etag', 'location', 'retry-after', 'set-cookie', 'www-authenticate', 'allow', 'x-request-id',
  'traceparent'];

// The headers docs/api.md promises whatever the document marks required:
// X-Request-Id and traceparent on every answer, WWW-Authenticate on 401, Retry-After on
// 429 (a 503 has it only when the edge knows when to retry: a call that
// loses its service mid-way has none).
function promisedHeaders(status) {
  const h = ['x-request-id', 'traceparent'];
  if (status === 401) h.push('www-authenticate');
  if (status === 429) h.push('retry-after');
  return h;
}

// Checks one answer against the document; returns the problems found.
function checkAnswer(o, status, headers, text) {
  const errs = [];
  const responses = o.op.responses ?? {};
  let rptr = `${o.ptr}/responses/${status}`;
  let r = responses[String(status)];
  if (!r) {
    const listed = Object.keys(responses).join(', ');
    return [`status ${status} is not listed (listed: ${listed})`];
  }
  if (r.$ref) {
    rptr = r.$ref.slice(1);
    r = deref(r);
  }
  const mt = mediaType(headers.get('content-type'));
  const content = r.content ?? {};
  if (o.method === 'head' || status === 204 || status === 304) {
    if (text.length > 0) errs.push(`${status} has a body`);
  } else if (Object.keys(content).length === 0) {
    if (text.length > 0) errs.push(`${status} has a body (${mt || 'no Content-Type'}) the document does not describe`);
  } else if (!(mt in content)) {
    errs.push(`Content-Type "${mt}" is not listed for ${status} (listed: ${Object.keys(content).join(', ')})`);
  } else if (content[mt].schema !== undefined) {
    let value = text;
    let parsed = true;
    if (isJson(mt)) {
      try {
        value = JSON.parse(text);
      } catch {
        errs.push(`the ${mt} body is not JSON: ${text.slice(0, 200)}`);
        parsed = false;
      }
    }
    const v = parsed && validatorAt(`${rptr}/content/${escapePtr(mt)}/schema`);
    if (v && !v(value)) errs.push(`body ${text.slice(0, 300)} fails its schema: ${errorText(v.errors)}`);
  }
  // The reverse: a header of the API's own that the answer carries must be
  // listed for it.
  const listed = Object.keys(r.headers ?? {}).map((k) => k.toLowerCase());
  for (const name of OWN_HEADERS) {
    if (headers.has(name) && !listed.includes(name)) errs.push(`header ${name} is sent but not listed for ${status}`);
  }
  for (const [name, h0] of Object.entries(r.headers ?? {})) {
    const h = deref(h0);
    const value = headers.get(name);
    if (value === null) {
      if (h.required) errs.push(`required header ${name} is missing`);
      continue;
    }
    if (h.schema === undefined) continue;
    const hptr = h0.$ref ? h0.$ref.slice(1) : `${rptr}/headers/${escapePtr(name)}`;
    const v = validatorAt(`${hptr}/schema`);
    const type = deref(h.schema).type;
    const typed = type === 'integer' || type === 'number' ? Number(value) : value;
    if (v && !v(typed)) errs.push(`header ${name}: ${JSON.stringify(value)} fails its schema: ${errorText(v.errors)}`);
  }
  return errs;
}

// The parameters a request uses must be the operation's (or its path's):
// its query parameters, {id}, and the request headers the edge reads. NOT
// lists those a case sends on purpose although undocumented.
const READ_HEADERS = ['if-match', 'token-delivery', 'x-request-id', 'traceparent'];
function checkParameters(o, path, headers, not, expect) {
  // Each parameter with the pointer of its schema in the document.
  const params = [];
  const add = (list, at) =>
    (list ?? []).forEach((p, i) => params.push({ p: deref(p), ptr: p.$ref ? p.$ref.slice(1) : `${at}/${i}` }));
  add(doc.paths[o.template].parameters, `/paths/${escapePtr(o.template)}/parameters`);
  add(o.op.parameters, `${o.ptr}/parameters`);
  const find = (where, name) => params.find(({ p }) => p.in === where && p.name.toLowerCase() === name.toLowerCase());
  const errs = [];
  const url = new URL(path, base);
  for (const name of new Set(url.searchParams.keys())) {
    const q = find('query', name);
    if (!q) {
      if (!not.includes(name)) errs.push(`query parameter ${name} is not documented`);
      continue;
    }
    // A value sent for success must be one the document allows.
    const v = expect < 300 && q.p.schema ? validatorAt(`${q.ptr}/schema`) : null;
    const type = v && deref(q.p.schema).type;
    const raw = url.searchParams.get(name);
    const value = type === 'integer' || type === 'number' ? Number(raw) : type === 'boolean' ? raw === 'true' : raw;
    if (v && !v(value)) errs.push(`query parameter ${name}=${raw} fails its schema: ${errorText(v.errors)}`);
  }
  for (const m of o.template.matchAll(/\{([^}]+)\}/g)) {
    const pp = find('path', m[1]);
    if (!pp) {
      errs.push(`path parameter ${m[1]} is not documented`);
      continue;
    }
    const re = new RegExp('^' + o.template.split(`{${m[1]}}`).map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('([^/]+)') + '$');
    const id = decodeURIComponent(url.pathname.match(re)?.[1] ?? '');
    const v = expect < 300 && pp.p.schema ? validatorAt(`${pp.ptr}/schema`) : null;
    if (v && !v(id)) errs.push(`path parameter ${m[1]}=${id} fails its schema: ${errorText(v.errors)}`);
  }
  for (const name of Object.keys(headers)) {
    if (READ_HEADERS.includes(name.toLowerCase()) && !find('header', name)) errs.push(`header ${name} is not documented`);
  }
  return errs;
}

// --- Requests ---------------------------------------------------------------

// One HTTP/1.1 request with node:http (fetch cannot send a body with GET,
// nor keep an early answer when the server stops reading the body).
// Resolves to { status, headers (a Headers), text }.
function send(method, path, headers0, body) {
  // Node sends a GET's or a DELETE's body unframed unless told its length.
  const headers = body === undefined ? headers0 : { ...headers0, 'Content-Length': Buffer.byteLength(body) };
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, base), { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const h = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
        resolve({ status: res.statusCode, headers: h, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    // The edge may answer (413) and close before the body is all sent.
    req.on('error', (e) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? null : reject(e)));
    req.setTimeout(10000, () => req.destroy(new Error('no answer within 10 s')));
    req.end(body);
  });
}

let cases = 0;
// One request: OP is the operation ("PATCH /admin/users/{id}"), PATH the
// path actually asked (defaults to OP's), EXPECT the status it must get.
// Returns { status, headers, text, json }.
async function call(opKey, expect, what, req = {}) {
  cases++;
  const [method, template] = opKey.split(' ');
  const path = req.path ?? template;
  const headers = { ...(req.headers ?? {}) };
  if (req.token) headers.Authorization = `Bearer ${req.token}`;
  if (req.cookie) headers.Cookie = req.cookie;
  if (req.ip) headers['X-Forwarded-For'] = req.ip;
  let body;
  if (req.raw !== undefined) {
    body = req.raw;
    headers['Content-Type'] ??= 'application/json';
  } else if (req.json !== undefined) {
    body = JSON.stringify(req.json);
    headers['Content-Type'] ??= 'application/json';
  }
  let res;
  try {
    res = await send(method, path, headers, body);
  } catch (e) {
    problem(`${opKey} (${what}): the request failed: ${e.message}`);
    return { status: 0, headers: new Headers(), text: '', json: undefined };
  }
  const text = res.text;
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const label = `${opKey} (${what})`;
  if (res.status !== expect) {
    problem(`${label}: expected ${expect}, got ${res.status}: ${text.slice(0, 300)}`);
  }
  const o = operations.get(opKey);
  if (!o) {
    problem(`${label}: the document has no operation ${opKey}`);
  } else {
    for (const e of checkParameters(o, path, headers, req.undocumented ?? [], expect)) problem(`${label}: ${e}`);
    o.seen.set(res.status, (o.seen.get(res.status) ?? 0) + 1);
    for (const name of promisedHeaders(res.status)) {
      if (!res.headers.has(name)) problem(`${label}: ${res.status} without ${name}, which docs/api.md promises: ${text.slice(0, 200)}`);
    }
    for (const e of checkAnswer(o, res.status, res.headers, text)) problem(`${label}: ${res.status}: ${e}`);
  }
  return { status: res.status, headers: res.headers, text, json };
}

// The request body schema of an operation must accept the bodies the tests
// send for success and reject the ones sent for "unknown member".
function checkRequestBody(opKey, body, accepted) {
  const o = operations.get(opKey);
  const rb = o && deref(o.op.requestBody);
  if (!rb) {
    if (o) problem(`${opKey}: the document lists no request body`);
    return;
  }
  if (!rb.content?.['application/json']) {
    problem(`${opKey}: the request body is not application/json`);
    return;
  }
  const rptr = o.op.requestBody.$ref ? o.op.requestBody.$ref.slice(1) : `${o.ptr}/requestBody`;
  const v = validatorAt(`${rptr}/content/application~1json/schema`);
  if (!v) return;
  const ok = v(body);
  if (ok !== accepted) {
    problem(`${opKey}: the request body schema ${accepted ? 'rejects' : 'accepts'} ${JSON.stringify(body)}` +
      (ok ? '' : `: ${errorText(v.errors)}`));
  }
}

// Every client its own address (the edge trusts 127.0.0.1 as a proxy), so
// that the per-address registration limit counts only the case that
// provokes it.
// The addresses are random per run: the test Redis keeps its counters for
// the window, across runs and beside other tests.
const suffix = randomBytes(4).toString('hex');
let ipCounter = 1;
const ipBase = `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;
const freshIp = () => `${ipBase}.${ipCounter++}`;
const uname = (n) => `api_${n}_${suffix}`;
const password = 'correct horse battery staple';
const REGISTER_MAX = Number(env('API_REGISTER_MAX'));
const LOGIN_MAX = Number(env('API_LOGIN_MAX'));
const MAX_BODY = Number(env('API_MAX_BODY'));
const big = () => JSON.stringify({ username: 'x'.repeat(MAX_BODY + 1) });
const ORIGIN = { Origin: base };
const FOREIGN = { Origin: 'https://elsewhere.example' };

// The errors every route with a JSON body answers before any service is
// asked: malformed JSON, an unknown member, wrong content type, too big.
async function bodyErrors(opKey, auth, path, valid) {
  await call(opKey, 400, 'malformed JSON', { ...auth, path, raw: '{"a":' });
  const unknown = { ...valid, no_such_member: 1 };
  checkRequestBody(opKey, unknown, false);
  await call(opKey, 400, 'unknown member', { ...auth, path, json: unknown });
  await call(opKey, 415, 'text/plain body', {
    ...auth, path, raw: JSON.stringify(valid), headers: { 'Content-Type': 'text/plain' },
  });
  await call(opKey, 413, 'body over EDGE_MAX_BODY_BYTES', { ...auth, path, raw: big() });
}
// The errors of a route that needs a token: none, a garbled one.
const authedOps = new Set(); // operations whose 401 without a token was seen
async function authErrors(opKey, path, req = {}) {
  authedOps.add(opKey);
  await call(opKey, 401, 'no token', { ...req, path });
  await call(opKey, 401, 'garbled token', { ...req, path, token: 'not.a.token' });
}

async function register(name, ip, expect = 201) {
  const json = { username: name, email: `${name}@example.com`, password };
  if (expect === 201) checkRequestBody('POST /register', json, true);
  return call('POST /register', expect, expect === 201 ? 'new user' : 'registration', { json, ip });
}
async function login(name, what = 'password', extra = {}) {
  const json = { username: name, password };
  checkRequestBody('POST /login', json, true);
  const r = await call('POST /login', 200, what, { json, ip: freshIp(), ...extra });
  return r.json ?? {};
}
// The value of cookie NAME among the answer's Set-Cookie lines.
function cookieOf(headers, name) {
  const lines = headers.getSetCookie ? headers.getSetCookie() : [headers.get('set-cookie') ?? ''];
  for (const l of lines) {
    const m = l.match(new RegExp(`(?:^|, )${name.replace(/[-]/g, '\\-')}=([^;]*)`));
    if (m) return m[1];
  }
  return null;
}

// --- The cases ----------------------------------------------------------------

async function publicRoutes() {
  for (const op of ['GET /healthz', 'GET /openapi.json', 'GET /readyz', 'GET /metrics']) {
    if (operations.has(op)) await call(op, 200, 'up');
  }
  const j = await call('GET /.well-known/jwks.json', 200, 'the keys');
  if (!/max-age=[0-9]+/.test(j.headers.get('cache-control') ?? '')) {
    problem(`GET /.well-known/jwks.json: Cache-Control ${j.headers.get('cache-control')} has no max-age`);
  }
}

async function registration(users, ids) {
  for (const [k, name] of Object.entries(users)) {
    const r = await register(name, freshIp());
    ids[k] = r.json?.user?.id;
    if (!ids[k]) problem(`POST /register: no user.id in ${r.text.slice(0, 200)}`);
  }
  // Made admin in authdb by svc-auth itself, before its first login.
  execFileSync(env('API_SVC_AUTH'), ['promote-admin', users.admin], { stdio: ['ignore', 'ignore', 'inherit'] });
  await call('POST /register', 400, 'invalid username', {
    json: { username: 'has space', email: 'space@example.com', password }, ip: freshIp(),
  });
  await register(users.user, freshIp(), 409);
  // A taken email with a new username: answered as a new account.
  await call('POST /register', 201, 'taken email, new username', {
    json: { username: uname('dupmail'), email: `${users.user}@example.com`, password }, ip: freshIp(),
  });
  await call('POST /register', 403, 'foreign Origin', {
    json: { username: uname('origin'), email: 'origin@example.com', password }, ip: freshIp(), headers: FOREIGN,
  });
  await bodyErrors('POST /register', { ip: freshIp() }, undefined,
    { username: uname('body'), email: 'body@example.com', password });
  // The registration limit of one address: taken names count too.
  const ip = freshIp();
  for (let i = 0; i < REGISTER_MAX; i++) await register(uname(`lim${i}`), ip);
  await register(uname('over'), ip, 429);
}

async function loginRoutes(users, s) {
  s.user = await login(users.user);
  s.user2 = await login(users.user, 'second session');
  s.other = await login(users.other);
  s.victim = await login(users.victim);
  s.admin = await login(users.admin);
  const c = await call('POST /login', 200, 'Token-Delivery: cookie', {
    json: { username: users.other, password }, ip: freshIp(), headers: { 'Token-Delivery': 'cookie' },
  });
  s.cookie = { access: cookieOf(c.headers, '__Host-access'), refresh: cookieOf(c.headers, '__Host-refresh') };
  if (!s.cookie.access || !s.cookie.refresh) problem('POST /login: no __Host-access/__Host-refresh cookies');
  await call('POST /login', 403, 'foreign Origin', {
    json: { username: users.user, password }, ip: freshIp(), headers: FOREIGN,
  });
  await call('POST /login', 401, 'wrong password', { json: { username: users.user, password: 'wrong wrong wrong' }, ip: freshIp() });
  await call('POST /login', 400, 'bad Token-Delivery', {
    json: { username: users.user, password }, ip: freshIp(), headers: { 'Token-Delivery': 'smoke' },
  });
  await bodyErrors('POST /login', { ip: freshIp() }, undefined, { username: users.user, password });
  // The attempts of one username per window.
  for (let i = 0; i < LOGIN_MAX; i++) {
    await call('POST /login', 401, 'wrong password to throttle', {
      json: { username: users.victim, password: 'wrong wrong wrong' }, ip: freshIp(),
    });
  }
  await call('POST /login', 429, 'username throttled', { json: { username: users.victim, password }, ip: freshIp() });

  let json = { refresh_token: s.user2.refresh_token };
  checkRequestBody('POST /refresh', json, true);
  const r = await call('POST /refresh', 200, 'refresh token in the body', { json, ip: freshIp() });
  s.user2 = r.json ?? s.user2;
  await call('POST /refresh', 403, 'refresh cookie without Origin', {
    json: {}, ip: freshIp(), cookie: `__Host-refresh=${s.cookie.refresh}`,
  });
  const rc = await call('POST /refresh', 200, 'refresh cookie', {
    json: {}, ip: freshIp(), cookie: `__Host-refresh=${s.cookie.refresh}`,
    headers: { 'Token-Delivery': 'cookie', ...ORIGIN },
  });
  s.cookie.access = cookieOf(rc.headers, '__Host-access') ?? s.cookie.access;
  s.cookie.refresh = cookieOf(rc.headers, '__Host-refresh') ?? s.cookie.refresh;
  await call('POST /refresh', 401, 'unknown refresh token', { json: { refresh_token: 'x'.repeat(43) }, ip: freshIp() });
  await bodyErrors('POST /refresh', { ip: freshIp() }, undefined, { refresh_token: s.user2.refresh_token });
}

async function profileRoutes(s) {
  const user = { token: s.user.access_token };
  const g = await call('GET /profile', 200, 'bearer', user);
  await call('GET /profile', 200, 'cookie', { cookie: `__Host-access=${s.cookie.access}` });
  const rid = `api-test.${suffix}`;
  const echo = await call('GET /profile', 200, 'the client\'s X-Request-Id', { ...user, headers: { 'X-Request-Id': rid } });
  if (echo.headers.get('x-request-id') !== rid) problem(`GET /profile: X-Request-Id ${rid} answered as ${echo.headers.get('x-request-id')}`);
  const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const traced = await call('GET /profile', 200, 'the client\'s traceparent',
    { ...user, headers: { traceparent: `00-${trace}-00f067aa0ba902b7-01` } });
  const tp = traced.headers.get('traceparent') ?? '';
  if (!new RegExp(`^00-${trace}-[0-9a-f]{16}-01$`).test(tp) || tp.includes('00f067aa0ba902b7')) {
    problem(`GET /profile: traceparent of trace ${trace} answered as ${tp}`);
  }
  await authErrors('GET /profile');
  let etag = g.headers.get('etag');
  if (!/^"v[0-9]+"$/.test(etag ?? '')) problem(`GET /profile: 200 with ETag ${etag}, not "v<version>"`);
  for (const method of ['PUT', 'PATCH']) {
    const op = `${method} /profile`;
    const json = { display_name: `Name ${method}`, bio: 'bio', locale: 'en' };
    checkRequestBody(op, json, true);
    const u = await call(op, 200, 'If-Match current', { ...user, json, headers: { 'If-Match': etag ?? '*' } });
    const stale = etag;
    const u2 = await call(op, 200, 'no If-Match', { ...user, json: { bio: `${method} again` } });
    etag = u2.headers.get('etag') ?? u.headers.get('etag') ?? etag;
    await call(op, 412, 'stale If-Match', { ...user, json: { bio: 'late' }, headers: { 'If-Match': stale } });
    await call(op, 400, 'If-Match not an entity-tag', { ...user, json: { bio: 'x' }, headers: { 'If-Match': 'v1' } });
    await call(op, 400, 'wrong member type', { ...user, json: { display_name: 42 } });
    await call(op, 403, 'cookie without Origin', { cookie: `__Host-access=${s.cookie.access}`, json: { bio: 'csrf' } });
    await bodyErrors(op, user, undefined, { bio: 'b' });
    await authErrors(op, undefined, { json: { bio: 'anon' } });
  }
}

async function sessionRoutes(s) {
  const user = { token: s.user.access_token };
  const l = await call('GET /sessions', 200, 'bearer', user);
  await authErrors('GET /sessions');
  await call('GET /sessions/current', 200, 'bearer', user);
  await authErrors('GET /sessions/current');
  // The second session ends from the first; its access token still verifies.
  const cur2 = await call('GET /sessions/current', 200, 'second session', { token: s.user2.access_token });
  const id2 = cur2.json?.session?.id;
  if (!id2 || !l.json) problem('GET /sessions/current: no session id');
  const del = 'DELETE /sessions/{id}';
  await call(del, 403, 'cookie without Origin', { path: `/sessions/${id2}`, cookie: `__Host-access=${s.cookie.access}` });
  await call(del, 200, 'end the second session', { ...user, path: `/sessions/${id2}` });
  await call('GET /sessions/current', 404, 'session ended elsewhere', { token: s.user2.access_token });
  await call(del, 404, 'unknown id', { ...user, path: `/sessions/${id2}` });
  await call(del, 415, 'cookie and a text/plain body', {
    path: `/sessions/${id2}`, cookie: `__Host-access=${s.cookie.access}`,
    raw: '{}', headers: { ...ORIGIN, 'Content-Type': 'text/plain' },
  });
  await authErrors(del, `/sessions/${id2}`);
}

// Email verification. The token comes by mail, which this test does not
// read (tests/integration/mail_verify.sh does): every wrong token gets one
// 400; resending is throttled per user (AUTH_VERIFY_RESEND_MAX, 3).
async function emailRoutes(s) {
  const op = 'POST /email/verify';
  await call(op, 400, 'unknown token', { json: { token: 'A'.repeat(43) } });
  await call(op, 400, 'not a token', { json: { token: 'x' } });
  const re = 'POST /email/verify/resend';
  const user = { token: s.user2.access_token };
  for (let i = 0; i < 3; i++) await call(re, 200, 'a new mail', user);
  await call(re, 429, 'over AUTH_VERIFY_RESEND_MAX', user);
  await authErrors(re);
}

// Email change. The link comes by mail, which this test does not read
// (tests/integration/email_change.sh does): a free and a taken address get
// the same 200; every wrong token one 400; changes are throttled per user
// (AUTH_VERIFY_RESEND_MAX, 3).
async function emailChangeRoutes(s, users) {
  const op = 'POST /email';
  const me = { token: s.other.access_token };
  const json = { new_email: `${uname('moved')}@example.com`, current_password: password };
  checkRequestBody(op, json, true);
  await call(op, 400, 'no members', { ...me, json: {} });
  await call(op, 400, 'not an email', { ...me, json: { ...json, new_email: 'nope' } });
  await call(op, 401, 'wrong password', { ...me, json: { ...json, current_password: 'wrong wrong wrong' }, ip: freshIp() });
  await call(op, 403, 'cookie without Origin', { cookie: `__Host-access=${s.other.access_token}`, json });
  await bodyErrors(op, me, undefined, json);
  await authErrors(op, undefined, { json });
  await call(op, 200, 'a free address', { ...me, json, ip: freshIp() });
  await call(op, 200, 'a taken address', { ...me, json: { ...json, new_email: `${users.user}@example.com` }, ip: freshIp() });
  await call(op, 200, 'the third change', { ...me, json, ip: freshIp() });
  await call(op, 429, 'over AUTH_VERIFY_RESEND_MAX', { ...me, json, ip: freshIp() });
  const confirm = 'POST /email/confirm';
  checkRequestBody(confirm, { token: 'A'.repeat(43) }, true);
  await call(confirm, 400, 'unknown token', { json: { token: 'A'.repeat(43) } });
  await call(confirm, 400, 'not a token', { json: { token: 'x' } });
  await bodyErrors(confirm, {}, undefined, { token: 'A'.repeat(43) });
}

// Passwords. The reset token comes by mail, which this test does not read
// (tests/integration/password_flows.sh does): a wrong token gets the one
// 400; forgot is throttled per address (AUTH_FORGOT_MAX_PER_EMAIL, 3);
// a wrong current password counts as a failed login.
async function passwordRoutes(s, users) {
  const fo = 'POST /password/forgot';
  const fj = { email: `${users.pw}@example.com` };
  checkRequestBody(fo, fj, true);
  await call(fo, 202, 'a known address', { json: fj, ip: freshIp() });
  await call(fo, 202, 'an unknown address', { json: { email: `nobody_${suffix}@example.com` }, ip: freshIp() });
  await call(fo, 400, 'not an address', { json: { email: 'x' }, ip: freshIp() });
  for (let i = 0; i < 2; i++) await call(fo, 202, 'the address again', { json: fj, ip: freshIp() });
  await call(fo, 429, 'over AUTH_FORGOT_MAX_PER_EMAIL', { json: fj, ip: freshIp() });
  await bodyErrors(fo, { ip: freshIp() }, undefined, fj);

  const re = 'POST /password/reset';
  const rj = { token: 'A'.repeat(43), new_password: 'a new horse battery' };
  checkRequestBody(re, rj, true);
  await call(re, 400, 'unknown token', { json: rj });
  await call(re, 400, 'short new_password', { json: { ...rj, new_password: 'short' } });
  await bodyErrors(re, {}, undefined, rj);

  const ch = 'POST /password';
  const me = await login(users.pw, 'to change the password');
  const cj = { current_password: password, new_password: 'a new horse battery' };
  checkRequestBody(ch, cj, true);
  const mine = { token: me.access_token };
  await call(ch, 400, 'no new_password', { ...mine, json: { current_password: password }, ip: freshIp() });
  await call(ch, 401, 'wrong current password', {
    ...mine, json: { ...cj, current_password: 'wrong wrong wrong' }, ip: freshIp(),
  });
  await call(ch, 429, 'username throttled', { token: s.victim.access_token, json: cj, ip: freshIp() });
  await call(ch, 403, 'cookie without Origin', { cookie: `__Host-access=${me.access_token}`, json: cj });
  await call(ch, 400, 'Token-Delivery neither cookie nor body', {
    ...mine, json: cj, ip: freshIp(), headers: { 'Token-Delivery': 'smoke' },
  });
  await bodyErrors(ch, mine, undefined, cj);
  await authErrors(ch, undefined, { json: cj });
  const r = await call(ch, 200, 'the right password', { ...mine, json: cj, ip: freshIp() });
  if (!r.json?.access_token || !cookieOf(r.headers, '__Host-access')) {
    problem(`${ch}: 200 without a new access token in the body and its cookie`);
  }
  await call(ch, 401, 'a token from before the change', { ...mine, json: cj, ip: freshIp() });
}

// Two-factor login: enrolment, confirmation with a code (oathtool makes
// it), a login answering a ticket, its completion, new recovery codes,
// disabling and an admin's reset. Each code is of a later step than the
// one before it (a step works once).
const totp = (secret, steps = 0) => execFileSync('oathtool',
  ['--totp', '-b', '-N', `@${Math.floor(Date.now() / 1000) + 30 * steps}`, secret], { encoding: 'utf8' }).trim();
async function mfaRoutes(s, users, ids) {
  const me = { token: (await login(users.mfa, 'before two-factor login')).access_token };
  await call('GET /mfa', 200, 'off', me);
  await authErrors('GET /mfa');
  const enroll = 'POST /mfa/totp';
  const confirm = 'POST /mfa/totp/confirm';
  await call(confirm, 400, 'nothing pending', { ...me, json: { code: '123456' } });
  const ej = { current_password: password };
  checkRequestBody(enroll, ej, true);
  await call(enroll, 400, 'no password', { ...me, json: {} });
  await call(enroll, 401, 'wrong password', { ...me, json: { current_password: 'wrong wrong wrong' }, ip: freshIp() });
  await bodyErrors(enroll, me, undefined, ej);
  await authErrors(enroll, undefined, { json: ej });
  const e = await call(enroll, 200, 'the password', { ...me, json: ej, ip: freshIp() });
  const secret = e.json?.secret ?? 'A'.repeat(32);
  const wrong = (c) => String((Number(c) + 500000) % 1000000).padStart(6, '0');
  await call(confirm, 401, 'wrong code', { ...me, json: { code: wrong(totp(secret)) } });
  await bodyErrors(confirm, me, undefined, { code: '123456' });
  await authErrors(confirm, undefined, { json: { code: '123456' } });
  checkRequestBody(confirm, { code: totp(secret, -1) }, true);
  // Early in a step: a step ending between making the code and the
  // server's check would turn step -1 into step -2, outside the window.
  while (Math.floor(Date.now() / 1000) % 30 > 24) await new Promise((r) => setTimeout(r, 250));
  const c = await call(confirm, 200, 'a current code', { ...me, json: { code: totp(secret, -1) } });
  const codes = c.json?.recovery_codes ?? [];
  if (codes.length !== 10) problem(`${confirm}: ${codes.length} recovery codes, not 10`);
  await call(enroll, 400, 'on already', { ...me, json: ej, ip: freshIp() });

  const ip = freshIp();
  const l = await call('POST /login', 200, 'two-factor login on', { json: { username: users.mfa, password }, ip });
  if (l.json?.mfa_required !== true || l.json?.access_token) problem('POST /login: no mfa_required without tokens');
  const lm = 'POST /login/mfa';
  const ticket = l.json?.mfa_ticket ?? '';
  await call(lm, 400, 'neither code nor recovery code', { json: { mfa_ticket: ticket }, ip });
  await call(lm, 401, 'unknown ticket', { json: { mfa_ticket: 'A'.repeat(43), code: '123456' }, ip });
  await call(lm, 401, 'wrong code', { json: { mfa_ticket: ticket, code: wrong(totp(secret)) }, ip });
  await bodyErrors(lm, { ip }, undefined, { mfa_ticket: ticket, code: '123456' });
  const lj = { mfa_ticket: ticket, code: totp(secret) };
  checkRequestBody(lm, lj, true);
  const done = await call(lm, 200, 'ticket and code', { json: lj, ip });
  const mine = { token: done.json?.access_token };

  const regen = 'POST /mfa/recovery-codes';
  await call(regen, 400, 'neither code nor recovery code', { ...mine, json: {} });
  await call(regen, 401, 'wrong code', { ...mine, json: { code: wrong(totp(secret, 1)) } });
  await bodyErrors(regen, mine, undefined, { code: '123456' });
  await authErrors(regen, undefined, { json: { code: '123456' } });
  checkRequestBody(regen, { recovery_code: codes[0] }, true);
  const r = await call(regen, 200, 'a recovery code', { ...mine, json: { recovery_code: codes[0] } });
  const fresh = r.json?.recovery_codes ?? [];
  await call(regen, 401, 'a replaced recovery code', { ...mine, json: { recovery_code: codes[1] } });

  const dis = 'DELETE /mfa/totp';
  await call(dis, 401, 'wrong code', { ...mine, json: { code: wrong(totp(secret, 1)) } });
  await bodyErrors(dis, mine, undefined, { code: '123456' });
  await authErrors(dis, undefined, { json: { code: '123456' } });
  checkRequestBody(dis, { code: totp(secret, 1) }, true);
  await call(dis, 200, 'a code of the next step', { ...mine, json: { code: totp(secret, 1) } });
  await call(dis, 400, 'off already', { ...mine, json: { recovery_code: fresh[0] ?? 'x' } });

  // An admin resets a user's second factor.
  const admin = { token: s.admin.access_token };
  const reset = 'DELETE /admin/users/{id}/mfa';
  const path = `/admin/users/${ids.mfa}/mfa`;
  await call(reset, 403, 'not an admin', { token: s.user.access_token, path });
  await call(reset, 404, 'unknown id', { ...admin, path: `/admin/users/${ids.unknown}/mfa` });
  await call(reset, 400, 'not a user id', { ...admin, path: '/admin/users/x/mfa' });
  await authErrors(reset, path);
  const a = await call(reset, 200, 'a user', { ...admin, path });
  if (a.json?.was_enabled !== false) problem(`${reset}: was_enabled ${a.json?.was_enabled} for a user who turned it off`);
}

async function adminRoutes(s, ids) {
  const admin = { token: s.admin.access_token };
  const user = { token: s.user.access_token };
  const list = 'GET /admin/users';
  await call(list, 200, 'all', admin);
  await call(list, 200, 'filtered', { ...admin, path: `/admin/users?query=api_&page_size=2` });
  await call(list, 400, 'unknown query parameter', { ...admin, path: '/admin/users?colour=blue', undocumented: ['colour'] });
  await call(list, 403, 'not an admin', user);
  await authErrors(list);

  const one = 'GET /admin/users/{id}';
  const path = `/admin/users/${ids.other}`;
  const unknownPath = `/admin/users/${ids.unknown}`;
  await call(one, 200, 'a user', { ...admin, path });
  await call(one, 404, 'unknown id', { ...admin, path: unknownPath });
  await call(one, 400, 'not a user id', { ...admin, path: '/admin/users/x' });
  await call(one, 403, 'not an admin', { ...user, path });
  await authErrors(one, path);

  const upd = 'PATCH /admin/users/{id}';
  const listed = await call(one, 200, 'the status names', { ...admin, path });
  const names = statusNames(listed.json);
  checkRequestBody(upd, { status: names.disabled }, true);
  await call(upd, 200, 'disable', { ...admin, path, json: { status: names.disabled } });
  await call(upd, 200, 'enable', { ...admin, path, json: { status: names.active } });
  await call(upd, 400, 'the last admin demotes itself', { ...admin, path: `/admin/users/${ids.admin}`, json: { role: names.user } });
  await call(upd, 404, 'unknown id', { ...admin, path: unknownPath, json: { status: names.active } });
  await call(upd, 400, 'not a user id', { ...admin, path: '/admin/users/x', json: { status: names.active } });
  await call(upd, 403, 'not an admin', { ...user, path, json: { status: names.active } });
  await bodyErrors(upd, admin, path, { status: names.active });
  await authErrors(upd, path, { json: { status: names.active } });

  const rev = 'POST /admin/users/{id}/revoke-sessions';
  const rpath = `/admin/users/${ids.other}/revoke-sessions`;
  checkRequestBody(rev, {}, true);
  await call(rev, 200, 'no body', { ...admin, path: rpath });
  await call(rev, 200, 'empty object', { ...admin, path: rpath, json: {} });
  await call(rev, 404, 'unknown id', { ...admin, path: `/admin/users/${ids.unknown}/revoke-sessions` });
  await call(rev, 400, 'not a user id', { ...admin, path: '/admin/users/x/revoke-sessions' });
  await call(rev, 403, 'not an admin', { ...user, path: rpath });
  await bodyErrors(rev, admin, rpath, {});
  await authErrors(rev, rpath);

  const audit = 'GET /admin/audit';
  await call(audit, 200, 'all', admin);
  await call(audit, 200, 'filtered', { ...admin, path: `/admin/audit?target=${ids.other}&page_size=5` });
  await call(audit, 400, 'since not RFC 3339', { ...admin, path: '/admin/audit?since=yesterday' });
  await call(audit, 200, 'changes only', { ...admin, path: '/admin/audit?kind=changes' });
  await call(audit, 400, 'unknown kind', { ...admin, path: '/admin/audit?kind=writes' });
  await call(audit, 403, 'not an admin', user);
  await authErrors(audit);
}

// The names of a user's status and role as the document's request body of
// PATCH /admin/users/{id} lists them (short lower-case names or the proto's
// full ones); what the user's answer uses when the document has no enum.
function statusNames(getUser) {
  const o = operations.get('PATCH /admin/users/{id}');
  const schema = deref(deref(o?.op.requestBody)?.content?.['application/json']?.schema);
  const values = (prop) => {
    const p = deref(schema?.properties?.[prop]);
    return p?.enum ?? (p?.oneOf ?? p?.anyOf ?? []).map((x) => deref(x).const ?? deref(x).enum).flat();
  };
  const full = String(getUser?.user?.status ?? '').startsWith('USER_STATUS_');
  const pick = (prop, want, fallback) =>
    values(prop).find((v) => typeof v === 'string' && v.toLowerCase().endsWith(want)) ?? (full ? fallback : want);
  return {
    active: pick('status', 'active', 'USER_STATUS_ACTIVE'),
    disabled: pick('status', 'disabled', 'USER_STATUS_DISABLED'),
    user: pick('role', 'user', 'ROLE_USER'),
  };
}

async function logoutRoutes(s) {
  const op = 'POST /logout';
  await call(op, 403, 'cookie without Origin', { cookie: `__Host-access=${s.cookie.access}`, json: {} });
  await call(op, 200, 'cookie with Origin', {
    cookie: `__Host-access=${s.cookie.access}; __Host-refresh=${s.cookie.refresh}`, json: {}, headers: ORIGIN,
  });
  await bodyErrors(op, { token: s.other.access_token }, undefined, {});
  await authErrors(op, undefined, { json: {} });
  checkRequestBody(op, { refresh_token: s.other.refresh_token }, true);
  await call(op, 200, 'bearer', { token: s.other.access_token, json: { refresh_token: s.other.refresh_token } });
}

// Deleting accounts: a user their own (with the password), an admin
// anyone's but the last admin's.
async function deletionRoutes(s, users, ids) {
  const gone = await login(users.gone, 'to delete the account');
  const me = { token: gone.access_token };
  const del = 'POST /account/delete';
  const json = { current_password: password };
  checkRequestBody(del, json, true);
  await call(del, 400, 'no password', { ...me, json: {} });
  await call(del, 401, 'wrong password', { ...me, json: { current_password: 'wrong wrong wrong' }, ip: freshIp() });
  await call(del, 429, 'username throttled', { token: s.victim.access_token, json, ip: freshIp() });
  await call(del, 403, 'cookie without Origin', { cookie: `__Host-access=${gone.access_token}`, json });
  await call(del, 400, 'the last admin', { token: s.admin.access_token, json, ip: freshIp() });
  await bodyErrors(del, me, undefined, json);
  await authErrors(del, undefined, { json });
  await call(del, 200, 'the right password', { ...me, json, ip: freshIp() });
  await call(del, 401, 'a token of the deleted account', { ...me, json, ip: freshIp() });

  const admin = { token: s.admin.access_token };
  const adel = 'DELETE /admin/users/{id}';
  const path = `/admin/users/${ids.fired}`;
  await call(adel, 403, 'not an admin', { token: s.user.access_token, path });
  await call(adel, 404, 'unknown id', { ...admin, path: `/admin/users/${ids.unknown}` });
  await call(adel, 400, 'not a user id', { ...admin, path: '/admin/users/x' });
  await call(adel, 400, 'the last admin', { ...admin, path: `/admin/users/${ids.admin}` });
  await authErrors(adel, path);
  await call(adel, 200, 'a user', { ...admin, path });
  await call(adel, 404, 'deleted already', { ...admin, path });
}

// A body over the limit is refused on every route, one that takes no
// body too (from its Content-Length, before anything else).
async function bodiesEverywhere(s, ids) {
  for (const o of operations.values()) {
    if (o.seen.has(413) || !o.op.responses?.['413']) continue;
    const path = o.template.replace('{id}', o.template.startsWith('/admin') ? ids.other : 'x');
    await call(o.key, 413, 'body over EDGE_MAX_BODY_BYTES', { token: s.admin.access_token, path, raw: big() });
  }
}

// Waits until every thread of pid has stopped (state T in /proc): kill()
// returns once SIGSTOP is queued, and on a loaded machine a thread can
// take a while to reach it (one in uninterruptible sleep stops only when
// it leaves it), so a call made at once could still be answered.
async function stopped(pid) {
  const state = (tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      return 'T'; // the thread has ended
    }
  };
  for (let i = 0; i < 200; i++) {
    const tids = readdirSync(`/proc/${pid}/task`);
    if (tids.every((t) => 'Tt'.includes(state(t)))) return;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error(`process ${pid} did not stop within 2 s of SIGSTOP`);
}

// A service that holds its connections but answers nothing (stopped with
// SIGSTOP): a call to it ends at the edge's deadline, 504.
async function serviceStuck(s) {
  const pids = Object.fromEntries(env('API_PIDS').split(' ').map((p) => p.split(':')));
  const stuck = [
    ['admin', 'GET /admin/users', { token: s.admin.access_token }],
    ['user', 'GET /profile', { token: s.user.access_token }],
    ['auth', 'GET /sessions', { token: s.user.access_token }],
  ];
  for (const [svc, op, req] of stuck) {
    process.kill(Number(pids[svc]), 'SIGSTOP');
    try {
      await stopped(Number(pids[svc]));
      await call(op, 504, `${svc} service stopped`, req);
    } finally {
      process.kill(Number(pids[svc]), 'SIGCONT');
    }
  }
}

// The services stop one by one; each route then answers 503 naming it.
async function serviceDown(s, ids) {
  const pids = Object.fromEntries(env('API_PIDS').split(' ').map((p) => p.split(':')));
  const admin = { token: s.admin.access_token };
  const user = { token: s.user.access_token };
  const down = {
    admin: [
      ['GET /admin/users', admin],
      ['GET /admin/users/{id}', { ...admin, path: `/admin/users/${ids.other}` }],
      ['PATCH /admin/users/{id}', { ...admin, path: `/admin/users/${ids.other}`, json: {} }],
      ['POST /admin/users/{id}/revoke-sessions', { ...admin, path: `/admin/users/${ids.other}/revoke-sessions` }],
      ['GET /admin/audit', admin],
      ['DELETE /admin/users/{id}', { ...admin, path: `/admin/users/${ids.unknown}` }],
      ['POST /account/delete', { ...user, json: { current_password: 'wrong wrong wrong' } }],
      ['DELETE /admin/users/{id}/mfa', { ...admin, path: `/admin/users/${ids.other}/mfa` }],
    ],
    user: [
      ['GET /profile', user],
      ['PUT /profile', { ...user, json: {} }],
      ['PATCH /profile', { ...user, json: {} }],
    ],
    auth: [
      ['GET /sessions', user],
      ['GET /sessions/current', user],
      ['DELETE /sessions/{id}', { ...user, path: `/sessions/${ids.unknown}` }],
      ['POST /logout', { ...user, json: {} }],
      ['POST /register', { json: { username: uname('down'), email: 'down@example.com', password }, ip: freshIp() }],
      ['POST /login', { json: { username: 'nobody', password }, ip: freshIp() }],
      ['POST /refresh', { json: { refresh_token: s.user.refresh_token }, ip: freshIp() }],
      ['GET /.well-known/jwks.json', {}],
      ['POST /email/verify', { json: { token: 'A'.repeat(43) } }],
      ['POST /email/verify/resend', user],
      ['POST /email', { ...user, json: { new_email: 'down@example.com', current_password: password } }],
      ['POST /email/confirm', { json: { token: 'A'.repeat(43) } }],
      ['POST /password/forgot', { json: { email: 'down@example.com' }, ip: freshIp() }],
      ['POST /password/reset', { json: { token: 'A'.repeat(43), new_password: 'a new horse battery' } }],
      ['POST /password', { ...user, json: { current_password: password, new_password: 'a new horse battery' } }],
      ['GET /mfa', user],
      ['POST /mfa/totp', { ...user, json: { current_password: password } }],
      ['POST /mfa/totp/confirm', { ...user, json: { code: '123456' } }],
      ['POST /login/mfa', { json: { mfa_ticket: 'A'.repeat(43), code: '123456' }, ip: freshIp() }],
      ['POST /mfa/recovery-codes', { ...user, json: { code: '123456' } }],
      ['DELETE /mfa/totp', { ...user, json: { code: '123456' } }],
    ],
  };
  for (const svc of ['admin', 'user', 'auth']) {
    process.kill(Number(pids[svc]), 'SIGTERM');
    let ready;
    for (let i = 0; i < 200; i++) {
      ready = await fetch(`${base}/readyz`).then(async (r) => ({ status: r.status, text: await r.text() }));
      if (ready.status === 503 && new RegExp(`"down":\\[[^\\]]*"${svc}"`).test(ready.text)) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    if (operations.has('GET /readyz')) await call('GET /readyz', 503, `${svc} down`);
    for (const [op, req] of down[svc]) await call(op, 503, `${svc} service down`, req);
  }
}

const users = {
  user: uname('user'), other: uname('other'), victim: uname('victim'), admin: uname('admin'),
  gone: uname('gone'), fired: uname('fired'), pw: uname('pw'), mfa: uname('mfa'),
};
const s = {};
const ids = { unknown: randomUUID() };
try {
  await publicRoutes();
  await registration(users, ids);
  await loginRoutes(users, s);
  await profileRoutes(s);
  await sessionRoutes(s);
  await emailRoutes(s);
  await emailChangeRoutes(s, users);
  await passwordRoutes(s, users);
  await mfaRoutes(s, users, ids);
  await adminRoutes(s, ids);
  await logoutRoutes(s);
  await deletionRoutes(s, users, ids);
  await bodiesEverywhere(s, ids);
  await serviceStuck(s);
  await serviceDown(s, ids);
} catch (e) {
  problem(`the test stopped: ${e.stack}`);
}

// --- The table ------------------------------------------------------------------

const rows = [...operations.values()].map((o) => {
  const seen = [...o.seen.keys()].sort();
  const listed = Object.keys(o.op.responses ?? {}).map(Number).filter((n) => !o.seen.has(n));
  return [o.op.operationId ?? '(no operationId)', o.key, seen.join(' ') || '-', listed.join(' ')];
});
const head = ['operationId', 'operation', 'statuses seen', 'listed, not provoked'];
const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r) => r.map((c, i) => c.padEnd(width[i])).join('  ').trimEnd();
console.log(line(head));
for (const r of rows) console.log(line(r));
// The security schemes the tests authenticate with, as the edge reads them.
const schemes = doc.components?.securitySchemes ?? {};
const bearer = Object.values(schemes).map(deref).some((x) => x.type === 'http' && x.scheme?.toLowerCase() === 'bearer');
const cookie = Object.values(schemes).map(deref).some((x) => x.type === 'apiKey' && x.in === 'cookie' && x.name === '__Host-access');
if (!bearer) problem('no security scheme of type http, scheme bearer');
if (!cookie) problem('no security scheme of type apiKey in the cookie __Host-access');
for (const o of operations.values()) {
  if (o.seen.size === 0) problem(`${o.key} (${o.op.operationId}) was never exercised`);
  // An operation that needs a token was called without one (401).
  const security = o.op.security ?? doc.security ?? [];
  const anonymous = security.length === 0 || security.some((req) => Object.keys(req).length === 0);
  if (!anonymous && !o.seen.has(401)) problem(`${o.key} needs a token, but no call without one answered 401`);
  if (anonymous && authedOps.has(o.key)) problem(`${o.key} answered 401 without a token, but the document requires none`);
  if (!o.op.operationId) problem(`${o.key} has no operationId`);
}
console.log(`api_contract: ${cases} requests, ${operations.size} operations, ${problems.length} problems`);
process.exit(problems.length === 0 ? 0 : 1);

/*
 * rules.test.mjs - routing rules (router.rules) and POST /admin/route/explain,
 * end to end against sy-mock, which records the bodies it receives:
 *
 *   - route-to: a rule sends the request to another model, for each client
 *     protocol (OpenAI passthrough, Ollama and Anthropic translated); the mock
 *     sees the other upstream model name and the response says
 *     x-switchyard-route-reason: rule=<name>;
 *   - reject: the rule's status and message in each protocol's error shape,
 *     nothing sent upstream, and the official SDKs raise it;
 *   - set / cap: the parameters the mock received (passthrough body patched,
 *     translated requests encoded with them);
 *   - header, metadata (body and x-switchyard-metadata-*), prompt regex and
 *     first-match-wins order; OpenAI metadata of any type passes, given
 *     twice it is refused;
 *   - explain: the decision and the plan without any upstream call, 400 for a
 *     bad body, 404 for an unknown model.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Mock, Gateway, gatewayConfig, kindProvider, mockSaw, request, rawChat, errorShape, CLIENT_KEY, ONE_ATTEMPT,
} from './lib/harness.mjs';

let M, gw;

const dep = (provider, model) => ({ provider, model, weight: 1 });

before(async () => {
  M = await Mock.start();
  const cfg = gatewayConfig(M.url, {
    providers: [kindProvider('ollama', 'oll', M.url), kindProvider('anthropic', 'ant', M.url)],
    models: [
      { name: 'coder', deployments: [dep('mock', 'coder-upstream')] },
      { name: 'oll-coder', deployments: [dep('oll', 'oll-upstream')] },
      { name: 'ant-big', deployments: [dep('ant', 'ant-upstream')] },
      { name: 'capped', deployments: [dep('mock', 'capped-upstream')] },
      { name: 'oll-capped', deployments: [dep('oll', 'oll-capped-upstream')] },
    ],
    router: {
      ...ONE_ATTEMPT,
      rules: [
        {
          name: 'no-evil',
          match: { headers: { 'x-team': 'evil*' } },
          action: { reject: { status: 451, message: 'team evil is blocked' } },
        },
        {
          name: 'code-to-coder',
          match: { model: 'fast', api: 'openai', prompt: '(def|class) [a-z_]+\\(' },
          action: { route: 'coder', set: { temperature: 0, seed: 42 } },
        },
        {
          name: 'ollama-code',
          match: { api: ['ollama'], model: 'fast', prompt: 'def ', prompt_icase: true },
          action: { route: 'oll-coder', set: { temperature: 0 } },
        },
        {
          name: 'gold',
          match: { metadata: { tier: 'gold' } },
          action: { route: 'ant-big', cap: { max_tokens: 50 } },
        },
        {
          name: 'caps',
          match: { model: ['capped', 'oll-capped'] },
          action: { cap: { max_tokens: 100, temperature: 0.3 } },
        },
        { name: 'never-before-auth', match: { team: '*' }, action: { reject: {} } },
      ],
    },
  });
  gw = await Gateway.start(cfg);
});

after(async () => {
  if (gw) await gw.stop();
  if (M) await M.stop();
});

const user = (content) => [{ role: 'user', content }];

function send(proto, name, content, { headers = {}, extra = {}, stream = false } = {}) {
  const { url, body } = rawChat(gw, proto, { model: name, messages: user(content), stream });
  return request(url, {
    method: 'POST',
    body: { ...body, ...extra },
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'x-api-key': CLIENT_KEY, ...headers },
  });
}

const PATHS = { openai: '/v1/chat/completions', ollama: '/api/chat', anthropic: '/v1/messages' };

async function seen(path, marker) {
  const s = await mockSaw(M, path, marker);
  assert.equal(s.length, 1, `the mock saw one ${path} request holding ${marker}: ${JSON.stringify(s)}`);
  return s[0].json;
}

test('a rule routes to another model for each client protocol', async () => {
  await M.reset();
  /* OpenAI: the prompt regex sends code to coder (passthrough) */
  let r = await send('openai', 'fast', 'please fix def parse_line(s) today');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-switchyard-route-reason'), 'rule=code-to-coder');
  assert.equal(r.headers.get('x-switchyard-model'), 'coder-upstream');
  assert.equal(r.json.model, 'coder-upstream', 'the passthrough answer names the upstream model');
  let b = await seen('/v1/chat/completions', 'parse_line');
  assert.equal(b.model, 'coder-upstream');
  assert.equal(b.temperature, 0, 'set: temperature');
  assert.equal(b.seed, 42, 'set: seed');
  /* the request's log line says why it went where it went */
  const id = r.headers.get('x-request-id');
  let line;
  for (let i = 0; i < 100 && !line; i++) {
    line = gw.logs().find((l) => l.msg === 'request' && l.request_id === id);
    if (!line) await new Promise((res) => setTimeout(res, 20));
  }
  assert.ok(line, 'the request was logged');
  assert.equal(line.route_reason, 'rule=code-to-coder');
  assert.equal(line.deployment, 'coder-upstream');

  /* Ollama: icase prompt, translated to the Ollama upstream */
  r = await send('ollama', 'fast', 'DEF ollama_thing()');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-switchyard-route-reason'), 'rule=ollama-code');
  assert.equal(r.headers.get('x-switchyard-model'), 'oll-upstream');
  assert.equal(r.json.model, 'fast', 'the client sees the model it asked for');
  b = await seen('/api/chat', 'ollama_thing');
  assert.equal(b.model, 'oll-upstream');
  assert.equal(b.options.temperature, 0);

  /* Anthropic: metadata through the header form routes to an Anthropic upstream */
  r = await send('anthropic', 'fast', 'anthropic gold text', { headers: { 'x-switchyard-metadata-tier': 'gold' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-switchyard-route-reason'), 'rule=gold');
  assert.equal(r.headers.get('x-switchyard-provider'), 'ant');
  b = await seen('/v1/messages', 'anthropic gold text');
  assert.equal(b.model, 'ant-upstream');
  assert.equal(b.max_tokens, 50, 'cap: 256 asked, lowered to 50');

  /* no rule: as before, and no reason header */
  r = await send('openai', 'fast', 'just chatting');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-switchyard-route-reason'), null);
  assert.equal(r.headers.get('x-switchyard-model'), 'mock-small');
});

test('a reject rule answers in each protocol\'s error shape and sends nothing', async () => {
  await M.reset();
  const h = { headers: { 'x-team': 'evil-corp' } };
  const o = await send('openai', 'fast', 'evil openai', h);
  assert.equal(o.status, 451);
  const e = errorShape(assert, o.json, { code: 'request_rejected' });
  assert.equal(e.message, 'team evil is blocked');
  assert.equal(o.headers.get('x-switchyard-route-reason'), 'rule=no-evil');

  const l = await send('ollama', 'fast', 'evil ollama', h);
  assert.equal(l.status, 451);
  assert.deepEqual(l.json, { error: 'team evil is blocked' });

  const a = await send('anthropic', 'fast', 'evil anthropic', h);
  assert.equal(a.status, 451);
  assert.deepEqual(a.json, { type: 'error', error: { type: 'invalid_request_error', message: 'team evil is blocked' } });

  /* the first matching rule wins: this one would route to coder otherwise */
  const c = await send('openai', 'fast', 'def evil_code(x)', h);
  assert.equal(c.status, 451);

  /* the SDKs raise it */
  await assert.rejects(
    gw.client({ defaultHeaders: { 'x-team': 'evil' } }).chat.completions.create({ model: 'fast', messages: user('sdk') }),
    (err) => err.status === 451 && /team evil is blocked/.test(err.message));
  await assert.rejects(
    gw.anthropic({ defaultHeaders: { 'x-team': 'evil' } }).messages.create({ model: 'fast', max_tokens: 10, messages: user('sdk') }),
    (err) => err.status === 451 && /team evil is blocked/.test(err.message));
  assert.equal((await M.stats()).requests, 0, 'nothing reached the upstream');
});

test('caps lower what is above them and give an unsaid max_tokens its cap', async () => {
  await M.reset();
  /* passthrough: the client's body is patched */
  let r = await send('openai', 'capped', 'cap me high', { extra: { temperature: 1.5, max_tokens: 4000, top_p: 0.9 } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-switchyard-route-reason'), 'rule=caps');
  let b = await seen('/v1/chat/completions', 'cap me high');
  assert.equal(b.temperature, 0.3);
  assert.equal(b.max_tokens, 100);
  assert.equal(b.top_p, 0.9, 'not named by the rule: untouched');
  assert.equal(b.model, 'capped-upstream');

  r = await send('openai', 'capped', 'cap me low', { extra: { temperature: 0.1, max_tokens: null } });
  assert.equal(r.status, 200, r.text);
  b = await seen('/v1/chat/completions', 'cap me low');
  assert.equal(b.temperature, 0.1, 'under the cap: kept');
  assert.equal(b.max_tokens, 100, 'unsaid (null): the cap');

  /* max_completion_tokens is the name patched when the client uses it */
  r = await send('openai', 'capped', 'cap completion', { extra: { max_completion_tokens: 999 } });
  assert.equal(r.status, 200, r.text);
  b = await seen('/v1/chat/completions', 'cap completion');
  assert.equal(b.max_completion_tokens, 100);
  assert.equal(b.temperature, undefined, 'an unsaid temperature stays unsaid');

  /* translated: the Ollama upstream gets the capped options */
  r = await send('openai', 'oll-capped', 'cap translated', { extra: { temperature: 2 } });
  assert.equal(r.status, 200, r.text);
  b = await seen('/api/chat', 'cap translated');
  assert.equal(b.options.temperature, 0.3);
  assert.equal(b.options.num_predict, 100);
});

test('metadata in the OpenAI body and header globs match', async () => {
  await M.reset();
  const r = await send('openai', 'fast', 'body gold', { extra: { metadata: { tier: 'gold', other: 'x' } } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-switchyard-route-reason'), 'rule=gold');
  const b = await seen('/v1/messages', 'body gold');
  assert.equal(b.model, 'ant-upstream');
  assert.equal(b.max_tokens, 50);

  const s = await send('openai', 'fast', 'body silver', { extra: { metadata: { tier: 'silver' } } });
  assert.equal(s.status, 200, s.text);
  assert.equal(s.headers.get('x-switchyard-route-reason'), null);

  /* a team rule never matches before auth */
  const t = await send('ollama', 'fast', 'no team yet');
  assert.equal(t.status, 200, t.text);
});

test('OpenAI metadata: any JSON type passes, a second "metadata" is refused', async () => {
  await M.reset();
  /* not an object: no rule's metadata key is in it, and the body goes as it came */
  const r = await send('openai', 'fast', 'metadata string', { extra: { metadata: 'gold' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-switchyard-route-reason'), null);
  assert.equal((await seen('/v1/chat/completions', 'metadata string')).metadata, 'gold');

  /* parsers disagree on which duplicate wins: a rule would match one and the
   * upstream read the other */
  const { url } = rawChat(gw, 'openai', { model: 'fast', messages: user('x') });
  const text = '{"model":"fast","metadata":{"tier":"gold"},"messages":[{"role":"user","content":"dup meta"}],' +
    '"metadata":{"tier":"silver"}}';
  const d = await request(url, { method: 'POST', body: text, headers: { authorization: `Bearer ${CLIENT_KEY}` } });
  assert.equal(d.status, 400, d.text);
  assert.equal(d.json.error.param, 'metadata');
  assert.match(d.json.error.message, /duplicate field 'metadata'/);
  assert.equal((await mockSaw(M, '/v1/chat/completions', 'dup meta')).length, 0, 'nothing went upstream');
});

async function explain(body) {
  return request(`${gw.url}/admin/route/explain`, { method: 'POST', body });
}

test('explain answers the decision and the plan without calling upstream', async () => {
  await M.reset();
  let r = await explain({ request: { model: 'fast', messages: user('class my_thing(Base)'), temperature: 1 } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.rule, { index: 1, name: 'code-to-coder' });
  assert.equal(r.json.reason, 'rule=code-to-coder');
  assert.equal(r.json.final_model, 'coder');
  assert.deepEqual(r.json.params.set, { temperature: 0, seed: 42 });
  assert.deepEqual(r.json.params.effective, { temperature: 0, seed: 42 });
  assert.equal(r.json.reject, null);
  assert.deepEqual(r.json.plan.chosen, { model: 'coder', provider: 'mock', upstream_model: 'coder-upstream', index: 0 });
  const cand = r.json.plan.first.candidates[0];
  assert.equal(cand.circuit, 'closed');
  assert.equal(cand.eligible, true);
  assert.equal(cand.why, null);
  assert.equal(cand.inflight, 0);
  assert.deepEqual(r.json.plan.fallbacks, []);

  r = await explain({ api: 'anthropic', headers: { 'X-Team': 'evil' }, request: { model: 'fast', max_tokens: 5, messages: user('x') } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.reject, { status: 451, message: 'team evil is blocked' });
  assert.equal(r.json.plan, null);

  r = await explain({ api: 'ollama', headers: { 'x-switchyard-metadata-tier': 'gold' }, request: { model: 'fast', messages: user('x') } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.final_model, 'ant-big');
  assert.equal(r.json.plan.chosen.provider, 'ant');

  assert.equal((await M.stats()).requests, 0, 'a dry run: nothing sent');

  /* errors in OpenAI's shape */
  r = await explain('{"request": ');
  assert.equal(r.status, 400);
  errorShape(assert, r.json, { code: 'invalid_json' });
  r = await explain({ api: 'grpc', request: {} });
  assert.equal(r.status, 400);
  errorShape(assert, r.json, { code: 'invalid_type' });
  r = await explain({ request: { model: 'fast' } });
  assert.equal(r.status, 400);
  errorShape(assert, r.json);
  r = await explain({ request: { model: 'no-such-model', messages: user('x') } });
  assert.equal(r.status, 404);
  errorShape(assert, r.json, { code: 'model_not_found' });
  r = await request(`${gw.url}/admin/route/explain`);
  assert.equal(r.status, 405);
});

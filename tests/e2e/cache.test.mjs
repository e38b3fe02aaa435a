/*
 * cache.test.mjs - the exact cache (memory tier) seen from the clients:
 *
 *   - a miss then a hit with exactly one upstream call, for each client SDK
 *     (OpenAI, Ollama, Anthropic) in front of each upstream kind; a hit
 *     names no provider and also replays as a stream;
 *   - an answer cached for one protocol replayed to the others, whole and
 *     as a stream of several chunks, with the same text;
 *   - the key ignores JSON key order, whitespace and the stream flag, and
 *     sees temperature, another message, max_tokens and another model;
 *   - Cache-Control: no-cache (bypass, upstream asked, answer still
 *     stored) and no-store (answered, not stored);
 *   - TTL expiry; upstream errors and streams cut mid-way never cached;
 *     a model without a cache says bypass every time.
 *
 * The upstream is counted with the mock's /__stats by_path. Every test uses
 * prompts of its own, so no test meets another's entry. The x-mock-*
 * controls reach the mock through the cp provider's forward_headers.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  lazyStack, kindProvider, model, request, mockEcho, ms, now, sleep, KINDS, parseSSE, chatStreamSummary,
  shareHeaders, mockCount, mockText, mockSaw, pollUntil, sdkChat, rawChat, rawStreamSummary,
} from './lib/harness.mjs';

const TOKENS = '40'; /* long enough for a replayed stream to come in several pieces */
const CACHE = { mode: 'exact', ttl_s: 600 };
const CLIENTS = ['openai', 'ollama', 'anthropic'];
/* the path an upstream of each kind is asked on */
const UP_PATH = { openai: '/v1/chat/completions', ollama: '/api/chat', anthropic: '/v1/messages' };

const stack = lazyStack({
  config: (mockUrl) => {
    const opts = { headers: { 'x-mock-tokens': TOKENS } };
    const providers = [];
    const models = [];
    for (const kind of KINDS) {
      providers.push({ ...kindProvider(kind, `cp-${kind}`, mockUrl, opts), forward_headers: ['x-mock-*'] });
      models.push({ ...model(`cached-${kind}`, `cp-${kind}`), cache: CACHE });
    }
    models.push(
      { ...model('cached', 'cp-openai'), cache: CACHE },
      { ...model('cached-2', 'cp-openai'), cache: CACHE },
      { ...model('short-ttl', 'cp-openai'), cache: { mode: 'exact', ttl_s: 1 } },
      { ...model('uncached', 'cp-openai'), cache: { mode: 'off', ttl_s: 600 } },
      { ...model('cached-long', 'cp-long'), cache: CACHE },
    );
    providers.push(kindProvider('openai', 'cp-long', mockUrl, { headers: { 'x-mock-tokens': '100000', 'x-mock-itl-ms': '1' } }));
    return { providers, models };
  },
});
after(() => stack.stop().catch(() => {}));

const T = { timeout: ms(60000) };
const TAG = Math.random().toString(36).slice(2, 8);
const ask = (text) => [{ role: 'user', content: `${text} (${TAG})` }];

/* ---- miss, then hit ------------------------------------------------------------- */

for (const client of CLIENTS) {
  for (const kind of KINDS) {
    test(`${client} SDK, ${kind} upstream: a miss, then hits (whole and streamed) with one upstream call`, T, async () => {
      const { mock, gw } = await stack.get();
      const messages = ask(`miss then hit, ${client} client, ${kind} upstream`);
      const want = await mockText(mock, messages, { 'x-mock-tokens': TOKENS });
      const path = UP_PATH[kind];
      const before = await mockCount(mock, path);
      const name = `cached-${kind}`;

      const a = await sdkChat(gw, client, { model: name, messages });
      assert.equal(a.content, want, 'the upstream answer');
      assert.deepEqual(shareHeaders(a.headers), { cache: 'miss', dedup: 'leader', provider: `cp-${kind}` });
      assert.equal(await mockCount(mock, path), before + 1, 'the miss asked the upstream');

      const b = await sdkChat(gw, client, { model: name, messages });
      assert.equal(b.content, want, 'the hit is the same answer');
      assert.equal(b.finish, a.finish, 'same finish reason');
      assert.equal(b.model, a.model, 'same model field');
      assert.equal(a.usage.output, Number(TOKENS), 'the upstream\'s usage');
      assert.deepEqual(b.usage, a.usage, 'the hit reports the stored usage');
      const h = shareHeaders(b.headers);
      assert.equal(h.cache, 'hit');
      assert.equal(h.provider, null, 'a hit names no provider');
      assert.equal(h.dedup, null, 'a hit took no part in dedup');

      const c = await sdkChat(gw, client, { model: name, messages, stream: true });
      assert.equal(shareHeaders(c.headers).cache, 'hit', 'the stream flag is not in the key');
      assert.equal(c.content, want, 'the replayed stream has the same text');
      assert.ok(c.chunks >= 3, `replayed as a stream of several pieces (${c.chunks})`);
      assert.equal(c.finish, a.finish, 'the stream ends with the same finish reason');
      if (client !== 'openai') assert.deepEqual(c.usage, a.usage, 'the replayed stream reports the stored usage');

      assert.equal(await mockCount(mock, path), before + 1, 'the hits did not ask the upstream');
    });
  }
}

test('OpenAI clients get the public model name on a miss and on a hit', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('which model answered');
  const a = await sdkChat(gw, 'openai', { model: 'cached', messages });
  const b = await sdkChat(gw, 'openai', { model: 'cached', messages });
  const c = await sdkChat(gw, 'openai', { model: 'cached', messages, stream: true });
  assert.deepEqual([a.model, b.model, c.model], ['cached', 'cached', 'cached'],
    'the canonical re-encoding names the model asked, not the upstream\'s mock-small');
  assert.deepEqual([a, b, c].map((x) => shareHeaders(x.headers).cache), ['miss', 'hit', 'hit']);
  void mock;
});

/* ---- one answer, every protocol ------------------------------------------------- */

test('an answer cached for an OpenAI client is replayed to Ollama and Anthropic clients, whole and streamed', T, async (t) => {
  const { mock, gw } = await stack.get();
  const messages = ask('cached once, read by everyone');
  const want = await mockText(mock, messages, { 'x-mock-tokens': TOKENS });
  const before = await mockCount(mock);

  const first = await sdkChat(gw, 'openai', { model: 'cached', messages });
  assert.equal(shareHeaders(first.headers).cache, 'miss');
  assert.equal(first.content, want);

  for (const client of ['ollama', 'anthropic', 'openai']) {
    for (const stream of [false, true]) {
      const what = `${client}${stream ? ' stream' : ''}`;
      const r = await sdkChat(gw, client, { model: 'cached', messages, stream });
      assert.equal(r.status, 200, what);
      assert.equal(shareHeaders(r.headers).cache, 'hit', what);
      assert.equal(r.content, want, `${what}: the same text`);
      assert.ok(r.finish, `${what}: a finish reason`);
      if (stream) {
        t.diagnostic(`${what}: ${r.chunks} pieces`);
        assert.ok(r.chunks >= 3, `${what}: several pieces (${r.chunks})`);
      }
    }
  }
  assert.equal(await mockCount(mock), before + 1, 'one upstream call for all seven answers');
});

test('an answer cached from an Anthropic stream is replayed to OpenAI and Ollama clients', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('streamed first, then read whole');
  const want = await mockText(mock, messages, { 'x-mock-tokens': TOKENS });
  const before = await mockCount(mock);

  const first = await sdkChat(gw, 'anthropic', { model: 'cached', messages, stream: true });
  assert.equal(shareHeaders(first.headers).cache, 'miss');
  assert.equal(first.content, want);
  assert.equal(first.finish, 'end_turn');

  const o = await sdkChat(gw, 'openai', { model: 'cached', messages });
  assert.equal(shareHeaders(o.headers).cache, 'hit');
  assert.equal(o.content, want);
  assert.equal(o.finish, 'stop');
  const l = await sdkChat(gw, 'ollama', { model: 'cached', messages, stream: true });
  assert.equal(shareHeaders(l.headers).cache, 'hit');
  assert.equal(l.content, want);
  assert.equal(l.finish, 'stop');
  assert.equal(await mockCount(mock), before + 1);
});

test('raw replayed streams are well formed in each protocol', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('raw replay check');
  const want = await mockText(mock, messages, { 'x-mock-tokens': TOKENS });
  const before = await mockCount(mock);
  const first = await sdkChat(gw, 'openai', { model: 'cached', messages });
  assert.equal(first.content, want);
  for (const proto of CLIENTS) {
    const { url, body } = rawChat(gw, proto, { model: 'cached', messages, max_tokens: 256, stream: true });
    const res = await fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200, proto);
    assert.equal(res.headers.get('x-switchyard-cache'), 'hit', proto);
    const ct = res.headers.get('content-type');
    assert.match(ct, proto === 'ollama' ? /application\/x-ndjson/ : /text\/event-stream/, `${proto}: ${ct}`);
    const s = rawStreamSummary(proto, await res.text());
    assert.equal(s.content, want, proto);
    assert.ok(s.complete, `${proto}: the stream ends as a good one does`);
    assert.equal(s.error, null, proto);
  }
  assert.equal(await mockCount(mock), before + 1);
});

test('Ollama /api/generate: a miss, then a hit replayed as a stream', T, async () => {
  const { mock, gw } = await stack.get();
  const prompt = `generate something (${TAG})`;
  const before = await mockCount(mock, '/v1/completions') + await mockCount(mock, '/v1/chat/completions');
  const o = gw.ollama();
  const a = await request(`${gw.url}/api/generate`, { method: 'POST', body: { model: 'cached', prompt, stream: false } });
  assert.equal(a.status, 200, a.text);
  assert.equal(a.headers.get('x-switchyard-cache'), 'miss');
  assert.ok(a.json.response.startsWith(`[${mockEcho(prompt)}]`), a.json.response);
  const b = await request(`${gw.url}/api/generate`, { method: 'POST', body: { model: 'cached', prompt, stream: false } });
  assert.equal(b.headers.get('x-switchyard-cache'), 'hit');
  assert.equal(b.json.response, a.json.response);
  let text = '';
  let parts = 0;
  let done = false;
  for await (const p of await o.generate({ model: 'cached', prompt, stream: true })) {
    if (p.response) {
      text += p.response;
      parts++;
    }
    if (p.done) done = true;
  }
  assert.equal(text, a.json.response, 'the streamed hit has the same text');
  assert.ok(parts >= 3, `several pieces (${parts})`);
  assert.ok(done, 'ends with done: true');
  const after_ = await mockCount(mock, '/v1/completions') + await mockCount(mock, '/v1/chat/completions');
  assert.equal(after_, before + 1, 'one upstream call');
});

/* ---- what the key sees ------------------------------------------------------------ */

test('the key ignores JSON key order, whitespace and the stream flag', T, async () => {
  const { mock, gw } = await stack.get();
  const content = `key insensitivity (${TAG})`;
  const url = `${gw.baseURL}/chat/completions`;
  const before = await mockCount(mock);
  const a = await request(url, {
    method: 'POST',
    body: `{"model":"cached","messages":[{"role":"user","content":${JSON.stringify(content)}}],` +
      '"max_tokens":50,"temperature":0.5,"top_p":0.9}',
  });
  assert.equal(a.status, 200, a.text);
  assert.equal(a.headers.get('x-switchyard-cache'), 'miss');

  const reordered = `{\n  "top_p" : 0.9,\n\t"temperature":0.5 ,\n  "messages" : [ { "content" : ${JSON.stringify(content)} ,` +
    ` "role" : "user" } ],\r\n  "max_tokens":  50, "model" :"cached"\n}\n`;
  const b = await request(url, { method: 'POST', body: reordered });
  assert.equal(b.status, 200, b.text);
  assert.equal(b.headers.get('x-switchyard-cache'), 'hit', 'key order and whitespace do not count');
  assert.equal(b.json.choices[0].message.content, a.json.choices[0].message.content);

  const c = await request(url, {
    method: 'POST',
    body: { stream: false, model: 'cached', temperature: 0.5, top_p: 0.9, max_tokens: 50, messages: [{ role: 'user', content }] },
  });
  assert.equal(c.headers.get('x-switchyard-cache'), 'hit', 'an explicit stream: false does not count');

  const d = await request(url, {
    method: 'POST',
    body: { model: 'cached', messages: [{ role: 'user', content }], max_tokens: 50, temperature: 0.5, top_p: 0.9, stream: true },
  });
  assert.equal(d.status, 200);
  assert.equal(d.headers.get('x-switchyard-cache'), 'hit', 'stream: true does not count');
  const s = chatStreamSummary(parseSSE(d.text));
  assert.equal(s.content, a.json.choices[0].message.content);
  assert.ok(s.done, 'the replay ends with [DONE]');

  const e = await request(url, {
    method: 'POST',
    body: `{"model":"cached","messages":[{"role":"user","content":[{"type":"text","text":${JSON.stringify(content)}}]}],` +
      '"max_tokens":50,"temperature":5e-1,"top_p":0.90}',
  });
  assert.equal(e.headers.get('x-switchyard-cache'), 'hit', 'a text part for a string, 5e-1 for 0.5, 0.90 for 0.9 do not count');
  assert.equal(await mockCount(mock), before + 1, 'one upstream call');
});

test('the key ignores how a tool schema is spelled (member order, whitespace)', T, async () => {
  const { mock, gw } = await stack.get();
  const content = JSON.stringify(`tool schema spelling (${TAG})`);
  const url = `${gw.baseURL}/chat/completions`;
  const body = (params) => `{"model":"cached","messages":[{"role":"user","content":${content}}],` +
    `"tools":[{"type":"function","function":{"name":"lookup","description":"d","parameters":${params}}}]}`;
  const before = await mockCount(mock);
  const a = await request(url, {
    method: 'POST',
    body: body('{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}'),
  });
  assert.equal(a.status, 200, a.text);
  assert.equal(a.headers.get('x-switchyard-cache'), 'miss');
  assert.equal(a.json.choices[0].finish_reason, 'tool_calls');
  const b = await request(url, {
    method: 'POST',
    body: body('{ "required" : ["city"], "properties": {"days": {"type":"integer"} ,\n "city":{"type":"string"}}, "type":"object" }'),
  });
  assert.equal(b.headers.get('x-switchyard-cache'), 'hit');
  assert.deepEqual(b.json.choices[0].message.tool_calls, a.json.choices[0].message.tool_calls, 'the same tool call replayed');
  const c = await request(url, {
    method: 'POST',
    body: body('{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"number"}},"required":["city"]}'),
  });
  assert.equal(c.headers.get('x-switchyard-cache'), 'miss', 'another schema is another key');
  assert.equal(await mockCount(mock), before + 2);
});

test('the key sees temperature, another message, max_tokens, a system prompt and another model', T, async () => {
  const { mock, gw } = await stack.get();
  const base = { model: 'cached', messages: ask('key sensitivity'), temperature: 0.5, max_tokens: 50 };
  const url = `${gw.baseURL}/chat/completions`;
  const before = await mockCount(mock);
  const first = await request(url, { method: 'POST', body: base });
  assert.equal(first.headers.get('x-switchyard-cache'), 'miss');
  const again = await request(url, { method: 'POST', body: base });
  assert.equal(again.headers.get('x-switchyard-cache'), 'hit', 'the same request hits');

  const variants = [
    ['another temperature', { ...base, temperature: 0.7 }],
    ['no temperature', { model: base.model, messages: base.messages, max_tokens: 50 }],
    ['another message', { ...base, messages: ask('key sensitivity, reworded') }],
    ['another max_tokens', { ...base, max_tokens: 51 }],
    ['a system prompt', { ...base, messages: [{ role: 'system', content: 'be brief' }, ...base.messages] }],
    ['another model', { ...base, model: 'cached-2' }],
  ];
  let calls = 1;
  for (const [what, body] of variants) {
    const r = await request(url, { method: 'POST', body });
    assert.equal(r.status, 200, `${what}: ${r.text}`);
    assert.equal(r.headers.get('x-switchyard-cache'), 'miss', `${what} is another key`);
    calls++;
    assert.equal(await mockCount(mock), before + calls, `${what} asked the upstream`);
  }
  /* each variant was stored under its own key */
  for (const [what, body] of variants) {
    const r = await request(url, { method: 'POST', body });
    assert.equal(r.headers.get('x-switchyard-cache'), 'hit', `${what}, asked again, hits`);
  }
  assert.equal(await mockCount(mock), before + calls);
});

/* ---- client control ---------------------------------------------------------------- */

test('Cache-Control: no-cache bypasses the lookup, asks the upstream and still stores the answer', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('no-cache');
  const before = await mockCount(mock);
  const a = await sdkChat(gw, 'openai', { model: 'cached', messages, headers: { 'cache-control': 'no-cache' } });
  assert.equal(shareHeaders(a.headers).cache, 'bypass');
  assert.equal(shareHeaders(a.headers).provider, 'cp-openai', 'the upstream answered');
  assert.equal(await mockCount(mock), before + 1);

  const b = await sdkChat(gw, 'ollama', { model: 'cached', messages });
  assert.equal(shareHeaders(b.headers).cache, 'hit', 'the bypassed answer was stored');
  assert.equal(b.content, a.content);
  assert.equal(await mockCount(mock), before + 1);

  /* a stored answer is not used by no-cache either (in any protocol, among other directives) */
  const c = await sdkChat(gw, 'anthropic', { model: 'cached', messages, headers: { 'cache-control': 'max-age=0, No-Cache' } });
  assert.equal(shareHeaders(c.headers).cache, 'bypass');
  assert.equal(c.content, a.content);
  assert.equal(await mockCount(mock), before + 2, 'no-cache asked the upstream although the answer was cached');
});

test('Cache-Control: no-store answers from the upstream but does not store', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('no-store');
  const want = await mockText(mock, messages, { 'x-mock-tokens': TOKENS });
  const before = await mockCount(mock);
  const a = await sdkChat(gw, 'openai', { model: 'cached', messages, headers: { 'cache-control': 'no-store' } });
  assert.equal(a.content, want);
  assert.equal(shareHeaders(a.headers).cache, 'miss', 'no-store still looks up');
  assert.equal(await mockCount(mock), before + 1);

  const s = await sdkChat(gw, 'ollama', { model: 'cached', messages, stream: true, headers: { 'cache-control': 'no-store' } });
  assert.equal(shareHeaders(s.headers).cache, 'miss', 'nothing was stored by the first');
  assert.equal(s.content, want);
  assert.equal(await mockCount(mock), before + 2);

  const b = await sdkChat(gw, 'openai', { model: 'cached', messages });
  assert.equal(shareHeaders(b.headers).cache, 'miss', 'nothing was stored by the second either');
  assert.equal(await mockCount(mock), before + 3);
  const c = await sdkChat(gw, 'openai', { model: 'cached', messages });
  assert.equal(shareHeaders(c.headers).cache, 'hit', 'a request without no-store stores');
  assert.equal(await mockCount(mock), before + 3);

  /* on a hit no-store changes nothing */
  const d = await sdkChat(gw, 'anthropic', { model: 'cached', messages, headers: { 'cache-control': 'no-store' } });
  assert.equal(shareHeaders(d.headers).cache, 'hit');
  assert.equal(d.content, want);
});

/* ---- TTL --------------------------------------------------------------------------- */

test('an entry expires after its model\'s ttl_s (1 s)', T, async (t) => {
  const { mock, gw } = await stack.get();
  const messages = ask('short ttl');
  const before = await mockCount(mock);
  const a = await sdkChat(gw, 'openai', { model: 'short-ttl', messages });
  const stored = now(); /* the entry was written before the answer reached us */
  assert.equal(shareHeaders(a.headers).cache, 'miss');
  const b = await sdkChat(gw, 'openai', { model: 'short-ttl', messages });
  const took = now() - stored;
  if (took < 800) assert.equal(shareHeaders(b.headers).cache, 'hit', `asked again ${took.toFixed(0)} ms later`);
  else t.diagnostic(`second request came ${took.toFixed(0)} ms later: hit not asserted`);
  const calls = await mockCount(mock) - before;

  await sleep(Math.max(0, 1200 - (now() - stored)));
  const c = await sdkChat(gw, 'openai', { model: 'short-ttl', messages });
  assert.equal(shareHeaders(c.headers).cache, 'miss', 'expired after 1.2 s');
  assert.equal(c.content, a.content);
  assert.equal(await mockCount(mock), before + calls + 1, 'the expired entry sent the request upstream');
  const d = await sdkChat(gw, 'openai', { model: 'short-ttl', messages });
  const took2 = now() - stored;
  if (took2 < 2000) assert.equal(shareHeaders(d.headers).cache, 'hit', 'stored again');
});

/* ---- what is never cached ------------------------------------------------------------ */

test('an upstream error (500) is not cached: the next identical request asks the upstream', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('the upstream fails once');
  const want = await mockText(mock, messages, { 'x-mock-tokens': TOKENS });
  const before = await mockCount(mock);
  for (const [client, stream] of [['openai', false], ['anthropic', true], ['ollama', false]]) {
    let err;
    try {
      await sdkChat(gw, client, { model: 'cached', messages, stream, headers: { 'x-mock-status': '500' } });
    } catch (e) {
      err = e;
    }
    assert.ok(err, `${client}: the 500 came through as an error`);
    assert.equal(err.status ?? err.status_code, 500, `${client}: ${err}`);
  }
  assert.equal(await mockCount(mock), before + 3, 'each failed request asked the upstream');

  const ok = await sdkChat(gw, 'openai', { model: 'cached', messages });
  assert.equal(shareHeaders(ok.headers).cache, 'miss', 'no error was stored');
  assert.equal(ok.content, want);
  assert.equal(await mockCount(mock), before + 4);
  const hit = await sdkChat(gw, 'openai', { model: 'cached', messages });
  assert.equal(shareHeaders(hit.headers).cache, 'hit', 'the good answer was');
  assert.equal(await mockCount(mock), before + 4);
});

test('a stream cut mid-way is not cached', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('the upstream dies after three tokens');
  const want = await mockText(mock, messages, { 'x-mock-tokens': TOKENS });
  const before = await mockCount(mock);
  const cut = { 'x-mock-fault': 'cut-after=3' };

  /* a streaming client: the first tokens, then its protocol's error */
  const { url, body } = rawChat(gw, 'openai', { model: 'cached', messages, stream: true });
  const res = await fetch(url, {
    method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...cut },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-switchyard-cache'), 'miss');
  const s = rawStreamSummary('openai', await res.text());
  assert.ok(!s.complete, 'the cut stream did not end well');
  assert.ok(s.error, 'it ended with an error event');
  assert.ok(want.startsWith(s.content) && s.content.length > 0 && s.content.length < want.length,
    `the tokens before the cut came: ${JSON.stringify(s.content)}`);

  /* a client that did not stream: an error answer */
  const w = await request(`${gw.baseURL}/chat/completions`, { method: 'POST', body: { ...body, stream: false }, headers: cut });
  assert.ok(w.status >= 500, `an error status: ${w.status} ${w.text}`);
  assert.equal(await mockCount(mock), before + 2, 'the second asked the upstream: the cut answer was not stored');

  const ok = await sdkChat(gw, 'openai', { model: 'cached', messages });
  assert.equal(shareHeaders(ok.headers).cache, 'miss', 'the cut answer was not stored');
  assert.equal(ok.content, want);
  const hit = await sdkChat(gw, 'ollama', { model: 'cached', messages, stream: true });
  assert.equal(shareHeaders(hit.headers).cache, 'hit');
  assert.equal(hit.content, want);
  assert.equal(await mockCount(mock), before + 3);
});

test('a model without a cache says bypass and asks the upstream every time', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('never cached');
  const before = await mockCount(mock);
  let n = 0;
  for (const client of CLIENTS) {
    for (const stream of [false, true]) {
      for (const name of ['uncached', 'fast']) {
        const r = await sdkChat(gw, client, { model: name, messages, stream });
        const h = shareHeaders(r.headers);
        const what = `${client} ${name}${stream ? ' stream' : ''}`;
        assert.equal(h.cache, 'bypass', what);
        assert.equal(h.dedup, null, `${what}: not merged (not deterministic, no cache)`);
        assert.ok(h.provider, `${what}: the upstream answered`);
        assert.ok(r.content.startsWith(`[${mockEcho(messages[0].content)}]`), `${what}: ${r.content}`);
        n++;
      }
    }
  }
  assert.equal(await mockCount(mock), before + n, 'every request asked the upstream');
});

test('a call cancelled because its client left is not stored', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('left before the end');
  const st0 = await mock.stats();
  const before = await mockCount(mock);
  for (const round of [1, 2]) {
    const { url, body } = rawChat(gw, 'openai', { model: 'cached-long', messages, stream: true });
    const ac = new AbortController();
    const res = await fetch(url, {
      method: 'POST', body: JSON.stringify(body), signal: ac.signal, headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-switchyard-cache'), 'miss', `round ${round}: nothing was stored`);
    const reader = res.body.getReader();
    await reader.read();
    ac.abort();
    await reader.read().catch(() => {});
    await pollUntil(async () => {
      const x = await mock.stats();
      return x.streams_cancelled >= st0.streams_cancelled + round && x.open_streams === st0.open_streams;
    }, `round ${round}: the mock to see its stream cancelled`);
  }
  assert.equal(await mockCount(mock), before + 2);
});

test('GET /api/stats counts lookups, hits, misses, bypasses, stores and what was not stored', T, async () => {
  const { gw } = await stack.get();
  const stats = async () => {
    const r = await request(`${gw.url}/api/stats`);
    assert.equal(r.status, 200, r.text);
    return r.json.cache;
  };
  const s0 = await stats();
  const m = (x) => ask(`counted: ${x}`);
  await sdkChat(gw, 'openai', { model: 'cached', messages: m('a') }); /* miss, stored */
  await sdkChat(gw, 'ollama', { model: 'cached', messages: m('a') }); /* hit */
  await sdkChat(gw, 'anthropic', { model: 'cached', messages: m('a'), stream: true }); /* hit */
  await sdkChat(gw, 'openai', { model: 'cached', messages: m('b'), headers: { 'cache-control': 'no-cache' } }); /* bypass, stored */
  await sdkChat(gw, 'openai', { model: 'cached', messages: m('c'), headers: { 'cache-control': 'no-store' } }); /* miss, not stored */
  await sdkChat(gw, 'openai', { model: 'cached', messages: m('d'), headers: { 'x-mock-status': '500' } }).catch(() => {}); /* miss, error */
  await sdkChat(gw, 'openai', { model: 'uncached', messages: m('e') }); /* bypass */
  const s1 = await stats();
  const d = (k) => s1[k] - s0[k];
  assert.deepEqual(
    { lookups: d('lookups'), hits: d('hits'), misses: d('misses'), bypasses: d('bypasses'), stores: d('stores'),
      no_stores: d('no_stores'), not_cacheable: d('not_cacheable') },
    { lookups: 5, hits: 2, misses: 3, bypasses: 2, stores: 2, no_stores: 1, not_cacheable: 1 });
  assert.equal(s1.tiers.memory.hits - s0.tiers.memory.hits, 2, 'the memory tier answered the hits');
  assert.equal(s1.tiers.memory.entries - s0.tiers.memory.entries, 2, 'two entries more');
  assert.ok(s1.tiers.memory.bytes > s0.tiers.memory.bytes);
});

/* ---- an OpenAI client in front of an OpenAI-compatible upstream ------------------------------ */

/* The gateway's last request to the mock on path p whose body holds marker. */
async function lastSaw(mock, p, marker) {
  const seen = await mockSaw(mock, p, marker);
  return seen[seen.length - 1];
}

/* docs/cache.md: the re-encoding does not carry answer fields with no
 * canonical counterpart (logprobs, system_fingerprint); but the key must
 * still cover every request field that changes the answer, or such a
 * request is served another request's answer. */
test('a caching model does not serve one answer to requests that differ in logit_bias or reasoning_effort', T, async () => {
  const { mock, gw } = await stack.get();
  const url = `${gw.baseURL}/chat/completions`;
  const content = `fields the canonical form lacks (${TAG})`;
  const base = { model: 'cached', messages: [{ role: 'user', content }] };
  /* what the passthrough of a model without a cache sends, for comparison */
  const plain = await request(url, { method: 'POST', body: { ...base, model: 'uncached', logit_bias: { 1234: -100 } } });
  assert.equal(plain.status, 200);
  assert.deepEqual((await lastSaw(mock, '/v1/chat/completions', content)).json.logit_bias, { 1234: -100 },
    'the passthrough sends logit_bias');

  const a = await request(url, { method: 'POST', body: base });
  assert.equal(a.headers.get('x-switchyard-cache'), 'miss');
  for (const [what, extra, check] of [
    ['logit_bias', { logit_bias: { 1234: -100 } }, (j) => assert.deepEqual(j.logit_bias, { 1234: -100 })],
    ['reasoning_effort', { reasoning_effort: 'high' }, (j) => assert.equal(j.reasoning_effort, 'high')],
  ]) {
    const r = await request(url, { method: 'POST', body: { ...base, ...extra } });
    assert.equal(r.status, 200, `${what}: ${r.text}`);
    assert.notEqual(r.headers.get('x-switchyard-cache'), 'hit', `${what}: served the answer to a request without it`);
    check((await lastSaw(mock, '/v1/chat/completions', content)).json);
  }
});

test('a caching model still takes n > 1 and echo when the upstream is OpenAI-compatible', T, async () => {
  const { mock, gw } = await stack.get();
  const content = `two choices (${TAG})`;
  const ok = await request(`${gw.baseURL}/chat/completions`, {
    method: 'POST', body: { model: 'uncached', n: 2, messages: [{ role: 'user', content }] },
  });
  assert.equal(ok.status, 200, 'the passthrough takes n: 2');
  const r = await request(`${gw.baseURL}/chat/completions`, {
    method: 'POST', body: { model: 'cached', n: 2, messages: [{ role: 'user', content }] },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal((await lastSaw(mock, '/v1/chat/completions', content)).json.n, 2, 'n reached the upstream');
  const e = await request(`${gw.baseURL}/completions`, { method: 'POST', body: { model: 'cached', prompt: content, echo: true } });
  assert.equal(e.status, 200, e.text);
});

test('a caching model sends a /v1/completions call to the upstream\'s /v1/completions', T, async () => {
  const { mock, gw } = await stack.get();
  const prompt = `legacy completion (${TAG})`;
  const r = await request(`${gw.baseURL}/completions`, { method: 'POST', body: { model: 'cached', prompt } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.object, 'text_completion');
  const up = await lastSaw(mock, '/v1/completions', prompt);
  const asChat = (await mockSaw(mock, '/v1/chat/completions', prompt)).map((x) => x.json);
  assert.ok(up, `the mock saw no /v1/completions call; it saw ${JSON.stringify(asChat)}`);
  assert.equal(up.json.prompt, prompt);
});

test('teardown: switchyard exits cleanly', T, async () => {
  await stack.stop();
});

/*
 * dedup.test.mjs - identical requests in flight share one upstream call:
 *
 *   - 50 concurrent identical requests from the three SDKs (OpenAI, Ollama,
 *     Anthropic) make exactly one upstream call and all get the whole,
 *     correct answer: not streamed, streamed (each waiter reads the shared
 *     stream at its own pace), and the two mixed; with a caching model
 *     too, and from Ollama and Anthropic upstreams;
 *   - a client that leaves mid-stream - the leader too - does not cut the
 *     others; when every client leaves, mid-stream or before the first
 *     byte, the upstream call is cancelled;
 *   - a client that stops reading holds no one back and, reading again,
 *     gets the whole answer (past what the shared buffer keeps for it);
 *   - dedup: off makes one call per request, with a cache too; dedup: auto
 *     merges deterministic translated calls only;
 *   - an upstream error (500, 429 with Retry-After, a stream cut mid-way)
 *     reaches every waiter as an error in its own protocol.
 *
 * Each scenario is a provider whose x-mock-* headers make the mock slow
 * enough (latency before the first token, a gap between tokens) for the
 * requests to overlap; the first token is only sent after the latency, so a
 * client that has its response headers has joined. Calls are counted with
 * the mock's /__stats by_path.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  lazyStack, mockProvider, kindProvider, model, request, errorShape, mockEcho, httpPost, parseNDJSON, ms, now, sleep,
  shareHeaders, mockCount, mockText, pollUntil, sdkChat, rawChat, rawStreamSummary,
} from './lib/harness.mjs';

const CLIENTS = ['openai', 'ollama', 'anthropic'];
const TOKENS = '40';
const LATENCY = String(ms(1000)); /* time for every request of a burst to arrive and join */
const SLOW = { 'x-mock-latency-ms': LATENCY, 'x-mock-itl-ms': '20', 'x-mock-tokens': TOKENS };
const BIG = 100000; /* tokens: far more than the shared buffer holds for a reader that does not read */

const stack = lazyStack({
  config: (mockUrl) => ({
    providers: [
      mockProvider('slow', mockUrl, { headers: SLOW }),
      mockProvider('brisk', mockUrl, { headers: { 'x-mock-latency-ms': String(ms(800)), 'x-mock-tokens': TOKENS } }),
      mockProvider('leave', mockUrl, {
        headers: { 'x-mock-latency-ms': String(ms(500)), 'x-mock-itl-ms': '25', 'x-mock-tokens': '80' },
      }),
      mockProvider('endless', mockUrl, {
        headers: { 'x-mock-latency-ms': String(ms(300)), 'x-mock-itl-ms': '2', 'x-mock-tokens': '100000' },
      }),
      mockProvider('fail', mockUrl, { headers: { 'x-mock-latency-ms': LATENCY, 'x-mock-status': '500' } }),
      mockProvider('limited', mockUrl, {
        headers: { 'x-mock-latency-ms': LATENCY, 'x-mock-status': '429', 'x-mock-retry-after': '7' },
      }),
      mockProvider('cut', mockUrl, { headers: { ...SLOW, 'x-mock-fault': 'cut-after=5' } }),
      mockProvider('big', mockUrl, { headers: { 'x-mock-latency-ms': String(ms(500)), 'x-mock-tokens': String(BIG) } }),
      mockProvider('held', mockUrl, { headers: { 'x-mock-latency-ms': '600000' } }),
      kindProvider('anthropic', 'slow-anthropic', mockUrl, { headers: SLOW }),
      kindProvider('ollama', 'slow-ollama', mockUrl, { headers: SLOW }),
    ],
    models: [
      { ...model('dd-on', 'slow'), dedup: 'on' },
      { ...model('dd-cached', 'slow'), cache: { mode: 'exact', ttl_s: 600 } },
      { ...model('dd-auto', 'brisk') },
      { ...model('dd-off', 'brisk'), dedup: 'off' },
      { ...model('dd-off-cached', 'brisk'), cache: { mode: 'exact', ttl_s: 600 }, dedup: 'off' },
      { ...model('dd-leave', 'leave'), dedup: 'on' },
      { ...model('dd-endless', 'endless'), dedup: 'on' },
      { ...model('dd-fail', 'fail'), dedup: 'on' },
      { ...model('dd-429', 'limited'), dedup: 'on' },
      { ...model('dd-cut', 'cut'), dedup: 'on' },
      { ...model('dd-big', 'big'), dedup: 'on' },
      { ...model('dd-held', 'held'), dedup: 'on' },
      { ...model('dd-anthropic', 'slow-anthropic'), dedup: 'on' },
      { ...model('dd-ollama', 'slow-ollama'), dedup: 'on' },
    ],
  }),
});
after(() => stack.stop().catch(() => {}));

const T = { timeout: ms(90000) };
const TAG = Math.random().toString(36).slice(2, 8);
const ask = (text) => [{ role: 'user', content: `${text} (${TAG})` }];

/* n concurrent sdkChat calls, the i-th from CLIENTS[i % 3]; stream(i) says
 * whether it streams. Each result is sdkChat's, or {error} when it threw. */
function burst(gw, n, { stream = () => false, ...opts }) {
  return Promise.all(Array.from({ length: n }, async (_, i) => {
    const proto = CLIENTS[i % CLIENTS.length];
    try {
      return { i, ...(await sdkChat(gw, proto, { ...opts, stream: stream(i) })) };
    } catch (e) {
      return { i, proto, error: e };
    }
  }));
}

/* Every result a success with the text want; one leader, the rest followers. */
function allMerged(results, want, { minChunks = 0 } = {}) {
  const failed = results.filter((r) => r.error);
  assert.equal(failed.length, 0, `failed: ${failed.slice(0, 3).map((r) => `#${r.i} ${r.proto}: ${r.error}`).join('; ')}`);
  const wrong = results.filter((r) => r.content !== want || !r.finish);
  const show = (r) => `#${r.i} ${r.proto}${r.stream ? ' stream' : ''}: ${JSON.stringify(r.content.slice(0, 80))} finish ${r.finish}`;
  assert.equal(wrong.length, 0, `wrong answers: ${wrong.slice(0, 3).map(show).join('; ')}`);
  const roles = results.map((r) => shareHeaders(r.headers).dedup);
  assert.equal(roles.filter((x) => x === 'leader').length, 1, `one leader: ${roles.join(',')}`);
  assert.equal(roles.filter((x) => x === 'follower').length, results.length - 1, `the rest follow: ${roles.join(',')}`);
  for (const r of results) assert.ok(shareHeaders(r.headers).provider?.startsWith('slow'), `#${r.i} names the provider`);
  const ids = new Set(results.map((r) => r.headers.get('x-request-id')));
  assert.equal(ids.size, results.length, 'each waiter has its own x-request-id');
  const short = results.filter((r) => r.stream && r.chunks < minChunks);
  assert.equal(short.length, 0,
    `streams in too few pieces: ${short.slice(0, 3).map((r) => `#${r.i} ${r.proto}: ${r.chunks}`).join('; ')}`);
}

/* ---- one call for many --------------------------------------------------------- */

test('50 concurrent identical requests (three SDKs, not streamed): one upstream call, all correct', T, async (t) => {
  const { mock, gw } = await stack.get();
  const messages = ask('fifty at once, whole');
  const want = await mockText(mock, messages, { 'x-mock-tokens': TOKENS });
  const before = await mockCount(mock);
  const d0 = (await request(`${gw.url}/api/stats`)).json.dedup;
  const t0 = now();
  const results = await burst(gw, 50, { model: 'dd-on', messages });
  t.diagnostic(`50 answers in ${(now() - t0).toFixed(0)} ms`);
  allMerged(results, want);
  assert.equal(await mockCount(mock), before + 1, 'exactly one upstream call');
  const d1 = (await request(`${gw.url}/api/stats`)).json.dedup;
  assert.deepEqual({ leads: d1.leads - d0.leads, joins: d1.joins - d0.joins, inflight: d1.inflight },
    { leads: 1, joins: 49, inflight: 0 }, 'GET /api/stats counts one lead and 49 joins');
});

test('50 concurrent identical streams (three SDKs): one upstream call, every stream whole', T, async (t) => {
  const { mock, gw } = await stack.get();
  const messages = ask('fifty at once, streamed');
  const want = await mockText(mock, messages, { 'x-mock-tokens': TOKENS });
  const before = await mockCount(mock);
  const st0 = await mock.stats();
  const t0 = now();
  const results = await burst(gw, 50, { model: 'dd-on', messages, stream: () => true });
  t.diagnostic(`50 streams in ${(now() - t0).toFixed(0)} ms`);
  /* 40 tokens: 1 echo + 39 words, each its own upstream chunk */
  allMerged(results, want, { minChunks: 20 });
  assert.equal(await mockCount(mock), before + 1, 'exactly one upstream call');
  const st = await mock.stats();
  assert.equal(st.streams_completed - st0.streams_completed, 1, 'one upstream stream, completed');
  assert.equal(st.streams_cancelled, st0.streams_cancelled, 'nothing cancelled');
});

test('streamed and whole requests, in every protocol, share one call', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('stream flag does not split');
  const want = await mockText(mock, messages, { 'x-mock-tokens': TOKENS });
  const before = await mockCount(mock);
  const results = await burst(gw, 12, { model: 'dd-on', messages, stream: (i) => Math.floor(i / 3) % 2 === 1 });
  assert.deepEqual(new Set(results.map((r) => `${r.proto}/${r.stream}`)).size, 6, 'every protocol, streamed and not');
  allMerged(results, want, { minChunks: 20 });
  assert.equal(await mockCount(mock), before + 1);
});

test('a caching model merges concurrent misses; later requests hit', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('merged misses');
  const want = await mockText(mock, messages, { 'x-mock-tokens': TOKENS });
  const before = await mockCount(mock);
  const results = await burst(gw, 20, { model: 'dd-cached', messages, stream: (i) => i % 2 === 1 });
  allMerged(results, want);
  for (const r of results) assert.equal(shareHeaders(r.headers).cache, 'miss', `#${r.i}: looked up, missed`);
  assert.equal(await mockCount(mock), before + 1);
  const hit = await sdkChat(gw, 'anthropic', { model: 'dd-cached', messages });
  assert.equal(shareHeaders(hit.headers).cache, 'hit');
  assert.equal(hit.content, want);
  assert.equal(await mockCount(mock), before + 1);
});

for (const kind of ['anthropic', 'ollama']) {
  test(`streams from an ${kind} upstream are shared too (three client protocols)`, T, async () => {
    const { mock, gw } = await stack.get();
    const messages = ask(`shared ${kind} stream`);
    const want = await mockText(mock, messages, { 'x-mock-tokens': TOKENS });
    const p = kind === 'anthropic' ? '/v1/messages' : '/api/chat';
    const before = await mockCount(mock, p);
    const results = await burst(gw, 9, { model: `dd-${kind}`, messages, stream: (i) => i < 6 });
    allMerged(results, want, { minChunks: 20 });
    assert.equal(await mockCount(mock, p), before + 1, 'one upstream call');
  });
}

/* ---- clients that leave ---------------------------------------------------------- */

/* Starts a raw streamed chat; resolves once its headers are in with
 * {proto, res, ac, text(), read()}: read() reads to the end (or the abort)
 * and resolves with the text. */
async function openStream(gw, proto, modelName, messages) {
  const { url, body } = rawChat(gw, proto, { model: modelName, messages, stream: true });
  const ac = new AbortController();
  const res = await fetch(url, {
    method: 'POST', body: JSON.stringify(body), signal: ac.signal, headers: { 'content-type': 'application/json' },
  });
  const s = { proto, res, ac, got: '', aborted: false, waiters: [] };
  const dec = new TextDecoder();
  s.done = (async () => {
    try {
      for await (const chunk of res.body) {
        s.got += dec.decode(chunk, { stream: true });
        for (const w of s.waiters.splice(0)) w();
      }
    } catch (e) {
      if (!s.aborted) throw e;
    }
    return s.got;
  })();
  /* resolves once at least n bytes arrived */
  s.until = (n) => new Promise((resolve) => {
    const check = () => (s.got.length >= n ? resolve() : s.waiters.push(check));
    check();
  });
  s.leave = () => {
    s.aborted = true;
    ac.abort();
  };
  return s;
}

test('a client leaving mid-stream, the leader included, does not cut the others', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('some leave early');
  const want = await mockText(mock, messages, { 'x-mock-tokens': '80' });
  const before = await mockCount(mock);
  const st0 = await mock.stats();
  /* the leader first, so it is the one that leaves */
  const first = openStream(gw, 'openai', 'dd-leave', messages);
  await sleep(ms(50));
  const rest = Array.from({ length: 8 }, (_, i) => openStream(gw, CLIENTS[i % 3], 'dd-leave', messages));
  const streams = await Promise.all([first, ...rest]);
  const roles = streams.map((s) => s.res.headers.get('x-switchyard-dedup'));
  assert.equal(roles.filter((r) => r === 'leader').length, 1, roles.join(','));
  assert.ok(streams.every((s) => s.res.status === 200));
  const leader = streams.find((s) => s.res.headers.get('x-switchyard-dedup') === 'leader');
  const leaving = [leader, ...streams.filter((s) => s !== leader && s.proto === 'anthropic').slice(0, 1),
    ...streams.filter((s) => s !== leader && s.proto === 'ollama').slice(0, 1)];
  const staying = streams.filter((s) => !leaving.includes(s));
  /* they leave once some of the answer has come */
  await Promise.all(leaving.map(async (s) => {
    await s.until(200);
    s.leave();
  }));
  for (const s of leaving) {
    await s.done;
    assert.ok(!rawStreamSummary(s.proto, s.got).complete, `${s.proto} left before the end`);
  }
  const texts = await Promise.all(staying.map((s) => s.done));
  staying.forEach((s, i) => {
    const sum = rawStreamSummary(s.proto, texts[i]);
    assert.equal(sum.error, null, `${s.proto}: no error`);
    assert.ok(sum.complete, `${s.proto}: the stream ended well`);
    assert.equal(sum.content, want, `${s.proto}: the whole answer`);
  });
  assert.equal(await mockCount(mock), before + 1, 'one upstream call');
  const st = await pollUntil(async () => {
    const x = await mock.stats();
    return x.streams_completed > st0.streams_completed && x;
  }, 'the upstream stream to complete');
  assert.equal(st.streams_cancelled, st0.streams_cancelled, 'the upstream stream was not cancelled');
});

test('when every client has left, the upstream stream is cancelled', T, async (t) => {
  const { mock, gw } = await stack.get();
  const messages = ask('everyone leaves');
  const st0 = await mock.stats();
  const before = await mockCount(mock);
  const streams = await Promise.all(Array.from({ length: 6 }, (_, i) => openStream(gw, CLIENTS[i % 3], 'dd-endless', messages)));
  const roles = streams.map((s) => s.res.headers.get('x-switchyard-dedup'));
  assert.equal(roles.filter((r) => r === 'leader').length, 1, roles.join(','));
  await Promise.all(streams.map((s) => s.until(500)));
  const mid = await mock.stats();
  assert.equal(mid.open_streams, st0.open_streams + 1, 'one upstream stream for six clients');

  /* all but one leave: the upstream goes on */
  for (const s of streams.slice(1)) s.leave();
  await Promise.all(streams.slice(1).map((s) => s.done));
  const last = streams[0];
  const seen = last.got.length;
  await last.until(seen + 2000);
  let st = await mock.stats();
  assert.equal(st.streams_cancelled, st0.streams_cancelled, 'still one client: not cancelled');
  assert.equal(st.open_streams, st0.open_streams + 1);

  const t0 = now();
  last.leave();
  await last.done;
  st = await pollUntil(async () => {
    const x = await mock.stats();
    return x.streams_cancelled > st0.streams_cancelled && x.open_streams === st0.open_streams && x;
  }, 'the mock to see its stream cancelled', ms(5000));
  t.diagnostic(`last client left -> upstream cancelled in ${(now() - t0).toFixed(0)} ms`);
  assert.equal(st.streams_cancelled, st0.streams_cancelled + 1);
  assert.equal(st.streams_completed, st0.streams_completed, 'the endless stream did not complete');
  assert.equal(await mockCount(mock), before + 1);
  /* the gateway still serves the same request afresh */
  const again = await sdkChat(gw, 'openai', { model: 'dd-on', messages: ask('still serving after a cancel') });
  assert.equal(again.status, 200);
});

test('clients that all leave before the first byte cancel the upstream call', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('gone before anything came');
  const st0 = await mock.stats();
  const before = await mockCount(mock);
  const acs = [];
  const pending = Array.from({ length: 6 }, (_, i) => {
    const { url, body } = rawChat(gw, CLIENTS[i % 3], { model: 'dd-held', messages, stream: i % 2 === 0 });
    const ac = new AbortController();
    acs.push(ac);
    return fetch(url, {
      method: 'POST', body: JSON.stringify(body), signal: ac.signal, headers: { 'content-type': 'application/json' },
    })
      .then((r) => ({ status: r.status }), (e) => ({ error: e.name }));
  });
  /* the one upstream call is waiting in the mock's latency */
  await pollUntil(async () => (await mockCount(mock)) === before + 1, 'the upstream call to reach the mock');
  await sleep(ms(300)); /* the other five arrive and join */
  assert.equal(await mockCount(mock), before + 1, 'one call for six clients');
  assert.equal((await mock.stats()).open_streams, st0.open_streams + 1, 'held open in the mock');
  for (const ac of acs) ac.abort();
  const outcomes = await Promise.all(pending);
  assert.ok(outcomes.every((o) => o.error === 'AbortError'), JSON.stringify(outcomes));
  const st = await pollUntil(async () => {
    const x = await mock.stats();
    return x.open_streams === st0.open_streams && x.streams_cancelled > st0.streams_cancelled && x;
  }, 'the mock to see the held call closed', ms(5000));
  assert.equal(st.streams_cancelled, st0.streams_cancelled + 1);
  assert.equal(await mockCount(mock), before + 1);
});

test('a client that stops reading does not hold back the others, and gets the whole answer when it reads again', T, async (t) => {
  const { mock, gw } = await stack.get();
  const messages = ask('one reader pauses');
  const want = await mockText(mock, messages, { 'x-mock-tokens': String(BIG) });
  const before = await mockCount(mock);
  /* the slow one: an Ollama stream read with node:http, paused after its first bytes */
  const slowCall = rawChat(gw, 'ollama', { model: 'dd-big', messages, stream: true });
  const slowRes = httpPost(slowCall.url, slowCall.body);
  await sleep(ms(50));
  const fast = await Promise.all([openStream(gw, 'openai', 'dd-big', messages), openStream(gw, 'anthropic', 'dd-big', messages)]);
  const slow = await slowRes;
  assert.equal(slow.statusCode, 200);
  slow.setEncoding('utf8');
  let slowText = await new Promise((resolve, reject) => {
    slow.once('data', (c) => {
      slow.pause();
      resolve(c);
    });
    slow.once('error', reject);
  });
  const t0 = now();
  const texts = await Promise.all(fast.map((s) => s.done));
  t.diagnostic(`the fast readers finished ${(now() - t0).toFixed(0)} ms after the slow one paused`);
  fast.forEach((s, i) => {
    const sum = rawStreamSummary(s.proto, texts[i]);
    assert.ok(sum.complete, `${s.proto}: complete while the slow reader is paused`);
    assert.equal(sum.content.length, want.length, `${s.proto}: every byte`);
    assert.equal(sum.content, want, `${s.proto}: the whole answer`);
  });
  assert.ok(slow.isPaused(), 'the slow reader was paused all along');
  slowText += await new Promise((resolve, reject) => {
    let more = '';
    slow.on('data', (c) => { more += c; });
    slow.on('end', () => resolve(more));
    slow.on('error', reject);
    slow.resume();
  });
  const lines = parseNDJSON(slowText);
  const last = lines[lines.length - 1];
  assert.equal(last.done, true, `the slow stream ends with done: ${JSON.stringify(last).slice(0, 200)}`);
  assert.equal(last.eval_count, BIG, 'with the usage');
  const text = lines.map((l) => l.message?.content ?? '').join('');
  assert.equal(text.length, want.length, 'the slow reader got every byte');
  assert.equal(text, want, 'the slow reader got the whole answer, in order');
  assert.equal(await mockCount(mock), before + 1, 'one upstream call');
});

/* ---- policy ----------------------------------------------------------------------- */

test('dedup: off makes one upstream call per request, with or without a cache', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('never merged');
  const want = await mockText(mock, messages, { 'x-mock-tokens': TOKENS });
  let before = await mockCount(mock);
  /* deterministic, so auto would merge the translated ones */
  const results = await burst(gw, 9, { model: 'dd-off', messages, temperature: 0 });
  assert.ok(results.every((r) => !r.error && r.content === want), 'all answered');
  assert.ok(results.every((r) => shareHeaders(r.headers).dedup === null), 'no x-switchyard-dedup');
  assert.equal(await mockCount(mock), before + 9, 'nine calls');

  before = await mockCount(mock);
  const cached = await burst(gw, 6, { model: 'dd-off-cached', messages });
  assert.ok(cached.every((r) => !r.error && r.content === want), 'all answered');
  assert.deepEqual(cached.map((r) => shareHeaders(r.headers).cache), Array(6).fill('miss'), 'all missed');
  assert.ok(cached.every((r) => shareHeaders(r.headers).dedup === null), 'no x-switchyard-dedup');
  assert.equal(await mockCount(mock), before + 6, 'six calls');
  const hit = await sdkChat(gw, 'ollama', { model: 'dd-off-cached', messages });
  assert.equal(shareHeaders(hit.headers).cache, 'hit', 'the cache still works');
  assert.equal(await mockCount(mock), before + 6);
});

test('dedup: auto merges deterministic translated calls (temperature 0 or a seed), nothing else', T, async () => {
  const { mock, gw } = await stack.get();
  const cases = [
    ['ollama, temperature 0', 'ollama', { temperature: 0 }, 1],
    ['ollama, a seed', 'ollama', { seed: 7 }, 1],
    ['anthropic, temperature 0', 'anthropic', { temperature: 0 }, 1],
    ['ollama, no temperature', 'ollama', {}, 6],
    ['ollama, temperature 0.7', 'ollama', { temperature: 0.7 }, 6],
    ['openai to an openai upstream (not translated), temperature 0', 'openai', { temperature: 0 }, 6],
  ];
  for (const [what, proto, extra, calls] of cases) {
    const messages = ask(`auto: ${what}`);
    const before = await mockCount(mock);
    const results = await Promise.all(Array.from({ length: 6 }, () =>
      sdkChat(gw, proto, { model: 'dd-auto', messages, ...extra })));
    assert.ok(results.every((r) => r.content.startsWith(`[${mockEcho(messages[0].content)}]`)), `${what}: answered`);
    assert.equal(await mockCount(mock), before + calls, `${what}: ${calls} upstream call(s)`);
    const roles = results.map((r) => shareHeaders(r.headers).dedup);
    if (calls === 1) assert.equal(roles.filter((x) => x === 'leader').length, 1, `${what}: ${roles.join(',')}`);
    else assert.ok(roles.every((x) => x === null), `${what}: not merged: ${roles.join(',')}`);
  }
});

/* ---- errors ---------------------------------------------------------------------- */

/* The error body of protocol proto: returns its message. */
function protoError(proto, json) {
  if (proto === 'ollama') {
    assert.deepEqual(Object.keys(json || {}), ['error'], JSON.stringify(json));
    return json.error;
  }
  if (proto === 'anthropic') {
    assert.equal(json?.type, 'error', JSON.stringify(json));
    assert.equal(json.error.type, 'api_error', JSON.stringify(json));
    return json.error.message;
  }
  return errorShape(assert, json).message;
}

test('an upstream 500 reaches every waiter as an error in its own protocol', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('the shared call fails');
  const before = await mockCount(mock);
  const results = await Promise.all(Array.from({ length: 12 }, async (_, i) => {
    const proto = CLIENTS[i % 3];
    const stream = i % 2 === 1;
    const { url, body } = rawChat(gw, proto, { model: 'dd-fail', messages, stream });
    return { proto, stream, r: await request(url, { method: 'POST', body }) };
  }));
  for (const { proto, stream, r } of results) {
    const what = `${proto}${stream ? ' stream' : ''}`;
    assert.equal(r.status, 500, `${what}: the upstream's status carried (${r.text})`);
    assert.match(protoError(proto, r.json), /mock error 500/, what);
  }
  const roles = results.map((x) => x.r.headers.get('x-switchyard-dedup'));
  assert.equal(roles.filter((x) => x === 'leader').length, 1, roles.join(','));
  assert.equal(await mockCount(mock), before + 1, 'one upstream call for all twelve');

  /* the SDKs throw their own errors */
  const sdk = await burst(gw, 6, { model: 'dd-fail', messages: ask('the shared call fails, SDKs'), stream: (i) => i >= 3 });
  for (const r of sdk) {
    assert.ok(r.error, `${r.proto} #${r.i}: threw`);
    assert.equal(r.error.status ?? r.error.status_code, 500, `${r.proto} #${r.i}: ${r.error}`);
  }
  assert.equal(await mockCount(mock), before + 2);
});

test('an upstream 429 with Retry-After reaches every waiter with its status and Retry-After', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('the shared call is rate limited');
  const before = await mockCount(mock);
  const results = await Promise.all(Array.from({ length: 6 }, async (_, i) => {
    const proto = CLIENTS[i % 3];
    const { url, body } = rawChat(gw, proto, { model: 'dd-429', messages, stream: i >= 3 });
    return { proto, r: await request(url, { method: 'POST', body }) };
  }));
  for (const { proto, r } of results) {
    assert.equal(r.status, 429, `${proto}: ${r.text}`);
    assert.equal(r.headers.get('retry-after'), '7', `${proto}: Retry-After carried`);
    if (proto === 'anthropic') assert.equal(r.json.error.type, 'rate_limit_error', r.text);
    else if (proto === 'ollama') assert.match(r.json.error, /mock error 429/);
    else assert.match(errorShape(assert, r.json).message, /mock error 429/);
  }
  assert.equal(await mockCount(mock), before + 1);
});

test('an upstream stream cut mid-way ends every waiter\'s answer with its protocol\'s error', T, async () => {
  const { mock, gw } = await stack.get();
  const messages = ask('the shared stream is cut');
  const want = await mockText(mock, messages, { 'x-mock-tokens': TOKENS });
  const before = await mockCount(mock);
  const results = await Promise.all(Array.from({ length: 9 }, async (_, i) => {
    const proto = CLIENTS[i % 3];
    const stream = i < 6;
    const { url, body } = rawChat(gw, proto, { model: 'dd-cut', messages, stream });
    return { proto, stream, r: await request(url, { method: 'POST', body }) };
  }));
  for (const { proto, stream, r } of results) {
    const what = `${proto}${stream ? ' stream' : ''}`;
    if (stream) {
      assert.equal(r.status, 200, what);
      const s = rawStreamSummary(proto, r.text);
      assert.ok(!s.complete, `${what}: not ended as a good stream`);
      assert.ok(s.error, `${what}: ends with an error: ${r.text.slice(-200)}`);
      assert.ok(s.content.length > 0 && want.startsWith(s.content) && s.content.length < want.length,
        `${what}: the tokens before the cut: ${JSON.stringify(s.content)}`);
    } else {
      assert.ok(r.status >= 500, `${what}: an error status (${r.status} ${r.text})`);
      protoError(proto, r.json);
    }
  }
  assert.equal(await mockCount(mock), before + 1, 'one upstream call for all nine');
});

test('teardown: switchyard exits cleanly', T, async () => {
  await stack.stop();
});

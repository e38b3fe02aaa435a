/*
 * translate-faults.test.mjs - translated streams that end badly or slowly:
 * a client that leaves mid-stream cancels the upstream (each ingress
 * protocol, each upstream kind once), a client that stops reading pauses
 * the upstream and gets every line once it reads again, and an upstream
 * that goes silent ends the client's stream with its protocol's error.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  lazyStack, kindProvider, model, httpPost, parseNDJSON, parseNamedSSE, ms, now, sleep, ASAN,
} from './lib/harness.mjs';

const LONG = { 'x-mock-tokens': '100000', 'x-mock-itl-ms': '1' };
const BIG = 100000;
const STALL = { 'x-mock-fault': 'stall-after=3' };

const stack = lazyStack({
  config: (mockUrl) => ({
    server: { stream_high_water_bytes: 65536 },
    providers: [
      kindProvider('openai', 'long-openai', mockUrl, { headers: LONG }),
      kindProvider('ollama', 'long-ollama', mockUrl, { headers: LONG }),
      kindProvider('anthropic', 'long-anthropic', mockUrl, { headers: LONG }),
      kindProvider('openai', 'big-openai', mockUrl, { headers: { 'x-mock-tokens': String(BIG), 'x-mock-itl-ms': '0' } }),
      kindProvider('ollama', 'stall-ollama', mockUrl, { headers: STALL, timeouts: { idle_ms: ms(500) } }),
    ],
    models: [
      model('long-openai', 'long-openai'), model('long-ollama', 'long-ollama'),
      model('long-anthropic', 'long-anthropic'), model('big-openai', 'big-openai'),
      model('stall-ollama', 'stall-ollama'),
    ],
  }),
});
after(() => stack.stop().catch(() => {}));

const T = { timeout: ms(60000) };

/* The request each client protocol makes for a streamed chat. */
function clientCall(gw, proto, modelName, text) {
  const messages = [{ role: 'user', content: text }];
  if (proto === 'ollama') return { url: `${gw.url}/api/chat`, body: { model: modelName, messages } };
  if (proto === 'anthropic') {
    return { url: `${gw.url}/v1/messages`, body: { model: modelName, max_tokens: 100000, messages, stream: true } };
  }
  return { url: `${gw.baseURL}/chat/completions`, body: { model: modelName, messages, stream: true } };
}

/* One cell per ingress protocol, each against an upstream of another kind,
 * so every ingress encoder and every egress parser is cut once. */
const CUTS = [
  ['ollama', 'openai'],
  ['anthropic', 'ollama'],
  ['openai', 'anthropic'],
];

for (const [proto, kind] of CUTS) {
  test(`${proto} client leaves a stream from a ${kind} upstream: the upstream is cancelled at once`, T, async (t) => {
    const { mock, gw } = await stack.get();
    const before = await mock.stats();
    const { url, body } = clientCall(gw, proto, `long-${kind}`, `a long story for ${proto}`);
    const ac = new AbortController();
    const res = await fetch(url, {
      method: 'POST', body: JSON.stringify(body), signal: ac.signal,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 200);
    let got = '';
    let t0 = 0;
    const dec = new TextDecoder();
    try {
      for await (const chunk of res.body) {
        got += dec.decode(chunk, { stream: true });
        if (got.split('\n').length > 12) {
          t0 = now();
          ac.abort();
          break;
        }
      }
    } catch (e) {
      if (!t0) throw e;
    }
    assert.ok(t0 > 0, `some of the stream arrived first: ${got.slice(0, 200)}`);
    assert.ok(got.includes('[a long story for'), `the mock's echo came through translated: ${got.slice(0, 300)}`);
    const limit = ASAN ? 500 : 250;
    let st;
    let took = -1;
    while (now() - t0 < limit * 4) {
      st = await mock.stats();
      if (st.open_streams === 0 && st.streams_cancelled > before.streams_cancelled) {
        took = now() - t0;
        break;
      }
      await sleep(10);
    }
    t.diagnostic(`client abort -> upstream cancelled in ${took < 0 ? 'never' : took.toFixed(1)} ms`);
    assert.ok(took >= 0, `upstream not cancelled: open_streams ${st.open_streams}`);
    assert.ok(took < limit, `upstream cancelled after ${took.toFixed(1)} ms (limit ${limit})`);
    assert.equal(st.streams_completed, before.streams_completed, 'the long stream did not complete');
    /* the gateway still serves */
    const ok = await fetch(`${gw.url}/api/version`);
    assert.equal(ok.status, 200);
  });
}

test('an Ollama client that stops reading pauses an OpenAI upstream; reading again brings every line', T, async (t) => {
  const { mock, gw } = await stack.get();
  const res = await httpPost(`${gw.url}/api/chat`, {
    model: 'big-openai', messages: [{ role: 'user', content: 'an endless translated stream' }],
  });
  assert.equal(res.statusCode, 200);
  assert.match(res.headers['content-type'], /application\/x-ndjson/);
  res.setEncoding('utf8');
  let buf = await new Promise((resolve, reject) => {
    res.once('data', (c) => {
      res.pause();
      resolve(c);
    });
    res.once('error', reject);
  });
  const sample = async () => (await mock.stats()).streams.find((x) => x.path === '/v1/chat/completions');
  await sleep(ms(800));
  let a = await sample();
  let b = a;
  let settled = false;
  for (let i = 0; i < 10 && !settled; i++) {
    await sleep(ms(400));
    b = await sample();
    settled = Boolean(a && b && b.tokens_sent === a.tokens_sent);
    if (!settled) a = b;
  }
  t.diagnostic(`paused: tokens_sent settled at ${b?.tokens_sent} of ${BIG}`);
  assert.ok(settled, `the upstream kept sending while the client did not read: ${a?.tokens_sent} -> ${b?.tokens_sent}`);
  assert.ok(b.tokens_sent < BIG, 'paused before the end');

  buf += await new Promise((resolve, reject) => {
    let more = '';
    res.on('data', (c) => { more += c; });
    res.on('end', () => resolve(more));
    res.on('error', reject);
    res.resume();
  });
  const lines = parseNDJSON(buf);
  const last = lines[lines.length - 1];
  assert.equal(last.done, true, 'the stream ended with its done object');
  assert.equal(last.eval_count, BIG, 'usage counted every token');
  const text = lines.map((l) => l.message?.content ?? '').join('');
  assert.ok(text.startsWith('[an endless translated stream]'), 'text intact from the start');
  /* token 0 is the echo (four words here), every other token one word */
  assert.equal(text.split(' ').length, BIG - 1 + 4, 'every token arrived, once');
});

test('an Ollama upstream that goes silent mid-stream ends an Anthropic stream with an error event', T, async () => {
  const { mock, gw } = await stack.get();
  const t0 = now();
  const res = await fetch(`${gw.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'stall-ollama', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'stall after three' }],
    }),
    signal: AbortSignal.timeout(ms(8000)),
  });
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.ok(now() - t0 < ms(5000), 'ended by the gateway after idle_ms, not by our guard');
  const events = parseNamedSSE(text);
  const names = events.map((e) => e.event);
  assert.ok(names.includes('content_block_delta'), `the first tokens came through: ${names.join(',')}`);
  const last = events[events.length - 1];
  assert.equal(last.event, 'error', `ends with an error event: ${names.join(',')}`);
  assert.equal(last.json.type, 'error');
  assert.equal(last.json.error.type, 'timeout_error');
  assert.match(last.json.error.message, /stall-ollama/);
  assert.ok(!names.includes('message_stop'), 'no message_stop after the failure');
  /* the mock sees the gateway's close a moment later: wait for it */
  let st = await mock.stats();
  for (const t1 = now(); st.open_streams !== 0 && now() - t1 < ms(2000); st = await mock.stats()) await sleep(10);
  assert.equal(st.open_streams, 0, 'the silent upstream connection was closed');
});

test('teardown: switchyard exits cleanly', T, async () => {
  await stack.stop();
});

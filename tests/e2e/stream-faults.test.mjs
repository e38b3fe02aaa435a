/*
 * stream-faults.test.mjs - streams that end badly: an upstream that dies
 * mid-stream (cut), one that goes silent (stall past idle_ms), and a client
 * that disconnects mid-stream, which must cancel the upstream within 100 ms.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
  lazyStack, mockProvider, model, parseSSE, chatStreamSummary, ms, now, sleep, ASAN,
} from './lib/harness.mjs';

const CUT = { 'x-mock-fault': 'cut-after=3' };
const STALL = { 'x-mock-fault': 'stall-after=3' };
const LONG = { 'x-mock-tokens': '100000', 'x-mock-itl-ms': '1' };

const stack = lazyStack({
  config: (mockUrl) => ({
    providers: [
      mockProvider('cut-prov', mockUrl, { headers: CUT }),
      mockProvider('stall-prov', mockUrl, { headers: STALL, timeouts: { idle_ms: ms(500) } }),
      mockProvider('long-prov', mockUrl, { headers: LONG }),
    ],
    models: [model('mcut', 'cut-prov'), model('mstall', 'stall-prov'), model('mlong', 'long-prov')],
  }),
});
after(() => stack.stop().catch(() => {}));

const T = { timeout: ms(30000) };

/* Reads a streamed POST to the end or to its failure: {status, text, error}. */
async function rawStream(url, body, headers = {}, timeout = ms(15000)) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeout);
  let text = '';
  let error = null;
  let status = 0;
  try {
    const res = await fetch(url, {
      method: 'POST', body: JSON.stringify(body), signal: ac.signal,
      headers: { 'content-type': 'application/json', ...headers },
    });
    status = res.status;
    const dec = new TextDecoder();
    for await (const chunk of res.body) text += dec.decode(chunk, { stream: true });
  } catch (e) {
    error = e;
  } finally {
    clearTimeout(timer);
  }
  return { status, text, error, aborted: ac.signal.aborted };
}

async function waitNoOpenStreams(mock, timeout) {
  const t0 = now();
  let st;
  while (now() - t0 < timeout) {
    st = await mock.stats();
    if (st.open_streams === 0) return st;
    await sleep(10);
  }
  return st;
}

test('upstream cut mid-stream: SDK throws after the first tokens; raw stream ends with upstream_closed, no [DONE]', T, async () => {
  const { mock, gw, client } = await stack.get();
  const prompt = 'cut me off after three tokens';
  const body = { messages: [{ role: 'user', content: prompt }], stream: true };

  /* what the mock itself sends before it cuts */
  const d = await rawStream(`${mock.url}/v1/chat/completions`, { ...body, model: 'mock-small' }, CUT);
  const dsum = chatStreamSummary(parseSSE(d.text));
  assert.ok(dsum.content.startsWith(`[${prompt}]`), `mock sent the first tokens: ${JSON.stringify(dsum.content)}`);
  assert.equal(dsum.done, false);

  let content = '';
  let thrown = null;
  try {
    const stream = await client.chat.completions.create({ model: 'mcut', ...body });
    for await (const c of stream) content += c.choices?.[0]?.delta?.content ?? '';
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown, 'the SDK stream iteration threw');
  assert.ok(content.startsWith(`[${prompt}]`), `the first tokens arrived before the error: ${JSON.stringify(content)}`);

  const r = await rawStream(`${gw.baseURL}/chat/completions`, { model: 'mcut', ...body });
  assert.equal(r.status, 200);
  assert.equal(r.aborted, false, 'the gateway ended the stream (no hang)');
  const sum = chatStreamSummary(parseSSE(r.text));
  assert.equal(sum.content, dsum.content, 'every token the upstream sent was relayed');
  assert.ok(sum.error, `an error event: ${r.text.slice(-300)}`);
  assert.equal(sum.error.code, 'upstream_closed');
  assert.equal(typeof sum.error.message, 'string');
  assert.equal(sum.done, false, 'no [DONE] after an upstream failure');
  assert.ok(!r.text.includes('[DONE]'));
});

test('upstream stalls mid-stream past idle_ms: error event upstream_timeout, no hang', T, async () => {
  const { mock, gw, client } = await stack.get();
  const prompt = 'stall after three tokens';
  const body = { model: 'mstall', messages: [{ role: 'user', content: prompt }], stream: true };
  const t0 = now();
  const r = await rawStream(`${gw.baseURL}/chat/completions`, body, {}, ms(6000));
  const took = now() - t0;
  assert.equal(r.aborted, false, 'the gateway ended the stream by itself');
  assert.ok(took < ms(5000), `ended after ${Math.round(took)} ms (idle_ms ${ms(500)})`);
  const sum = chatStreamSummary(parseSSE(r.text));
  assert.ok(sum.content.startsWith(`[${prompt}]`), 'first tokens relayed');
  assert.ok(sum.error, `an error event: ${r.text.slice(-300)}`);
  assert.equal(sum.error.code, 'upstream_timeout');
  assert.equal(sum.done, false);

  let thrown = null;
  try {
    const stream = await client.chat.completions.create(body, { signal: AbortSignal.timeout(ms(6000)) });
    for await (const c of stream) void c;
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown, 'the SDK stream iteration threw');
  assert.ok(!(thrown instanceof OpenAI.APIUserAbortError) && thrown.name !== 'AbortError' && thrown.name !== 'TimeoutError',
    `the SDK stream ended by the gateway, not by our ${ms(6000)} ms guard: ${thrown}`);

  const st = await waitNoOpenStreams(mock, ms(2000));
  assert.equal(st.open_streams, 0, 'the stalled upstream connection was closed');
});

test('client disconnect mid-stream cancels the upstream within 100 ms', T, async (t) => {
  const { mock, client } = await stack.get();
  const before = await mock.stats();
  assert.equal(before.open_streams, 0, 'no stream open before');
  const ac = new AbortController();
  const stream = await client.chat.completions.create({
    model: 'mlong', messages: [{ role: 'user', content: 'a very long story' }], stream: true,
  }, { signal: ac.signal });
  let n = 0;
  let t0 = 0;
  try {
    for await (const c of stream) {
      void c;
      if (++n >= 5) {
        ac.abort();
        t0 = now();
        break;
      }
    }
  } catch (e) {
    if (!t0) throw e;
  }
  assert.ok(t0 > 0, 'received a few chunks');
  let st;
  let took = -1;
  const limit = ASAN ? 500 : 250;
  while (now() - t0 < limit * 4) {
    st = await mock.stats();
    if (st.open_streams === 0 && st.streams_cancelled > before.streams_cancelled) {
      took = now() - t0;
      break;
    }
    await sleep(10);
  }
  t.diagnostic(`client abort -> upstream cancelled in ${took < 0 ? 'never (>' + limit * 4 + ')' : took.toFixed(1)} ms`);
  assert.ok(took >= 0, `upstream not cancelled: open_streams ${st.open_streams}, cancelled ${st.streams_cancelled}`);
  assert.ok(took < limit, `upstream cancelled after ${took.toFixed(1)} ms (limit ${limit})`);
  assert.equal(st.streams_completed, before.streams_completed, 'the long stream did not complete');
});

test('teardown: switchyard exits cleanly', T, async () => {
  await stack.stop();
});

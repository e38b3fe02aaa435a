/*
 * keepalive.test.mjs - while the upstream is silent longer than
 * sse_keepalive_ms the gateway sends ": keep-alive" SSE comments, and the
 * SDK still parses the stream.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { lazyStack, mockProvider, model, request, parseSSE, chatStreamSummary, ms } from './lib/harness.mjs';

const TTFT = { 'x-mock-ttft-ms': '1000' };
const stack = lazyStack({
  config: (mockUrl) => ({
    server: { sse_keepalive_ms: 200 },
    providers: [mockProvider('ttft-prov', mockUrl, { headers: TTFT })],
    models: [model('mttft', 'ttft-prov')],
  }),
});
after(() => stack.stop().catch(() => {}));

const T = { timeout: ms(30000) };
const PROMPT = 'think for a second before answering';
const BODY = { messages: [{ role: 'user', content: PROMPT }], stream: true };

test('SSE keep-alive comments while the upstream is silent', T, async (t) => {
  const { mock, gw } = await stack.get();
  const want = await mock.post('/v1/chat/completions', { model: 'mock-small', messages: BODY.messages });
  const r = await request(`${gw.baseURL}/chat/completions`, { method: 'POST', body: { model: 'mttft', ...BODY } });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') || '', /^text\/event-stream/);
  assert.match(r.text, /(^|\n): ?keep-alive\n\n/, 'keep-alive comment lines as ": keep-alive\\n\\n"');
  const ev = parseSSE(r.text);
  /* the first data event that carries a token (the mock may send the role
   * chunk before its time-to-first-token delay) */
  const firstToken = ev.findIndex((e) => {
    if (e.data === undefined || e.data === '[DONE]') return false;
    const c = JSON.parse(e.data).choices?.[0]?.delta?.content;
    return typeof c === 'string' && c.length > 0;
  });
  assert.ok(firstToken >= 0, 'tokens arrived');
  const keepalives = ev.slice(0, firstToken).filter((e) => e.comment === 'keep-alive').length;
  t.diagnostic(`${keepalives} keep-alive comments before the first token`);
  assert.ok(keepalives >= 2, `at least 2 keep-alives before the first token (got ${keepalives})`);
  const sum = chatStreamSummary(ev);
  assert.equal(sum.content, want.choices[0].message.content);
  assert.ok(sum.done);
});

test('the SDK parses a stream with keep-alive comments', T, async () => {
  const { mock, client } = await stack.get();
  const want = await mock.post('/v1/chat/completions', { model: 'mock-small', messages: BODY.messages });
  const stream = await client.chat.completions.create({ model: 'mttft', ...BODY });
  let content = '';
  for await (const c of stream) content += c.choices?.[0]?.delta?.content ?? '';
  assert.equal(content, want.choices[0].message.content);
});

test('teardown: switchyard exits cleanly', T, async () => {
  await stack.stop();
});

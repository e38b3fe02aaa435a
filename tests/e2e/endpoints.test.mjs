/*
 * endpoints.test.mjs - the other OpenAI routes through the gateway:
 * /v1/completions (stream and not), /v1/embeddings (the SDK's default base64
 * and encoding_format float) and the model list.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { lazyStack, mockProvider, model, request, parseSSE, ms } from './lib/harness.mjs';

const stack = lazyStack({
  config: (mockUrl) => ({
    providers: [mockProvider('mock-b', mockUrl)],
    models: [model('smart', 'mock-b', 'mock-large'), model('embedder', 'mock')],
  }),
});
after(() => stack.stop().catch(() => {}));

const T = { timeout: ms(30000) };
const PUBLIC = ['fast', 'smart', 'embedder'];

function floats(b64) {
  const buf = Buffer.from(b64, 'base64');
  const out = [];
  for (let i = 0; i + 4 <= buf.length; i += 4) out.push(buf.readFloatLE(i));
  return out;
}

function near(a, b, what) {
  assert.equal(a.length, b.length, `${what}: dimension`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= 1e-6, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

test('completions non-stream equals the mock', T, async () => {
  const { mock, client } = await stack.get();
  const prompt = 'Once upon a time in a marshalling yard';
  const want = await mock.post('/v1/completions', { model: 'mock-small', prompt });
  const { data, response } = await client.completions.create({ model: 'fast', prompt }).withResponse();
  assert.equal(response.headers.get('x-switchyard-model'), 'mock-small');
  assert.equal(data.object, 'text_completion');
  assert.ok(want.choices[0].text.startsWith(`[${prompt}]`));
  assert.equal(data.choices[0].text, want.choices[0].text);
  assert.deepEqual(data.usage, want.usage);
});

test('completions stream: concatenated text equals the non-stream text', T, async () => {
  const { mock, client } = await stack.get();
  const prompt = 'Stream a completion about points and crossings';
  const want = await mock.post('/v1/completions', { model: 'mock-small', prompt });
  const { data: stream, response } = await client.completions.create({ model: 'fast', prompt, stream: true }).withResponse();
  assert.match(response.headers.get('content-type') || '', /^text\/event-stream/);
  let text = '';
  let n = 0;
  for await (const c of stream) {
    n++;
    text += c.choices?.[0]?.text ?? '';
  }
  assert.equal(text, want.choices[0].text);
  assert.ok(n >= want.usage.completion_tokens, `${n} chunks`);

  /* raw: the stream ends with [DONE] */
  const res = await request(`${(await stack.get()).gw.baseURL}/completions`,
    { method: 'POST', body: { model: 'fast', prompt, stream: true } });
  const ev = parseSSE(res.text);
  assert.equal(ev.filter((e) => e.data !== undefined).at(-1)?.data, '[DONE]');
});

test('embeddings: SDK default (base64) and float equal the mock', T, async () => {
  const { mock, gw, client } = await stack.get();
  const input = 'embed this sentence, please';
  const wantF = await mock.post('/v1/embeddings', { model: 'mock-small', input, encoding_format: 'float' });
  const wantB = await mock.post('/v1/embeddings', { model: 'mock-small', input, encoding_format: 'base64' });
  const vec = wantF.data[0].embedding;
  assert.equal(vec.length, 8, 'mock default dimension');

  /* SDK default: it asks for base64 and decodes float32 itself */
  const a = await client.embeddings.create({ model: 'embedder', input });
  assert.equal(a.object, 'list');
  assert.equal(a.data.length, 1);
  near(Array.from(a.data[0].embedding), vec, 'SDK default embedding');
  assert.deepEqual(a.usage, wantF.usage);

  /* explicit float */
  const b = await client.embeddings.create({ model: 'embedder', input, encoding_format: 'float' });
  assert.ok(Array.isArray(b.data[0].embedding));
  near(b.data[0].embedding, vec, 'float embedding');

  /* raw base64 bytes are the mock's */
  const r = await request(`${gw.baseURL}/embeddings`, {
    method: 'POST', body: { model: 'embedder', input, encoding_format: 'base64' },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(typeof r.json.data[0].embedding, 'string');
  assert.equal(r.json.data[0].embedding, wantB.data[0].embedding);
  near(floats(r.json.data[0].embedding), vec, 'base64 embedding');
});

test('GET /v1/models lists the public names; /v1/models/{id} finds one, 404s others', T, async () => {
  const { client, gw } = await stack.get();
  const list = await client.models.list();
  const ids = list.data.map((m) => m.id).sort();
  assert.deepEqual(ids, [...PUBLIC].sort());
  for (const m of list.data) assert.equal(m.object, 'model');

  const raw = await request(`${gw.baseURL}/models`);
  assert.equal(raw.status, 200);
  assert.equal(raw.json.object, 'list');

  const one = await client.models.retrieve('smart');
  assert.equal(one.id, 'smart');
  assert.equal(one.object, 'model');

  let err;
  try {
    await client.models.retrieve('mock-small'); /* a deployment model is not a public name */
  } catch (e) {
    err = e;
  }
  assert.equal(err?.status, 404, 'deployment model name is not listed');
  const nf = await request(`${gw.baseURL}/models/definitely-unknown`);
  assert.equal(nf.status, 404);
  assert.ok(nf.json?.error, `OpenAI error body: ${nf.text}`);
});

test('teardown: switchyard exits cleanly', T, async () => {
  await stack.stop();
});

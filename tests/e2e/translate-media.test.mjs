/*
 * translate-media.test.mjs - images and embeddings across protocols.
 *
 * Images: a small base64 PNG sent by each SDK must reach each upstream kind
 * in that kind's shape (seen in the mock's last requests): an OpenAI
 * image_url with a data: URL, an Ollama images[] entry of bare base64, an
 * Anthropic base64 image source with its media type. An http(s) image URL
 * stays a URL for OpenAI and Anthropic upstreams and cannot go to an
 * Ollama one: 501 unsupported, in the client's protocol, with no upstream
 * call (the gateway never fetches URLs).
 *
 * Embeddings: OpenAI's (the SDK's default base64 and float) and Ollama's
 * /api/embed and legacy /api/embeddings, each against OpenAI and Ollama
 * upstreams, must return the mock's vectors; an Anthropic upstream has no
 * embeddings and the call is refused.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import {
  lazyStack, kindsConfig, mockChat, mockSaw, request, errorShape, KINDS, ms,
} from './lib/harness.mjs';

const stack = lazyStack({ config: (mockUrl) => kindsConfig('md', mockUrl) });
after(() => stack.stop().catch(() => {}));

const T = { timeout: ms(30000) };

/* a 1x1 PNG, and the first bytes of a JPEG (only the signature matters) */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from('JFIF\0\x01\x01\0\0\x01\0\x01\0\0')]).toString('base64');
const UPSTREAM_PATH = { openai: '/v1/chat/completions', ollama: '/api/chat', anthropic: '/v1/messages' };

/* The upstream body that carried marker. */
async function upstreamBody(mock, kind, marker) {
  const seen = await mockSaw(mock, UPSTREAM_PATH[kind], marker);
  assert.equal(seen.length, 1, `the ${kind} upstream saw one request with ${JSON.stringify(marker)} (saw ${seen.length})`);
  return seen[0].json;
}

/* The one user message upstream holds text and the image b64 (of type
 * media) in the upstream kind's own shape. */
function checkImageShape(kind, body, text, b64, media) {
  const users = body.messages.filter((m) => m.role === 'user');
  assert.equal(users.length, 1, JSON.stringify(body.messages));
  const u = users[0];
  if (kind === 'ollama') {
    assert.deepEqual(u.images, [b64], 'Ollama: images[] holds the bare base64');
    assert.equal(u.content, text);
    return;
  }
  assert.ok(Array.isArray(u.content), `content parts: ${JSON.stringify(u.content)}`);
  const texts = u.content.filter((p) => p.type === 'text').map((p) => p.text);
  assert.deepEqual(texts, [text]);
  if (kind === 'openai') {
    const imgs = u.content.filter((p) => p.type === 'image_url');
    assert.equal(imgs.length, 1, JSON.stringify(u.content));
    assert.equal(imgs[0].image_url.url, `data:${media};base64,${b64}`);
  } else {
    const imgs = u.content.filter((p) => p.type === 'image');
    assert.equal(imgs.length, 1, JSON.stringify(u.content));
    assert.deepEqual(imgs[0].source, { type: 'base64', media_type: media, data: b64 });
  }
}

/* ---- images ---------------------------------------------------------------- */

for (const kind of KINDS) {
  const model = `md-${kind}`;

  test(`image from the openai SDK reaches the ${kind} upstream`, T, async () => {
    const { mock, client } = await stack.get();
    const text = `What is in this picture? openai to ${kind}`;
    const want = await mockChat(mock, [{ role: 'user', content: text }]);
    const r = await client.chat.completions.create({
      model,
      messages: [{
        role: 'user',
        content: [{ type: 'text', text }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }],
      }],
    });
    assert.equal(r.choices[0].message.content, want.content);
    checkImageShape(kind, await upstreamBody(mock, kind, text), text, PNG, 'image/png');
  });

  test(`image from the ollama client reaches the ${kind} upstream`, T, async () => {
    const { mock, gw } = await stack.get();
    const text = `What is in this picture? ollama to ${kind}`;
    const want = await mockChat(mock, [{ role: 'user', content: text }]);
    const r = await gw.ollama().chat({
      model, stream: false, messages: [{ role: 'user', content: text, images: [PNG] }],
    });
    assert.equal(r.message.content, want.content);
    checkImageShape(kind, await upstreamBody(mock, kind, text), text, PNG, 'image/png');

    /* Ollama images have no media type: the gateway reads it off the bytes */
    const text2 = `And this photograph? ollama to ${kind}`;
    await gw.ollama().chat({
      model, stream: false, messages: [{ role: 'user', content: text2, images: [Buffer.from(JPEG, 'base64')] }],
    });
    checkImageShape(kind, await upstreamBody(mock, kind, text2), text2, JPEG, 'image/jpeg');
  });

  test(`image from the anthropic SDK reaches the ${kind} upstream`, T, async () => {
    const { mock, gw } = await stack.get();
    const text = `What is in this picture? anthropic to ${kind}`;
    const want = await mockChat(mock, [{ role: 'user', content: text }]);
    const r = await gw.anthropic().messages.create({
      model,
      max_tokens: 128,
      messages: [{
        role: 'user',
        content: [
          { type: 'text', text },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
        ],
      }],
    });
    assert.equal(r.content[0].text, want.content);
    checkImageShape(kind, await upstreamBody(mock, kind, text), text, PNG, 'image/png');
  });
}

test('an http image URL stays a URL for OpenAI and Anthropic upstreams', T, async () => {
  const { mock, client, gw } = await stack.get();
  const url = 'http://images.invalid/freight-wagon.png';
  for (const kind of ['openai', 'anthropic']) {
    const t1 = `URL image from openai to ${kind}`;
    await client.chat.completions.create({
      model: `md-${kind}`,
      messages: [{ role: 'user', content: [{ type: 'text', text: t1 }, { type: 'image_url', image_url: { url } }] }],
    });
    const t2 = `URL image from anthropic to ${kind}`;
    await gw.anthropic().messages.create({
      model: `md-${kind}`,
      max_tokens: 64,
      messages: [{ role: 'user', content: [{ type: 'text', text: t2 }, { type: 'image', source: { type: 'url', url } }] }],
    });
    for (const t of [t1, t2]) {
      const u = (await upstreamBody(mock, kind, t)).messages.find((m) => m.role === 'user');
      if (kind === 'openai') {
        assert.deepEqual(u.content.filter((p) => p.type === 'image_url').map((p) => p.image_url.url), [url]);
      } else {
        assert.deepEqual(u.content.filter((p) => p.type === 'image').map((p) => p.source), [{ type: 'url', url }]);
      }
    }
  }
});

test('an http image URL to an Ollama upstream: 501 unsupported in the client\'s protocol, no upstream call', T, async () => {
  const { mock, client, gw } = await stack.get();
  const url = 'https://images.invalid/signal-box.jpg';
  const t1 = 'URL image from openai to ollama';
  let e;
  try {
    await client.chat.completions.create({
      model: 'md-ollama',
      messages: [{ role: 'user', content: [{ type: 'text', text: t1 }, { type: 'image_url', image_url: { url } }] }],
    });
  } catch (x) {
    e = x;
  }
  assert.ok(e instanceof OpenAI.APIError, `an API error: ${e}`);
  assert.equal(e.status, 501);
  assert.equal(e.code, 'unsupported');
  assert.match(e.message, /url/i, 'the message says why');
  const raw = await request(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    body: { model: 'md-ollama', messages: [{ role: 'user', content: [{ type: 'text', text: t1 }, { type: 'image_url', image_url: { url } }] }] },
  });
  assert.equal(raw.status, 501);
  errorShape(assert, raw.json, { code: 'unsupported' });

  const t2 = 'URL image from anthropic to ollama';
  let a;
  try {
    await gw.anthropic().messages.create({
      model: 'md-ollama',
      max_tokens: 64,
      messages: [{ role: 'user', content: [{ type: 'text', text: t2 }, { type: 'image', source: { type: 'url', url } }] }],
    });
  } catch (x) {
    a = x;
  }
  assert.ok(a instanceof Anthropic.APIError, `an API error: ${a}`);
  assert.equal(a.status, 501);
  assert.equal(a.error?.type, 'error', JSON.stringify(a.error));
  assert.equal(typeof a.error?.error?.type, 'string');
  assert.match(a.error.error.message, /url/i);

  for (const t of [t1, t2]) {
    assert.equal((await mockSaw(mock, '/api/chat', t)).length, 0, 'nothing reached the Ollama upstream');
  }
});

/* ---- embeddings ------------------------------------------------------------ */

const f32 = (v) => v.map(Math.fround);

/* The mock's vectors for input, asked directly (float JSON). */
async function mockVectors(mock, input) {
  const j = await mock.post('/v1/embeddings', { model: 'mock-small', input, encoding_format: 'float' });
  return { vecs: j.data.map((d) => d.embedding), prompt_tokens: j.usage.prompt_tokens };
}

for (const kind of ['openai', 'ollama']) {
  const model = `md-${kind}`;

  test(`openai SDK embeddings (base64 and float) via the ${kind} upstream equal the mock's`, T, async () => {
    const { mock, client, gw } = await stack.get();
    const input = [`the first freight wagon ${kind}`, `a second wagon behind it ${kind}`];
    const want = await mockVectors(mock, input);
    assert.equal(want.vecs.length, 2);

    const a = await client.embeddings.create({ model, input }); /* the SDK asks for base64 */
    assert.equal(a.object, 'list');
    assert.equal(a.data.length, 2);
    a.data.forEach((d, i) => {
      assert.equal(d.index, i);
      assert.deepEqual(f32(d.embedding), f32(want.vecs[i]), `vector ${i}`);
    });
    if (kind !== 'openai') {
      assert.equal(a.model, model);
      assert.equal(a.usage.prompt_tokens, want.prompt_tokens);
      const up = await mockSaw(mock, '/api/embed', input[0]);
      assert.equal(up.length, 1, 'the Ollama upstream got /api/embed');
      assert.deepEqual(up[0].json.input, input);
    }

    const b = await client.embeddings.create({ model, input, encoding_format: 'float' });
    b.data.forEach((d, i) => assert.deepEqual(f32(d.embedding), f32(want.vecs[i]), `float vector ${i}`));

    /* the wire: base64 strings of float32 LE, or JSON numbers */
    const rb = await request(`${gw.baseURL}/embeddings`, { method: 'POST', body: { model, input: input[0], encoding_format: 'base64' } });
    assert.equal(rb.status, 200, rb.text);
    assert.equal(typeof rb.json.data[0].embedding, 'string');
    const buf = Buffer.from(rb.json.data[0].embedding, 'base64');
    const got = Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4));
    assert.deepEqual(got, f32(want.vecs[0]));
    const rf = await request(`${gw.baseURL}/embeddings`, { method: 'POST', body: { model, input: input[0], encoding_format: 'float' } });
    assert.equal(rf.status, 200, rf.text);
    assert.ok(rf.json.data[0].embedding.every((x) => typeof x === 'number'));
    assert.deepEqual(f32(rf.json.data[0].embedding), f32(want.vecs[0]));
  });

  test(`ollama embed and legacy embeddings via the ${kind} upstream equal the mock's`, T, async () => {
    const { mock, gw } = await stack.get();
    const ollama = gw.ollama();
    const input = [`an ollama client embeds this ${kind}`, `and this one too ${kind}`];
    const want = await mockVectors(mock, input);

    const r = await ollama.embed({ model, input });
    assert.equal(r.model, model);
    assert.equal(r.embeddings.length, 2);
    r.embeddings.forEach((v, i) => assert.deepEqual(f32(v), f32(want.vecs[i]), `vector ${i}`));
    assert.equal(r.prompt_eval_count, want.prompt_tokens);

    const one = await ollama.embed({ model, input: input[1] });
    assert.deepEqual(f32(one.embeddings[0]), f32(want.vecs[1]), 'a single string input');

    const legacy = await ollama.embeddings({ model, prompt: input[0] });
    assert.deepEqual(Object.keys(legacy), ['embedding']);
    assert.deepEqual(f32(legacy.embedding), f32(want.vecs[0]));
  });
}

test('embeddings at an Anthropic upstream: 501 in the client\'s protocol', T, async () => {
  const { client, gw } = await stack.get();
  let e;
  try {
    await client.embeddings.create({ model: 'md-anthropic', input: 'no embeddings at Anthropic' });
  } catch (x) {
    e = x;
  }
  assert.ok(e instanceof OpenAI.APIError, `an API error: ${e}`);
  assert.equal(e.status, 501);
  assert.equal(e.code, 'unsupported');

  for (const call of [
    () => gw.ollama().embed({ model: 'md-anthropic', input: 'no embeddings at Anthropic' }),
    () => gw.ollama().embeddings({ model: 'md-anthropic', prompt: 'no embeddings at Anthropic' }),
  ]) {
    let o;
    try {
      await call();
    } catch (x) {
      o = x;
    }
    assert.equal(o?.name, 'ResponseError', `an ollama ResponseError: ${o}`);
    assert.equal(o.status_code, 501);
    assert.ok(o.error.length > 0);
  }
  const raw = await request(`${gw.url}/api/embed`, { method: 'POST', body: { model: 'md-anthropic', input: 'x' } });
  assert.equal(raw.status, 501);
  assert.deepEqual(Object.keys(raw.json), ['error']);
  assert.equal(typeof raw.json.error, 'string');
});

test('teardown: switchyard exits cleanly', T, async () => {
  await stack.stop();
});

/*
 * translate-errors.test.mjs - errors in each client protocol's own shape:
 *
 *   OpenAI     {"error":{"message","type","param","code"}}
 *   Ollama     {"error":"message"}              (ollama-js: ResponseError)
 *   Anthropic  {"type":"error","error":{"type","message"}}
 *
 * for an unknown model, malformed JSON, fields of the wrong type, and
 * upstream failures of every kind: a 500 or a 429 with Retry-After (their
 * status and Retry-After carried to the client, streaming or not), and an
 * upstream that dies mid-stream (x-mock-fault cut-after=3), which each
 * protocol ends with its own error event after the tokens already sent:
 * OpenAI a data: {"error":...} event, Anthropic an `event: error`, Ollama a
 * last {"error":...} line - each of which makes that SDK throw. The gateway
 * stays healthy afterwards.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import {
  lazyStack, kindsConfig, recordingFetch, request, errorShape, parseSSE, parseNDJSON, parseNamedSSE,
  chatStreamSummary, mockEcho, KINDS, ms,
} from './lib/harness.mjs';

const CLIENTS = ['openai', 'ollama', 'anthropic'];

const stack = lazyStack({
  config: (mockUrl) => {
    const parts = [
      kindsConfig('er', mockUrl),
      kindsConfig('e500', mockUrl, { headers: { 'x-mock-status': '500' } }),
      kindsConfig('e429', mockUrl, { headers: { 'x-mock-status': '429', 'x-mock-retry-after': '7' } }),
      kindsConfig('cut', mockUrl, { headers: { 'x-mock-fault': 'cut-after=3' } }),
    ];
    return { providers: parts.flatMap((p) => p.providers), models: parts.flatMap((p) => p.models) };
  },
});
after(() => stack.stop().catch(() => {}));

const T = { timeout: ms(30000) };

/* The error a call rejects with (fails when it succeeds). */
async function rejection(fn) {
  try {
    const r = await fn();
    /* a stream whose creation succeeded: drain it, the error may come there */
    if (r && typeof r[Symbol.asyncIterator] === 'function') for await (const x of r) void x;
  } catch (e) {
    return e;
  }
  assert.fail('the call succeeded');
}

/* The Ollama shape: exactly {"error": "<non-empty string>"}. */
function ollamaShape(json) {
  assert.ok(json && typeof json === 'object', `JSON body: ${JSON.stringify(json)}`);
  assert.deepEqual(Object.keys(json), ['error'], JSON.stringify(json));
  assert.equal(typeof json.error, 'string');
  assert.ok(json.error.length > 0);
  return json.error;
}

/* The Anthropic shape; returns error.{type,message}. */
function anthropicShape(json, type) {
  assert.ok(json && typeof json === 'object', `JSON body: ${JSON.stringify(json)}`);
  assert.equal(json.type, 'error', JSON.stringify(json));
  assert.equal(typeof json.error?.message, 'string', JSON.stringify(json));
  assert.ok(json.error.message.length > 0);
  if (type) assert.equal(json.error.type, type, JSON.stringify(json));
  return json.error;
}

/* ---- client mistakes ------------------------------------------------------------ */

test('unknown model: 404 in each protocol', T, async () => {
  const { gw, client } = await stack.get();
  const e = await rejection(() => client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }));
  assert.ok(e instanceof OpenAI.NotFoundError, `${e}`);
  assert.equal(e.code, 'model_not_found');

  for (const call of [
    () => gw.ollama().chat({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }),
    () => gw.ollama().chat({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }], stream: true }),
    () => gw.ollama().generate({ model: 'no-such-model', prompt: 'hi' }),
    () => gw.ollama().embed({ model: 'no-such-model', input: 'hi' }),
  ]) {
    const o = await rejection(call);
    assert.equal(o.name, 'ResponseError', `${o}`);
    assert.equal(o.status_code, 404);
    assert.match(o.error, /no-such-model/);
  }
  const raw = await request(`${gw.url}/api/chat`, { method: 'POST', body: { model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] } });
  assert.equal(raw.status, 404);
  ollamaShape(raw.json);

  const a = await rejection(() => gw.anthropic().messages.create({
    model: 'no-such-model', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }],
  }));
  assert.ok(a instanceof Anthropic.NotFoundError, `${a}`);
  assert.equal(a.status, 404);
  assert.equal(a.error?.error?.type, 'not_found_error');
  anthropicShape(a.error, 'not_found_error');
});

test('malformed JSON: 400 in each protocol', T, async () => {
  const { gw } = await stack.get();
  const bad = '{"model":"er-ollama","messages":[{"role":"user",}]}';
  const o = await request(`${gw.baseURL}/chat/completions`, { method: 'POST', body: bad });
  assert.equal(o.status, 400, o.text);
  errorShape(assert, o.json, { code: 'invalid_json' });
  for (const p of ['/api/chat', '/api/generate', '/api/embed', '/api/show']) {
    const r = await request(`${gw.url}${p}`, { method: 'POST', body: bad });
    assert.equal(r.status, 400, `${p}: ${r.text}`);
    ollamaShape(r.json);
  }
  for (const p of ['/v1/messages', '/v1/messages/count_tokens']) {
    const r = await request(`${gw.url}${p}`, { method: 'POST', body: bad });
    assert.equal(r.status, 400, `${p}: ${r.text}`);
    anthropicShape(r.json, 'invalid_request_error');
  }
});

test('wrong field types on translated routes: 400 naming the field, in each protocol', T, async () => {
  const { gw, client } = await stack.get();
  for (const model of ['er-ollama', 'er-anthropic']) {
    const e = await rejection(() => client.chat.completions.create({ model, messages: [{ role: 'user', content: 42 }] }));
    assert.ok(e instanceof OpenAI.BadRequestError, `${e}`);
    assert.match(e.param || '', /^messages\[0\]\.content/, `param: ${e.param} (${e.message})`);
    const t = await rejection(() => client.chat.completions.create({
      model, messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 7 } }],
    }));
    assert.equal(t.status, 400);
    assert.match(t.param || '', /^tools\[0\]\.function\.name/, `param: ${t.param} (${t.message})`);
  }

  const ollama = gw.ollama();
  for (const [body, field] of [
    [{ model: 'er-openai', messages: 'hi' }, 'messages'],
    [{ model: 'er-openai', messages: [{ role: 'user', content: 'hi' }], stream: 'yes' }, 'stream'],
    [{ model: 'er-openai', messages: [{ role: 'user', content: 5 }] }, 'content'],
    [{ model: 'er-anthropic', messages: [{ role: 'user', content: 'hi' }], options: { temperature: 'warm' } }, 'temperature'],
  ]) {
    const r = await request(`${gw.url}/api/chat`, { method: 'POST', body });
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    assert.match(ollamaShape(r.json), new RegExp(field, 'i'), `names ${field}`);
  }
  const oe = await rejection(() => ollama.chat({ model: 'er-openai', messages: 'hi' }));
  assert.equal(oe.status_code, 400);

  const anthropic = gw.anthropic();
  const a = await rejection(() => anthropic.messages.create({
    model: 'er-openai', max_tokens: 'many', messages: [{ role: 'user', content: 'hi' }],
  }));
  assert.ok(a instanceof Anthropic.BadRequestError, `${a}`);
  assert.match(anthropicShape(a.error, 'invalid_request_error').message, /^max_tokens/);
  const b = await rejection(() => anthropic.messages.create({
    model: 'er-ollama', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'text', text: 5 }] }],
  }));
  assert.equal(b.status, 400);
  assert.match(b.error.error.message, /^messages\.0\.content\.0\.text/);
});

/* ---- upstream error statuses ----------------------------------------------------- */

for (const client of CLIENTS) {
  for (const kind of KINDS) {
    test(`${client} client, ${kind} upstream answers 500 / 429 + Retry-After: status carried, streaming or not`, T, async () => {
      const { gw, client: oa } = await stack.get();
      for (const [status, stream] of [[500, false], [429, false], [500, true], [429, true]]) {
        const model = `e${status}-${kind}`;
        const messages = [{ role: 'user', content: `upstream fails with ${status}` }];
        const what = `${model}${stream ? ' stream' : ''}`;
        if (client === 'openai') {
          const e = await rejection(() => oa.chat.completions.create({ model, messages, stream }));
          assert.ok(e instanceof OpenAI.APIError, `${what}: ${e}`);
          assert.equal(e.status, status, what);
          assert.match(e.message, new RegExp(`mock error ${status}`), what);
          if (status === 429) assert.equal(e.headers.get('retry-after'), '7', what);
          if (!stream) {
            const r = await request(`${gw.baseURL}/chat/completions`, { method: 'POST', body: { model, messages } });
            assert.equal(r.status, status);
            errorShape(assert, r.json);
          }
        } else if (client === 'ollama') {
          const rec = recordingFetch();
          const e = await rejection(() => gw.ollama({ fetch: rec }).chat({ model, messages, stream }));
          assert.equal(e.name, 'ResponseError', `${what}: ${e}`);
          assert.equal(e.status_code, status, what);
          assert.match(e.error, new RegExp(`mock error ${status}`), what);
          assert.equal(rec.last.status, status);
          if (status === 429) assert.equal(rec.last.headers.get('retry-after'), '7', what);
          if (!stream) {
            const r = await request(`${gw.url}/api/chat`, { method: 'POST', body: { model, messages, stream: false } });
            assert.equal(r.status, status);
            ollamaShape(r.json);
          }
        } else {
          const e = await rejection(() => gw.anthropic().messages.create({ model, max_tokens: 32, messages, stream }));
          assert.ok(e instanceof Anthropic.APIError, `${what}: ${e}`);
          assert.equal(e.status, status, what);
          if (status === 429) {
            assert.ok(e instanceof Anthropic.RateLimitError, what);
            assert.equal(e.headers.get('retry-after'), '7', what);
          }
          const err = anthropicShape(e.error, status === 429 ? 'rate_limit_error' : 'api_error');
          assert.match(err.message, new RegExp(`mock error ${status}`), what);
        }
      }
    });
  }
}

/* ---- an upstream cut mid-stream ---------------------------------------------------- */

const CUT_PROMPT = (client, kind) => `Cut ${client} via ${kind} after three tokens of this story`;

/* Reads a whole streamed response as text (the gateway ends it by itself). */
async function rawText(url, body) {
  const res = await fetch(url, {
    method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(ms(15000)),
  });
  return { status: res.status, text: await res.text() };
}

for (const kind of KINDS) {
  const model = `cut-${kind}`;

  test(`openai SDK, ${kind} upstream cut mid-stream: the stream throws after the first tokens`, T, async () => {
    const { gw, client } = await stack.get();
    const p = CUT_PROMPT('openai', kind);
    let content = '';
    const e = await rejection(async () => {
      const s = await client.chat.completions.create({ model, messages: [{ role: 'user', content: p }], stream: true });
      for await (const c of s) content += c.choices?.[0]?.delta?.content ?? '';
    });
    assert.ok(e instanceof OpenAI.APIError, `an APIError from the error event: ${e}`);
    assert.ok(content.startsWith(`[${mockEcho(p)}]`), `the first tokens came first: ${JSON.stringify(content)}`);

    const r = await rawText(`${gw.baseURL}/chat/completions`, { model, messages: [{ role: 'user', content: p }], stream: true });
    assert.equal(r.status, 200);
    const sum = chatStreamSummary(parseSSE(r.text));
    assert.equal(sum.content, content, 'the same tokens before the cut');
    assert.equal(sum.error?.code, 'upstream_closed', r.text.slice(-300));
    assert.equal(sum.done, false, 'no [DONE]');

    const ok = await client.chat.completions.create({ model: `er-${kind}`, messages: [{ role: 'user', content: 'still there?' }] });
    assert.equal(ok.choices[0].finish_reason, 'stop', 'the gateway still serves');
  });

  test(`anthropic SDK, ${kind} upstream cut mid-stream: an APIError from event: error`, T, async () => {
    const { gw } = await stack.get();
    const anthropic = gw.anthropic();
    const p = CUT_PROMPT('anthropic', kind);
    const body = { model, max_tokens: 64, messages: [{ role: 'user', content: p }] };
    let text = '';
    const e = await rejection(async () => {
      const s = await anthropic.messages.create({ ...body, stream: true });
      for await (const ev of s) if (ev.type === 'content_block_delta') text += ev.delta.text ?? '';
    });
    assert.ok(e instanceof Anthropic.APIError, `${e}`);
    assert.equal(e.error?.type, 'error', JSON.stringify(e.error));
    assert.equal(e.error?.error?.type, 'api_error', JSON.stringify(e.error));
    assert.ok(text.startsWith(`[${mockEcho(p)}]`), `the first tokens came first: ${JSON.stringify(text)}`);

    const r = await rawText(`${gw.url}/v1/messages`, { ...body, stream: true });
    assert.equal(r.status, 200);
    const evs = parseNamedSSE(r.text);
    const last = evs[evs.length - 1];
    assert.equal(last.event, 'error', r.text.slice(-300));
    anthropicShape(last.json, 'api_error');
    assert.ok(!evs.some((x) => x.event === 'message_stop'), 'no message_stop after an error');

    const ok = await anthropic.messages.create({ model: `er-${kind}`, max_tokens: 32, messages: [{ role: 'user', content: 'still there?' }] });
    assert.equal(ok.stop_reason, 'end_turn', 'the gateway still serves');
  });

  test(`ollama client, ${kind} upstream cut mid-stream: an {"error"} line makes it throw`, T, async () => {
    const { gw } = await stack.get();
    const ollama = gw.ollama();
    const p = CUT_PROMPT('ollama', kind);
    let content = '';
    const e = await rejection(async () => {
      for await (const part of await ollama.chat({ model, messages: [{ role: 'user', content: p }], stream: true })) {
        content += part.message?.content ?? '';
      }
    });
    assert.ok(e instanceof Error && e.message.length > 0, `${e}`);
    assert.notEqual(e.message, 'Did not receive done or success response in stream.',
      'the stream ended with an error line, not silently');
    assert.ok(content.startsWith(`[${mockEcho(p)}]`), `the first tokens came first: ${JSON.stringify(content)}`);

    const r = await rawText(`${gw.url}/api/chat`, { model, messages: [{ role: 'user', content: p }] });
    assert.equal(r.status, 200);
    const lines = parseNDJSON(r.text);
    ollamaShape(lines[lines.length - 1]);
    assert.ok(!lines.some((l) => l.done === true), 'no done:true after an error');

    const ok = await ollama.chat({ model: `er-${kind}`, messages: [{ role: 'user', content: 'still there?' }] });
    assert.equal(ok.done_reason, 'stop', 'the gateway still serves');
  });
}

test('the gateway is healthy after all of that', T, async () => {
  const { gw } = await stack.get();
  const r = await request(`${gw.url}/health/ready`);
  assert.equal(r.status, 200);
});

test('teardown: switchyard exits cleanly', T, async () => {
  await stack.stop();
});

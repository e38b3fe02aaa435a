/*
 * translate-endpoints.test.mjs - the prompt-completion endpoints across
 * protocols (Ollama /api/generate and OpenAI /v1/completions against every
 * upstream kind, streaming and not), the Ollama endpoints a client lists
 * and inspects models with (tags, show, ps, version, "/"), and Anthropic's
 * count_tokens.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import {
  lazyStack, kindsConfig, recordingFetch, request, mockEcho, KINDS, ms,
} from './lib/harness.mjs';

const stack = lazyStack({ config: (mockUrl) => kindsConfig('ep', mockUrl) });
after(() => stack.stop().catch(() => {}));

const T = { timeout: ms(30000) };
const PUBLIC = ['fast', 'ep-openai', 'ep-ollama', 'ep-anthropic'];
const KIND_OF = { fast: 'openai', 'ep-openai': 'openai', 'ep-ollama': 'ollama', 'ep-anthropic': 'anthropic' };

/* ---- /api/generate and /v1/completions ----------------------------------- */

for (const kind of KINDS) {
  const model = `ep-${kind}`;

  test(`ollama generate -> ${kind} upstream, whole (with a system prompt) and streamed`, T, async () => {
    const { mock, gw } = await stack.get();
    const rec = recordingFetch();
    const ollama = gw.ollama({ fetch: rec });
    const system = 'Answer like a timetable.';
    const prompt = `Generate via ${kind}: when does the night freight leave the yard?`;
    const want = await mock.post('/api/generate', { model: 'mock-small', system, prompt, stream: false });
    assert.ok(want.response.startsWith(`[${mockEcho(prompt)}]`));

    const r = await ollama.generate({ model, system, prompt, stream: false });
    assert.equal(rec.last.headers.get('x-switchyard-provider'), model);
    assert.equal(r.model, model);
    assert.equal(r.response, want.response);
    assert.equal(r.done, true);
    assert.equal(r.done_reason, 'stop');
    assert.equal(r.prompt_eval_count, want.prompt_eval_count);
    assert.equal(r.eval_count, want.eval_count);

    const p2 = `Stream a generation via ${kind}: list the wagons of the night freight`;
    const want2 = await mock.post('/api/generate', { model: 'mock-small', prompt: p2, stream: false });
    const parts = [];
    for await (const part of await ollama.generate({ model, prompt: p2, stream: true })) parts.push(part);
    assert.ok(parts.length >= 2);
    assert.equal(parts.map((x) => x.response ?? '').join(''), want2.response);
    const last = parts[parts.length - 1];
    assert.equal(last.done, true);
    assert.equal(last.done_reason, 'stop');
    assert.equal(last.prompt_eval_count, want2.prompt_eval_count);
    assert.equal(last.eval_count, want2.eval_count);
  });

  test(`openai completions -> ${kind} upstream, whole and streamed`, T, async () => {
    const { mock, client } = await stack.get();
    const prompt = `Complete via ${kind}: the signal turned green and the train`;
    const want = await mock.post('/v1/completions', { model: 'mock-small', prompt });
    const { data, response } = await client.completions.create({ model, prompt }).withResponse();
    assert.equal(response.headers.get('x-switchyard-provider'), model);
    assert.equal(data.object, 'text_completion');
    assert.equal(data.model, kind === 'openai' ? 'mock-small' : model, 'the asked name (upstream\'s on passthrough)');
    assert.equal(data.choices.length, 1);
    assert.equal(data.choices[0].text, want.choices[0].text);
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.equal(data.usage.prompt_tokens, want.usage.prompt_tokens);
    assert.equal(data.usage.completion_tokens, want.usage.completion_tokens);

    const stream = await client.completions.create({ model, prompt, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish = null;
    let usage = null;
    for await (const c of stream) {
      for (const ch of c.choices) {
        text += ch.text ?? '';
        if (ch.finish_reason) finish = ch.finish_reason;
      }
      if (c.usage) usage = c.usage;
    }
    assert.equal(text, want.choices[0].text);
    assert.equal(finish, 'stop');
    assert.equal(usage?.prompt_tokens, want.usage.prompt_tokens);
    assert.equal(usage?.completion_tokens, want.usage.completion_tokens);
  });
}

/* ---- the Ollama endpoints --------------------------------------------------- */

test('ollama list() (api/tags) lists the configured models', T, async () => {
  const { gw } = await stack.get();
  const r = await gw.ollama().list();
  assert.deepEqual(r.models.map((m) => m.name).sort(), [...PUBLIC].sort());
  for (const m of r.models) {
    assert.equal(m.model, m.name);
    assert.match(m.digest, /^[0-9a-f]{64}$/);
    assert.ok(!Number.isNaN(Date.parse(m.modified_at)), `modified_at: ${m.modified_at}`);
    assert.equal(typeof m.size, 'number');
    assert.equal(m.details.family, KIND_OF[m.name], `${m.name}'s family is its provider's kind`);
  }
  const h = await fetch(`${gw.url}/api/tags`, { method: 'HEAD' });
  assert.equal(h.status, 200);
});

test('ollama show() describes a served model, :latest included; an unknown one is 404', T, async () => {
  const { gw } = await stack.get();
  const ollama = gw.ollama();
  const s = await ollama.show({ model: 'ep-ollama' });
  assert.equal(typeof s.modelfile, 'string');
  assert.equal(typeof s.template, 'string');
  assert.equal(s.details.family, 'ollama');
  assert.ok(s.capabilities.includes('completion'), JSON.stringify(s.capabilities));
  assert.equal(typeof s.model_info, 'object');
  const latest = await ollama.show({ model: 'ep-anthropic:latest' });
  assert.equal(latest.details.family, 'anthropic');

  let e;
  try {
    await ollama.show({ model: 'no-such-model' });
  } catch (x) {
    e = x;
  }
  assert.equal(e?.name, 'ResponseError', `${e}`);
  assert.equal(e.status_code, 404);
  assert.match(e.error, /no-such-model/);
});

test('ollama ps() and version(); GET and HEAD / answer "Ollama is running"', T, async () => {
  const { gw } = await stack.get();
  const ollama = gw.ollama();
  const ps = await ollama.ps();
  assert.deepEqual(ps.models.map((m) => m.name).sort(), [...PUBLIC].sort());
  for (const m of ps.models) {
    assert.ok(Date.parse(m.expires_at) > Date.now(), `expires in the future: ${m.expires_at}`);
    assert.equal(m.details.family, KIND_OF[m.name]);
  }
  const v = await ollama.version();
  assert.match(v.version, /^\d+\.\d+\.\d+/);

  const root = await request(`${gw.url}/`);
  assert.equal(root.status, 200);
  assert.equal(root.text, 'Ollama is running');
  const head = await fetch(`${gw.url}/`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');
});

/* ---- Anthropic count_tokens -------------------------------------------------- */

test('anthropic countTokens: a positive estimate, growing with the request, marked as one', T, async () => {
  const { mock, gw } = await stack.get();
  const anthropic = gw.anthropic();
  const before = (await mock.stats()).requests;
  const short = await anthropic.messages.countTokens({
    model: 'ep-anthropic', messages: [{ role: 'user', content: 'How long is the yard?' }],
  }).withResponse();
  assert.equal(short.response.status, 200);
  assert.equal(short.response.headers.get('x-switchyard-estimate'), 'true');
  assert.ok(Number.isInteger(short.data.input_tokens) && short.data.input_tokens > 0, JSON.stringify(short.data));

  const long = await anthropic.messages.countTokens({
    model: 'ep-openai',
    system: 'You are the dispatcher of a very large marshalling yard. '.repeat(10),
    messages: [{ role: 'user', content: 'How long is the yard? '.repeat(40) }],
  });
  assert.ok(long.input_tokens > short.data.input_tokens + 100, `${long.input_tokens} vs ${short.data.input_tokens}`);
  assert.equal((await mock.stats()).requests, before, 'an estimate asks no upstream');

  let e;
  try {
    await anthropic.messages.countTokens({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] });
  } catch (x) {
    e = x;
  }
  assert.ok(e instanceof Anthropic.NotFoundError, `${e}`);
  assert.equal(e.error?.error?.type, 'not_found_error');
});

test('teardown: switchyard exits cleanly', T, async () => {
  await stack.stop();
});

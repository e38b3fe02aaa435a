/*
 * translate-chat.test.mjs - the 3x3 matrix of issue 3: each official SDK
 * (openai chat.completions, ollama chat, Anthropic messages) against each
 * upstream kind (an OpenAI-compatible, an Ollama and an Anthropic provider,
 * all three the mock), streaming and not.
 *
 * The mock's answer is a pure function of the conversation's texts, so the
 * text every client must read is what the mock answers when asked directly
 * for the same texts; its token counts are exact (prompt: words of all
 * texts; completion: 16), and must come back in each protocol's own names.
 * The finish reason is the protocol's word for a natural stop, the model
 * is the name the client asked for, and x-switchyard-provider names the
 * provider that served it.
 *
 * An OpenAI client routed to an OpenAI-compatible provider is the
 * passthrough path: its answer is the upstream's byte for byte, so there
 * the model is the upstream's (api.md, "Passthrough").
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  lazyStack, kindsConfig, recordingFetch, mockChat, mockEcho, KINDS, ms,
} from './lib/harness.mjs';

const stack = lazyStack({ config: (mockUrl) => kindsConfig('via', mockUrl) });
after(() => stack.stop().catch(() => {}));

const T = { timeout: ms(30000) };
const SYSTEM = 'You are a terse switchyard clerk.';

/* A conversation of its own for each cell, so a mix-up between cells fails. */
function prompt(client, kind, stream) {
  return `Matrix ${client} to ${kind} ${stream ? 'streaming' : 'whole'}: tell me how shunting locomotives sort freight wagons`;
}

async function expected(mock, p) {
  const want = await mockChat(mock, [{ role: 'system', content: SYSTEM }, { role: 'user', content: p }]);
  assert.ok(want.content.startsWith(`[${mockEcho(p)}]`), 'the mock echoes the prompt first');
  assert.equal(want.completion_tokens, 16);
  assert.equal(want.prompt_tokens, (SYSTEM + ' ' + p).split(/\s+/).length);
  return want;
}

/* The model name a client sees: the upstream's on the passthrough path. */
const seenModel = (client, kind, asked) => (client === 'openai' && kind === 'openai' ? 'mock-small' : asked);

for (const kind of KINDS) {
  const model = `via-${kind}`;

  /* ---- openai ---------------------------------------------------------- */

  test(`openai SDK -> ${kind} upstream, non-stream`, T, async () => {
    const { mock, client } = await stack.get();
    const p = prompt('openai', kind, false);
    const want = await expected(mock, p);
    const { data, response } = await client.chat.completions.create({
      model, messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: p }],
    }).withResponse();
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-switchyard-provider'), model);
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.model, seenModel('openai', kind, model));
    assert.equal(data.choices.length, 1);
    assert.equal(data.choices[0].message.role, 'assistant');
    assert.equal(data.choices[0].message.content, want.content);
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.equal(data.usage.prompt_tokens, want.prompt_tokens);
    assert.equal(data.usage.completion_tokens, want.completion_tokens);
    assert.equal(data.usage.total_tokens, want.prompt_tokens + want.completion_tokens);
  });

  test(`openai SDK -> ${kind} upstream, stream`, T, async () => {
    const { mock, client } = await stack.get();
    const p = prompt('openai', kind, true);
    const want = await expected(mock, p);
    const { data: stream, response } = await client.chat.completions.create({
      model,
      messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: p }],
      stream: true,
      stream_options: { include_usage: true },
    }).withResponse();
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') || '', /^text\/event-stream/);
    assert.equal(response.headers.get('x-switchyard-provider'), model);
    let content = '';
    let finish = null;
    let usage = null;
    let role = null;
    const models = new Set();
    let afterUsage = 0;
    for await (const c of stream) {
      if (usage) afterUsage++;
      models.add(c.model);
      assert.equal(c.object, 'chat.completion.chunk');
      for (const ch of c.choices) {
        if (ch.delta?.role) role = ch.delta.role;
        if (typeof ch.delta?.content === 'string') content += ch.delta.content;
        if (ch.finish_reason) finish = ch.finish_reason;
      }
      if (c.usage) {
        assert.deepEqual(c.choices, [], 'the usage chunk has no choices');
        usage = c.usage;
      }
    }
    assert.equal(role, 'assistant');
    assert.equal(content, want.content);
    assert.equal(finish, 'stop');
    assert.deepEqual([...models], [seenModel('openai', kind, model)]);
    assert.ok(usage, 'a usage chunk');
    assert.equal(afterUsage, 0, 'the usage chunk is the last');
    assert.equal(usage.prompt_tokens, want.prompt_tokens);
    assert.equal(usage.completion_tokens, want.completion_tokens);
    assert.equal(usage.total_tokens, want.prompt_tokens + want.completion_tokens);
  });

  /* ---- ollama ---------------------------------------------------------- */

  test(`ollama client -> ${kind} upstream, non-stream`, T, async () => {
    const { mock, gw } = await stack.get();
    const rec = recordingFetch();
    const ollama = gw.ollama({ fetch: rec });
    const p = prompt('ollama', kind, false);
    const want = await expected(mock, p);
    const r = await ollama.chat({
      model, messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: p }], stream: false,
    });
    assert.equal(rec.last.status, 200);
    assert.equal(rec.last.headers.get('x-switchyard-provider'), model);
    assert.match(rec.last.headers.get('content-type') || '', /^application\/json/);
    assert.equal(r.model, model);
    assert.equal(r.message.role, 'assistant');
    assert.equal(r.message.content, want.content);
    assert.equal(r.done, true);
    assert.equal(r.done_reason, 'stop');
    assert.equal(r.prompt_eval_count, want.prompt_tokens);
    assert.equal(r.eval_count, want.completion_tokens);
    assert.ok(!Number.isNaN(Date.parse(r.created_at)), `created_at is a time: ${r.created_at}`);
    for (const k of ['total_duration', 'eval_duration']) {
      assert.ok(Number.isInteger(r[k]) && r[k] >= 0, `${k} is a count of nanoseconds: ${r[k]}`);
    }
  });

  test(`ollama client -> ${kind} upstream, stream`, T, async () => {
    const { mock, gw } = await stack.get();
    const rec = recordingFetch();
    const ollama = gw.ollama({ fetch: rec });
    const p = prompt('ollama', kind, true);
    const want = await expected(mock, p);
    const parts = [];
    for await (const part of await ollama.chat({
      model, messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: p }], stream: true,
    })) {
      parts.push(part);
    }
    assert.equal(rec.last.status, 200);
    assert.equal(rec.last.headers.get('x-switchyard-provider'), model);
    assert.match(rec.last.headers.get('content-type') || '', /^application\/x-ndjson/);
    assert.ok(parts.length >= 2, `several objects (${parts.length})`);
    const last = parts[parts.length - 1];
    for (const x of parts.slice(0, -1)) assert.equal(x.done, false, 'only the last object is done');
    for (const x of parts) assert.equal(x.model, model);
    assert.equal(parts.map((x) => x.message?.content ?? '').join(''), want.content);
    assert.equal(last.done, true);
    assert.equal(last.done_reason, 'stop');
    assert.equal(last.prompt_eval_count, want.prompt_tokens);
    assert.equal(last.eval_count, want.completion_tokens);
  });

  /* ---- anthropic ------------------------------------------------------- */

  test(`anthropic SDK -> ${kind} upstream, non-stream`, T, async () => {
    const { mock, gw } = await stack.get();
    const anthropic = gw.anthropic();
    const p = prompt('anthropic', kind, false);
    const want = await expected(mock, p);
    const { data, response } = await anthropic.messages.create({
      model, max_tokens: 256, system: SYSTEM, messages: [{ role: 'user', content: p }],
    }).withResponse();
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-switchyard-provider'), model);
    assert.equal(data.type, 'message');
    assert.equal(data.role, 'assistant');
    assert.equal(data.model, model);
    assert.match(data.id, /^msg_/);
    assert.equal(data.content.length, 1, JSON.stringify(data.content));
    assert.equal(data.content[0].type, 'text');
    assert.equal(data.content[0].text, want.content);
    assert.equal(data.stop_reason, 'end_turn');
    assert.equal(data.stop_sequence, null);
    assert.equal(data.usage.input_tokens, want.prompt_tokens);
    assert.equal(data.usage.output_tokens, want.completion_tokens);
  });

  test(`anthropic SDK -> ${kind} upstream, stream`, T, async () => {
    const { mock, gw } = await stack.get();
    const anthropic = gw.anthropic();
    const p = prompt('anthropic', kind, true);
    const want = await expected(mock, p);
    const { data: stream, response } = await anthropic.messages.create({
      model, max_tokens: 256, system: SYSTEM, messages: [{ role: 'user', content: p }], stream: true,
    }).withResponse();
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') || '', /^text\/event-stream/);
    assert.equal(response.headers.get('x-switchyard-provider'), model);
    const types = [];
    let text = '';
    let start = null;
    let delta = null;
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'message_start') start = ev.message;
      if (ev.type === 'content_block_start') assert.equal(ev.content_block.type, 'text');
      if (ev.type === 'content_block_delta') {
        assert.equal(ev.delta.type, 'text_delta');
        text += ev.delta.text;
      }
      if (ev.type === 'message_delta') delta = ev;
    }
    assert.equal(types[0], 'message_start');
    assert.equal(types[types.length - 1], 'message_stop');
    assert.equal(types.filter((t) => t === 'message_delta').length, 1);
    assert.deepEqual(types.filter((t) => t.startsWith('content_block_') && t !== 'content_block_delta'),
      ['content_block_start', 'content_block_stop'], 'one text block');
    assert.equal(start.model, model);
    assert.equal(start.role, 'assistant');
    assert.equal(text, want.content);
    assert.equal(delta.delta.stop_reason, 'end_turn');
    assert.equal(delta.usage.output_tokens, want.completion_tokens);
    /* the input count is in message_start when the upstream gives it first,
     * in message_delta otherwise (OpenAI sends usage last); the later wins */
    const input = delta.usage.input_tokens ?? start.usage.input_tokens;
    assert.equal(input, want.prompt_tokens, `input tokens: start ${JSON.stringify(start.usage)}, delta ${JSON.stringify(delta.usage)}`);

    /* the SDK's own accumulator agrees */
    const final = await anthropic.messages.stream({
      model, max_tokens: 256, system: SYSTEM, messages: [{ role: 'user', content: p }],
    }).finalMessage();
    assert.equal(final.content[0].text, want.content);
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(final.usage.input_tokens, want.prompt_tokens);
    assert.equal(final.usage.output_tokens, want.completion_tokens);
  });
}

test('teardown: switchyard exits cleanly', T, async () => {
  await stack.stop();
});

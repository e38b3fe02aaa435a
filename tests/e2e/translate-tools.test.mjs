/*
 * translate-tools.test.mjs - tool calling across the 3x3 matrix: each SDK
 * defines tools, each upstream kind gets them in its own shape, and the
 * mock's answer (a call to the first tool with arguments {"echo": <the
 * first 64 bytes of the last user text>}) reaches each SDK as that SDK's
 * tool call: OpenAI tool_calls with the arguments as a JSON string, Ollama
 * message.tool_calls with an object, Anthropic a tool_use block with an
 * input object - whole and streamed. Then the second turn: the client sends
 * the call and its result back, and each upstream kind must receive a
 * well-formed tool result in its own shape (seen in the mock's
 * /__stats last_requests), its call id matching the call it answers.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  lazyStack, kindsConfig, recordingFetch, mockEcho, mockSaw, KINDS, ms,
} from './lib/harness.mjs';

const stack = lazyStack({ config: (mockUrl) => kindsConfig('tk', mockUrl) });
after(() => stack.stop().catch(() => {}));

const T = { timeout: ms(30000) };

const SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string', description: 'the city' }, days: { type: 'integer' } },
  required: ['city'],
};
const LOOKUP_SCHEMA = { type: 'object', properties: { q: { type: 'string' } } };
const DESC = 'Current weather for a city';

const OPENAI_TOOLS = [
  { type: 'function', function: { name: 'get_weather', description: DESC, parameters: SCHEMA } },
  { type: 'function', function: { name: 'lookup', parameters: LOOKUP_SCHEMA } },
];
const ANTHROPIC_TOOLS = [
  { name: 'get_weather', description: DESC, input_schema: SCHEMA },
  { name: 'lookup', input_schema: LOOKUP_SCHEMA },
];

const UPSTREAM_PATH = { openai: '/v1/chat/completions', ollama: '/api/chat', anthropic: '/v1/messages' };

/* The upstream's request that carried marker, parsed. */
async function upstreamBody(mock, kind, marker) {
  const seen = await mockSaw(mock, UPSTREAM_PATH[kind], marker);
  assert.equal(seen.length, 1, `the ${kind} upstream saw one request with ${JSON.stringify(marker)} (saw ${seen.length})`);
  return seen[0].json;
}

/* The tools reached the upstream in its own shape. */
function checkToolsShape(kind, body) {
  assert.ok(Array.isArray(body.tools) && body.tools.length === 2, `two tools upstream: ${JSON.stringify(body.tools)}`);
  if (kind === 'anthropic') {
    assert.equal(body.tools[0].name, 'get_weather');
    assert.equal(body.tools[0].description, DESC);
    assert.deepEqual(body.tools[0].input_schema, SCHEMA);
    assert.equal(body.tools[1].name, 'lookup');
    assert.deepEqual(body.tools[1].input_schema, LOOKUP_SCHEMA);
  } else {
    assert.equal(body.tools[0].type, 'function');
    assert.equal(body.tools[0].function.name, 'get_weather');
    assert.equal(body.tools[0].function.description, DESC);
    assert.deepEqual(body.tools[0].function.parameters, SCHEMA);
    assert.equal(body.tools[1].function.name, 'lookup');
    assert.deepEqual(body.tools[1].function.parameters, LOOKUP_SCHEMA);
  }
}

const firstPrompt = (client, kind, stream) =>
  `Tools ${client} via ${kind} ${stream ? 'streamed' : 'whole'}: what is the weather in Paris right now, please?`;

for (const kind of KINDS) {
  const model = `tk-${kind}`;

  /* ---- first turn: the call --------------------------------------------- */

  test(`openai SDK -> ${kind}: tool call, non-stream`, T, async () => {
    const { mock, client } = await stack.get();
    const p = firstPrompt('openai', kind, false);
    const { data, response } = await client.chat.completions.create({
      model, messages: [{ role: 'user', content: p }], tools: OPENAI_TOOLS,
    }).withResponse();
    assert.equal(response.headers.get('x-switchyard-provider'), model);
    const ch = data.choices[0];
    assert.equal(ch.finish_reason, 'tool_calls');
    assert.ok(ch.message.content === null || ch.message.content === '', `no text: ${JSON.stringify(ch.message.content)}`);
    assert.equal(ch.message.tool_calls.length, 1);
    const tc = ch.message.tool_calls[0];
    assert.equal(tc.type, 'function');
    assert.ok(typeof tc.id === 'string' && tc.id.length > 0, `a call id: ${tc.id}`);
    assert.equal(tc.function.name, 'get_weather');
    assert.equal(typeof tc.function.arguments, 'string', 'arguments are a JSON string');
    assert.deepEqual(JSON.parse(tc.function.arguments), { echo: mockEcho(p) });
    checkToolsShape(kind, await upstreamBody(mock, kind, p));
  });

  test(`openai SDK -> ${kind}: tool call, stream`, T, async () => {
    const { client } = await stack.get();
    const p = firstPrompt('openai', kind, true);
    const stream = await client.chat.completions.create({
      model, messages: [{ role: 'user', content: p }], tools: OPENAI_TOOLS, stream: true,
    });
    const calls = [];
    let finish = null;
    let text = '';
    for await (const c of stream) {
      for (const ch of c.choices) {
        if (ch.finish_reason) finish = ch.finish_reason;
        if (typeof ch.delta?.content === 'string') text += ch.delta.content;
        for (const d of ch.delta?.tool_calls || []) {
          const call = (calls[d.index] ??= { id: '', name: '', args: '', type: null, opens: 0 });
          if (d.id) {
            call.id = d.id;
            call.opens++;
          }
          if (d.type) call.type = d.type;
          if (d.function?.name) call.name += d.function.name;
          if (typeof d.function?.arguments === 'string') call.args += d.function.arguments;
        }
      }
    }
    assert.equal(text, '', 'no text beside the call');
    assert.equal(finish, 'tool_calls');
    assert.equal(calls.length, 1, JSON.stringify(calls));
    assert.equal(calls[0].opens, 1, 'the id comes once, in the opening piece');
    assert.ok(calls[0].id.length > 0);
    assert.equal(calls[0].type, 'function');
    assert.equal(calls[0].name, 'get_weather');
    assert.deepEqual(JSON.parse(calls[0].args), { echo: mockEcho(p) });
  });

  test(`ollama client -> ${kind}: tool call, non-stream`, T, async () => {
    const { mock, gw } = await stack.get();
    const rec = recordingFetch();
    const ollama = gw.ollama({ fetch: rec });
    const p = firstPrompt('ollama', kind, false);
    const r = await ollama.chat({ model, messages: [{ role: 'user', content: p }], tools: OPENAI_TOOLS, stream: false });
    assert.equal(rec.last.headers.get('x-switchyard-provider'), model);
    assert.equal(r.done, true);
    assert.equal(r.done_reason, 'stop', 'Ollama says stop after a tool call');
    assert.equal(r.message.role, 'assistant');
    assert.equal(r.message.content, '');
    assert.equal(r.message.tool_calls?.length, 1, JSON.stringify(r.message));
    const fn = r.message.tool_calls[0].function;
    assert.equal(fn.name, 'get_weather');
    assert.equal(typeof fn.arguments, 'object', 'arguments are an object');
    assert.deepEqual(fn.arguments, { echo: mockEcho(p) });
    checkToolsShape(kind, await upstreamBody(mock, kind, p));
  });

  test(`ollama client -> ${kind}: tool call, stream`, T, async () => {
    const { gw } = await stack.get();
    const ollama = gw.ollama();
    const p = firstPrompt('ollama', kind, true);
    const parts = [];
    for await (const part of await ollama.chat({
      model, messages: [{ role: 'user', content: p }], tools: OPENAI_TOOLS, stream: true,
    })) {
      parts.push(part);
    }
    const calls = parts.flatMap((x) => x.message?.tool_calls || []);
    assert.equal(calls.length, 1, `one whole call in the stream: ${JSON.stringify(parts)}`);
    assert.equal(calls[0].function.name, 'get_weather');
    assert.deepEqual(calls[0].function.arguments, { echo: mockEcho(p) });
    assert.equal(parts.map((x) => x.message?.content ?? '').join(''), '');
    const last = parts[parts.length - 1];
    assert.equal(last.done, true);
    assert.equal(last.done_reason, 'stop');
    assert.equal(last.eval_count, 16);
  });

  test(`anthropic SDK -> ${kind}: tool_use, non-stream`, T, async () => {
    const { mock, gw } = await stack.get();
    const anthropic = gw.anthropic();
    const p = firstPrompt('anthropic', kind, false);
    const { data, response } = await anthropic.messages.create({
      model, max_tokens: 256, messages: [{ role: 'user', content: p }], tools: ANTHROPIC_TOOLS,
    }).withResponse();
    assert.equal(response.headers.get('x-switchyard-provider'), model);
    assert.equal(data.stop_reason, 'tool_use');
    const uses = data.content.filter((b) => b.type === 'tool_use');
    assert.equal(uses.length, 1, JSON.stringify(data.content));
    assert.deepEqual(data.content.filter((b) => b.type === 'text' && b.text !== ''), [], 'no text beside the call');
    assert.match(uses[0].id, /^[A-Za-z0-9_-]+$/, `a tool_use id Anthropic clients can send back: ${uses[0].id}`);
    assert.equal(uses[0].name, 'get_weather');
    assert.deepEqual(uses[0].input, { echo: mockEcho(p) });
    assert.equal(data.usage.output_tokens, 16);
    checkToolsShape(kind, await upstreamBody(mock, kind, p));
  });

  test(`anthropic SDK -> ${kind}: tool_use, stream`, T, async () => {
    const { gw } = await stack.get();
    const anthropic = gw.anthropic();
    const p = firstPrompt('anthropic', kind, true);
    const stream = await anthropic.messages.create({
      model, max_tokens: 256, messages: [{ role: 'user', content: p }], tools: ANTHROPIC_TOOLS, stream: true,
    });
    const blocks = {};
    let stop = null;
    const types = [];
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'content_block_start') blocks[ev.index] = { ...ev.content_block, json: '', text: '' };
      if (ev.type === 'content_block_delta') {
        const b = blocks[ev.index];
        assert.ok(b, `a delta for an opened block ${ev.index}`);
        if (ev.delta.type === 'input_json_delta') b.json += ev.delta.partial_json;
        if (ev.delta.type === 'text_delta') b.text += ev.delta.text;
      }
      if (ev.type === 'message_delta') stop = ev.delta.stop_reason;
    }
    assert.equal(types[types.length - 1], 'message_stop');
    assert.equal(stop, 'tool_use');
    const uses = Object.values(blocks).filter((b) => b.type === 'tool_use');
    assert.equal(uses.length, 1, JSON.stringify(blocks));
    assert.equal(uses[0].name, 'get_weather');
    assert.match(uses[0].id, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(uses[0].input, {}, 'the block opens with an empty input');
    assert.deepEqual(JSON.parse(uses[0].json), { echo: mockEcho(p) });

    /* the SDK's accumulator builds the same input object */
    const final = await anthropic.messages.stream({
      model, max_tokens: 256, messages: [{ role: 'user', content: p }], tools: ANTHROPIC_TOOLS,
    }).finalMessage();
    const use = final.content.find((b) => b.type === 'tool_use');
    assert.deepEqual(use?.input, { echo: mockEcho(p) });
    assert.equal(final.stop_reason, 'tool_use');
  });

  /* ---- second turn: the result goes back -------------------------------- */

  const RESULT = (client) => `Sunny and 21 degrees in Paris, reported to ${client} via ${kind}`;
  const Q2 = (client) => `Second turn ${client} via ${kind}: and what is the weather in Paris?`;

  /* What the upstream must have received, whatever the client's protocol:
   * the call (get_weather {"city":"Paris"}) and its result R, linked by id
   * (OpenAI, Anthropic) or by name (Ollama). wantId: the id the client
   * gave, or null when it gave none (Ollama). */
  function checkResultShape(body, result, wantId) {
    const msgs = body.messages;
    if (kind === 'anthropic') {
      assert.deepEqual(msgs.map((m) => m.role), ['user', 'assistant', 'user'], JSON.stringify(msgs));
      const blocks = (m) => (typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content);
      const use = blocks(msgs[1]).find((b) => b.type === 'tool_use');
      assert.ok(use, `the assistant turn has a tool_use: ${JSON.stringify(msgs[1])}`);
      assert.equal(use.name, 'get_weather');
      assert.deepEqual(use.input, { city: 'Paris' });
      assert.match(use.id, /^[A-Za-z0-9_-]+$/);
      if (wantId) assert.equal(use.id, wantId);
      const res = blocks(msgs[2]).find((b) => b.type === 'tool_result');
      assert.ok(res, `the last user turn has a tool_result: ${JSON.stringify(msgs[2])}`);
      assert.equal(res.tool_use_id, use.id, 'the result answers the call');
      const text = typeof res.content === 'string' ? res.content
        : res.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
      assert.equal(text, result);
      return;
    }
    const asst = msgs.find((m) => m.role === 'assistant');
    const tool = msgs.find((m) => m.role === 'tool');
    assert.ok(asst && tool, `an assistant and a tool message: ${JSON.stringify(msgs)}`);
    assert.ok(msgs.indexOf(asst) < msgs.indexOf(tool), 'the call comes before its result');
    assert.equal(asst.tool_calls?.length, 1, JSON.stringify(asst));
    const call = asst.tool_calls[0];
    assert.equal(call.function.name, 'get_weather');
    const toolText = typeof tool.content === 'string' ? tool.content
      : tool.content.filter((x) => x.type === 'text').map((x) => x.text).join('');
    assert.equal(toolText, result);
    if (kind === 'openai') {
      assert.equal(typeof call.function.arguments, 'string', 'OpenAI arguments are a JSON string');
      assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
      assert.ok(typeof call.id === 'string' && call.id.length > 0, 'the call has an id');
      if (wantId) assert.equal(call.id, wantId);
      assert.equal(tool.tool_call_id, call.id, 'the result answers the call');
    } else {
      assert.equal(typeof call.function.arguments, 'object', 'Ollama arguments are an object');
      assert.deepEqual(call.function.arguments, { city: 'Paris' });
      assert.equal(tool.tool_name, 'get_weather', 'the result names its tool');
    }
  }

  /* The mock's answer to the second turn (tools still offered) is another
   * call, echoing the last user text: the question for OpenAI and Ollama
   * upstreams, the tool result for Anthropic's (its results live in a user
   * turn). Either way it proves what the upstream read. */
  const secondEcho = (client) => mockEcho(kind === 'anthropic' ? RESULT(client) : Q2(client));

  test(`openai SDK -> ${kind}: the tool result goes back`, T, async () => {
    const { mock, client } = await stack.get();
    const id = 'call_e2e_7Wq';
    const r = await client.chat.completions.create({
      model,
      tools: OPENAI_TOOLS,
      messages: [
        { role: 'user', content: Q2('openai') },
        { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: id, content: RESULT('openai') },
      ],
    });
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(JSON.parse(r.choices[0].message.tool_calls[0].function.arguments), { echo: secondEcho('openai') });
    checkResultShape(await upstreamBody(mock, kind, RESULT('openai')), RESULT('openai'), id);
  });

  test(`ollama client -> ${kind}: the tool result goes back`, T, async () => {
    const { mock, gw } = await stack.get();
    const r = await gw.ollama().chat({
      model,
      stream: false,
      tools: OPENAI_TOOLS,
      messages: [
        { role: 'user', content: Q2('ollama') },
        { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
        { role: 'tool', content: RESULT('ollama'), tool_name: 'get_weather' },
      ],
    });
    assert.deepEqual(r.message.tool_calls?.[0]?.function?.arguments, { echo: secondEcho('ollama') });
    checkResultShape(await upstreamBody(mock, kind, RESULT('ollama')), RESULT('ollama'), null);
  });

  test(`anthropic SDK -> ${kind}: the tool result goes back`, T, async () => {
    const { mock, gw } = await stack.get();
    const id = 'toolu_e2e_01AbC';
    const r = await gw.anthropic().messages.create({
      model,
      max_tokens: 256,
      tools: ANTHROPIC_TOOLS,
      messages: [
        { role: 'user', content: Q2('anthropic') },
        { role: 'assistant', content: [{ type: 'tool_use', id, name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: RESULT('anthropic') }] },
      ],
    });
    assert.equal(r.stop_reason, 'tool_use');
    assert.deepEqual(r.content.find((b) => b.type === 'tool_use')?.input, { echo: secondEcho('anthropic') });
    checkResultShape(await upstreamBody(mock, kind, RESULT('anthropic')), RESULT('anthropic'), id);
  });
}

test('teardown: switchyard exits cleanly', T, async () => {
  await stack.stop();
});

// dstar-server driven by the official `openai` npm client: chat (plain, streamed, tools),
// legacy completions, Responses (plain, streamed), aborted streams and usage accounting.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, metric, MODEL_ID } from './harness.mjs';

let server;
let client;

before(async () => {
  server = await startServer(['--ctx', '8192']);
  client = new OpenAI({ apiKey: 'unused', baseURL: `${server.base}/v1`, maxRetries: 0, timeout: 120000 });
});

after(async () => {
  const r = await server.stop();
  assert.equal(r.code, 0, `server exit ${JSON.stringify(r)}:\n${server.log()}`);
});

const NOTHINK = { reasoning_effort: 'none', temperature: 0 };
const TOOLS = [{
  type: 'function',
  function: {
    name: 'read_file',
    description: 'Read a file from disk',
    parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
  },
}];

test('models list and model object', async () => {
  const list = await client.models.list();
  const ids = list.data.map((m) => m.id);
  assert.deepEqual(ids, [MODEL_ID]);
  const m = await client.models.retrieve(MODEL_ID);
  assert.equal(m.id, MODEL_ID);
  assert.equal(m.object, 'model');
});

test('chat completion, non-streaming: shape and usage', async () => {
  const r = await client.chat.completions.create({
    model: MODEL_ID, messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 8, ...NOTHINK,
  });
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-\d+$/);
  assert.equal(r.choices.length, 1);
  const c = r.choices[0];
  assert.equal(c.message.role, 'assistant');
  assert.equal(typeof c.message.content, 'string');
  assert.ok(['stop', 'length'].includes(c.finish_reason));
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 8);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  const d = r.usage.prompt_tokens_details;
  assert.equal(d.cached_tokens + d.cache_write_tokens, r.usage.prompt_tokens);
});

test('chat: the same conversation extended reuses the cached prefix', async () => {
  // The random-weight model writes byte soup (often broken UTF-8, which JSON cannot carry back
  // unchanged), so the first turn generates nothing and the history's assistant text is ours.
  const messages = [{ role: 'system', content: 'You are terse.' },
                    { role: 'user', content: 'List three colours.' }];
  const a = await client.chat.completions.create({ model: MODEL_ID, messages, max_tokens: 0, ...NOTHINK });
  assert.equal(a.usage.completion_tokens, 0);
  assert.equal(a.choices[0].finish_reason, 'length');
  const b = await client.chat.completions.create({
    model: MODEL_ID, max_tokens: 6, ...NOTHINK,
    messages: [...messages, { role: 'assistant', content: 'Red, green, blue.' },
               { role: 'user', content: 'And three animals.' }],
  });
  assert.ok(b.usage.prompt_tokens > a.usage.prompt_tokens);
  assert.equal(b.usage.prompt_tokens_details.cached_tokens, a.usage.prompt_tokens);
  assert.equal(b.usage.prompt_tokens_details.cache_write_tokens, b.usage.prompt_tokens - a.usage.prompt_tokens);
});

test('chat: greedy generation is deterministic and streaming matches non-streaming', async () => {
  const req = { model: MODEL_ID, messages: [{ role: 'user', content: 'Count: 1 2 3' }], max_tokens: 12, ...NOTHINK };
  const a = await client.chat.completions.create(req);
  const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let role = null;
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      if (ch.delta.role) role = ch.delta.role;
      if (ch.delta.content) text += ch.delta.content;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert.equal(role, 'assistant');
  assert.equal(text, a.choices[0].message.content);
  assert.equal(finish, a.choices[0].finish_reason);
  assert.ok(usage, 'include_usage gives a usage chunk');
  assert.equal(usage.completion_tokens, a.usage.completion_tokens);
});

test('chat: thinking mode streams reasoning separately from content', async () => {
  const stream = await client.chat.completions.create({
    model: MODEL_ID, messages: [{ role: 'user', content: 'Think, then answer.' }], max_tokens: 24,
    stream: true, seed: 7,
  });
  let reasoning = '';
  let content = '';
  for await (const chunk of stream) {
    for (const ch of chunk.choices) {
      if (ch.delta.reasoning_content) reasoning += ch.delta.reasoning_content;
      if (ch.delta.content) content += ch.delta.content;
    }
  }
  // Random weights rarely close </think> within 24 tokens; whatever came, </think> and <think>
  // are never sent as text.
  assert.ok(!reasoning.includes('</think>') && !content.includes('</think>'));
  assert.ok(reasoning.length + content.length > 0);
});

test('chat: tools declared are accepted, history tool calls and results render', async () => {
  const r = await client.chat.completions.create({
    model: MODEL_ID, max_tokens: 8, ...NOTHINK, tools: TOOLS,
    messages: [
      { role: 'user', content: 'Open README.md' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'call_0123456789abcdef0123456789abcdef', type: 'function',
        function: { name: 'read_file', arguments: '{"path":"README.md"}' } }] },
      { role: 'tool', tool_call_id: 'call_0123456789abcdef0123456789abcdef', content: '# dstar' },
    ],
  });
  assert.ok(['stop', 'length', 'tool_calls'].includes(r.choices[0].finish_reason));
  if (r.choices[0].message.tool_calls) {
    for (const tc of r.choices[0].message.tool_calls) {
      assert.match(tc.id, /^call_[0-9a-f]{32}$/);
      JSON.parse(tc.function.arguments);
    }
  }
});

test('chat: a stop sequence cuts the text', async () => {
  const base = { model: MODEL_ID, messages: [{ role: 'user', content: 'Write anything.' }], max_tokens: 16, ...NOTHINK };
  const a = await client.chat.completions.create(base);
  const full = a.choices[0].message.content;
  if (full.length < 4) return;  // nothing to cut
  const stop = full.slice(2, 4);
  const b = await client.chat.completions.create({ ...base, stop: [stop] });
  assert.equal(b.choices[0].message.content, full.slice(0, full.indexOf(stop)));
  assert.equal(b.choices[0].finish_reason, 'stop');
});

test('legacy completions, plain and streamed', async () => {
  const req = { model: MODEL_ID, prompt: 'Once upon a time', max_tokens: 8, ...NOTHINK };
  const a = await client.completions.create(req);
  assert.equal(a.object, 'text_completion');
  assert.equal(typeof a.choices[0].text, 'string');
  assert.ok(a.usage.completion_tokens >= 1);
  const stream = await client.completions.create({ ...req, stream: true });
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    for (const ch of chunk.choices) {
      text += ch.text;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert.equal(text, a.choices[0].text);
  assert.equal(finish, a.choices[0].finish_reason);
});

test('responses: non-streaming and streaming agree', async () => {
  const req = { model: MODEL_ID, input: 'Name a prime number.', max_output_tokens: 10,
                reasoning: { effort: 'none' }, temperature: 0 };
  const a = await client.responses.create(req);
  assert.equal(a.object, 'response');
  assert.match(a.id, /^resp_[0-9a-f]{24}$/);
  assert.ok(['completed', 'incomplete'].includes(a.status));
  const msg = a.output.find((o) => o.type === 'message');
  const textA = msg ? msg.content.map((c) => c.text).join('') : '';
  assert.ok(a.usage.input_tokens > 0 && a.usage.output_tokens >= 1);

  const stream = await client.responses.create({ ...req, stream: true });
  const types = [];
  let delta = '';
  let final = null;
  let lastSeq = -1;
  for await (const ev of stream) {
    types.push(ev.type);
    assert.equal(ev.sequence_number, lastSeq + 1);
    lastSeq = ev.sequence_number;
    if (ev.type === 'response.output_text.delta') delta += ev.delta;
    if (ev.type === 'response.completed' || ev.type === 'response.incomplete') final = ev.response;
  }
  assert.equal(types[0], 'response.created');
  assert.ok(final, `terminal event missing: ${types.join(',')}`);
  assert.equal(delta, textA);
  assert.equal(final.status, a.status);
  assert.equal(final.usage.output_tokens, a.usage.output_tokens);
});

test('responses: function tools and replayed call/output items are accepted', async () => {
  const r = await client.responses.create({
    model: MODEL_ID, max_output_tokens: 8, reasoning: { effort: 'none' }, temperature: 0,
    tools: [{ type: 'function', name: 'shell', description: 'Run a command',
              parameters: { type: 'object', properties: { cmd: { type: 'string' } } } },
            { type: 'web_search' }],
    input: [
      { role: 'user', content: 'List files' },
      { type: 'function_call', call_id: 'call_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', name: 'shell', arguments: '{"cmd":"ls"}' },
      { type: 'function_call_output', call_id: 'call_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', output: 'a.txt\nb.txt' },
    ],
  });
  assert.ok(['completed', 'incomplete'].includes(r.status));
});

test('an aborted stream cancels generation and the server keeps serving', async () => {
  const before = metric(await server.metrics(), 'dstar_generated_tokens_total') ?? 0;
  const stream = await client.chat.completions.create({
    model: MODEL_ID, messages: [{ role: 'user', content: 'Write a very long story.' }],
    max_tokens: 5000, stream: true, ...NOTHINK,
  });
  let n = 0;
  for await (const chunk of stream) {
    if (chunk.choices[0]?.delta?.content) n++;
    if (n >= 3) break;  // leaving the loop aborts the HTTP request
  }
  stream.controller.abort();
  // The server notices on its next write and ends the job.
  const deadline = Date.now() + 20000;
  let grown;
  for (;;) {
    await new Promise((r) => setTimeout(r, 300));
    grown = (metric(await server.metrics(), 'dstar_generated_tokens_total') ?? 0) - before;
    if (grown > 0 || Date.now() > deadline) break;
  }
  assert.ok(grown > 0 && grown < 5000, `generated ${grown} tokens after abort`);
  const ok = await client.chat.completions.create({
    model: MODEL_ID, messages: [{ role: 'user', content: 'still there?' }], max_tokens: 2, ...NOTHINK,
  });
  assert.equal(ok.choices.length, 1);
});

test('errors come back as API errors the client understands', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.APIError && e.status === 404);
  await assert.rejects(
    client.chat.completions.create({ model: MODEL_ID, messages: [] }),
    (e) => e instanceof OpenAI.APIError && e.status === 400);
  await assert.rejects(
    client.chat.completions.create({ model: MODEL_ID, messages: [{ role: 'user', content: 'x y '.repeat(12000) }] }),
    (e) => e instanceof OpenAI.APIError && e.status === 400 && e.code === 'context_length_exceeded');
});

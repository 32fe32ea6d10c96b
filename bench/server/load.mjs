#!/usr/bin/env node
// Load run against a running dstar-server: C concurrent clients x R requests each, mixed
// streaming and non-streaming, chat and Anthropic messages.  Every answer is checked against a
// reference produced by the same request sent alone first (greedy decoding is deterministic and
// dstar's prefix reuse is bit-exact, so every answer must equal its reference exactly).
//
//   node bench/server/load.mjs --base http://127.0.0.1:8000 [--clients 32] [--requests 20]
//        [--max-tokens 8] [--prompts 8] [--system-repeat 8] [--json]
//
// Prints requests, failures, mismatches and latency percentiles (ms).  Exit 1 on any failure.
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    base: { type: 'string', default: 'http://127.0.0.1:8000' },
    clients: { type: 'string', default: '32' },
    requests: { type: 'string', default: '20' },
    'max-tokens': { type: 'string', default: '8' },
    prompts: { type: 'string', default: '8' },
    'system-repeat': { type: 'string', default: '8' },
    model: { type: 'string', default: 'deepseek-v4-flash' },
    json: { type: 'boolean', default: false },
  },
});
const C = Number(opt.clients), R = Number(opt.requests), MAXT = Number(opt['max-tokens']);
const NP = Number(opt.prompts);

// Prompt k: a shared system prompt (so slots can share prefixes) plus a distinct question.
const SYSTEM = 'You are a coding assistant. Answer briefly. '.repeat(Number(opt['system-repeat']));
const prompts = Array.from({ length: NP }, (_, k) => `Question ${k}: what is ${k} * ${k + 3}?`);

function chatBody(k, stream) {
  return { model: opt.model, stream, max_tokens: MAXT, temperature: 0, reasoning_effort: 'none',
           messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: prompts[k] }] };
}
function anthropicBody(k, stream) {
  return { model: opt.model, stream, max_tokens: MAXT, temperature: 0, thinking: { type: 'disabled' },
           system: SYSTEM, messages: [{ role: 'user', content: prompts[k] }] };
}

async function* sseEvents(res) {
  const dec = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (data) yield data;
    }
  }
}

// One request; returns the generated visible text.
async function call(kind, k, stream) {
  const url = kind === 'chat' ? `${opt.base}/v1/chat/completions` : `${opt.base}/v1/messages`;
  const body = kind === 'chat' ? chatBody(k, stream) : anthropicBody(k, stream);
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  if (!stream) {
    const j = await res.json();
    if (kind === 'chat') return j.choices[0].message.content;
    return j.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
  }
  let text = '';
  let finished = false;
  for await (const data of sseEvents(res)) {
    if (data === '[DONE]') { finished = true; continue; }
    const ev = JSON.parse(data);
    if (kind === 'chat') {
      for (const ch of ev.choices || []) if (ch.delta?.content) text += ch.delta.content;
    } else {
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
      if (ev.type === 'message_stop') finished = true;
      if (ev.type === 'error') throw new Error(`stream error ${data}`);
    }
  }
  if (!finished) throw new Error('stream ended without its terminal event');
  return text;
}

const reference = { chat: [], messages: [] };
for (let k = 0; k < NP; k++) {
  reference.chat[k] = await call('chat', k, false);
  reference.messages[k] = await call('messages', k, false);
}

const latencies = [];
let failures = 0, mismatches = 0;
const errors = [];
const t0 = performance.now();
await Promise.all(Array.from({ length: C }, async (_, c) => {
  for (let r = 0; r < R; r++) {
    const k = (c * 7 + r) % NP;
    const kind = (c + r) % 2 ? 'chat' : 'messages';
    const stream = (c + 2 * r) % 3 !== 0;
    const t = performance.now();
    try {
      const text = await call(kind, k, stream);
      latencies.push(performance.now() - t);
      if (text !== reference[kind][k]) {
        mismatches++;
        if (errors.length < 5) errors.push(`${kind} prompt ${k} stream=${stream}: ${JSON.stringify(text)} != ${JSON.stringify(reference[kind][k])}`);
      }
    } catch (e) {
      failures++;
      if (errors.length < 5) errors.push(String(e));
    }
  }
}));
const wall = (performance.now() - t0) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : NaN);
const health = await fetch(`${opt.base}/health`).then((r) => r.status).catch(() => 0);
const out = {
  clients: C, requests_per_client: R, requests: C * R, failures, mismatches, healthy_after: health === 200,
  wall_s: +wall.toFixed(2), req_per_s: +((C * R) / wall).toFixed(2),
  latency_ms: { p50: +pct(0.5).toFixed(1), p90: +pct(0.9).toFixed(1), p99: +pct(0.99).toFixed(1), max: +(latencies.at(-1) ?? NaN).toFixed(1) },
  errors,
};
console.log(opt.json ? JSON.stringify(out) : JSON.stringify(out, null, 2));
process.exit(failures || mismatches || health !== 200 ? 1 : 0);

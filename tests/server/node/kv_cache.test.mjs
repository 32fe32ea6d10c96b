// The disk KV cache end to end (kvcache.md): a restarted server resumes a long prompt from
// disk with identical output, a corrupted checkpoint is skipped and moved aside, and a full
// budget evicts the oldest checkpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, metric, MODEL_ID } from './harness.mjs';

// ~600 tokens of system prompt, so that the cold checkpoint (at the last user marker before
// the first assistant marker) is far above --kv-cache-min-tokens.
const system = (tag) => Array.from({ length: 40 }, (_, i) => `${tag} rule ${i}: keep answers short and precise.`).join(' ');

async function chat(server, sys, question) {
  const r = await fetch(`${server.base}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL_ID, max_tokens: 16, temperature: 0, reasoning_effort: 'none',
                           messages: [{ role: 'system', content: sys }, { role: 'user', content: question }] }),
  });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
}

const kvFiles = (dir) => fs.readdirSync(dir).filter((f) => /^[0-9a-f]{40}\.kv$/.test(f)).sort();

test('restart: the same long prompt is served from disk with identical output', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dstar-kv-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const args = ['--ctx', '4096', '--kv-disk-dir', dir, '--kv-cache-min-tokens', '64'];
  const sys = system('A');

  let server = await startServer(args);
  const first = await chat(server, sys, 'What is 3*4?');
  assert.equal(first.usage.prompt_tokens_details.cached_tokens, 0);
  assert.equal((await server.stop()).code, 0, server.log());
  assert.ok(kvFiles(dir).length >= 1, 'a cold checkpoint was written');

  server = await startServer(args);
  const again = await chat(server, sys, 'What is 3*4?');
  const m = await server.metrics();
  assert.equal((await server.stop()).code, 0, server.log());
  assert.equal(metric(m, 'dstar_kv_cache_lookups_total', 'source="disk"'), 1, m);
  assert.ok(metric(m, 'dstar_disk_cache_hits') >= 1);
  assert.ok(again.usage.prompt_tokens_details.cached_tokens > 500, JSON.stringify(again.usage));
  assert.equal(again.usage.prompt_tokens, first.usage.prompt_tokens);
  // Resuming from the checkpoint is exact, so greedy decoding gives the same tokens.
  assert.equal(again.choices[0].message.content, first.choices[0].message.content);
  assert.equal(again.usage.completion_tokens, first.usage.completion_tokens);
});

test('a corrupted checkpoint is skipped, moved aside, and the request still succeeds', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dstar-kv-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const args = ['--ctx', '4096', '--kv-disk-dir', dir, '--kv-cache-min-tokens', '64'];
  const sys = system('B');

  let server = await startServer(args);
  const first = await chat(server, sys, 'Name a colour.');
  assert.equal((await server.stop()).code, 0, server.log());
  const files = kvFiles(dir);
  assert.ok(files.length >= 1);
  // Flip bytes in the middle of every file's payload (the KV rows), as a bad disk would.
  for (const f of files) {
    const p = path.join(dir, f);
    const buf = fs.readFileSync(p);
    for (let i = 0; i < 16; i++) buf[Math.floor(buf.length / 2) + i] ^= 0x5a;
    fs.writeFileSync(p, buf);
  }

  server = await startServer(args);
  const again = await chat(server, sys, 'Name a colour.');
  const m = await server.metrics();
  assert.equal((await server.stop()).code, 0, server.log());
  assert.equal(again.usage.prompt_tokens_details.cached_tokens, 0, 'nothing trusted from a corrupt file');
  assert.equal(again.choices[0].message.content, first.choices[0].message.content);
  assert.ok(metric(m, 'dstar_disk_cache_rejected_files') >= 1, m);
  assert.ok(fs.readdirSync(dir).some((f) => f.endsWith('.bad')), 'corrupt file moved aside');
});

// ds4's eviction score is (hits + 1) x tokens / bytes with age decay; among never-hit files of
// similar size the one used longest ago goes first.
test('a full budget evicts the oldest checkpoint', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dstar-kv-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // Each tiny-model checkpoint of ~600 tokens is ~0.65 MiB: a 2 MiB budget holds three.
  const server = await startServer(['--ctx', '4096', '--kv-disk-dir', dir, '--kv-cache-min-tokens', '64',
                                    '--kv-disk-space-mb', '2', '--sessions', '1']);
  const created = [];
  for (const tag of ['C1', 'C2', 'C3', 'C4', 'C5']) {
    const before = new Set(kvFiles(dir));
    await chat(server, system(tag), 'Say something.');
    for (const f of kvFiles(dir)) if (!before.has(f)) created.push(f);
    await new Promise((r) => setTimeout(r, 1100));  // distinct last-used seconds
  }
  const m = await server.metrics();
  assert.equal((await server.stop()).code, 0, server.log());
  const left = kvFiles(dir);
  const bytes = left.reduce((s, f) => s + fs.statSync(path.join(dir, f)).size, 0);
  assert.ok(bytes <= 2 * 1024 * 1024, `${bytes} bytes left`);
  assert.ok(metric(m, 'dstar_disk_cache_evictions') >= 1, m);
  assert.ok(!left.includes(created[0]), `oldest ${created[0]} still there: ${left}`);
});

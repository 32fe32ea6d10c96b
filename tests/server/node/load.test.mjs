// The bounded load run of issue 4: 32 concurrent clients x 20 requests, mixed streaming and
// APIs, every answer checked against its reference, the server healthy afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.resolve(here, '../../../bench/server/load.mjs');

test('32 clients x 20 requests: no failures, identical answers, server healthy', { timeout: 600000 }, async () => {
  const server = await startServer(['--ctx', '4096', '--sessions', '4']);
  try {
    const out = await new Promise((resolve, reject) => {
      execFile(process.execPath, [script, '--base', server.base, '--clients', '32', '--requests', '20', '--system-repeat', '2', '--json'],
               { timeout: 580000 }, (err, stdout, stderr) => {
                 if (err && !stdout) reject(new Error(`${err}\n${stderr}`));
                 else resolve(JSON.parse(stdout));
               });
    });
    console.log(`load: ${JSON.stringify(out)}`);
    assert.equal(out.requests, 640);
    assert.equal(out.failures, 0, out.errors.join('\n'));
    assert.equal(out.mismatches, 0, out.errors.join('\n'));
    assert.ok(out.healthy_after);
  } finally {
    const r = await server.stop();
    assert.equal(r.code, 0, server.log());
  }
});

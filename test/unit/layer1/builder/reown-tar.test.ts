// reownTar: a `git archive` (root-owned entries, a pax header for a long non-ASCII path, a global
// pax header with the commit) comes out with every entry owned by 10001 and the same contents.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, it } from 'node:test';
import { reownTar } from '../../../../layer1/builder/container-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'slwt-reown-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function collect(input: Buffer, chunk: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) parts.push(input.subarray(i, i + chunk));
  const out: Buffer[] = [];
  for await (const c of Readable.from(parts).pipe(reownTar(10001))) out.push(c as Buffer);
  return Buffer.concat(out);
}

it('re-owns every entry of a git archive to 10001 and keeps paths, modes, links and contents', async () => {
  const repo = join(dir, 'repo');
  const deep = join(repo, 'd'.repeat(60), 'é'.repeat(30));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, 'file-with-a-long-name.txt'), 'deep\n');
  writeFileSync(join(repo, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  writeFileSync(join(repo, 'big.bin'), Buffer.alloc(70_000, 7));
  symlinkSync('run.sh', join(repo, 'link'));
  const git = (...a: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', ...a], { cwd: repo });
  git('init', '-q');
  git('add', '-A');
  git('commit', '-q', '-m', 'x');
  const archive = git('archive', '--format=tar', 'HEAD');
  for (const chunk of [1, 511, 4096, 1 << 20]) {
    const out = await collect(archive, chunk);
    const listing = execFileSync('tar', ['-tv', '--numeric-owner'], { input: out }).toString().trim().split('\n');
    assert.ok(listing.length >= 6, listing.join('\n'));
    for (const l of listing) assert.match(l, / 10001\/10001 /, l);
    const x = join(dir, `x${chunk}`);
    mkdirSync(x);
    execFileSync('tar', ['-x', '-C', x], { input: out });
    assert.equal(readFileSync(join(x, 'd'.repeat(60), 'é'.repeat(30), 'file-with-a-long-name.txt'), 'utf8'), 'deep\n');
    assert.equal(readFileSync(join(x, 'big.bin')).length, 70_000);
    assert.match(listing.find((l) => l.includes('run.sh') && !l.includes('->'))!, /^-rwx/);
    assert.ok(listing.some((l) => /link -> run\.sh/.test(l)));
  }
  await assert.rejects(collect(archive.subarray(0, 1000), 512), /truncated/);
});

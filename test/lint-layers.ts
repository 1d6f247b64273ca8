// The layer rule (STYLE.md §2): layer0 never imports layer1; layer1 imports only
// layer0/*/{client,types,index}, layer0/common and dockerode — except the composition root
// layer1/cli/compose/, which may start layer 0's servers. Exits 1 with the offending lines.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const importRe = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function* tsFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* tsFiles(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

export function violations(file: string, source: string): string[] {
  const rel = relative(root, file);
  const out: string[] = [];
  for (const m of source.matchAll(importRe)) {
    const spec = m[1] ?? m[2];
    if (!spec.startsWith('.')) continue;
    const target = relative(root, resolve(dirname(file), spec));
    if (rel.startsWith('layer0/') && target.startsWith('layer1/')) {
      out.push(`${rel}: layer 0 imports layer 1 (${spec})`);
    }
    if (rel.startsWith('layer1/') && target.startsWith('layer0/') && !rel.startsWith('layer1/cli/compose/')) {
      const ok = /^layer0\/common\//.test(target) || /^layer0\/[^/]+\/(client|types|index)(\.ts)?$/.test(target);
      if (!ok) out.push(`${rel}: layer 1 may import only layer0/*/{client,types,index} and layer0/common (${spec})`);
    }
  }
  return out;
}

const problems: string[] = [];
for (const top of ['layer0', 'layer1', 'web']) {
  try {
    for (const f of tsFiles(join(root, top))) problems.push(...violations(f, readFileSync(f, 'utf8')));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
if (problems.length) {
  console.error(`layer rule broken:\n${problems.join('\n')}`);
  process.exit(1);
}

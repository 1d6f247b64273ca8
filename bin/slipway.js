#!/usr/bin/env node
// The `slipway` command: loads the TypeScript entry through tsx by a path relative to this
// file (resolving the npm-link symlink), so it runs from any directory.
import { register } from 'tsx/esm/api';
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(realpathSync(fileURLToPath(import.meta.url))), '..');
register();
await import(pathToFileURL(join(root, 'layer1', 'cli', 'main.ts')).href);

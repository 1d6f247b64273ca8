#!/usr/bin/env node
// The pre-receive hook of every app repository (plain JavaScript: it starts in ~50 ms). It hands
// the ref updates to the receiver over its unix socket (argv[2]) and prints what comes back, which
// git shows the pusher as `remote:` lines while the build and rollout run; its exit code decides
// whether git updates the ref. The receiver knows the push by this hook's parent, git-receive-pack.
import { request } from 'node:http';

const socketPath = process.argv[2];
let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const updates = input.split('\n').filter(Boolean).map((l) => {
  const [old, sha, ref] = l.split(' ');
  return { old, sha, ref };
});
const env = {};
for (const k of ['GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_QUARANTINE_PATH']) if (process.env[k]) env[k] = process.env[k];
const body = JSON.stringify({ pid: process.ppid, updates, env });

let code = 1;
await new Promise((resolve) => {
  const req = request({ socketPath, path: '/pre-receive', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
    res.setEncoding('utf8');
    let rest = '';
    res.on('data', (chunk) => {
      rest += chunk;
      let nl;
      while ((nl = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        // The last line is `\0exit N`: the verdict.
        if (line.startsWith('\0exit ')) code = Number(line.slice(6)) || 0;
        else process.stdout.write(`${line}\n`);
      }
    });
    res.on('end', resolve);
    res.on('error', resolve);
  });
  req.on('error', (err) => {
    process.stdout.write(`!     The Slipway receiver is not reachable (${err.message}); nothing was deployed.\n`);
    resolve();
  });
  req.end(body);
});
process.exitCode = code;

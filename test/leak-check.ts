// The suite's last step: fails when anything on the machine still carries this run's prefix
// (every test prefix starts with it): mounts, netns, links, ip(6)tables and ebtables lines, cgroups, and
// processes (a conmon left running). It only reports; the tests own their clean-up.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const prefix = process.argv[2];
if (!prefix || !/^slwt[0-9a-f]{4}$/.test(prefix)) {
  console.error('usage: leak-check slwtXXXX');
  process.exit(2);
}
const has = (s: string) => s.toLowerCase().includes(prefix);
const lines = (cmd: string, args: string[]) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n');
  } catch {
    return [];
  }
};

const leaks: string[] = [];
for (const l of readFileSync('/proc/mounts', 'utf8').split('\n')) if (has(l)) leaks.push(`mount: ${l}`);
for (const l of lines('ip', ['netns', 'list'])) if (has(l)) leaks.push(`netns: ${l}`);
for (const l of lines('ip', ['-o', 'link', 'show'])) if (has(l)) leaks.push(`link: ${l.slice(0, 120)}`);
for (const table of ['filter', 'nat', 'raw']) for (const l of lines('iptables-save', ['-t', table])) if (has(l)) leaks.push(`iptables ${table}: ${l}`);
for (const l of lines('ip6tables-save', ['-t', 'filter'])) if (has(l)) leaks.push(`ip6tables filter: ${l}`);
for (const l of lines('ebtables-save', ['-t', 'nat'])) if (has(l)) leaks.push(`ebtables nat: ${l}`);
for (const c of readdirSync('/sys/fs/cgroup')) {
  try {
    for (const d of readdirSync(`/sys/fs/cgroup/${c}`)) if (d.startsWith(prefix)) leaks.push(`cgroup: /sys/fs/cgroup/${c}/${d}`);
  } catch {
    /* not a directory */
  }
}
for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    if (has(cmd) && !cmd.includes('leak-check')) leaks.push(`process ${pid}: ${cmd.slice(0, 160)}`);
  } catch {
    /* gone */
  }
}
if (leaks.length) {
  console.error(`leak check: ${leaks.length} leftover(s) carrying ${prefix}:\n${leaks.join('\n')}`);
  process.exit(1);
}
console.log(`leak check: nothing carries ${prefix}`);

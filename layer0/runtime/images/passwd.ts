// Users and groups of an image: `etc/passwd` and `etc/group` read from its layers (the topmost
// layer holding a file wins, as in the merged overlay) and `user[:group]` resolved to ids the
// way runc's GetExecUser does. Called through ImageStore.readPasswd / resolveUser.
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SlipwayError } from '../../common/errors.ts';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface PasswdInfo {
  users: PasswdEntry[];
  groups: GroupEntry[];
}

export interface ExecUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

/**
 * The file `etc/<name>` of the topmost layer that has one, read without following symlinks: a
 * layer may hold `etc -> /etc` (absolute targets are kept), which must never reach the host's.
 */
function readEtcFile(layers: string[], name: string): string {
  for (const layer of layers) {
    try {
      if (!lstatSync(join(layer, 'etc')).isDirectory()) continue;
      const st = lstatSync(join(layer, 'etc', name));
      if (!st.isFile() || st.size > 4 << 20) continue;
      return readFileSync(join(layer, 'etc', name), 'utf8');
    } catch {
      // absent in this layer: look below
    }
  }
  return '';
}

const isId = (s: string | undefined): s is string => s !== undefined && /^\d+$/.test(s);

export function readPasswdFromLayers(layers: string[]): PasswdInfo {
  const users: PasswdEntry[] = [];
  for (const line of readEtcFile(layers, 'passwd').split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || f[0] === '' || line.startsWith('#') || !isId(f[2]) || !isId(f[3])) continue;
    users.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5], shell: f[6] });
  }
  const groups: GroupEntry[] = [];
  for (const line of readEtcFile(layers, 'group').split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || f[0] === '' || line.startsWith('#') || !isId(f[2])) continue;
    groups.push({ name: f[0], gid: Number(f[2]), members: f[3].split(',').filter(Boolean) });
  }
  return { users, groups };
}

/** `''`, `name`, `uid`, `name:group`, `uid:gid` → ids; unknown names → invalid_params. */
export function resolveExecUser(info: PasswdInfo, spec: string): ExecUser {
  const [userPart = '', groupPart] = spec.split(':', 2);
  let user: PasswdEntry | undefined;
  let uid = 0;
  let gid = 0;
  if (userPart === '') {
    user = info.users.find((u) => u.uid === 0);
  } else if (isId(userPart)) {
    uid = Number(userPart);
    user = info.users.find((u) => u.uid === uid);
  } else {
    user = info.users.find((u) => u.name === userPart);
    if (!user) throw new SlipwayError('invalid_params', `unable to find user ${userPart}: no matching entries in passwd file`);
  }
  if (user) {
    uid = user.uid;
    gid = user.gid;
  }
  if (groupPart !== undefined && groupPart !== '') {
    if (isId(groupPart)) {
      gid = Number(groupPart);
    } else {
      const g = info.groups.find((x) => x.name === groupPart);
      if (!g) throw new SlipwayError('invalid_params', `unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  }
  const additionalGids = user
    ? info.groups.filter((g) => g.members.includes(user.name) && g.gid !== gid).map((g) => g.gid)
    : [];
  return { uid, gid, additionalGids, home: user?.home || '/' };
}

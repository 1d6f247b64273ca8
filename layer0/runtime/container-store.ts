// Container records on disk (`<home>/containers/<id>/record.json`, written atomically) and the
// in-memory index by id and name. The agent finds its containers again from here after a restart.
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdirPrivate, PRIVATE_FILE } from '../common/private-state.ts';
import { join } from 'node:path';
import { SlipwayError } from '../common/errors.ts';
import type { ContainerRecord } from './types.ts';

export class ContainerStore {
  private readonly byId = new Map<string, ContainerRecord>();
  private readonly byName = new Map<string, string>();

  constructor(readonly root: string) {
    mkdirPrivate(root);
    for (const id of readdirSync(root)) {
      try {
        const rec = JSON.parse(readFileSync(join(root, id, 'record.json'), 'utf8')) as ContainerRecord;
        this.index(rec);
      } catch {
        /* a container whose create never finished: nothing to adopt */
      }
    }
  }

  dir(id: string): string {
    return join(this.root, id);
  }

  private index(rec: ContainerRecord): void {
    this.byId.set(rec.id, rec);
    this.byName.set(rec.spec.name, rec.id);
  }

  /** Reserves the name and writes the record; 409 when the name is taken. */
  add(rec: ContainerRecord): void {
    const holder = this.byName.get(rec.spec.name);
    if (holder) {
      throw new SlipwayError(
        'name_in_use',
        `Conflict. The container name "/${rec.spec.name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    mkdirPrivate(this.dir(rec.id));
    this.index(rec);
    this.save(rec);
  }

  save(rec: ContainerRecord): void {
    const file = join(this.dir(rec.id), 'record.json');
    // The spec holds the container's env (an app's config vars): root only.
    writeFileSync(`${file}.tmp`, JSON.stringify(rec), { mode: PRIVATE_FILE });
    renameSync(`${file}.tmp`, file);
  }

  delete(id: string): void {
    const rec = this.byId.get(id);
    if (!rec) return;
    this.byId.delete(id);
    if (this.byName.get(rec.spec.name) === id) this.byName.delete(rec.spec.name);
  }

  list(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  tryGet(ref: string): ContainerRecord | undefined {
    const direct = this.byId.get(ref) ?? this.byId.get(this.byName.get(ref.replace(/^\//, '')) ?? '');
    if (direct) return direct;
    if (!/^[0-9a-f]{1,63}$/.test(ref)) return undefined;
    const matches = [...this.byId.keys()].filter((id) => id.startsWith(ref));
    return matches.length === 1 ? this.byId.get(matches[0]) : undefined;
  }

  get(ref: string): ContainerRecord {
    const rec = this.tryGet(ref);
    if (!rec) throw new SlipwayError('container_not_found', `No such container: ${ref}`);
    return rec;
  }
}

// Follows one container's output through the agent (`logs?follow&timestamps&since`), from the
// cursor stored in Redis, and queues each whole line, tagged, on its app's queue. When the
// output ends (the container stopped) it waits to be kicked (start/restart event, resync) and
// follows again from where it got to; it ends once the container is gone.
import type { AgentClient } from '../../layer0/agent/client.ts';
import type { Logger } from '../../layer0/common/logger.ts';
import { formatCursor, LineAssembler, Position, sinceSeconds, splitFrame, splitUtf8, type AssembledLine, type Cursor } from './lines.ts';
import type { Entry, LogWriter } from './writer.ts';

export interface ContainerTags {
  id: string;
  appId: string;
  type: string;
  process: string;
  release: string;
}

/** The stream entry fields of one part of a container line. */
export function lineFields(t: ContainerTags, l: { ts: string; stream: string }, message: string, part?: string): string[] {
  const f = ['t', l.ts, 'src', 'app', 'type', t.type, 'ps', t.process, 'rel', t.release, 's', l.stream, 'msg', message];
  if (part) f.push('part', part);
  return f;
}

export function lineEntries(t: ContainerTags, l: AssembledLine): Entry[] {
  const parts = splitUtf8(l.data);
  return parts.map((p, i) => ({
    fields: lineFields(t, l, p.toString('utf8'), parts.length > 1 ? `${i + 1}/${parts.length}` : undefined),
    ...(i === parts.length - 1 && l.cursor ? { cursor: { container: t.id, value: formatCursor(l.cursor) } } : {}),
  }));
}

export class Follower {
  private cursor: Cursor | null;
  private kicked = false;
  private wake: (() => void) | null = null;
  private readonly ac = new AbortController();
  private gone = false;
  readonly done: Promise<void>;

  constructor(
    readonly tags: ContainerTags,
    resume: Cursor | null,
    private readonly agent: AgentClient,
    private readonly writer: LogWriter,
    private readonly log: Logger,
  ) {
    this.cursor = resume;
    this.done = this.run();
  }

  /** The container (re)started, or a resync saw it running: follow again if the last stream ended. */
  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  /** The container was removed: finish what the agent still sends, then end. */
  removed(): void {
    this.gone = true;
    this.kick();
  }

  stop(): void {
    this.gone = true;
    this.ac.abort();
    this.wake?.();
  }

  private async followOnce(): Promise<void> {
    const pos = new Position(this.cursor);
    const asm = new LineAssembler();
    let batch: Entry[] = [];
    const send = async () => {
      if (!batch.length) return;
      const b = batch;
      batch = [];
      await this.writer.push(this.tags.appId, b);
    };
    for await (const chunks of this.agent.logBatches(this.tags.id, { follow: true, timestamps: true, since: sinceSeconds(this.cursor), signal: this.ac.signal })) {
      for (const chunk of chunks) {
        const f = splitFrame(chunk.data);
        if (!f) continue;
        if (pos.advance(f.ts)) continue;
        for (const line of asm.push(chunk.stream, f.ts, f.payload, pos.cursor)) {
          if (line.cursor) this.cursor = line.cursor;
          batch.push(...lineEntries(this.tags, line));
        }
      }
      // The writer batches across reads and apps; pushing waits only while the app's queue is full.
      await send();
    }
    for (const line of asm.flush(pos.cursor)) {
      if (line.cursor) this.cursor = line.cursor;
      batch.push(...lineEntries(this.tags, line));
    }
    await send();
  }

  private async run(): Promise<void> {
    while (!this.ac.signal.aborted) {
      this.kicked = false;
      try {
        await this.followOnce();
      } catch (err) {
        if (this.ac.signal.aborted) return;
        const status = (err as { statusCode?: number }).statusCode;
        if (status === 404) return; // removed
        this.log.warn({ err, container: this.tags.id }, 'log follow failed; again in a second');
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (this.gone) return;
      // The output ended: the container stopped. Wait for a start or a resync.
      if (!this.kicked) await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }
}

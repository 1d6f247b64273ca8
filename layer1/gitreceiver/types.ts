// What the git receiver hands the rest of the platform: one push of one commit to an app's
// main branch, to build and roll out while the pusher watches.
import type { Readable } from 'node:stream';

export interface PushRequest {
  app: { id: string; name: string };
  /** `refs/heads/main` or `refs/heads/master`. */
  ref: string;
  /** The pushed commit (40 hex). */
  sha: string;
  /** The ref's previous commit, or null on the first push. */
  previous: string | null;
  /** Who pushed (the token's user). */
  user: { id: string; name: string };
  /** A tar of the pushed tree (`git archive`); readable even though the objects are still in quarantine. */
  archive(): Readable;
  /** One line of output for the pusher (shown as `remote: …`). */
  say(line: string): void;
  /** Aborted when the pusher goes away (Ctrl-C): stop building within 10 s. */
  signal: AbortSignal;
}

export interface PushPipeline {
  /**
   * Builds and rolls out the push; resolves once the new release serves (the push then exits 0).
   * Throwing refuses the push: the ref is not updated and the error's message is shown.
   */
  deploy(push: PushRequest): Promise<{ summary: string }>;
}

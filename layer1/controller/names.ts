// Random readable app names (`brave-river-4821`) for `POST /v1/apps` without a name.
import { randomInt } from 'node:crypto';

const ADJECTIVES = ['amber', 'brave', 'calm', 'clever', 'crisp', 'dapper', 'eager', 'fancy', 'gentle', 'golden', 'happy', 'jolly', 'keen', 'lively', 'lucky', 'mellow', 'misty', 'noble', 'polite', 'proud', 'quiet', 'rapid', 'rustic', 'shiny', 'silent', 'snowy', 'solid', 'sunny', 'swift', 'tidy', 'vast', 'witty'];
const NOUNS = ['anchor', 'badger', 'beacon', 'brook', 'canyon', 'cedar', 'comet', 'delta', 'falcon', 'fjord', 'forest', 'glacier', 'harbor', 'island', 'lagoon', 'meadow', 'mesa', 'orchid', 'otter', 'pebble', 'prairie', 'raven', 'reef', 'river', 'sparrow', 'summit', 'thicket', 'tundra', 'valley', 'willow'];

export function randomAppName(): string {
  const pick = (xs: string[]) => xs[randomInt(xs.length)];
  return `${pick(ADJECTIVES)}-${pick(NOUNS)}-${randomInt(1000, 10000)}`;
}

// Docker-style random container names (`adjective_scientist`) for creates without `name`.
import { randomInt } from 'node:crypto';

const LEFT = ['admiring', 'bold', 'brave', 'clever', 'eager', 'elated', 'focused', 'gallant', 'happy', 'jolly', 'keen', 'lucid', 'nifty', 'quirky', 'serene', 'stoic', 'tender', 'vibrant', 'wizardly', 'zealous'];
const RIGHT = ['albattani', 'babbage', 'curie', 'darwin', 'einstein', 'feynman', 'goldberg', 'hopper', 'jepsen', 'knuth', 'lamport', 'lovelace', 'mccarthy', 'noether', 'pike', 'ritchie', 'shannon', 'thompson', 'turing', 'wozniak'];

/** A name not in `taken`; a numeric suffix after a few collisions, as Moby does. */
export function randomName(taken: (name: string) => boolean): string {
  for (let i = 0; ; i++) {
    let name = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}`;
    if (i > 5) name += String(randomInt(100));
    if (!taken(name)) return name;
  }
}

import type { Runner } from '../exec.js';
import type { Git } from '../git.js';
import type { Logger } from '../log.js';

/** The side effects a command may use; built in cli.ts, faked in unit tests. */
export interface Deps {
  runner: Runner;
  git: Git;
  log: Logger;
}

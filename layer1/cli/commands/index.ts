// Registers the platform commands (those that talk to the /v1 API) on the program.
import type { Command } from 'commander';
import { registerAccess } from './access.ts';
import { registerApps } from './apps.ts';
import { registerAuth } from './auth.ts';
import { registerDeploy } from './deploy.ts';
import { registerLogs } from './logs.ts';
import { registerRun } from './run.ts';
import { registerRouter } from './router.ts';
import { registerStatus } from './status.ts';

export function registerApiCommands(program: Command): void {
  registerAuth(program);
  registerApps(program);
  registerDeploy(program);
  registerRun(program);
  registerLogs(program);
  registerRouter(program);
  registerAccess(program);
  registerStatus(program);
}

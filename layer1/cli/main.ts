// The `slipway` command (bin/slipway.js loads this through tsx). Subcommands register here;
// the ones that start servers delegate to layer1/cli/compose/.
import { Command } from 'commander';

const program = new Command('slipway').description('Slipway: a git-push platform-as-a-service').showHelpAfterError();

program
  .command('agent')
  .description('run the host agent: the Docker Engine API subset on $SLIPWAY_RUN/agent.sock')
  .option('--tcp [listen]', 'also serve TCP on [host:]port (bearer token required; default port $SLIPWAY_AGENT_PORT or 2375)')
  .option('--token-file <file>', 'file holding the TCP bearer token')
  .option('--memory <size>', 'memory capacity to advertise, e.g. 8g (default: the machine\'s)')
  .option('--cpus <n>', 'CPUs to advertise (default: the machine\'s)')
  .option('--import-stack', 'import the default stack image from the machine cache')
  .action(async (opts: { tcp?: string | boolean; tokenFile?: string; memory?: string; cpus?: string; importStack?: boolean }) => {
    const { runAgent } = await import('./compose/agent.ts');
    await runAgent({ ...opts, tcp: opts.tcp === true ? '' : opts.tcp || undefined });
  });

program
  .command('up')
  .description('run the platform on this host in the foreground (Ctrl-C stops it and cleans up)')
  .option('-d, --detach', 'return once the platform is ready; stop it with `slipway down`')
  .action(async (opts: { detach?: boolean }) => {
    const { up } = await import('./compose/platform.ts');
    await up(opts);
  });

program
  .command('down')
  .description('stop the platform of this SLIPWAY_HOME and remove every container, mount, netns, veth and rule it made')
  .action(async () => {
    const { down } = await import('./compose/platform.ts');
    await down();
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`slipway: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

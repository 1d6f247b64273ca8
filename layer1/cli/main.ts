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
  .option('--cluster', 'join a cluster: heartbeat into discovery (needs --redis or SLIPWAY_REDIS_URL)')
  .option('--redis <url>', 'the cluster\'s Redis (redis://:password@host:port or unix:///path)')
  .option('--advertise <address>', 'the address other hosts use to reach this host (default: the --tcp host, SLIPWAY_BIND or 127.0.0.1)')
  .option('--subnet <cidr>', 'the container /24, e.g. 172.31.12.0/24 (default: the first free one)')
  .option('--labels <k=v,...>', 'host labels advertised to the scheduler')
  .action(async (opts: { tcp?: string | boolean; tokenFile?: string; memory?: string; cpus?: string; importStack?: boolean; cluster?: boolean; redis?: string; advertise?: string; subnet?: string; labels?: string }) => {
    const { runAgent } = await import('./compose/agent.ts');
    await runAgent({ ...opts, tcp: opts.tcp === true ? '' : opts.tcp || undefined });
  });

program
  .command('scheduler')
  .description('run a scheduler (leader-elected; more than one make hot standbys)')
  .option('--redis <url>', 'the cluster\'s Redis (default SLIPWAY_REDIS_URL)')
  .option('--token-file <file>', 'file holding the agents\' bearer token (default SLIPWAY_AGENT_TOKEN)')
  .action(async (opts: { redis?: string; tokenFile?: string }) => {
    const { runScheduler } = await import('./compose/scheduler.ts');
    await runScheduler(opts);
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

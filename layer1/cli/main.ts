// The `slipway` command (bin/slipway.js loads this through tsx). Subcommands register here;
// the ones that start servers delegate to layer1/cli/compose/.
import { Command } from 'commander';
import { registerApiCommands } from './commands/index.ts';

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

const cluster = program.command('cluster').description('a cluster on this machine: hosts as network namespaces (for tests and trying Slipway)');
cluster
  .command('up')
  .description('start N netns hosts (agent + scheduler standby each) and a Redis; returns once ready')
  .requiredOption('--hosts <n>', 'how many hosts')
  .option('--memory <size>', 'memory each host advertises, e.g. 2g')
  .option('--cpus <n>', 'CPUs each host advertises')
  .option('--no-import-stack', 'do not import the default stack into the hosts')
  .option('--no-schedulers', 'run no scheduler standbys')
  .option('--subnet <cidr>', 'the cluster bridge /24 (default 172.30.0.0/24 or the first free one)')
  .action(async (opts: { hosts: string; memory?: string; cpus?: string; importStack?: boolean; schedulers?: boolean; subnet?: string }) => {
    const { clusterUpCommand } = await import('./compose/cluster.ts');
    await clusterUpCommand(opts);
  });
cluster
  .command('down')
  .description('stop the cluster of $SLIPWAY_HOME/cluster and remove everything it made')
  .action(async () => {
    const { clusterDownCommand } = await import('./compose/cluster.ts');
    await clusterDownCommand();
  });

program
  .command('host')
  .description('this machine as a cluster host')
  .command('join')
  .description('run an agent (and a scheduler standby) in a remote cluster, in the foreground')
  .option('--redis <url>', 'the cluster\'s Redis, redis://:password@host:port (default SLIPWAY_REDIS_URL)')
  .requiredOption('--token-file <file>', 'the agents\' bearer token')
  .requiredOption('--advertise <address>', 'the address other hosts reach this one at')
  .option('--tcp <listen>', 'agent TCP listen address (default ADVERTISE:2375)')
  .option('--subnet <cidr>', 'the container /24')
  .option('--memory <size>', 'memory to advertise')
  .option('--cpus <n>', 'CPUs to advertise')
  .option('--labels <k=v,...>', 'host labels')
  .option('--import-stack', 'import the default stack from the machine cache')
  .option('--no-scheduler', 'run no scheduler standby')
  .action(async (opts: import('./compose/host-join.ts').HostJoinFlags) => {
    const { hostJoin } = await import('./compose/host-join.ts');
    await hostJoin(opts);
  });

registerApiCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`slipway: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

// The `slipway` command (bin/slipway.js loads this through tsx). Subcommands register here;
// the ones that start servers delegate to layer1/cli/compose/.
import { Command } from 'commander';
import { registerApiCommands } from './commands/index.ts';
import { pathWithSbin } from '../../layer0/common/which.ts';

// Programs run by name (ip, iptables, mount, git...) are found in the sbin directories too,
// whatever PATH the caller had (sudo, cron and service managers often leave them out).
process.env.PATH = pathWithSbin(process.env.PATH);

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
  .option('--deny <cidr,...>', 'addresses containers never reach (the control plane\'s hosts; in a cluster every host and the Redis host are added)')
  .option('--fetch-auth-file <file>', 'lines "<origin> <token>": the bearer token sent with image fetches from exactly that origin (the blobstore\'s read token; also SLIPWAY_FETCH_AUTH)')
  .action(async (opts: { tcp?: string | boolean; tokenFile?: string; memory?: string; cpus?: string; importStack?: boolean; cluster?: boolean; redis?: string; advertise?: string; subnet?: string; labels?: string; deny?: string; fetchAuthFile?: string }) => {
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
  .command('router')
  .description('run a router on its own (as every joined host does): app traffic by Host to the backends in discovery')
  .option('--redis <url>', 'the cluster\'s Redis (default SLIPWAY_REDIS_URL)')
  .option('--bind <address>', 'the address to listen on (default SLIPWAY_BIND or 127.0.0.1)')
  .option('--http-port <port>', 'HTTP port (default SLIPWAY_HTTP_PORT or 8080)')
  .option('--https-port <port>', 'HTTPS port (default SLIPWAY_HTTPS_PORT or 8443)')
  .option('--no-https', 'serve no HTTPS')
  .option('--admin-port <port>', '/metrics and /healthz (default SLIPWAY_ROUTER_ADMIN_PORT or 7002)')
  .option('--no-admin', 'serve no admin port')
  .option('--domain <domain>', 'apps answer on <app>.<domain> (default SLIPWAY_DOMAIN or localhost)')
  .option('--pid-file <file>', 'write the router\'s pid here once it serves')
  .action(async (opts: { redis?: string; bind?: string; httpPort?: string; httpsPort?: string; https?: boolean; adminPort?: string; admin?: boolean; domain?: string; pidFile?: string }) => {
    const { runRouter } = await import('./compose/router.ts');
    await runRouter({
      redis: opts.redis, bind: opts.bind, httpPort: opts.httpPort, domain: opts.domain, pidFile: opts.pidFile,
      httpsPort: opts.https === false ? false : opts.httpsPort, adminPort: opts.admin === false ? false : opts.adminPort,
    });
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
  .command('doctor')
  .description('check what the platform needs from this host (kernel, cgroups, ports, disk, programs), one line each with the fix')
  .option('--json', 'print JSON (for scripts)')
  .option('--network', 'also check that a container reaches the npm registry through the NAT path (slower)')
  .action(async (opts: { json?: boolean; network?: boolean }) => {
    const { doctorCommand } = await import('./compose/doctor/index.ts');
    await doctorCommand(opts);
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
  .description('start N netns hosts (agent, scheduler standby and router each) and a Redis; returns once ready')
  .requiredOption('--hosts <n>', 'how many hosts')
  .option('--memory <size>', 'memory each host advertises, e.g. 2g')
  .option('--cpus <n>', 'CPUs each host advertises')
  .option('--no-import-stack', 'do not import the default stack into the hosts')
  .option('--no-schedulers', 'run no scheduler standbys')
  .option('--no-routers', 'run no router on the hosts')
  .option('--subnet <cidr>', 'the cluster bridge /24 (default 172.30.0.0/24 or the first free one)')
  .action(async (opts: { hosts: string; memory?: string; cpus?: string; importStack?: boolean; schedulers?: boolean; routers?: boolean; subnet?: string }) => {
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
  .description('run an agent, a scheduler standby and a router in a remote cluster, in the foreground')
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
  .option('--no-router', 'run no router on this host')
  .option('--router-bind <address>', 'the address this host\'s router listens on (default: the advertised address)')
  .option('--fetch-auth-file <file>', 'the agent\'s image-fetch credentials, lines "<origin> <token>" (copy $SLIPWAY_HOME/agent-fetch-auth from the platform host)')
  .action(async (opts: import('./compose/host-join.ts').HostJoinFlags) => {
    const { hostJoin } = await import('./compose/host-join.ts');
    await hostJoin(opts);
  });

registerApiCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`slipway: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

/**
 * The `berth` command. `berth up` runs the whole platform on this machine; `berth server` runs the
 * control plane alone. Output is short; `--output json` prints one JSON object for scripts.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { resolve } from 'node:path';
import { VERSION } from './version.js';
import { startServer, type ServerOptions } from './server.js';
import { startAgent, type RunningAgent } from '../agent/agent.js';
import { consoleLogger } from '../edge/logger.js';
import { readCredentialsFile } from '../protocols/credentials-file.js';
import { registerLogsCommand } from './logs.js';
import { registerBuildCommand } from './build.js';
import { join } from 'node:path';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0–65535');
  return n;
}

const program = new Command()
  .name('berth')
  .description('A self-hosted container platform that speaks the AWS container APIs.')
  .version(VERSION);

const withServerOptions = (cmd: Command): Command =>
  cmd
    .option('--port <port>', 'API port (every AWS API, the registry and agent sessions)', port, 4566)
    .option('--bind <addr>', 'address to listen on', '127.0.0.1')
    .option('--home <dir>', 'state directory (default $BERTH_HOME or ./.berth)')
    .option('--region <region>', 'AWS region in ARNs and SigV4 scopes', 'us-east-1')
    .option('--account-id <id>', 'AWS account id in ARNs', '000000000000')
    .option('--dns-port <port>', 'Cloud Map DNS server port, UDP and TCP, at the --bind address (0: any free port)', port, 8053)
    .option('--no-lb', 'run no load balancer data plane (HAProxy); ELBv2 listeners then carry no traffic')
    .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'));

interface CliServerOptions {
  agent?: boolean;
  outbound?: boolean;
  port: number;
  bind: string;
  home?: string;
  region: string;
  accountId: string;
  dnsPort: number;
  lb?: boolean;
  output: 'text' | 'json';
}

function serverOptions(opts: CliServerOptions): ServerOptions {
  if (!/^\d{12}$/.test(opts.accountId)) throw new InvalidArgumentError('--account-id must be 12 digits');
  return {
    port: opts.port,
    bind: opts.bind,
    home: resolve(opts.home ?? process.env['BERTH_HOME'] ?? '.berth'),
    region: opts.region,
    accountId: opts.accountId,
    dnsPort: opts.dnsPort,
    loadBalancer: opts.lb !== false,
  };
}

async function run(opts: CliServerOptions, what: 'up' | 'server'): Promise<void> {
  const server = await startServer(serverOptions(opts));
  const info = server.info();
  let agent: RunningAgent | undefined;
  if (what === 'up' && opts.agent !== false) {
    if (process.getuid?.() !== 0) {
      await server.close();
      throw new Error('the agent runs containers with runc and needs root; run as root, or pass --no-agent for the API alone');
    }
    agent = await startAgent({
      endpoint: info.endpoint,
      credentials: readCredentialsFile(info.credentialsFile),
      region: info.region,
      cluster: 'default',
      stateDir: join(info.home, 'agent'),
      agentVersion: VERSION,
      outbound: opts.outbound !== false,
      logger: consoleLogger,
    });
  }
  if (opts.output === 'json') {
    process.stdout.write(`${JSON.stringify(info)}\n`);
  } else {
    const lines = [
      `Berth ${VERSION} is ${what === 'up' ? 'up' : 'serving'}`,
      `  API          ${info.endpoint}   (ECS, ECR, ELBv2 and Cloud Map, signed with SigV4)`,
      `  Registry     ${info.endpoint.replace(/^http:\/\//, '')}   (OCI; user AWS, password from aws ecr get-login-password)`,
      `  DNS          ${info.dns.address}:${info.dns.port}   (Cloud Map names, UDP and TCP)`,
      `  Agent        ${agent === undefined ? 'not started (--no-agent)' : 'runc, joining cluster default'}`,
      `  Credentials  ${info.credentialsFile}   (profile default)`,
      `  State        ${info.home}`,
      '',
      'Try:',
      `  export AWS_SHARED_CREDENTIALS_FILE=${info.credentialsFile} AWS_CONFIG_FILE=${info.configFile}`,
      `  aws --endpoint-url ${info.endpoint} ecs list-clusters`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    if (opts.output === 'text') process.stderr.write(`berth: ${signal}, stopping\n`);
    (agent?.close() ?? Promise.resolve()).then(() => server.close()).then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('berth: error while stopping:', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

withServerOptions(program.command('up').description('start the whole platform on this machine: the server and an agent (lb and dns as they land)'))
  .option('--no-agent', 'serve the API only; run no containers on this machine')
  .option('--no-outbound', 'keep task networks from reaching beyond this host')
  .action((opts: CliServerOptions) => run(opts, 'up'));

interface CliAgentOptions {
  server: string;
  cluster: string;
  home?: string;
  credentials?: string;
  region: string;
  attribute: string[];
  availabilityZone?: string;
  outbound: boolean;
}

program
  .command('agent')
  .description('run the agent: register this host as a container instance and run the tasks placed on it')
  .requiredOption('--server <url>', 'the Berth API endpoint, e.g. http://10.0.0.1:4566')
  .option('--cluster <name>', 'cluster to join', 'default')
  .option('--home <dir>', 'agent state directory (default $BERTH_HOME/agent or ./.berth/agent)')
  .option('--credentials <file>', 'AWS shared-credentials file (default: $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY, else $BERTH_HOME/credentials)')
  .option('--region <region>', 'region the server runs', 'us-east-1')
  .option('--attribute <name=value>', 'a custom attribute (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--availability-zone <az>', 'the ecs.availability-zone attribute')
  .option('--no-outbound', 'keep task networks from reaching beyond this host')
  .action(async (opts: CliAgentOptions) => {
    if (process.getuid?.() !== 0) throw new Error('the agent runs containers with runc and needs root');
    const home = resolve(opts.home ?? join(process.env['BERTH_HOME'] ?? '.berth', 'agent'));
    const envKey = process.env['AWS_ACCESS_KEY_ID'];
    const envSecret = process.env['AWS_SECRET_ACCESS_KEY'];
    const credentials = opts.credentials === undefined && envKey && envSecret
      ? { accessKeyId: envKey, secretAccessKey: envSecret }
      : readCredentialsFile(opts.credentials ?? join(process.env['BERTH_HOME'] ?? '.berth', 'credentials'));
    const attributes: Record<string, string> = {};
    for (const a of opts.attribute) {
      const eq = a.indexOf('=');
      if (eq <= 0) throw new InvalidArgumentError(`--attribute ${a}: expected name=value`);
      attributes[a.slice(0, eq)] = a.slice(eq + 1);
    }
    const agent = await startAgent({
      endpoint: opts.server,
      credentials,
      region: opts.region,
      cluster: opts.cluster,
      stateDir: home,
      agentVersion: VERSION,
      attributes,
      outbound: opts.outbound,
      logger: consoleLogger,
      ...(opts.availabilityZone === undefined ? {} : { availabilityZone: opts.availabilityZone }),
    });
    process.stdout.write(`berth agent ${VERSION}: joining cluster ${opts.cluster} at ${opts.server}\n`);
    const stop = () => {
      agent.close().then(() => process.exit(0), (err: unknown) => {
        console.error('berth agent: error while stopping:', err);
        process.exit(1);
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

withServerOptions(program.command('server').description('start the control plane (API server) alone'))
  .action((opts: CliServerOptions) => run(opts, 'server'));

registerLogsCommand(program);
registerBuildCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`berth: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

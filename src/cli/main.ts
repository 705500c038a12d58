/**
 * The `berth` command. `berth up` runs the whole platform on this machine; `berth server` runs the
 * control plane alone. Output is short; `--output json` prints one JSON object for scripts.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { resolve } from 'node:path';
import { VERSION } from './version.js';
import { startServer, type ServerOptions } from './server.js';

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
    .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'));

interface CliServerOptions {
  port: number;
  bind: string;
  home?: string;
  region: string;
  accountId: string;
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
  };
}

async function run(opts: CliServerOptions, what: 'up' | 'server'): Promise<void> {
  const server = await startServer(serverOptions(opts));
  const info = server.info();
  if (opts.output === 'json') {
    process.stdout.write(`${JSON.stringify(info)}\n`);
  } else {
    const lines = [
      `Berth ${VERSION} is ${what === 'up' ? 'up' : 'serving'}`,
      `  API          ${info.endpoint}   (ECS and ECR, signed with SigV4)`,
      `  Registry     ${info.endpoint.replace(/^http:\/\//, '')}   (OCI; user AWS, password from aws ecr get-login-password)`,
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
    server.close().then(
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

withServerOptions(program.command('up').description('start the whole platform on this machine (server; agent, lb and dns as they land)'))
  .action((opts: CliServerOptions) => run(opts, 'up'));

withServerOptions(program.command('server').description('start the control plane (API server) alone'))
  .action((opts: CliServerOptions) => run(opts, 'server'));

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`berth: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

#!/usr/bin/env node
/**
 * The command line of the contract: `serve`, `migrate`, `check`. Loads and validates the
 * configuration (exit 2 with one line per problem), then hands over to the app. This is the only
 * place that listens, and the only place that handles signals.
 */
import { createServer, type Server } from 'node:http';
import { Command } from 'commander';
import { buildApp } from './app.js';
import type { GatewayConfig } from './config/compiled.js';
import { loadConfig } from './config/load.js';
import { runChecks } from './check/run-checks.js';
import { isWorkerProcess, superviseWorkers } from './http/workers.js';
import { openDatabase } from './store/connect.js';
import { certificateBundle, rotateSigningKey } from './token/key-admin.js';
import { importFromKcg } from './kcg-import/command.js';

const EXIT_CONFIG = 2;
/** After the grace period's connections are closed, what still runs (a backend call) may take this long to end. */
const FORCED_EXIT_MS = 1_000;

function configOrExit(file: string | undefined): GatewayConfig {
  const result = loadConfig(file === undefined ? {} : { file });
  if (!result.ok) {
    process.stderr.write(`container-gateway: invalid configuration:\n${result.problems.map((p) => `  ${p}\n`).join('')}`);
    process.exit(EXIT_CONFIG);
  }
  return result.config;
}

async function serve(options: { config?: string; workers?: string }): Promise<void> {
  const config = configOrExit(options.config);
  const workers = options.workers === undefined ? config.server.workers : Number(options.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
    process.stderr.write(`container-gateway: invalid configuration:\n  --workers: must be an integer from 1 to 256\n`);
    process.exit(EXIT_CONFIG);
  }
  if (workers > 1 && !isWorkerProcess()) {
    // Migrate once, before any worker starts serving.
    const database = await openDatabase(config.database);
    await database.close();
    superviseWorkers(workers, { drainMs: config.server.shutdownGraceSeconds * 1000 + FORCED_EXIT_MS, log: (message, fields) => process.stdout.write(`${JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, msg: message, ...fields })}\n`) });
    return;
  }
  const app = await buildApp(config);
  const { host, port } = config.server.listen;
  try {
    await app.listen({ host, port });
  } catch (error) {
    process.stderr.write(`container-gateway: cannot listen on ${host}:${port}: ${(error as Error).message}\n`);
    process.exit(1);
  }
  const metricsServer = config.metrics.listen === null ? undefined : await serveMetricsSeparately(app, config.metrics.listen);
  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    const graceMs = config.server.shutdownGraceSeconds * 1000;
    app.log.info({ signal, graceSeconds: config.server.shutdownGraceSeconds }, 'shutting down: finishing in-flight requests');
    // Requests in flight get the grace period; then what is left (a slow download) is cut and we exit 0.
    setTimeout(() => {
      app.log.warn('shutdown grace period over: closing the connections still open');
      app.server.closeAllConnections();
      metricsServer?.closeAllConnections();
      setTimeout(() => process.exit(0), FORCED_EXIT_MS).unref();
    }, graceMs).unref();
    metricsServer?.close();
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // SIGHUP: read the configuration again; take its certificates, management secrets, static users and rules.
  process.on('SIGHUP', () => {
    const result = loadConfig(options.config === undefined ? {} : { file: options.config });
    if (!result.ok) {
      app.log.error({ problems: result.problems }, 'reload refused: the configuration is invalid; keeping the running one');
      return;
    }
    try {
      app.reloadSecrets(result.config);
      app.log.info('reloaded TLS certificates, management secrets, and static users and rules');
    } catch (error) {
      app.log.error({ reason: (error as Error).message }, 'reload failed; keeping the running certificates');
    }
  });
}

/** metrics.listen: /metrics on a listener of its own (e.g. only reachable from the monitoring network). */
async function serveMetricsSeparately(app: Awaited<ReturnType<typeof buildApp>>, listen: { host: string; port: number }): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    app.metrics.registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': app.metrics.registry.contentType }).end(text),
      () => response.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  return server;
}

async function check(options: { config?: string }): Promise<void> {
  const config = configOrExit(options.config);
  const report = await runChecks(config);
  process.stdout.write(report.text);
  process.exit(report.ok ? 0 : 1);
}

async function migrate(options: { config?: string }): Promise<void> {
  const config = configOrExit(options.config);
  const database = await openDatabase(config.database);
  const { applied, current } = database.migrations;
  process.stdout.write(
    `${database.location}: ${applied.length === 0 ? 'already up to date' : `applied ${applied.join(', ')}`} (schema ${current ?? 'empty'})\n`,
  );
  await database.close();
}

async function tokenCertificates(options: { config?: string }): Promise<void> {
  process.stdout.write(await certificateBundle(configOrExit(options.config)));
}

async function rotate(options: { config?: string; activateIn: string }): Promise<void> {
  const seconds = Number(options.activateIn);
  if (!Number.isInteger(seconds) || seconds < 0) {
    process.stderr.write('container-gateway: --activate-in must be a whole number of seconds\n');
    process.exit(EXIT_CONFIG);
  }
  const rotated = await rotateSigningKey(configOrExit(options.config), seconds);
  process.stderr.write(`new signing key ${rotated.kid}, signing from ${rotated.activatesAt.toISOString()}; certificates that verify the gateway's tokens:\n`);
  process.stdout.write(rotated.bundle);
}

const program = new Command()
  .name('container-gateway')
  .description('Authentication and authorization gateway in front of a container registry');
program
  .command('serve')
  .description('run the gateway')
  .option('-c, --config <file>', 'configuration file (YAML)')
  .option('-w, --workers <n>', 'worker processes sharing the port (default: server.workers)')
  .action(serve);
program.command('migrate').description('bring the database schema up to date and exit').option('-c, --config <file>', 'configuration file (YAML)').action(migrate);
program.command('check').description('validate config and reach database, backend and upstream').option('-c, --config <file>', 'configuration file (YAML)').action(check);

program
  .command('token-certificates')
  .description("print the PEM certificates of the keys that sign the gateway's tokens (a registry's auth.token.rootcertbundle)")
  .option('-c, --config <file>', 'configuration file (YAML)')
  .action(tokenCertificates);
program
  .command('rotate-signing-key')
  .description('add a new token signing key; the old one verifies until its tokens expire')
  .option('-c, --config <file>', 'configuration file (YAML)')
  .option('--activate-in <seconds>', 'start signing with it after this many seconds (time to update registries)', '0')
  .action(rotate);

program
  .command('import-kcg')
  .description("take over from smart_proxy_container_gateway: import its repositories, users, hosts, mappings and unexpired tokens; print the equivalent configuration")
  .option('-c, --config <file>', 'configuration file (YAML) of this gateway: where to import to')
  .option('--settings <file>', "smart_proxy_container_gateway's settings", '/etc/foreman-proxy/settings.d/container_gateway.yml')
  .option('--proxy-settings <file>', "smart-proxy's own settings (Foreman URL, certificates, trusted hosts)", '/etc/foreman-proxy/settings.yml')
  .option('--database <url>', "its database, when not the one its settings name (sqlite://PATH or postgres://...)")
  .action(async (options: { config?: string; settings: string; proxySettings: string; database?: string }) => {
    const config = configOrExit(options.config);
    process.exit(await importFromKcg(config, options, { out: process.stdout, err: process.stderr }));
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`container-gateway: ${(error as Error).message}\n`);
  process.exit(1);
});

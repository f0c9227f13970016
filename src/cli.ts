#!/usr/bin/env node
/**
 * The command line: `serve`, `migrate`, `check` and the key and demo commands. Loads and
 * validates the configuration (exit 2 with one line per problem), refuses a deployment it cannot
 * run in (exit 1, naming the path and the fix), then hands over to the app. This is the only
 * place that listens, and the only place that handles signals.
 */
import { createServer, type Server } from 'node:http';
import { Command } from 'commander';
import { buildApp } from './app.js';
import type { GatewayConfig } from './config/compiled.js';
import { DEFAULT_CONFIG_FILE, loadConfig } from './config/load.js';
import { runChecks } from './check/run-checks.js';
import { deploymentProblems } from './check/deployment-problems.js';
import { startupWarnings } from './check/startup-warnings.js';

import { runDemo } from './demo/run-demo.js';
import { sizeHeapForMemory } from './http/heap-sizing.js';
import { isWorkerProcess, superviseWorkers } from './http/workers.js';
import { openDatabase } from './store/connect.js';
import { certificateBundle, rotateSigningKey } from './token/key-admin.js';
import { importFromKcg } from './kcg-import/command.js';
import { GATEWAY_VERSION } from './version.js';

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

/** A database or audit log the gateway cannot write: say which path and what to do, before SQLite says EACCES. */
function deployableOrExit(config: GatewayConfig): GatewayConfig {
  const problems = deploymentProblems(config);
  if (problems.length > 0) {
    process.stderr.write(`container-gateway: cannot start here:\n${problems.map((p) => `  ${p}\n`).join('')}`);
    process.exit(1);
  }
  return config;
}

/** Said once, by the process that owns the port (not by each worker), and never blocking the start. */
function warnAboutConfiguration(config: GatewayConfig): void {
  startupWarnings(config).then(
    (warnings) => {
      for (const warning of warnings) process.stderr.write(`container-gateway: warning: ${warning}\n`);
    },
    () => undefined,
  );
}

async function serve(options: { config?: string; workers?: string }): Promise<void> {
  const config = deployableOrExit(configOrExit(options.config));
  const workers = options.workers === undefined ? config.server.workers : Number(options.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
    process.stderr.write(`container-gateway: invalid configuration:\n  --workers: must be an integer from 1 to 256\n`);
    process.exit(EXIT_CONFIG);
  }
  if (!isWorkerProcess()) warnAboutConfiguration(config);
  if (workers > 1 && !isWorkerProcess()) {
    // Migrate once, before any worker starts serving.
    const database = await openDatabase(config.database);
    await database.close();
    superviseWorkers(workers, { drainMs: config.server.shutdownGraceSeconds * 1000 + FORCED_EXIT_MS, log: (message, fields) => process.stdout.write(`${JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, msg: message, ...fields })}\n`) });
    return;
  }
  // The serving process only: tests and embedders that build an app keep their own V8 settings.
  sizeHeapForMemory();
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
  const config = deployableOrExit(configOrExit(options.config));
  const database = await openDatabase(config.database);
  const { applied, current } = database.migrations;
  process.stdout.write(
    `${database.location}: ${applied.length === 0 ? 'already up to date' : `applied ${applied.join(', ')}`} (schema ${current ?? 'empty'})\n`,
  );
  await database.close();
}

async function demo(options: { dataDir: string; port: string }): Promise<void> {
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    process.stderr.write('container-gateway: --port must be a port number (1-65535)\n');
    process.exit(EXIT_CONFIG);
  }
  process.exit(await runDemo({ dataDirectory: options.dataDir, preferredPort: port }));
}

async function tokenCertificates(options: { config?: string }): Promise<void> {
  process.stdout.write(await certificateBundle(deployableOrExit(configOrExit(options.config))));
}

/** Ten years. */
const MAX_ACTIVATE_IN_SECONDS = 10 * 366 * 24 * 3600;

async function rotate(options: { config?: string; activateIn: string }): Promise<void> {
  // Digits only (Number(' ') is 0), and at most ten years: a date JavaScript can still write.
  const seconds = /^\d{1,9}$/.test(options.activateIn.trim()) ? Number(options.activateIn.trim()) : Number.NaN;
  if (!Number.isInteger(seconds) || seconds > MAX_ACTIVATE_IN_SECONDS) {
    process.stderr.write(`container-gateway: --activate-in must be a whole number of seconds, at most ${MAX_ACTIVATE_IN_SECONDS}\n`);
    process.exit(EXIT_CONFIG);
  }
  const rotated = await rotateSigningKey(deployableOrExit(configOrExit(options.config)), seconds);
  process.stderr.write(`new signing key ${rotated.kid}, signing from ${rotated.activatesAt.toISOString()}; certificates that verify the gateway's tokens:\n`);
  process.stdout.write(rotated.bundle);
}

const CONFIG_OPTION = `configuration file (YAML); default: $CG_CONFIG, else ${DEFAULT_CONFIG_FILE} if it exists`;

const program = new Command()
  .name('container-gateway')
  .description('Authentication and authorization gateway in front of a container registry')
  .version(GATEWAY_VERSION, '-V, --version', 'print the version and exit')
  .addHelpText(
    'after',
    `
Configuration: the file given with --config, else the one named by CG_CONFIG, else
${DEFAULT_CONFIG_FILE} in the working directory if it exists, else built-in defaults.
Every key can also be set by an environment variable: CG_ and the key's path in upper snake case,
e.g. CG_BACKEND_URL, CG_DATABASE_URL, CG_UPSTREAM_URL, CG_MANAGEMENT_TOKENS=secret1,secret2.
Every key is described in docs/configuration.md.

Exit codes: 0 done, 1 failed (check: the gateway would not serve), 2 invalid configuration.`,
  );
program
  .command('serve')
  .description('run the gateway')
  .option('-c, --config <file>', CONFIG_OPTION)
  .option('-w, --workers <n>', 'worker processes sharing the port (default: server.workers)')
  .action(serve);
program.command('migrate').description('bring the database schema up to date and exit').option('-c, --config <file>', CONFIG_OPTION).action(migrate);
program.command('check').description('check the configuration, and whether database, backend and management server would serve the gateway (changes nothing)').option('-c, --config <file>', CONFIG_OPTION).action(check);

program
  .command('demo')
  .description('on 127.0.0.1: a registry, the gateway in front of it, two images and a user; prints the pull commands (Ctrl-C stops it)')
  .option('--data-dir <dir>', 'where the demo keeps its registry storage, database, configuration and logs', 'data/demo')
  .option('--port <port>', 'port for the gateway, if free (else any free port)', '5050')
  .action(demo);

program
  .command('token-certificates')
  .description("print the PEM certificates of the keys that sign the gateway's tokens (a registry's auth.token.rootcertbundle)")
  .option('-c, --config <file>', CONFIG_OPTION)
  .action(tokenCertificates);
program
  .command('rotate-signing-key')
  .description('add a new token signing key; the old one verifies until its tokens expire')
  .option('-c, --config <file>', CONFIG_OPTION)
  .option('--activate-in <seconds>', 'start signing with it after this many seconds (time to update registries)', '0')
  .action(rotate);

program
  .command('import-kcg')
  .description("take over from smart_proxy_container_gateway: import its repositories, users, hosts, mappings and unexpired tokens; print the equivalent configuration")
  .option('-c, --config <file>', `${CONFIG_OPTION}: the database to import into`)
  .option('--settings <file>', "smart_proxy_container_gateway's settings", '/etc/foreman-proxy/settings.d/container_gateway.yml')
  .option('--proxy-settings <file>', "smart-proxy's own settings (Foreman URL, certificates, trusted hosts)", '/etc/foreman-proxy/settings.yml')
  .option('--database <url>', "its database, when not the one its settings name (sqlite://PATH or postgres://...)")
  .action(async (options: { config?: string; settings: string; proxySettings: string; database?: string }) => {
    const config = deployableOrExit(configOrExit(options.config));
    process.exit(await importFromKcg(config, options, { out: process.stdout, err: process.stderr }));
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`container-gateway: ${(error as Error).message}\n`);
  process.exit(1);
});

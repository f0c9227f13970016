/**
 * loadConfig: YAML file, then CG_* environment overrides, then the zod schema, then derived
 * forms. Every problem is reported as one line `path: problem`; the CLI prints them and exits 2.
 */
import { createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { parse as parseYaml } from 'yaml';
import type { GatewayConfig, PeerTlsMaterial } from './compiled.js';
import { overlayEnvironment } from './env-overlay.js';
import { configSchema, type RawConfig } from './schema.js';
import { parseHtpasswd } from '../providers/htpasswd.js';

export const DEFAULT_CONFIG_FILE = 'config/gateway.yaml';

/** What to do about a configuration file that cannot be read, by error code. */
const CONFIG_FILE_FIXES: Record<string, string> = {
  ENOENT: ': no such file. Fix: create it (config/gateway.example.yaml is a starting point), or name another with --config or CG_CONFIG',
  EACCES: ": permission denied. Fix: make it readable by the gateway's user",
  EISDIR: ': it is a directory. Fix: name the YAML file itself',
};

export type ConfigResult = { ok: true; config: GatewayConfig; source: string } | { ok: false; problems: string[] };

export interface ConfigSource {
  /** Explicit file (--config or CG_CONFIG); when absent, config/gateway.yaml if it exists. */
  readonly file?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export function loadConfig(source: ConfigSource = {}): ConfigResult {
  const env = source.env ?? process.env;
  const explicitFile = source.file ?? env.CG_CONFIG;
  const file = explicitFile ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);

  let fileSettings: Record<string, unknown> = {};
  if (file !== undefined) {
    const read = readYamlFile(file);
    if (typeof read === 'string') return { ok: false, problems: [read] };
    fileSettings = read;
  }

  const overlaid = overlayEnvironment(configSchema, fileSettings, env);
  const problems = [...overlaid.problems];
  const validated = validateAll(overlaid.settings, problems);
  if (validated === undefined) return { ok: false, problems };
  // The derived forms (listen addresses, URLs, files) are checked even when the schema found
  // problems, with the faulty keys at their defaults, so one run reports every problem.
  const derivedProblems: string[] = [];
  const compiled = compileConfig(validated.data, derivedProblems, validated.setAside);
  problems.push(...derivedProblems.filter((problem) => !validated.setAside.some((path) => problem.startsWith(`${path}:`) || problem.startsWith(`${path}.`))));
  if (problems.length > 0 || compiled === undefined) return { ok: false, problems };
  return { ok: true, config: compiled, source: file ?? '(built-in defaults)' };
}

/** Rounds of setting faulty keys aside; each round removes at least one, so a few suffice for any file. */
const MAX_VALIDATION_ROUNDS = 32;

/**
 * The schema's problems, all of them; then the same settings with each faulty key set aside
 * (so its default applies) until the rest validates, so that the later phases can look at
 * everything that was right. `setAside` lists the dotted paths that were removed.
 */
function validateAll(settings: Record<string, unknown>, problems: string[]): { data: RawConfig; setAside: string[] } | undefined {
  const working = structuredClone(settings);
  const setAside: string[] = [];
  const reported = new Set<string>();
  for (let round = 0; round < MAX_VALIDATION_ROUNDS; round += 1) {
    const parsed = configSchema.safeParse(working);
    if (parsed.success) return { data: parsed.data, setAside };
    let removed = false;
    for (const issue of parsed.error.issues) {
      const path = issue.path.map(String);
      const line = `${path.join('.') || '(top level)'}: ${issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message}`;
      // A key set aside may reveal a problem of its parent (a required key now missing): that is the same problem.
      if (!setAside.some((aside) => aside.startsWith(path.join('.'))) && !reported.has(line)) {
        reported.add(line);
        problems.push(line);
      }
      const targets = issue.code === 'unrecognized_keys' ? issue.keys.map((key) => [...path, key]) : [path];
      for (const target of targets) {
        if (target.length > 0 && removeAt(working, target)) {
          setAside.push(target.join('.'));
          removed = true;
        }
      }
    }
    if (!removed) return undefined;
  }
  return undefined;
}

/** Deletes settings[path]; a list element is removed from its list. False when there was nothing there. */
function removeAt(settings: Record<string, unknown>, path: readonly string[]): boolean {
  let node: unknown = settings;
  for (const segment of path.slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return false;
    node = (node as Record<string, unknown>)[segment];
  }
  const last = path[path.length - 1] ?? '';
  if (Array.isArray(node)) {
    const index = Number(last);
    if (!Number.isInteger(index) || index < 0 || index >= node.length) return false;
    node.splice(index, 1);
    return true;
  }
  if (typeof node !== 'object' || node === null || !Object.hasOwn(node, last)) return false;
  delete (node as Record<string, unknown>)[last];
  return true;
}

function readYamlFile(file: string): Record<string, unknown> | string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    return `config file ${file}: cannot read (${code})${CONFIG_FILE_FIXES[code] ?? ''}`;
  }
  try {
    const value: unknown = parseYaml(text);
    if (value === null || value === undefined) return {};
    if (typeof value !== 'object' || Array.isArray(value)) return `config file ${file}: top level must be a mapping`;
    return value as Record<string, unknown>;
  } catch (error) {
    const firstLine = (error as Error).message.split('\n')[0] ?? 'invalid YAML';
    return `config file ${file}: invalid YAML: ${firstLine}`;
  }
}

function compileConfig(raw: RawConfig, problems: string[], setAside: readonly string[] = []): GatewayConfig | undefined {
  const listen = parseListen(raw.server.listen);
  if (listen === undefined) problems.push(`server.listen: must be host:port (e.g. "127.0.0.1:5050" or "[::1]:5050"), got "${raw.server.listen}"`);

  const serverTls = raw.server.tls;
  let tls: GatewayConfig['server']['tls'];
  if (serverTls !== undefined) {
    const cert = readPem('server.tls.cert', serverTls.cert, problems);
    const key = readPem('server.tls.key', serverTls.key, problems);
    const clientCa = serverTls.clientCa === undefined ? undefined : readPem('server.tls.clientCa', serverTls.clientCa, problems);
    if (cert !== undefined && key !== undefined) {
      checkSecureContext('server.tls', { cert, key, ca: clientCa }, problems);
      tls = { cert, key, files: serverTls, ...(clientCa === undefined ? {} : { clientCa }) };
    }
  }

  const trustedProxySet = new BlockList();
  for (const entry of raw.server.trustedProxies) {
    if (!addTrustedProxy(trustedProxySet, entry)) problems.push(`server.trustedProxies: "${entry}" is not an IP address or CIDR`);
  }

  const proxyClientCa = raw.server.proxyClientCa === undefined ? tls?.clientCa : readPem('server.proxyClientCa', raw.server.proxyClientCa, problems);
  const serverTlsSetAside = setAside.some((path) => path === 'server' || path.startsWith('server.tls'));
  if (raw.management.clientCertCNs.length > 0 && tls?.clientCa === undefined && !serverTlsSetAside) {
    problems.push('management.clientCertCNs: needs server.tls.clientCa (client certificates are only requested when it is set)');
  }

  const metricsListen = raw.metrics.listen === null ? null : parseListen(raw.metrics.listen);
  if (metricsListen === undefined) problems.push(`metrics.listen: must be host:port, got "${raw.metrics.listen}"`);

  const scheme = tls === undefined ? 'http' : 'https';
  // A listen address that is no valid host:port was reported above; the URL is then only a placeholder.
  const listenUrl = `${scheme}://${raw.server.listen}`;
  if (listen !== undefined && raw.server.publicUrl === undefined && !URL.canParse(listenUrl)) problems.push(`server.listen: "${raw.server.listen}" is no host name or address a URL can hold`);
  const publicUrl = new URL(raw.server.publicUrl ?? (URL.canParse(listenUrl) ? listenUrl : `${scheme}://127.0.0.1`));

  const backendTls = raw.backend.tls === undefined ? undefined : readPeerTls('backend.tls', raw.backend.tls, problems);
  const upstreamTls = raw.upstream.tls === undefined ? undefined : readPeerTls('upstream.tls', raw.upstream.tls, problems);

  const identity = compileIdentity(raw.identity, problems);
  const tokens = compileTokens(raw.tokens, publicUrl, problems);

  if (listen === undefined || identity === undefined || problems.length > 0) return undefined;
  return {
    server: {
      listen,
      publicUrl,
      ...(tls === undefined ? {} : { tls }),
      trustedProxies: raw.server.trustedProxies,
      ...(proxyClientCa === undefined ? {} : { proxyClientCa }),
      clientCertificateHeader: raw.server.clientCertificateHeader,
      trustedProxySet,
      bodyLimitBytes: raw.server.bodyLimitBytes,
      requestTimeoutMs: raw.server.requestTimeoutMs,
      shutdownGraceSeconds: raw.server.shutdownGraceSeconds,
      workers: raw.server.workers,
    },
    database: raw.database,
    backend: {
      ...withoutTls(raw.backend),
      url: new URL(raw.backend.url),
      clientUrl: raw.backend.clientUrl === null ? null : new URL(raw.backend.clientUrl),
      allowedRealms: [new URL('/v2/token', publicUrl), ...(raw.backend.auth?.realms ?? []).map((realm) => new URL(realm))],
      ...(backendTls === undefined ? {} : { tls: backendTls }),
    },
    upstream: {
      ...withoutTls(raw.upstream),
      url: raw.upstream.url === null ? null : new URL(raw.upstream.url),
      ...(upstreamTls === undefined ? {} : { tls: upstreamTls }),
    },
    identity,
    tokens,
    management: raw.management,
    limits: raw.limits,
    audit: raw.audit,
    metrics: { listen: metricsListen ?? null },
    log: raw.log,
  };
}

function compileIdentity(raw: RawConfig['identity'], problems: string[]): GatewayConfig['identity'] | undefined {
  const { htpasswd, ...staticRest } = raw.static;
  let users: ReadonlyMap<string, string> = new Map();
  if (htpasswd !== null) {
    const text = readText('identity.static.htpasswd', htpasswd, problems);
    if (text !== undefined) {
      const parsed = parseHtpasswd(text);
      for (const problem of parsed.problems) problems.push(`identity.static.htpasswd: ${htpasswd} ${problem}`);
      users = parsed.users;
    }
  }
  for (const robot of raw.static.robots) {
    if (users.has(robot.username)) problems.push(`identity.static.robots: "${robot.username}" is also an htpasswd user`);
  }
  const { apiServer, tls: kubeTlsFiles, tokenFile, ...kubeRest } = raw.kubernetes;
  if (raw.providers.includes('kubernetes') && apiServer === null) problems.push('identity.kubernetes.apiServer: needed when identity.providers includes "kubernetes"');
  if (new Set(raw.providers).size !== raw.providers.length) problems.push('identity.providers: a provider is named twice');
  const kubeTls = kubeTlsFiles === undefined ? undefined : readPeerTls('identity.kubernetes.tls', kubeTlsFiles, problems);
  const bearerToken = tokenFile === null ? undefined : readText('identity.kubernetes.tokenFile', tokenFile, problems)?.trim();
  return {
    providers: raw.providers,
    static: { ...staticRest, users },
    kubernetes: {
      ...kubeRest,
      apiServer: apiServer === null ? null : new URL(apiServer),
      ...(kubeTls === undefined ? {} : { tls: kubeTls }),
      ...(bearerToken === undefined ? {} : { bearerToken }),
    },
  };
}

function compileTokens(raw: RawConfig['tokens'], publicUrl: URL, problems: string[]): GatewayConfig['tokens'] {
  const signingKeyPem = raw.signingKey === null ? undefined : readPem('tokens.signingKey', raw.signingKey, problems);
  if (signingKeyPem !== undefined) {
    try {
      const key = createPrivateKey(signingKeyPem);
      if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') problems.push('tokens.signingKey: must be an EC P-256 private key (ES256)');
    } catch (error) {
      problems.push(`tokens.signingKey: not a private key (${(error as Error).message})`);
    }
  }
  const verifyCertificates = raw.verifyCertificates
    .map((file, index) => readPem(`tokens.verifyCertificates.${index}`, file, problems))
    .filter((pem): pem is Buffer => pem !== undefined);
  return {
    issuer: raw.issuer ?? publicUrl.origin,
    services: raw.services.length > 0 ? raw.services : [publicUrl.host],
    lifetimeSeconds: raw.lifetimeSeconds,
    ...(signingKeyPem === undefined ? {} : { signingKeyPem }),
    verifyCertificates,
  };
}

function readText(path: string, file: string, problems: string[]): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    problems.push(`${path}: cannot read file "${file}" (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}

function withoutTls<T extends { tls?: unknown }>(section: T): Omit<T, 'tls'> {
  const { tls: _files, ...rest } = section;
  return rest;
}

export function parseListen(listen: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen);
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  return { host: match[1] ?? match[2] ?? '', port };
}

function addTrustedProxy(list: BlockList, entry: string): boolean {
  const [address = '', prefixText, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (prefixText === undefined) {
    list.addAddress(address, type);
    return true;
  }
  if (!/^\d{1,3}$/.test(prefixText)) return false;
  const prefix = Number(prefixText);
  if (prefix > (family === 4 ? 32 : 128)) return false;
  list.addSubnet(address, prefix, type);
  return true;
}

function readPem(path: string, file: string, problems: string[]): Buffer | undefined {
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (error) {
    problems.push(`${path}: cannot read file "${file}" (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
  if (!content.includes('-----BEGIN ')) {
    problems.push(`${path}: "${file}" is not a PEM file`);
    return undefined;
  }
  return content;
}

function readPeerTls(path: string, files: { ca?: string; cert?: string; key?: string }, problems: string[]): PeerTlsMaterial {
  const material: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  if (files.ca !== undefined) material.ca = readPem(`${path}.ca`, files.ca, problems);
  if (files.cert !== undefined) material.cert = readPem(`${path}.cert`, files.cert, problems);
  if (files.key !== undefined) material.key = readPem(`${path}.key`, files.key, problems);
  if (material.cert !== undefined && material.key !== undefined) checkSecureContext(path, material, problems);
  return material;
}

/** Catches a key that does not belong to its certificate, or an unparsable PEM, at start. */
function checkSecureContext(path: string, material: PeerTlsMaterial, problems: string[]): void {
  try {
    createSecureContext({ cert: material.cert, key: material.key, ...(material.ca === undefined ? {} : { ca: material.ca }) });
  } catch (error) {
    problems.push(`${path}: ${(error as Error).message}`);
  }
}

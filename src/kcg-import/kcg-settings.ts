/**
 * smart_proxy_container_gateway's settings (`/etc/foreman-proxy/settings.d/container_gateway.yml`)
 * and the smart-proxy settings it inherits from (`/etc/foreman-proxy/settings.yml`), read as KCG
 * reads them (container_gateway.rb: `default_settings`, `load_programmable_settings`, the database
 * wiring), and turned into this gateway's configuration. Pure: text in, values out.
 *
 * Ruby YAML writes symbol keys as `:name:`; both that and plain keys are accepted.
 */
import { parse } from 'yaml';

export interface KcgSettings {
  /** Pulp's base; KCG calls `<pulp_endpoint>/pulpcore_registry/v2/...`. */
  readonly pulpEndpoint: string | undefined;
  readonly pulpClientSsl: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  readonly katelloRegistryPath: string;
  readonly clientEndpoint: string | undefined;
  /** Where KCG keeps its data: a Sequel connection string (postgres://, sqlite://) or undefined. */
  readonly databaseUrl: string | undefined;
}

/** The parts of smart-proxy's settings.yml the gateway needs in KCG's place. */
export interface ProxySettings {
  readonly foremanUrl?: string;
  readonly foremanSsl: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  readonly ssl: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  readonly trustedHosts: readonly string[];
  readonly httpsPort?: number;
}

export class KcgSettingsInvalid extends Error {}

function symbolKeyed(text: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = parse(text);
  } catch (error) {
    throw new KcgSettingsInvalid(`${what} is not YAML: ${(error as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new KcgSettingsInvalid(`${what} is not a YAML mapping`);
  return Object.fromEntries(Object.entries(parsed as Record<string, unknown>).map(([key, value]) => [key.replace(/^:/, ''), value]));
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined);

export function parseKcgSettings(yamlText: string, proxy?: ProxySettings): KcgSettings {
  const settings = symbolKeyed(yamlText, 'the container_gateway settings');
  const sqlitePath = text(settings.sqlite_db_path);
  return {
    pulpEndpoint: text(settings.pulp_endpoint),
    // load_programmable_settings: the client certificate defaults to smart-proxy's foreman_ssl_*.
    pulpClientSsl: {
      ...optional('ca', text(settings.pulp_client_ssl_ca) ?? proxy?.foremanSsl.ca),
      ...optional('cert', text(settings.pulp_client_ssl_cert) ?? proxy?.foremanSsl.cert),
      ...optional('key', text(settings.pulp_client_ssl_key) ?? proxy?.foremanSsl.key),
    },
    katelloRegistryPath: text(settings.katello_registry_path) ?? '/v2/',
    clientEndpoint: text(settings.client_endpoint),
    // container_gateway.rb: db_connection_string, else the legacy sqlite_db_path.
    databaseUrl: text(settings.db_connection_string) ?? (sqlitePath === undefined ? undefined : `sqlite://${sqlitePath}`),
  };
}

export function parseProxySettings(yamlText: string): ProxySettings {
  const settings = symbolKeyed(yamlText, 'the smart-proxy settings');
  const trusted = Array.isArray(settings.trusted_hosts) ? settings.trusted_hosts.filter((host): host is string => typeof host === 'string') : [];
  const port = typeof settings.https_port === 'number' ? settings.https_port : undefined;
  return {
    ...optional('foremanUrl', text(settings.foreman_url)),
    foremanSsl: { ...optional('ca', text(settings.foreman_ssl_ca)), ...optional('cert', text(settings.foreman_ssl_cert)), ...optional('key', text(settings.foreman_ssl_key)) },
    ssl: { ...optional('ca', text(settings.ssl_ca_file)), ...optional('cert', text(settings.ssl_certificate)), ...optional('key', text(settings.ssl_private_key)) },
    trustedHosts: trusted,
    ...optional('httpsPort', port),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/**
 * The gateway configuration that does what KCG did: Pulp behind `/pulpcore_registry` with KCG's
 * client certificate, redirects rewritten to client_endpoint, logins at Foreman's registry path,
 * and — with smart-proxy's settings — the proxy's own TLS certificate, its CA for client
 * certificates, and Foreman (trusted_hosts) as the management caller.
 */
export function gatewayConfigFor(settings: KcgSettings, proxy?: ProxySettings): Record<string, unknown> {
  const ssl = proxy?.ssl;
  const serverTls = ssl?.cert !== undefined && ssl.key !== undefined ? { cert: ssl.cert, key: ssl.key, ...optional('clientCa', ssl.ca) } : undefined;
  const pulpTls = settings.pulpClientSsl;
  const foremanCa = proxy?.foremanSsl.ca;
  return {
    ...(serverTls === undefined ? {} : { server: { tls: serverTls } }),
    backend: {
      ...optional('url', settings.pulpEndpoint === undefined ? undefined : `${settings.pulpEndpoint.replace(/\/+$/, '')}/pulpcore_registry`),
      mode: 'redirect',
      ...optional('clientUrl', settings.clientEndpoint),
      ...(Object.keys(pulpTls).length === 0 ? {} : { tls: pulpTls }),
    },
    upstream: {
      ...optional('url', proxy?.foremanUrl),
      registryPath: settings.katelloRegistryPath,
      ...(foremanCa === undefined ? {} : { tls: { ca: foremanCa } }),
    },
    identity: { providers: ['katello'] },
    ...(proxy === undefined || proxy.trustedHosts.length === 0 ? {} : { management: { clientCertCNs: [...proxy.trustedHosts] } }),
  };
}

/**
 * The configuration the gateway's own registries run with (the demo's, the tests'): CNCF
 * Distribution on one loopback address, filesystem storage in a directory of ours, no auth, blobs
 * served by the registry itself (no storage redirects), quiet logs. Never Debian's
 * /etc/docker/registry/config.yml, which turns on htpasswd auth and listens on every interface.
 */
import { randomBytes } from 'node:crypto';

export interface RegistryConfigOptions {
  /** `http.prefix`: the API under a path, as Pulp behind a capsule's Apache at `/pulpcore_registry/`. */
  readonly prefix?: string;
  /** `storage.delete.enabled`; default true. */
  readonly deleteEnabled?: boolean;
}

export function registryConfigYaml(storageDirectory: string, port: number, options: RegistryConfigOptions = {}): string {
  // JSON strings are valid YAML scalars, which keeps odd paths safe.
  const q = (value: string): string => JSON.stringify(value);
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  formatter: text',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(storageDirectory)}`,
    '  delete:',
    `    enabled: ${options.deleteEnabled === false ? 'false' : 'true'}`,
    '  redirect:',
    '    disable: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${q(`127.0.0.1:${port}`)}`,
    ...(options.prefix === undefined ? [] : [`  prefix: ${q(options.prefix)}`]),
    `  secret: ${q(randomBytes(16).toString('hex'))}`,
    '  headers:',
    '    X-Content-Type-Options: [nosniff]',
    'health:',
    '  storagedriver:',
    '    enabled: false',
    '',
  ].join('\n');
}

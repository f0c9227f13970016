/**
 * startTokenAuthRegistry: a real Distribution running `auth: token` whose one trusted signer is
 * a fresh EC P-256 key, written to `dir` (signing.key, and its certificate signing.crt for the
 * registry's rootcertbundle). Its realm is a gateway that will listen on `port` (a free port
 * chosen here), unless `realm` names another token service.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { signingKeyFromPem } from '../../src/token/signing-keys.js';
import { findFreePort, startRegistry, type RunningRegistry, type StartRegistryOptions } from '../integration/harness/registry.js';

export interface TokenAuthRegistry {
  readonly registry: RunningRegistry;
  /** Where the gateway should listen: the registry's realm points there. */
  readonly port: number;
  /** The signing key (PEM) the registry trusts, for tokens.signingKey. */
  readonly keyFile: string;
  /**
   * The gateway settings that make it this registry's token service and let it in with a robot:
   * its signing key and issuer, the registry's service among its own, and the robot credential.
   */
  gatewayEnv(robot: { username: string; password: string }): Record<string, string>;
}

export async function startTokenAuthRegistry(dir: string, options: { issuer: string; service: string; realm?: string; registry?: Omit<StartRegistryOptions, 'auth'> }): Promise<TokenAuthRegistry> {
  const keyFile = join(dir, 'signing.key');
  const certificateFile = join(dir, 'signing.crt');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  writeFileSync(keyFile, pem);
  writeFileSync(certificateFile, (await signingKeyFromPem(pem, Date.now())).certificate);
  const port = await findFreePort();
  const realm = options.realm ?? `http://127.0.0.1:${port}/v2/token`;
  const registry = await startRegistry({ ...options.registry, auth: { token: { realm, service: options.service, issuer: options.issuer, rootcertbundle: certificateFile } } });
  return {
    registry,
    port,
    keyFile,
    gatewayEnv: (robot) => ({
      CG_BACKEND_AUTH_USERNAME: robot.username,
      CG_BACKEND_AUTH_PASSWORD: robot.password,
      CG_TOKENS_ISSUER: options.issuer,
      CG_TOKENS_SERVICES: `127.0.0.1:${port},${options.service}`,
      CG_TOKENS_SIGNING_KEY: keyFile,
    }),
  };
}

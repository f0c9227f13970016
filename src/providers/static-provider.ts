/**
 * The `static` provider: users from an htpasswd file (bcrypt) and robot accounts from the
 * config, with access rules in the config. Every comparison takes the same time whether or not
 * the user exists (a bcrypt check against a dummy hash), as CNCF Distribution's htpasswd does.
 */
import bcrypt from 'bcryptjs';
import type { Identity } from '../access/identity.js';
import type { RepositoryAction } from '../access/required-access.js';
import { compileRules } from '../access/static-rules.js';
import type { GatewayConfig } from '../config/compiled.js';
import type { BasicCredentials } from '../token/basic-credentials.js';
import { secretsEqual } from '../token/checksum.js';
import type { PasswordChecks } from './password-checks.js';
import type { IdentityProvider, LoginOutcome } from './provider.js';

/** A bcrypt hash of nothing anyone knows, checked for unknown users so they cost the same (made once, at cost 10 as `htpasswd -B`). */
const dummyHash = bcrypt.hashSync('container-gateway: no such user', 10);

/** Every bcrypt check goes through `checks` (worker threads), never the event loop. */
export function createStaticProvider(initial: GatewayConfig['identity']['static'], checks: PasswordChecks): IdentityProvider {
  let current = compile(initial);

  async function passwordMatches(credentials: BasicCredentials): Promise<boolean> {
    const { robots, users } = current;
    const robotSecret = robots.get(credentials.username);
    if (robotSecret !== undefined && !isBcrypt(robotSecret)) {
      // A plain robot secret costs a bcrypt check too, so timing does not tell robots from unknown users.
      await checks.compare(credentials.password, dummyHash);
      return secretsEqual(credentials.password, robotSecret);
    }
    const hash = robotSecret ?? users.get(credentials.username);
    const matches = await checks.compare(credentials.password, hash ?? dummyHash);
    return matches && hash !== undefined;
  }

  return {
    name: 'static',
    async login(credentials): Promise<LoginOutcome> {
      if (!(await passwordMatches(credentials))) return { kind: 'rejected' };
      return { kind: 'accepted', identity: { kind: 'user', username: credentials.username, provider: 'static' } };
    },
    listsWholeCatalog: (identity) => identity.provider === 'static' && current.robots.has(identity.username),
    actionsFor(identity: Identity, repository: string, wanted: readonly RepositoryAction[]) {
      const granted = current.rules.actionsFor(identity, repository);
      return granted.length === 0 ? granted : granted.filter((action) => wanted.includes(action));
    },
    reload(config) {
      current = compile(config.static);
    },
  };
}

function compile(config: GatewayConfig['identity']['static']) {
  return {
    rules: compileRules(config.rules, config.groups),
    robots: new Map(config.robots.map((robot) => [robot.username, robot.password])),
    users: config.users,
  };
}

function isBcrypt(secret: string): boolean {
  return /^\$2[aby]\$\d\d\$/.test(secret);
}

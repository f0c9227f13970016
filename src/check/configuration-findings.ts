/**
 * configurationFindings: settings that are valid but cannot work as the operator most likely
 * meant — no management credentials while Katello is to push repository lists, or no identity
 * provider that can log anybody in. Pure: the configuration in, plain sentences out. `check`
 * prints them as warnings, and `serve` says them once at start.
 */
import type { GatewayConfig } from '../config/compiled.js';

export interface Finding {
  /** What `check` prints in its second column. */
  readonly what: 'management' | 'logins';
  readonly text: string;
}

/** Why each configured provider cannot log anybody in; no entry for one that can. */
function unusableProviders(identity: GatewayConfig['identity'], upstream: GatewayConfig['upstream']): string[] {
  return identity.providers.flatMap((name) => {
    switch (name) {
      case 'katello':
        return upstream.url === null ? ['katello needs upstream.url (the Katello/Foreman server), which is not set'] : [];
      case 'static':
        return identity.static.users.size === 0 && identity.static.robots.length === 0 ? ['static has no users (identity.static.htpasswd) and no robots (identity.static.robots)'] : [];
      case 'kubernetes':
        return identity.kubernetes.apiServer === null ? ['kubernetes needs identity.kubernetes.apiServer'] : [];
    }
  });
}

export function configurationFindings(config: GatewayConfig): Finding[] {
  const findings: Finding[] = [];
  const { tokens, clientCertCNs } = config.management;
  if (config.identity.providers.includes('katello') && tokens.length === 0 && clientCertCNs.length === 0) {
    findings.push({
      what: 'management',
      text: 'no management credentials: the management API, where Katello pushes repository lists and mappings, refuses everyone (401), so no repository becomes visible. Fix: set management.tokens (CG_MANAGEMENT_TOKENS) to a long random secret and give Katello the same one',
    });
  }
  const unusable = unusableProviders(config.identity, config.upstream);
  if (unusable.length === config.identity.providers.length) {
    findings.push({
      what: 'logins',
      text: `nobody can log in (${unusable.join('; ')}): every login fails, and only anonymous pulls of public repositories work. Fix: set what is missing, or choose other identity.providers`,
    });
  } else {
    for (const reason of unusable) findings.push({ what: 'logins', text: `identity provider ${reason}: it is skipped at every login` });
  }
  return findings;
}

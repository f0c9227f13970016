/** Valid settings that cannot work as meant: said by check and at serve's start. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configurationFindings } from '../../../src/check/configuration-findings.js';
import { testConfig } from '../../support/config.js';

const findingsOf = (env: Record<string, string>) => configurationFindings(testConfig(env)).map((finding) => `${finding.what}: ${finding.text}`);

describe('configurationFindings', () => {
  it('Katello without management credentials: nothing can push the repository list', () => {
    const findings = findingsOf({ CG_MANAGEMENT_TOKENS: '', CG_UPSTREAM_URL: 'https://foreman.example' });
    assert.equal(findings.length, 1);
    assert.match(findings[0] ?? '', /^management: no management credentials: .*refuses everyone \(401\).*Fix: set management\.tokens \(CG_MANAGEMENT_TOKENS\)/);
  });

  it('only the static provider: the management API is optional, no warning', () => {
    assert.deepEqual(findingsOf({ CG_MANAGEMENT_TOKENS: '', CG_IDENTITY_PROVIDERS: 'static', CG_IDENTITY_STATIC_ROBOTS: '[{username: ci, password: pw}]' }), []);
  });

  it('no provider can log anybody in: said once, with every reason', () => {
    const findings = findingsOf({ CG_IDENTITY_PROVIDERS: 'katello,static' });
    assert.equal(findings.length, 1);
    assert.match(findings[0] ?? '', /^logins: nobody can log in \(katello needs upstream\.url .*; static has no users .*and no robots/);
  });

  it('one unusable provider beside a usable one is named on its own', () => {
    const findings = findingsOf({ CG_IDENTITY_PROVIDERS: 'katello,static', CG_IDENTITY_STATIC_ROBOTS: '[{username: ci, password: pw}]' });
    assert.deepEqual(findings, ['logins: identity provider katello needs upstream.url (the Katello/Foreman server), which is not set: it is skipped at every login']);
  });

  it('a complete Katello configuration has nothing to say', () => {
    assert.deepEqual(findingsOf({ CG_UPSTREAM_URL: 'https://foreman.example' }), []);
  });
});

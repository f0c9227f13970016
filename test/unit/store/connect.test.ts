/** What reports and logs show of a database URL: never a secret, wherever in the URL it was given. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeDatabaseUrl } from '../../../src/store/connect.js';

describe('describeDatabaseUrl', () => {
  it('hides the password of the user part and the secrets node-postgres reads from the query', () => {
    assert.equal(describeDatabaseUrl('postgres://gw:s3cret@db.example:5432/gw'), 'postgres://gw:***@db.example:5432/gw');
    const shown = describeDatabaseUrl('postgresql://gw@db.example/gw?password=s3cret&sslmode=verify-full&sslpassword=k3y&PASSWORD=x');
    assert.doesNotMatch(shown, /s3cret|k3y|=x\b/);
    assert.match(shown, /sslmode=verify-full/);
  });

  it('shows a SQLite path as it is, and a malformed PostgreSQL URL without any part of it', () => {
    assert.equal(describeDatabaseUrl('sqlite:///var/lib/container-gateway/gateway.db'), 'sqlite:///var/lib/container-gateway/gateway.db');
    assert.equal(describeDatabaseUrl('postgres://gw:s3cret@db:99999/gw'), 'postgres://(a malformed URL)');
  });
});

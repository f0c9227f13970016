/**
 * The encoder the fake Katello pushes with produces rest-client 2.1's bytes
 * (lib/restclient/utils.rb: flatten_params, encode_query_string, escape), for the payloads
 * smart_proxy_extensions.rb builds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeRestClientForm, escape } from './rest-client-form.js';

describe('rest-client form encoding', () => {
  const table: Array<[string, Parameters<typeof encodeRestClientForm>[0], string]> = [
    ['a repository list', { repositories: [{ repository: 'org/busybox', auth_required: true }, { repository: 'lib', auth_required: false }] }, 'repositories[][repository]=org%2Fbusybox&repositories[][auth_required]=true&repositories[][repository]=lib&repositories[][auth_required]=false'],
    ['an empty repository list: a bare key', { repositories: [] }, 'repositories'],
    ['a user with no repositories: a bare key', { users: [{ bob: [] }] }, 'users[][bob]'],
    ['a login with characters that are escaped inside the brackets', { users: [{ 'bob@example.com x': [{ repository: 'r', auth_required: true }] }] }, 'users[][bob%40example.com+x][][repository]=r&users[][bob%40example.com+x][][auth_required]=true'],
    ['a facet without a UUID', { hosts: [{ uuid: 'u-1' }, { uuid: null }] }, 'hosts[][uuid]=u-1&hosts[][uuid]'],
    ['a nil UUID as a mapping key', { hosts: [{ '': [{ repository: 'r', auth_required: true }] }] }, 'hosts[][][][repository]=r&hosts[][][][auth_required]=true'],
  ];
  for (const [what, payload, wire] of table) {
    it(what, () => assert.equal(encodeRestClientForm(payload), wire));
  }

  it('escapes as Ruby URI.encode_www_form_component does', () => {
    assert.equal(escape('a b*-._~!/é'), 'a+b*-._%7E%21%2F%C3%A9');
  });
});

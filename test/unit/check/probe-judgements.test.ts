/** What the backend's and the management server's answers mean for the gateway: rules as a table. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeBackendAnswer } from '../../../src/check/backend-probe.js';
import { describeNetworkFailure } from '../../../src/check/network-failure.js';
import { judgeUpstreamAnswer } from '../../../src/check/upstream-probe.js';

const backend = (statusCode: number, extra: { challenge?: string; location?: string } = {}) => ({ statusCode, challenge: extra.challenge, apiVersion: 'registry/2.0', location: extra.location });

describe('judgeBackendAnswer', () => {
  const cases: Array<[string, ReturnType<typeof backend>, boolean, RegExp | 'ask-with-credentials']> = [
    ['a registry that answers /v2/ serves the gateway', backend(200), false, /^ok .*answers \/v2\/ \(200, API version registry\/2\.0\)/],
    ['a registry that wants credentials the gateway does not have refuses every pull', backend(401, { challenge: 'Basic realm="Registry Realm"' }), false, /^FAIL .*refuses the gateway: \/v2\/ answered 401 \(Basic challenge\) and backend\.auth is not set, so every pull would fail with 502\. Fix: set backend\.auth/],
    ['a registry that wants credentials the gateway has: ask again with them', backend(401, { challenge: 'Bearer realm="https://auth"' }), true, 'ask-with-credentials'],
    ['a URL that is not the registry API (404) is a failure naming backend.url', backend(404), false, /^FAIL .*no registry API at \/v2\/ \(404\)\. Fix: backend\.url/],
    ['a redirect of /v2/ is a failure naming where it goes', backend(302, { location: 'https://login.example/' }), false, /^FAIL .*redirects \/v2\/ \(302 to https:\/\/login\.example\/\)/],
    ['a failing registry is a failure', backend(503), false, /^FAIL .*HTTP 503/],
  ];
  for (const [rule, answer, hasAuth, expected] of cases) {
    it(rule, () => {
      const verdict = judgeBackendAnswer(answer, 'http://registry:5000', hasAuth);
      if (expected === 'ask-with-credentials') assert.equal(verdict, expected);
      else assert.match(typeof verdict === 'string' ? verdict : `${verdict.status} ${verdict.detail}`, expected);
    });
  }
});

describe('judgeUpstreamAnswer', () => {
  const endpoint = 'https://foreman.example/v2/token';
  const answer = (statusCode: number, body = '', contentType = 'application/json', location?: string) => ({ statusCode, body, contentType, location });
  const cases: Array<[string, ReturnType<typeof answer>, RegExp]> = [
    ['Katello answers a token without credentials ("unauthenticated")', answer(200, '{"token":"unauthenticated"}'), /^ok .*answers with a token/],
    ['a token endpoint that asks for credentials is fine', answer(401, '{}'), /^ok .*401: asks for credentials/],
    ['a 404 means the URL or registry path is wrong', answer(404, 'Not Found', 'text/plain'), /^FAIL .*does not exist \(404\), so every login would fail\. Fix: upstream\.url must be/],
    ['a redirect to a login page is not a token endpoint', answer(302, '', 'text/html', 'https://foreman.example/users/login'), /^FAIL .*redirects \(302\) to https:\/\/foreman\.example\/users\/login/],
    ['an HTML page with 200 is not a token endpoint', answer(200, '<html>Foreman</html>', 'text/html'), /^FAIL .*answered 200 with text\/html, not a registry token/],
    ['a failing server is a failure', answer(500), /^FAIL .*HTTP 500/],
  ];
  for (const [rule, given, expected] of cases) {
    it(rule, () => {
      const verdict = judgeUpstreamAnswer(given, endpoint);
      assert.match(`${verdict.status} ${verdict.detail}`, expected);
    });
  }
});

describe('describeNetworkFailure', () => {
  const failure = (code: string, message = 'x') => Object.assign(new Error(message), { code });
  const cases: Array<[string, unknown, RegExp, RegExp]> = [
    ['nothing listening', failure('ECONNREFUSED'), /refuses connections/, /start it, or correct backend\.url/],
    ['an unknown host', failure('ENOTFOUND'), /does not resolve/, /correct backend\.url/],
    ['a certificate signed by a CA the gateway does not know', failure('DEPTH_ZERO_SELF_SIGNED_CERT'), /TLS certificate is not trusted/, /set backend\.tls\.ca/],
    ['the code of a wrapped cause (fetch failed)', new TypeError('fetch failed', { cause: failure('SELF_SIGNED_CERT_IN_CHAIN') }), /not trusted \(SELF_SIGNED_CERT_IN_CHAIN\)/, /backend\.tls\.ca/],
    ['a timeout', failure('UND_ERR_CONNECT_TIMEOUT'), /did not answer in time/, /firewall/],
  ];
  for (const [rule, error, problem, fix] of cases) {
    it(rule, () => {
      const diagnosis = describeNetworkFailure(error, 'https://registry:5000', 'backend');
      assert.match(diagnosis.problem, problem);
      assert.match(diagnosis.fix, fix);
    });
  }
});

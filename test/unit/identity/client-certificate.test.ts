/**
 * Client certificates as identity (src/identity/client-certificate.ts): the PEM forms a
 * TLS-terminating proxy sends (normalisePem), which peer addresses count as a trusted proxy
 * (isTrustedPeer), and what the certificate reader makes of a TLS peer or a header certificate.
 *
 * The certificates below are fixed fixtures (EC P-256, made once with openssl 3.0): a CA, host
 * certificates it signed (valid 2026..2126; the reader is given a fixed "now" of 2030), one from
 * a foreign CA, an expired one (2020-01-01..02), one not valid before 2100, and two whose subject
 * is not a host (a CN that is no UUID, no CN at all).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { BlockList } from 'node:net';
import { describe, it } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { certificateHeaderProblem, createCertificateReader, DEFAULT_CERTIFICATE_HEADER, normalisePem } from '../../../src/identity/client-certificate.js';
import { isTrustedPeer } from '../../../src/http/trusted-peer.js';

const HOST_UUID = '0d6c1d8e-3f0a-4b8e-9a55-2f4f7c1e9b10';
const FOREIGN_UUID = '5b0e8a52-7d3c-4a61-8f0e-6c2b9d4e1a77';
const NOW = new Date('2030-06-01T00:00:00Z');

const CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBlTCCATugAwIBAgIUYK8xxaR02VwZaub3j3aP5ZjboDYwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMVW5pdCBUZXN0IENBMCAXDTI2MTEyMzA0MjY0MFoYDzIxMjYx
MDMwMDQyNjQwWjAXMRUwEwYDVQQDDAxVbml0IFRlc3QgQ0EwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAQ1a5OcT2mrmSffDby+ZcZJKIICK4ENGsqk3LLcazJgKNrq
S4ttYeM1K3yVS+CeG//0Mq2f49LHrcm/PZ7GLCE0o2MwYTAdBgNVHQ4EFgQUVe9e
8nvC2fJLR4PVp4+/+/FvekEwHwYDVR0jBBgwFoAUVe9e8nvC2fJLR4PVp4+/+/Fv
ekEwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwCgYIKoZIzj0EAwID
SAAwRQIhAJCMQ+tzbPLDH9N5oSllS8CO8/Gg2E5yvqcgfGl1mmGeAiA1hMiG5k2P
7DN5bF0HSudRNA7HHJdkffMH1z5AVXdVbg==
-----END CERTIFICATE-----
`;
const HOST_PEM = `-----BEGIN CERTIFICATE-----
MIIBpDCCAUqgAwIBAgIJAIpmrZDev2GXMAoGCCqGSM49BAMCMBcxFTATBgNVBAMM
DFVuaXQgVGVzdCBDQTAgFw0yNjExMjMwNDI2NDBaGA8yMTI2MTAzMDA0MjY0MFow
LzEtMCsGA1UEAwwkMGQ2YzFkOGUtM2YwYS00YjhlLTlhNTUtMmY0ZjdjMWU5YjEw
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDKQiXGv7vIiRvTIif2szF9iiXOBy
haE+TDWZgepc39q9HeAz27Uye/rA7mxkmOCaANIsItO1JHricChe0E9ztKNlMGMw
DAYDVR0TAQH/BAIwADATBgNVHSUEDDAKBggrBgEFBQcDAjAdBgNVHQ4EFgQUTy/y
32qXxYXNeb0G4YlsXT+KtiEwHwYDVR0jBBgwFoAUVe9e8nvC2fJLR4PVp4+/+/Fv
ekEwCgYIKoZIzj0EAwIDSAAwRQIgZ44zSSLvwoJNymezPGictZnMOVTJXG1sXn7B
Epo6fFQCIQCkM97dseOiObJ68+RkzIF2HnmMQGV54tU25cYOtWwHeQ==
-----END CERTIFICATE-----
`;
const FOREIGN_PEM = `-----BEGIN CERTIFICATE-----
MIIBojCCAUigAwIBAgIJAP1z3Sfbz0NKMAoGCCqGSM49BAMCMBUxEzARBgNVBAMM
CkZvcmVpZ24gQ0EwIBcNMjYxMTIzMDQyNjQwWhgPMjEyNjEwMzAwNDI2NDBaMC8x
LTArBgNVBAMMJDViMGU4YTUyLTdkM2MtNGE2MS04ZjBlLTZjMmI5ZDRlMWE3NzBZ
MBMGByqGSM49AgEGCCqGSM49AwEHA0IABAwr8MqAFjZdaxTiTBddB0iJLDQp6VZu
fRmbdXiactoU6YwlVohmDOv/6TB5gVkHt9cSkc7aAiSR+Gi9Jiahg9+jZTBjMAwG
A1UdEwEB/wQCMAAwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHQYDVR0OBBYEFDlUd04y
FdByromauwMrT0jAV2chMB8GA1UdIwQYMBaAFBG4GRjwFZAOvNhBo/XYy3fMgtwD
MAoGCCqGSM49BAMCA0gAMEUCIAnm6JBL29DzVT05oW/JbiV4A2E2pZUsEuCkOntS
7P5qAiEApXrr4y76Xd6nir98EKMWAYsEp8UunUWcbOJZkdLjGkI=
-----END CERTIFICATE-----
`;
const BAD_CN_PEM = `-----BEGIN CERTIFICATE-----
MIIBjzCCATWgAwIBAgIIIp7GoOPlLTowCgYIKoZIzj0EAwIwFzEVMBMGA1UEAwwM
VW5pdCBUZXN0IENBMCAXDTI2MTEyMzA0MjY0MFoYDzIxMjYxMDMwMDQyNjQwWjAb
MRkwFwYDVQQDDBBub3QgYSBob3N0IHV1aWQhMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEyfCryAVm/FnmQ/5eCxpdtAdxxTQSwT27QC6JhPHPRDWxjcXPmKEf+9nc
5NvvMMP0YfGa0mQ5YYNeqsmtvOK6nqNlMGMwDAYDVR0TAQH/BAIwADATBgNVHSUE
DDAKBggrBgEFBQcDAjAdBgNVHQ4EFgQUr8/HfEtli8gwxfYTpZrriTM7K1owHwYD
VR0jBBgwFoAUVe9e8nvC2fJLR4PVp4+/+/FvekEwCgYIKoZIzj0EAwIDSAAwRQIh
AOy7caFJCAdapDdqmNBYovcqTie67fWIzuzRlG6z86q3AiAeK0KClYscHuSJ7Fp4
ihxHyvFlMWDSmpFdKmAYkaSQLw==
-----END CERTIFICATE-----
`;
const NO_CN_PEM = `-----BEGIN CERTIFICATE-----
MIIBijCCATCgAwIBAgIIUc8Rg8jbD+EwCgYIKoZIzj0EAwIwFzEVMBMGA1UEAwwM
VW5pdCBUZXN0IENBMCAXDTI2MTEyMzA0MjY0MFoYDzIxMjYxMDMwMDQyNjQwWjAW
MRQwEgYDVQQKDAtFeGFtcGxlIE9yZzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IA
BFwcSlMHOGxnjDS+yWfPHxlzzJD4snFpikqvMRv6MvJTHpKvuu+CnM/xDTuDq34B
okVpuY9iYTJhSJ3teqahulajZTBjMAwGA1UdEwEB/wQCMAAwEwYDVR0lBAwwCgYI
KwYBBQUHAwIwHQYDVR0OBBYEFM8B5WSpHsSfUtPFQuqGodRrSh+vMB8GA1UdIwQY
MBaAFFXvXvJ7wtnyS0eD1aePv/vxb3pBMAoGCCqGSM49BAMCA0gAMEUCIBOYmr4U
myYEW4fUZCNEsJxXtt/2v39SwBp+/gPyxID6AiEAwUQKaoylm2oL1tvazyO7QIsf
ZM0xa8U5opbnba522lM=
-----END CERTIFICATE-----
`;
const EXPIRED_PEM = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgICEAAwCgYIKoZIzj0EAwIwFzEVMBMGA1UEAwwMVW5pdCBU
ZXN0IENBMB4XDTIwMDEwMTAwMDAwMFoXDTIwMDEwMjAwMDAwMFowLzEtMCsGA1UE
AwwkOWUxZjJhM2ItNGM1ZC00ZTZmLThhN2ItMWMyZDNlNGY1YTZiMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAErtjycSVV3INU0gTTS+yzQ9Yb47AICUDK1z8aiD6a
03u4e+WBMcJWttmiqu3IRdC0Z6LkXS6Q1G5IJ1bZTpH9UKNlMGMwDAYDVR0TAQH/
BAIwADATBgNVHSUEDDAKBggrBgEFBQcDAjAdBgNVHQ4EFgQUkGXgmcEatX12A3iJ
rBBr6O2awwcwHwYDVR0jBBgwFoAUVe9e8nvC2fJLR4PVp4+/+/FvekEwCgYIKoZI
zj0EAwIDSAAwRQIhANSMOqwrj744O1rqyvczXZelcUkZjfq2RPK6rblM32rzAiBG
wb2ONn2qJOaFdq8CJ5nS96G0qzHO4Hk0o9zyS11IFA==
-----END CERTIFICATE-----
`;
const NOT_YET_VALID_PEM = `-----BEGIN CERTIFICATE-----
MIIBnjCCAUWgAwIBAgICEAEwCgYIKoZIzj0EAwIwFzEVMBMGA1UEAwwMVW5pdCBU
ZXN0IENBMCIYDzIxMDAwMTAxMDAwMDAwWhgPMjEwMTAxMDEwMDAwMDBaMC8xLTAr
BgNVBAMMJDdhOGI5YzBkLTFlMmYtNGEzYi04YzRkLTVlNmY3YThiOWMwZDBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABINew3DA3dOUpU2EE4wesSK6Lus27K3N0Rn7
OsUfThGKQPRt1Xo09U5Is9hky6Y0A03asUK2jUsDABcuqFOSn5ujZTBjMAwGA1Ud
EwEB/wQCMAAwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHQYDVR0OBBYEFBR5rrHFtPxg
z/s+fIPFp1WVWb20MB8GA1UdIwQYMBaAFFXvXvJ7wtnyS0eD1aePv/vxb3pBMAoG
CCqGSM49BAMCA0cAMEQCIEuXkPfF7V3WZXuES23qLeB/123hkMt9zEbujOj9mrKO
AiBZpO/zhow1I0I16qNBaSw/Mm0bL49twJvX2mmrzpGz+w==
-----END CERTIFICATE-----
`;

const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;

/** Apache (`RequestHeader set X-RHSM-SSL-Client-Cert "%{SSL_CLIENT_CERT}s"`): newlines become spaces. */
const spaceFolded = (pem: string) => pem.trim().replaceAll('\n', ' ');
/** nginx `$ssl_client_escaped_cert`: URL-escaped. */
const urlEscaped = (pem: string) => encodeURIComponent(pem);
/** nginx's older `$ssl_client_cert`: every line after the first starts with a tab. */
const tabFolded = (pem: string) => pem.trim().replaceAll('\n', '\n\t');

describe('normalisePem', () => {
  const forms: Array<[string, string]> = [
    ['a clean PEM', HOST_PEM],
    ['CRLF line ends', HOST_PEM.replaceAll('\n', '\r\n')],
    ['no trailing newline, surrounding blanks', `  ${HOST_PEM.trim()}  `],
    ['URL-escaped (nginx $ssl_client_escaped_cert)', urlEscaped(HOST_PEM)],
    ['only newlines and spaces escaped', HOST_PEM.replaceAll('\n', '%0A').replaceAll(' ', '%20')],
    ['space-folded (Apache)', spaceFolded(HOST_PEM)],
    ['tab-folded (nginx $ssl_client_cert)', tabFolded(HOST_PEM)],
    ['tab-folded with the newlines already gone', tabFolded(HOST_PEM).replaceAll('\n', '')],
    ['one line of base64 (no line breaks at all)', `-----BEGIN CERTIFICATE-----${HOST_PEM.split('\n').slice(1, -2).join('')}-----END CERTIFICATE-----`],
  ];
  for (const [name, value] of forms) {
    it(`turns ${name} into the clean PEM`, () => {
      const pem = normalisePem(value);
      assert.equal(pem, HOST_PEM);
      assert.equal(fingerprintOf(pem), fingerprintOf(HOST_PEM));
    });
  }

  it('keeps the first certificate of a chain (the client\'s own)', () => {
    assert.equal(normalisePem(`${HOST_PEM}${CA_PEM}`), HOST_PEM);
    assert.equal(normalisePem(spaceFolded(`${HOST_PEM}${CA_PEM}`)), HOST_PEM);
  });

  it('answers undefined for "(null)" (Apache without a client certificate), blanks and non-certificates', () => {
    for (const value of ['(null)', ' (null) ', '', '   ', '\t', 'garbage', 'null', '-----BEGIN CERTIFICATE----- MIIB', 'MIIBpDCCAUqgAwIBAgIJAIpmrZDev2GX', '-----BEGIN PRIVATE KEY----- AAAA -----END PRIVATE KEY-----']) {
      assert.equal(normalisePem(value), undefined, JSON.stringify(value));
    }
  });

  it('does not throw on a broken URL escape', () => {
    assert.equal(normalisePem(`${urlEscaped(HOST_PEM)}%E0%A4%A`), undefined);
    assert.equal(normalisePem('%'), undefined);
  });
});

describe('isTrustedPeer', () => {
  const listOf = (...entries: Array<[string, 'ipv4' | 'ipv6', number?]>) => {
    const list = new BlockList();
    for (const [address, type, prefix] of entries) {
      if (prefix === undefined) list.addAddress(address, type);
      else list.addSubnet(address, prefix, type);
    }
    return list;
  };

  it('an IPv4 proxy matches its plain and its IPv4-mapped IPv6 form', () => {
    const trusted = listOf(['127.0.0.1', 'ipv4']);
    assert.equal(isTrustedPeer('127.0.0.1', trusted), true);
    assert.equal(isTrustedPeer('::ffff:127.0.0.1', trusted), true);
    assert.equal(isTrustedPeer('::FFFF:127.0.0.1', trusted), true);
    assert.equal(isTrustedPeer('127.0.0.2', trusted), false);
    assert.equal(isTrustedPeer('::ffff:127.0.0.2', trusted), false);
    assert.equal(isTrustedPeer('::1', trusted), false);
  });

  it('subnets, IPv4 and IPv6', () => {
    const trusted = listOf(['10.0.0.0', 'ipv4', 8], ['fd00::', 'ipv6', 8]);
    assert.equal(isTrustedPeer('10.200.3.4', trusted), true);
    assert.equal(isTrustedPeer('::ffff:10.200.3.4', trusted), true);
    assert.equal(isTrustedPeer('11.0.0.1', trusted), false);
    assert.equal(isTrustedPeer('fd12:3456::1', trusted), true);
    assert.equal(isTrustedPeer('fe80::1', trusted), false);
  });

  it('an IPv6 proxy matches itself only', () => {
    const trusted = listOf(['::1', 'ipv6']);
    assert.equal(isTrustedPeer('::1', trusted), true);
    assert.equal(isTrustedPeer('127.0.0.1', trusted), false);
  });

  it('no address, an empty list or a garbage address: not trusted, no exception', () => {
    assert.equal(isTrustedPeer(undefined, listOf(['127.0.0.1', 'ipv4'])), false);
    assert.equal(isTrustedPeer('127.0.0.1', new BlockList()), false);
    assert.equal(isTrustedPeer('::ffff:127.0.0.1', new BlockList()), false);
    assert.equal(isTrustedPeer('not-an-address', listOf(['127.0.0.1', 'ipv4'])), false);
  });
});

describe('createCertificateReader', () => {
  const trustLoopback = new BlockList();
  trustLoopback.addAddress('127.0.0.1', 'ipv4');

  interface FakeSocket {
    remoteAddress?: string;
    encrypted?: boolean;
    authorized?: boolean;
    authorizationError?: string;
    getPeerCertificate?: () => Record<string, unknown>;
  }
  const request = (socket: FakeSocket, headers: Record<string, string> = {}) => ({ raw: { socket }, headers }) as unknown as FastifyRequest;
  const plain = (remoteAddress = '127.0.0.1'): FakeSocket => ({ remoteAddress });
  const tls = (peer: Record<string, unknown>, authorized: boolean, authorizationError?: string): FakeSocket & { peerReads: number } => {
    const socket = {
      remoteAddress: '192.0.2.10',
      encrypted: true,
      authorized,
      peerReads: 0,
      getPeerCertificate() {
        socket.peerReads += 1;
        return peer;
      },
      ...(authorizationError === undefined ? {} : { authorizationError }),
    };
    return socket;
  };

  const behindProxy = createCertificateReader({ socketClientCa: undefined, headerClientCa: undefined, trustedProxies: trustLoopback, hasTrustedProxies: true, headerName: DEFAULT_CERTIFICATE_HEADER });
  const behindProxyWithCa = createCertificateReader({ socketClientCa: Buffer.from(CA_PEM), headerClientCa: Buffer.from(CA_PEM), trustedProxies: trustLoopback, hasTrustedProxies: true, headerName: DEFAULT_CERTIFICATE_HEADER });
  const noProxies = createCertificateReader({ socketClientCa: Buffer.from(CA_PEM), headerClientCa: Buffer.from(CA_PEM), trustedProxies: new BlockList(), hasTrustedProxies: false, headerName: DEFAULT_CERTIFICATE_HEADER });

  it('no certificate anywhere: none', () => {
    assert.deepEqual(behindProxy(request(plain()), NOW), { kind: 'none' });
    assert.deepEqual(behindProxy(request(plain(), { 'x-rhsm-ssl-client-cert': '(null)' }), NOW), { kind: 'none' });
  });

  it('the configured certificate header, in every proxy encoding, from a trusted proxy: the host', () => {
    const header = DEFAULT_CERTIFICATE_HEADER.toLowerCase();
    for (const value of [HOST_PEM, urlEscaped(HOST_PEM), spaceFolded(HOST_PEM), tabFolded(HOST_PEM)]) {
      assert.deepEqual(behindProxy(request(plain(), { [header]: value }), NOW), { kind: 'host', uuid: HOST_UUID }, header);
      assert.deepEqual(behindProxyWithCa(request(plain('::ffff:127.0.0.1'), { [header]: value }), NOW), { kind: 'host', uuid: HOST_UUID }, header);
    }
  });

  it('only the configured header is read: a certificate in any other header identifies nobody', () => {
    for (const header of ['ssl_client_cert', 'ssl-client-cert', 'x_rhsm_ssl_client_cert', 'x-client-cert']) {
      assert.deepEqual(behindProxy(request(plain(), { [header]: urlEscaped(HOST_PEM) }), NOW), { kind: 'none' }, header);
    }
    const nginxStyle = createCertificateReader({ socketClientCa: undefined, headerClientCa: undefined, trustedProxies: trustLoopback, hasTrustedProxies: true, headerName: 'SSL_CLIENT_CERT' });
    assert.deepEqual(nginxStyle(request(plain(), { ssl_client_cert: urlEscaped(HOST_PEM) }), NOW), { kind: 'host', uuid: HOST_UUID });
    assert.deepEqual(nginxStyle(request(plain(), { 'x-rhsm-ssl-client-cert': urlEscaped(HOST_PEM) }), NOW), { kind: 'none' });
  });

  it('the header from an address that is not a trusted proxy is ignored (X-Forwarded-For does not help)', () => {
    const outcome = behindProxy(request(plain('192.0.2.99'), { 'x-rhsm-ssl-client-cert': urlEscaped(HOST_PEM), 'x-forwarded-for': '127.0.0.1' }), NOW);
    assert.deepEqual(outcome, { kind: 'ignored', reason: 'certificate header from an untrusted address' });
  });

  it('with no trusted proxies configured the headers mean nothing', () => {
    assert.deepEqual(noProxies(request(plain(), { 'x-rhsm-ssl-client-cert': urlEscaped(HOST_PEM) }), NOW), { kind: 'none' });
    assert.deepEqual(noProxies(request(plain(), { ssl_client_cert: spaceFolded(HOST_PEM) }), NOW), { kind: 'none' });
  });

  it('with server.tls.clientCa a header certificate must be issued by it', () => {
    assert.deepEqual(behindProxyWithCa(request(plain(), { 'x-rhsm-ssl-client-cert': urlEscaped(FOREIGN_PEM) }), NOW), {
      kind: 'ignored',
      reason: 'certificate not issued by the configured client CA',
    });
    // Without a CA to check against, the trusted proxy is relied on to have verified the chain.
    assert.deepEqual(behindProxy(request(plain(), { 'x-rhsm-ssl-client-cert': urlEscaped(FOREIGN_PEM) }), NOW), { kind: 'host', uuid: FOREIGN_UUID });
  });

  it('a header certificate outside its validity period is ignored, with or without a CA', () => {
    for (const reader of [behindProxy, behindProxyWithCa]) {
      for (const pem of [EXPIRED_PEM, NOT_YET_VALID_PEM]) {
        assert.deepEqual(reader(request(plain(), { 'x-rhsm-ssl-client-cert': spaceFolded(pem) }), NOW), { kind: 'ignored', reason: 'certificate outside its validity period' });
      }
    }
    // The same host certificate, judged at a time outside its period.
    assert.equal(behindProxy(request(plain(), { 'x-rhsm-ssl-client-cert': HOST_PEM }), new Date('2200-01-01T00:00:00Z')).kind, 'ignored');
  });

  it('a header certificate whose subject is not a host identifies nobody', () => {
    assert.deepEqual(behindProxyWithCa(request(plain(), { 'x-rhsm-ssl-client-cert': urlEscaped(BAD_CN_PEM) }), NOW), { kind: 'ignored', reason: 'certificate CN is not a host UUID' });
    assert.deepEqual(behindProxyWithCa(request(plain(), { 'x-rhsm-ssl-client-cert': urlEscaped(NO_CN_PEM) }), NOW), { kind: 'ignored', reason: 'certificate has no subject CN' });
  });

  it('a PEM-shaped header that is no certificate is ignored, not thrown', () => {
    const outcome = behindProxy(request(plain(), { 'x-rhsm-ssl-client-cert': '-----BEGIN CERTIFICATE----- AAAA -----END CERTIFICATE-----' }), NOW);
    assert.deepEqual(outcome, { kind: 'ignored', reason: 'certificate header is not a parsable certificate' });
  });

  it('a verified TLS peer certificate is the host, read once per connection', () => {
    const socket = tls({ subject: { CN: HOST_UUID } }, true);
    for (let i = 0; i < 3; i += 1) assert.deepEqual(noProxies(request(socket), NOW), { kind: 'host', uuid: HOST_UUID });
    assert.equal(socket.peerReads, 1);
  });

  it('an unverified TLS peer certificate is ignored with the TLS layer\'s reason', () => {
    assert.deepEqual(noProxies(request(tls({ subject: { CN: FOREIGN_UUID } }, false, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')), NOW), {
      kind: 'ignored',
      reason: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
    assert.deepEqual(noProxies(request(tls({ subject: { CN: HOST_UUID } }, false, 'CERT_HAS_EXPIRED')), NOW), { kind: 'ignored', reason: 'CERT_HAS_EXPIRED' });
  });

  it('a TLS connection without a client certificate falls through to a trusted proxy\'s header', () => {
    const socket = { ...tls({}, false), remoteAddress: '127.0.0.1' };
    assert.deepEqual(behindProxyWithCa(request(socket, { 'x-rhsm-ssl-client-cert': urlEscaped(HOST_PEM) }), NOW), { kind: 'host', uuid: HOST_UUID });
    assert.deepEqual(behindProxyWithCa(request(socket), NOW), { kind: 'none' });
  });

  it('a verified TLS certificate wins over any header', () => {
    const socket = { ...tls({ subject: { CN: HOST_UUID } }, true), remoteAddress: '127.0.0.1' };
    assert.deepEqual(behindProxyWithCa(request(socket, { 'x-rhsm-ssl-client-cert': urlEscaped(FOREIGN_PEM) }), NOW), { kind: 'host', uuid: HOST_UUID });
  });
});

describe('certificateHeaderProblem: what a trusted proxy request may carry', () => {
  const raw = (...pairs: Array<[string, string]>) => pairs.flat();
  const cases: Array<[string, string[], string, boolean]> = [
    ['no certificate header at all is fine', raw(['Host', 'x'], ['Accept', '*/*']), 'X-RHSM-SSL-Client-Cert', false],
    ['the configured header once is fine, in any case', raw(['x-rhsm-ssl-client-cert', 'pem']), 'X-RHSM-SSL-Client-Cert', false],
    ['the configured header twice is refused', raw(['X-RHSM-SSL-Client-Cert', 'a'], ['x-rhsm-ssl-client-cert', 'b']), 'X-RHSM-SSL-Client-Cert', true],
    ['another known certificate header is refused', raw(['SSL_CLIENT_CERT', 'a']), 'X-RHSM-SSL-Client-Cert', true],
    ['another known header beside the configured one is refused', raw(['X-RHSM-SSL-Client-Cert', 'a'], ['X-Client-Cert', 'b']), 'X-RHSM-SSL-Client-Cert', true],
    ['the configured name with hyphens for underscores is another header, refused', raw(['SSL_CLIENT_CERT', 'a'], ['SSL-Client-Cert', 'b']), 'SSL_CLIENT_CERT', true],
    ['the configured name with underscores for hyphens is refused too', raw(['X_RHSM_SSL_CLIENT_CERT', 'a']), 'X-RHSM-SSL-Client-Cert', true],
    ['an operator-chosen name: only that one', raw(['X-Gateway-Cert', 'a']), 'X-Gateway-Cert', false],
    ['an operator-chosen name: the usual names are still refused', raw(['X-Gateway-Cert', 'a'], ['X-SSL-Cert', 'b']), 'X-Gateway-Cert', true],
    ['headers that only describe a certificate are fine', raw(['X-SSL-Client-Verify', 'SUCCESS'], ['X-SSL-Client-S-DN', 'CN=x']), 'X-RHSM-SSL-Client-Cert', false],
  ];
  for (const [rule, headers, configured, refused] of cases) {
    it(rule, () => assert.equal(certificateHeaderProblem(headers, configured) !== undefined, refused));
  }
});

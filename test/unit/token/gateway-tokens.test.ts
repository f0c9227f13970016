/**
 * The gateway's own tokens: libtrust key ids, signing keys and their certificates, issuing and
 * verifying JWTs, and key rotation over a real SQLite store.
 */
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import type { UserIdentity } from '../../../src/access/identity.js';
import { openDatabase, type OpenDatabase } from '../../../src/store/connect.js';
import { GatewayStore } from '../../../src/store/gateway-store.js';
import { GatewayTokens, type TokenSettings } from '../../../src/token/gateway-tokens.js';
import { KeyRing } from '../../../src/token/key-ring.js';
import { generateSigningKey, libtrustKeyId, signingKeyFromPem, toSigningKey } from '../../../src/token/signing-keys.js';

// ---- an independent libtrust key id ----

/** RFC 4648 base32, written out bit by bit (unlike src/, which shifts an accumulator). */
function rfc4648Base32(bytes: Uint8Array, pad: boolean): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bits = [...bytes].map((byte) => byte.toString(2).padStart(8, '0')).join('');
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += alphabet[parseInt(bits.slice(i, i + 5).padEnd(5, '0'), 2)];
  if (pad) while (out.length % 8 !== 0) out += '=';
  return out;
}

/** libtrust's keyIDFromCryptoKey: sha256(DER SPKI)[:30], base32 without '=', groups of 4 joined by ':'. */
function expectedKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const encoded = rfc4648Base32(createHash('sha256').update(der).digest().subarray(0, 30), true).replace(/=+$/, '');
  const groups: string[] = [];
  for (let i = 0; i < encoded.length; i += 4) groups.push(encoded.slice(i, i + 4));
  return groups.join(':');
}

const KEY_ID_FORMAT = /^[A-Z2-7]{4}(?::[A-Z2-7]{4}){11}$/;

/** A fixed P-256 key (test fixture only) and its key id as computed by Python's base64.b32encode over openssl's DER. */
const FIXED_P256_PKCS8 = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgR/7FpfY1yMScK6zZ
6gqM8ipB6y0Vx2pnx72HWH6LyiqhRANCAAR+s/1+TZ5diesq8jOd2dSdkXHQbALv
8q16CI79PV3+tZbDunaRomCy/J7REQODN5G9W7ERvNYs1bJZK3QBGnuu
-----END PRIVATE KEY-----
`;
const FIXED_P256_KID = 'GWOC:MJUM:EX6F:F4BH:SYWW:5V3X:SLSO:JHEB:7BYF:DGRD:TGJ3:6ETL';

const spki = (key: KeyObject) => key.export({ type: 'spki', format: 'der' });
const p256 = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

describe('libtrustKeyId', () => {
  it('the test\'s own base32 matches the RFC 4648 test vectors', () => {
    const vectors: Array<[string, string]> = [
      ['', ''],
      ['f', 'MY======'],
      ['fo', 'MZXQ===='],
      ['foo', 'MZXW6==='],
      ['foob', 'MZXW6YQ='],
      ['fooba', 'MZXW6YTB'],
      ['foobar', 'MZXW6YTBOI======'],
    ];
    for (const [input, output] of vectors) assert.equal(rfc4648Base32(Buffer.from(input), true), output, input);
  });

  it('is the known id of a fixed key', () => {
    const publicKey = createPublicKey(FIXED_P256_PKCS8);
    assert.equal(expectedKeyId(publicKey), FIXED_P256_KID);
    assert.equal(libtrustKeyId(publicKey), FIXED_P256_KID);
  });

  it('is the same from the private key\'s public half and from a certificate', async () => {
    const row = await signingKeyFromPem(FIXED_P256_PKCS8, Date.UTC(2026, 0, 1));
    assert.equal(libtrustKeyId(new X509Certificate(row.certificate).publicKey), FIXED_P256_KID);
    assert.equal(row.kid, FIXED_P256_KID);
  });

  for (let i = 0; i < 8; i++) {
    it(`has libtrust's form and value for a fresh P-256 key (#${i + 1})`, () => {
      const { publicKey } = p256();
      const kid = libtrustKeyId(publicKey);
      assert.match(kid, KEY_ID_FORMAT);
      assert.equal(kid.length, 59);
      assert.equal(kid, expectedKeyId(publicKey));
    });
  }

  it('also for keys of other types (Distribution computes it for any certificate key)', () => {
    for (const { publicKey } of [generateKeyPairSync('rsa', { modulusLength: 1024 }), generateKeyPairSync('ec', { namedCurve: 'secp384r1' }), generateKeyPairSync('ed25519')]) {
      assert.equal(libtrustKeyId(publicKey), expectedKeyId(publicKey));
    }
  });

  it('differs between keys', () => {
    const ids = new Set(Array.from({ length: 20 }, () => libtrustKeyId(p256().publicKey)));
    assert.equal(ids.size, 20);
  });
});

describe('generateSigningKey', () => {
  const now = Date.UTC(2026, 2, 1, 12, 0, 0);

  it('makes a P-256 key whose id is its libtrust id', async () => {
    const row = await generateSigningKey(now);
    const privateKey = createPrivateKey(row.privateKey);
    assert.equal(privateKey.asymmetricKeyType, 'ec');
    assert.equal(privateKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.match(row.privateKey, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(row.kid, expectedKeyId(createPublicKey(privateKey)));
    assert.deepEqual({ createdAt: row.createdAt, activatesAt: row.activatesAt }, { createdAt: now, activatesAt: now });
  });

  it('takes a later activation time', async () => {
    const row = await generateSigningKey(now, now + 3_600_000);
    assert.deepEqual({ createdAt: row.createdAt, activatesAt: row.activatesAt }, { createdAt: now, activatesAt: now + 3_600_000 });
  });

  it('makes a valid self-signed X.509 certificate of exactly that key', async () => {
    const row = await generateSigningKey(now);
    const certificate = new X509Certificate(row.certificate);
    const privateKey = createPrivateKey(row.privateKey);
    assert.deepEqual(spki(certificate.publicKey), spki(createPublicKey(privateKey)));
    assert.equal(certificate.checkPrivateKey(privateKey), true);
    assert.equal(certificate.verify(certificate.publicKey), true, 'self-signed: its own key verifies its signature');
    assert.equal(certificate.verify(p256().publicKey), false);
    assert.equal(certificate.subject, certificate.issuer);
    assert.equal(certificate.ca, false);
    assert.ok(Date.parse(certificate.validFrom) <= now, certificate.validFrom);
    assert.ok(Date.parse(certificate.validTo) > now + 5 * 365 * 24 * 3600 * 1000, certificate.validTo);
    assert.equal(libtrustKeyId(certificate.publicKey), row.kid);
    assert.equal(toSigningKey(row).kid, row.kid);
  });

  it('makes a different key each time', async () => {
    const [a, b] = await Promise.all([generateSigningKey(now), generateSigningKey(now)]);
    assert.notEqual(a.kid, b.kid);
    assert.notEqual(new X509Certificate(a.certificate).serialNumber, new X509Certificate(b.certificate).serialNumber);
  });
});

describe('signingKeyFromPem', () => {
  const now = Date.UTC(2026, 2, 1);
  const pkcs8 = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();

  it('accepts a P-256 PKCS#8 key, with a certificate of that key', async () => {
    const row = await signingKeyFromPem(FIXED_P256_PKCS8, now);
    assert.equal(row.kid, FIXED_P256_KID);
    const certificate = new X509Certificate(row.certificate);
    assert.deepEqual(spki(certificate.publicKey), spki(createPublicKey(FIXED_P256_PKCS8)));
    assert.equal(certificate.verify(certificate.publicKey), true);
    assert.deepEqual(spki(createPublicKey(row.privateKey)), spki(createPublicKey(FIXED_P256_PKCS8)));
  });

  it('accepts the same key as a Buffer, and as a SEC1 "EC PRIVATE KEY"', async () => {
    const key = createPrivateKey(FIXED_P256_PKCS8);
    assert.equal((await signingKeyFromPem(Buffer.from(FIXED_P256_PKCS8), now)).kid, FIXED_P256_KID);
    assert.equal((await signingKeyFromPem(key.export({ type: 'sec1', format: 'pem' }), now)).kid, FIXED_P256_KID);
  });

  const refused: Array<[string, () => string]> = [
    ['an RSA key', () => pkcs8(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey)],
    ['an RSA key in PKCS#1 form', () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()],
    ['a P-384 key', () => pkcs8(generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey)],
    ['a secp256k1 key', () => pkcs8(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey)],
    ['an Ed25519 key', () => pkcs8(generateKeyPairSync('ed25519').privateKey)],
  ];
  for (const [kind, pem] of refused) {
    it(`refuses ${kind}`, async () => {
      await assert.rejects(signingKeyFromPem(pem(), now), /EC P-256/);
    });
  }

  it('refuses something that is not a key at all', async () => {
    await assert.rejects(signingKeyFromPem('not a pem', now));
  });
});

// ---- tokens ----

const T0 = Date.UTC(2026, 0, 15, 9, 0, 0);
const SETTINGS: TokenSettings = { issuer: 'container-gateway', services: ['registry.example.com', 'mirror.example.com'], lifetimeSeconds: 600 };
const LIFETIME_MS = SETTINGS.lifetimeSeconds * 1000;

const staticAlice: UserIdentity = { kind: 'user', username: 'alice', provider: 'static' };
const kubeBuilder: UserIdentity = { kind: 'user', username: 'system:serviceaccount:ci:builder', provider: 'kubernetes', groups: ['system:serviceaccounts', 'devs'] };
const ACCESS = [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }];

const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const partsOf = (token: string) => {
  const [header = '', payload = '', signature = ''] = token.split('.');
  return { header, payload, signature };
};

/** A database-backed key ring in a temp directory, closed after the suite. */
function useDatabase(prefix: string) {
  const state = {} as { dir: string; database: OpenDatabase; store: GatewayStore };
  before(async () => {
    state.dir = mkdtempSync(join(tmpdir(), prefix));
    state.database = await openDatabase({ url: `sqlite://${join(state.dir, 'gw.db')}` });
    state.store = new GatewayStore(state.database.db, state.database.dialect, state.database.reads);
  });
  after(async () => {
    await state.database.close();
    rmSync(state.dir, { recursive: true, force: true });
  });
  return state;
}

describe('GatewayTokens: issue and verify', () => {
  const db = useDatabase('cg-tokens-');
  let ring: KeyRing;
  let tokens: GatewayTokens;
  before(async () => {
    ring = await KeyRing.open(db.store, { verifyCertificates: [] }, T0);
    tokens = new GatewayTokens(ring, SETTINGS);
  });

  /** Signs claims with the ring's own key and header (for tokens GatewayTokens would never issue). */
  async function signWithRing(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    const key = ring.signer(T0);
    return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: key.kid, ...header }).sign(key.privateKey);
  }
  const validClaims = () => ({ iss: SETTINGS.issuer, sub: 'alice', aud: SETTINGS.services[0], iat: T0 / 1000, nbf: T0 / 1000, exp: T0 / 1000 + 600, prv: 'static' });

  it('the first start made and stored one key', async () => {
    const rows = await db.store.signingKeys();
    assert.equal(rows.length, 1);
    assert.equal(ring.signer(T0).kid, rows[0]?.kid);
  });

  it('a token it issued verifies and yields the identity', async () => {
    const issued = await tokens.issue(staticAlice, ACCESS, 'registry.example.com', T0);
    assert.equal(GatewayTokens.looksLikeJwt(issued.token), true);
    assert.deepEqual(await tokens.verify(issued.token, T0 + 1_000), staticAlice);
  });

  it('a Kubernetes identity keeps its groups', async () => {
    const issued = await tokens.issue(kubeBuilder, [], 'registry.example.com', T0);
    assert.deepEqual(await tokens.verify(issued.token, T0), kubeBuilder);
  });

  it('is what Distribution expects: ES256, libtrust kid, iss/sub/aud/exp/nbf/iat/jti and access', async () => {
    const issued = await tokens.issue(staticAlice, ACCESS, 'mirror.example.com', T0 + 999);
    assert.deepEqual(decodeProtectedHeader(issued.token), { alg: 'ES256', typ: 'JWT', kid: ring.signer(T0).kid });
    assert.match(ring.signer(T0).kid, KEY_ID_FORMAT);
    const claims = decodeJwt(issued.token);
    assert.equal(claims.iss, SETTINGS.issuer);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.aud, 'mirror.example.com');
    assert.equal(claims.iat, T0 / 1000);
    assert.equal(claims.nbf, T0 / 1000);
    assert.equal(claims.exp, T0 / 1000 + SETTINGS.lifetimeSeconds);
    assert.equal(typeof claims.jti, 'string');
    assert.deepEqual(claims.access, ACCESS);
    assert.equal(issued.expiresIn, SETTINGS.lifetimeSeconds);
    assert.equal(issued.issuedAt.getTime(), T0);
  });

  it('each token has its own jti', async () => {
    const a = await tokens.issue(staticAlice, [], 'registry.example.com', T0);
    const b = await tokens.issue(staticAlice, [], 'registry.example.com', T0);
    assert.notEqual(decodeJwt(a.token).jti, decodeJwt(b.token).jti);
  });

  it('verifies with the key from the certificate it publishes', async () => {
    const { jwtVerify } = await import('jose');
    const issued = await tokens.issue(staticAlice, ACCESS, 'registry.example.com', T0);
    const certificate = new X509Certificate(ring.certificateBundle());
    const { payload } = await jwtVerify(issued.token, certificate.publicKey, { currentDate: new Date(T0) });
    assert.equal(payload.sub, 'alice');
    assert.equal(libtrustKeyId(certificate.publicKey), decodeProtectedHeader(issued.token).kid);
  });

  it('a token for the second configured service verifies too', async () => {
    const issued = await tokens.issue(staticAlice, [], 'mirror.example.com', T0);
    assert.deepEqual(await tokens.verify(issued.token, T0), staticAlice);
  });

  it('a hand-made token with the right claims verifies (the forgery cases below differ from it in one thing)', async () => {
    assert.deepEqual(await tokens.verify(await signWithRing(validClaims()), T0), staticAlice);
  });

  describe('refuses', () => {
    const cases: Array<[string, () => Promise<string>, number?]> = [
      [
        'a tampered payload (another subject)',
        async () => {
          const { header, payload, signature } = partsOf((await tokens.issue(staticAlice, ACCESS, 'registry.example.com', T0)).token);
          const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
          return `${header}.${b64url({ ...claims, sub: 'root' })}.${signature}`;
        },
      ],
      [
        'a tampered payload (more access)',
        async () => {
          const { header, payload, signature } = partsOf((await tokens.issue(staticAlice, [], 'registry.example.com', T0)).token);
          const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
          return `${header}.${b64url({ ...claims, access: ACCESS })}.${signature}`;
        },
      ],
      [
        'a tampered signature',
        async () => {
          const { header, payload, signature } = partsOf((await tokens.issue(staticAlice, [], 'registry.example.com', T0)).token);
          const bytes = Buffer.from(signature, 'base64url');
          bytes[10] = (bytes[10] ?? 0) ^ 0x01;
          return `${header}.${payload}.${bytes.toString('base64url')}`;
        },
      ],
      [
        'a tampered header (another kid)',
        async () => {
          const { payload, signature } = partsOf((await tokens.issue(staticAlice, [], 'registry.example.com', T0)).token);
          return `${b64url({ alg: 'ES256', typ: 'JWT', kid: libtrustKeyId(p256().publicKey) })}.${payload}.${signature}`;
        },
      ],
      [
        'another key\'s signature under our kid',
        async () => new SignJWT(validClaims()).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: ring.signer(T0).kid }).sign(p256().privateKey),
      ],
      [
        'another key\'s signature under its own kid',
        async () => {
          const other = p256();
          return new SignJWT(validClaims()).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: libtrustKeyId(other.publicKey) }).sign(other.privateKey);
        },
      ],
      [
        'another gateway\'s token with the same settings',
        async () => {
          const other = await signingKeyFromPem(FIXED_P256_PKCS8, T0);
          return new SignJWT(validClaims()).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: other.kid }).sign(createPrivateKey(other.privateKey));
        },
      ],
      ['a wrong issuer', async () => (await new GatewayTokens(ring, { ...SETTINGS, issuer: 'someone-else' }).issue(staticAlice, [], 'registry.example.com', T0)).token],
      ['a wrong audience', async () => (await tokens.issue(staticAlice, [], 'other-registry.example.com', T0)).token],
      ['no audience', async () => signWithRing({ ...validClaims(), aud: undefined })],
      ['no issuer', async () => signWithRing({ ...validClaims(), iss: undefined })],
      ['no subject', async () => signWithRing({ ...validClaims(), sub: undefined })],
      ['an empty subject', async () => signWithRing({ ...validClaims(), sub: '' })],
      ['no expiry', async () => signWithRing({ ...validClaims(), exp: undefined })],
      ['no provider claim', async () => signWithRing({ ...validClaims(), prv: undefined })],
      ['a katello provider claim (Katello tokens are never ours)', async () => signWithRing({ ...validClaims(), prv: 'katello' })],
      ['an expired token (past the 60 s tolerance)', async () => (await tokens.issue(staticAlice, [], 'registry.example.com', T0)).token, T0 + LIFETIME_MS + 61_000],
      ['an expired token (long ago)', async () => (await tokens.issue(staticAlice, [], 'registry.example.com', T0)).token, T0 + 24 * 3600 * 1000],
      ['a token not valid yet (past the 60 s tolerance)', async () => (await tokens.issue(staticAlice, [], 'registry.example.com', T0)).token, T0 - 61_000],
      [
        'alg: none',
        async () => {
          const { payload } = partsOf((await tokens.issue(staticAlice, [], 'registry.example.com', T0)).token);
          return `${b64url({ alg: 'none', typ: 'JWT', kid: ring.signer(T0).kid })}.${payload}.`;
        },
      ],
      [
        'alg: none without a kid',
        async () => {
          const { payload } = partsOf((await tokens.issue(staticAlice, [], 'registry.example.com', T0)).token);
          return `${b64url({ alg: 'none', typ: 'JWT' })}.${payload}.`;
        },
      ],
      [
        'alg: HS256 keyed with the public key (algorithm confusion)',
        async () => {
          const key = ring.signer(T0);
          const secret = Buffer.from(key.publicKey.export({ type: 'spki', format: 'pem' }).toString());
          return new SignJWT(validClaims()).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: key.kid }).sign(secret);
        },
      ],
      [
        'a valid signature under an ES256 header without a kid',
        async () => new SignJWT(validClaims()).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign(ring.signer(T0).privateKey),
      ],
      ['an empty string', async () => ''],
      ['garbage', async () => 'garbage'],
      ['three dots of garbage', async () => 'eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl'],
      ['a header that is not JSON', async () => `${b64url('{not json')}.${b64url(validClaims())}.AAAA`],
      ['a payload that is not JSON', async () => `${b64url({ alg: 'ES256', kid: ring.signer(T0).kid })}.${b64url('{not json')}.AAAA`],
      ['two parts only', async () => (await tokens.issue(staticAlice, [], 'registry.example.com', T0)).token.split('.').slice(0, 2).join('.')],
    ];
    for (const [what, make, at] of cases) {
      it(what, async () => {
        const token = await make();
        assert.equal(await tokens.verify(token, at ?? T0 + 1_000), undefined);
      });
    }
  });

  it('accepts a token within the 60 s clock tolerance after expiry', async () => {
    const issued = await tokens.issue(staticAlice, [], 'registry.example.com', T0);
    assert.deepEqual(await tokens.verify(issued.token, T0 + LIFETIME_MS + 30_000), staticAlice);
  });

  it('a token verified once stops verifying when it expires', async () => {
    const issued = await tokens.issue(staticAlice, [], 'registry.example.com', T0);
    assert.deepEqual(await tokens.verify(issued.token, T0), staticAlice);
    assert.deepEqual(await tokens.verify(issued.token, T0 + LIFETIME_MS - 1_000), staticAlice);
    assert.equal(await tokens.verify(issued.token, T0 + LIFETIME_MS + 61_000), undefined);
    assert.equal(await tokens.verify(issued.token, T0 + 2 * LIFETIME_MS), undefined);
  });

  it('a forged token does not verify after the genuine one did (the remembered checksum is the token\'s)', async () => {
    const issued = await tokens.issue(staticAlice, ACCESS, 'registry.example.com', T0);
    assert.deepEqual(await tokens.verify(issued.token, T0), staticAlice);
    const { header, payload, signature } = partsOf(issued.token);
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    assert.equal(await tokens.verify(`${header}.${b64url({ ...claims, sub: 'root' })}.${signature}`, T0), undefined);
  });
});

describe('KeyRing: rotation over SQLite', () => {
  const db = useDatabase('cg-keyring-');
  const T1 = T0 + 10 * 60_000;
  let ring: KeyRing;
  let tokens: GatewayTokens;
  let oldKid: string;
  let newKid: string;
  /** Issued by the old key and never verified before the assertions that need them. */
  let oldToken: string;
  let oldTokenAfterPrune: string;

  before(async () => {
    ring = await KeyRing.open(db.store, { verifyCertificates: [] }, T0);
    tokens = new GatewayTokens(ring, SETTINGS);
    oldKid = ring.signer(T0).kid;
    oldToken = (await tokens.issue(staticAlice, ACCESS, 'registry.example.com', T0)).token;
    oldTokenAfterPrune = (await tokens.issue(kubeBuilder, ACCESS, 'registry.example.com', T0)).token;
    const newer = await generateSigningKey(T1);
    newKid = newer.kid;
    await db.store.addSigningKey(newer);
    await ring.reload();
  });

  it('the store holds both keys', async () => {
    assert.deepEqual((await db.store.signingKeys()).map((row) => row.kid).sort(), [oldKid, newKid].sort());
    assert.notEqual(oldKid, newKid);
  });

  it('the newer key signs from its activation on; the older one before', () => {
    assert.equal(ring.signer(T1).kid, newKid);
    assert.equal(ring.signer(T1 + LIFETIME_MS * 10).kid, newKid);
    assert.equal(ring.signer(T1 - 1).kid, oldKid);
  });

  it('new tokens carry the new kid and verify', async () => {
    const issued = await tokens.issue(staticAlice, [], 'registry.example.com', T1);
    assert.equal(decodeProtectedHeader(issued.token).kid, newKid);
    assert.deepEqual(await tokens.verify(issued.token, T1), staticAlice);
  });

  it('tokens signed by the old key still verify', async () => {
    assert.equal(decodeProtectedHeader(oldToken).kid, oldKid);
    assert.deepEqual(await tokens.verify(oldToken, T1), staticAlice);
  });

  it('the certificate bundle has both certificates', () => {
    const pems = ring.certificateBundle().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    assert.equal(pems.length, 2);
    assert.deepEqual(pems.map((pem) => libtrustKeyId(new X509Certificate(pem).publicKey)).sort(), [oldKid, newKid].sort());
    assert.ok(ring.certificateBundle().endsWith('-----END CERTIFICATE-----\n'));
  });

  it('the JWKS has both public keys, and no private part', async () => {
    const { keys } = await ring.jwks();
    assert.deepEqual(keys.map((key) => key.kid).sort(), [oldKid, newKid].sort());
    for (const key of keys) {
      assert.deepEqual({ kty: key.kty, crv: key.crv, alg: key.alg, use: key.use }, { kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      assert.equal(key.d, undefined, 'a JWKS must never publish the private key');
      assert.equal(libtrustKeyId(createPublicKey({ key: { kty: 'EC', crv: key.crv, x: key.x, y: key.y }, format: 'jwk' })), key.kid);
    }
  });

  it('another instance on the same database finds a key it has not loaded when a token names it', async () => {
    const otherRing = await KeyRing.open(db.store, { verifyCertificates: [] }, T1);
    const newest = await generateSigningKey(T1 + 1_000);
    await db.store.addSigningKey(newest);
    const otherTokens = new GatewayTokens(otherRing, SETTINGS);
    const fresh = (await tokens.issue(staticAlice, [], 'registry.example.com', T1)).token;
    assert.equal(decodeProtectedHeader(fresh).kid, newKid);
    await ring.reload();
    const newestToken = (await tokens.issue(staticAlice, [], 'registry.example.com', T1 + 1_000)).token;
    assert.equal(decodeProtectedHeader(newestToken).kid, newest.kid);
    assert.deepEqual(await otherTokens.verify(newestToken, T1 + 1_000), staticAlice);
    // Back to two keys for the pruning cases below.
    await db.store.removeSigningKeys([newest.kid]);
    await ring.reload();
    assert.equal(ring.signer(T1 + 1_000).kid, newKid);
  });

  it('prune keeps the old key while tokens it signed may still be valid', async () => {
    for (const at of [T1, T1 + LIFETIME_MS - 1, T1 + LIFETIME_MS, T1 + LIFETIME_MS + 60_000]) {
      assert.deepEqual(await ring.prune(at, LIFETIME_MS), [], `at T1 + ${at - T1} ms`);
    }
    assert.equal((await db.store.signingKeys()).length, 2);
    assert.equal((await ring.jwks()).keys.length, 2);
  });

  it('prune removes the old key once the lifetime (and the clock tolerance) has passed', async () => {
    // Verified (and so remembered) while its key was still there...
    assert.notEqual(await tokens.verify(oldTokenAfterPrune, T0 + 1_000), undefined);
    assert.deepEqual(await ring.prune(T1 + LIFETIME_MS + 60_001, LIFETIME_MS), [oldKid]);
    assert.deepEqual((await db.store.signingKeys()).map((row) => row.kid), [newKid]);
    assert.deepEqual((await ring.jwks()).keys.map((key) => key.kid), [newKid]);
    const pems = ring.certificateBundle().match(/-----BEGIN CERTIFICATE-----/g) ?? [];
    assert.equal(pems.length, 1);
    assert.equal(ring.signer(T1 + LIFETIME_MS + 60_001).kid, newKid);
    // ...and not accepted from memory once the key is gone, even at a time it would have been valid.
    assert.equal(await tokens.verify(oldTokenAfterPrune, T0 + 1_000), undefined);
  });

  it('prune never removes the signing key', async () => {
    assert.deepEqual(await ring.prune(T1 + 100 * LIFETIME_MS, LIFETIME_MS), []);
    assert.deepEqual((await db.store.signingKeys()).map((row) => row.kid), [newKid]);
  });
});

describe('KeyRing: a configured signing key', () => {
  const db = useDatabase('cg-keyring-pem-');

  it('signs with the configured key and stores none', async () => {
    const ring = await KeyRing.open(db.store, { signingKeyPem: Buffer.from(FIXED_P256_PKCS8), verifyCertificates: [] }, T0);
    assert.equal(ring.fromDatabase, false);
    assert.equal(ring.signer(T0).kid, FIXED_P256_KID);
    assert.deepEqual(await db.store.signingKeys(), []);
    const tokens = new GatewayTokens(ring, SETTINGS);
    const issued = await tokens.issue(staticAlice, [], 'registry.example.com', T0);
    assert.equal(decodeProtectedHeader(issued.token).kid, FIXED_P256_KID);
    assert.deepEqual(await tokens.verify(issued.token, T0), staticAlice);
  });

  it('refuses a configured RSA key', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    await assert.rejects(KeyRing.open(db.store, { signingKeyPem: Buffer.from(rsa), verifyCertificates: [] }, T0), /EC P-256/);
  });

  it('verifies tokens of a retired key given by its certificate', async () => {
    const retired = await generateSigningKey(T0);
    const retiredRing = await KeyRing.open(db.store, { signingKeyPem: Buffer.from(retired.privateKey), verifyCertificates: [] }, T0);
    const retiredToken = (await new GatewayTokens(retiredRing, SETTINGS).issue(staticAlice, [], 'registry.example.com', T0)).token;
    const ring = await KeyRing.open(db.store, { signingKeyPem: Buffer.from(FIXED_P256_PKCS8), verifyCertificates: [Buffer.from(retired.certificate)] }, T0);
    assert.deepEqual(await new GatewayTokens(ring, SETTINGS).verify(retiredToken, T0), staticAlice);
    assert.deepEqual((await ring.jwks()).keys.map((key) => key.kid).sort(), [FIXED_P256_KID, retired.kid].sort());
    assert.equal(ring.certificateBundle().match(/-----BEGIN CERTIFICATE-----/g)?.length, 2);
  });
});

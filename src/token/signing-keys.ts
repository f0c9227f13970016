/**
 * The keys that sign the gateway's JWTs (ES256, P-256), each with a self-signed X.509
 * certificate: CNCF Distribution 2.x trusts token signers only through certificates in its
 * `rootcertbundle`, and finds the one that signed a token by the libtrust key id in the JWT's
 * `kid`. So our `kid` is the libtrust id of the key, and the certificates are published
 * (/.well-known/registry-token-certificates.pem, `container-gateway token-certificates`).
 *
 * Keys come from `tokens.signingKey` (a PEM file) or are generated on first start and kept in
 * the database, where every instance finds them. Rotation adds a newer key; the newest active
 * key signs, and older keys keep verifying until the tokens they signed have expired.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, createPrivateKey, createPublicKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import type { SigningKeyRow } from '../store/gateway-store.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const CERTIFICATE_YEARS = 10;
const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly certificate: string;
  readonly activatesAt: number;
}

/**
 * libtrust's key id, as Distribution computes it for the certificates it trusts: SHA-256 of the
 * DER SubjectPublicKeyInfo, first 240 bits, base32 without padding, in 12 groups of 4 joined by ':'.
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const digest = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest().subarray(0, 30);
  return (base32(digest).match(/.{4}/g) ?? []).join(':');
}

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding (30 bytes → 48 characters). */
function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** A new P-256 key and its self-signed certificate, ready to be stored. */
export async function generateSigningKey(now: number, activatesAt: number = now): Promise<SigningKeyRow> {
  const keys = (await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const certificate = await selfSignedCertificate(keys, libtrustKeyId(createPublicKey(privateKey)), now);
  return {
    kid: libtrustKeyId(createPublicKey(privateKey)),
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certificate,
    createdAt: now,
    activatesAt,
  };
}

/** A configured PEM key: its certificate is made on the spot (registries trust the key, not the certificate's dates). */
export async function signingKeyFromPem(pem: string | Buffer, now: number): Promise<SigningKeyRow> {
  const privateKey = createPrivateKey(pem);
  const details = privateKey.asymmetricKeyDetails;
  if (privateKey.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
    throw new Error('tokens.signingKey must be an EC P-256 private key (ES256), e.g. `openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt`');
  }
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const subtle = webcrypto.subtle;
  const cryptoPrivate = await subtle.importKey('pkcs8', pkcs8, ECDSA_P256, true, ['sign']);
  const cryptoPublic = await subtle.importKey('spki', createPublicKey(privateKey).export({ type: 'spki', format: 'der' }), ECDSA_P256, true, ['verify']);
  const kid = libtrustKeyId(createPublicKey(privateKey));
  return {
    kid,
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certificate: await selfSignedCertificate({ privateKey: cryptoPrivate, publicKey: cryptoPublic }, kid, now),
    createdAt: 0,
    activatesAt: 0,
  };
}

async function selfSignedCertificate(keys: webcrypto.CryptoKeyPair, kid: string, now: number): Promise<string> {
  const notBefore = new Date(now - 60 * 60 * 1000);
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CERTIFICATE_YEARS);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16).toString('hex').replace(/^[89a-f]/, '1'),
    name: `CN=container-gateway token signer ${kid.slice(0, 14)}`,
    notBefore,
    notAfter,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    ],
  });
  return certificate.toString('pem');
}

export function toSigningKey(row: SigningKeyRow): SigningKey {
  const privateKey = createPrivateKey(row.privateKey);
  return { kid: row.kid, privateKey, publicKey: createPublicKey(privateKey), certificate: row.certificate, activatesAt: row.activatesAt };
}

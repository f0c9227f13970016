/**
 * pki.ts — a throwaway PKI for TLS tests, made with Debian's `openssl` (3.0) CLI and EC P-256 keys
 * (each openssl call takes a few milliseconds; the whole set well under a second).
 *
 * Contract:
 *  - `generateTestPki(dir)` writes into `dir` (created if needed) and resolves with every path:
 *      ca            — the client/server CA (self-signed, CA:TRUE)
 *      server        — server certificate for 127.0.0.1: subjectAltName IP:127.0.0.1, DNS:localhost; signed by ca
 *      host          — client certificate, subject CN = a fresh host UUID, signed by ca
 *      foreign       — client certificate with a UUID CN, signed by a different CA (foreignCa)
 *      expired       — client certificate with a UUID CN, signed by ca, valid 2020-01-01 .. 2020-01-02 only
 *                      (issued with `openssl ca -startdate/-enddate` and a minimal config/db under dir/ca-db)
 *      katello       — client certificate with CN `katello.example.test`, signed by ca (management mTLS)
 *    `issueClient(name, cn)` issues one more client certificate signed by ca (e.g. another host UUID).
 *    `pem(name)` reads a certificate file as text.
 *  - `writeCertDir(target, client)` lays out a containers-style certs.d directory: `client.cert`,
 *    `client.key` (skopeo/podman want these names) and `ca.crt` (the CA that signed the server), for
 *    `skopeo --cert-dir`. `client` may be omitted for a directory with only `ca.crt`.
 * Every client certificate has extendedKeyUsage clientAuth; keys are unencrypted PKCS#8 PEM.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const OPENSSL = 'openssl';

export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

export interface ClientCertificate extends KeyPair {
  /** Subject CN. */
  readonly cn: string;
}

export interface TestPki {
  readonly dir: string;
  readonly ca: KeyPair;
  readonly foreignCa: KeyPair;
  readonly server: KeyPair;
  readonly host: ClientCertificate;
  readonly foreign: ClientCertificate;
  readonly expired: ClientCertificate;
  readonly katello: ClientCertificate;
  issueClient(name: string, cn: string): Promise<ClientCertificate>;
  pem(certPath: string): Promise<string>;
}

export const KATELLO_CN = 'katello.example.test';

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  try {
    await run(OPENSSL, args, { cwd, timeout: 10_000 });
  } catch (error) {
    const e = error as Error & { stderr?: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, name: string, cn: string): Promise<KeyPair> {
  const pair = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  await openssl(
    [
      'req', '-x509', ...EC_KEY, '-keyout', pair.key, '-out', pair.cert, '-days', '30', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return pair;
}

/** Key + CSR, then signed by `ca` with the extensions in `extensions` (one per line). */
async function issue(dir: string, ca: KeyPair, name: string, cn: string, extensions: string[]): Promise<KeyPair> {
  const pair = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  await writeFile(ext, `${extensions.join('\n')}\n`);
  await openssl(['req', '-new', ...EC_KEY, '-keyout', pair.key, '-out', csr, '-subj', `/CN=${cn}`], dir);
  await openssl(
    ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomUUID().replaceAll('-', '')}`, '-days', '30', '-sha256', '-extfile', ext, '-out', pair.cert],
    dir,
  );
  return pair;
}

const CLIENT_EXTENSIONS = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'];

/** A client certificate signed by `ca` valid only from 2020-01-01 to 2020-01-02 (`openssl ca`, throwaway db). */
async function issueExpired(dir: string, ca: KeyPair, name: string, cn: string): Promise<KeyPair> {
  const db = path.join(dir, 'ca-db');
  await mkdir(path.join(db, 'new'), { recursive: true });
  await writeFile(path.join(db, 'index.txt'), '');
  await writeFile(path.join(db, 'serial'), '1000\n');
  const config = path.join(db, 'ca.cnf');
  await writeFile(
    config,
    [
      '[ ca ]',
      'default_ca = test_ca',
      '[ test_ca ]',
      `database = ${path.join(db, 'index.txt')}`,
      `serial = ${path.join(db, 'serial')}`,
      `new_certs_dir = ${path.join(db, 'new')}`,
      `certificate = ${ca.cert}`,
      `private_key = ${ca.key}`,
      'default_md = sha256',
      'policy = any_policy',
      'unique_subject = no',
      'copy_extensions = none',
      'x509_extensions = client_ext',
      '[ any_policy ]',
      'commonName = supplied',
      '[ client_ext ]',
      ...CLIENT_EXTENSIONS,
      '',
    ].join('\n'),
  );
  const pair = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  const csr = path.join(dir, `${name}.csr`);
  await openssl(['req', '-new', ...EC_KEY, '-keyout', pair.key, '-out', csr, '-subj', `/CN=${cn}`], dir);
  await openssl(
    ['ca', '-batch', '-notext', '-config', config, '-in', csr, '-out', pair.cert, '-startdate', '20200101000000Z', '-enddate', '20200102000000Z'],
    dir,
  );
  return pair;
}

export async function generateTestPki(dir: string): Promise<TestPki> {
  await mkdir(dir, { recursive: true });
  const [ca, foreignCa] = await Promise.all([makeCa(dir, 'ca', 'Container Gateway Test CA'), makeCa(dir, 'foreign-ca', 'Somebody Else CA')]);
  const hostCn = randomUUID();
  const foreignCn = randomUUID();
  const expiredCn = randomUUID();
  const [server, host, foreign, expired, katello] = await Promise.all([
    issue(dir, ca, 'server', '127.0.0.1', [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ]),
    issue(dir, ca, 'host', hostCn, CLIENT_EXTENSIONS),
    issue(dir, foreignCa, 'foreign', foreignCn, CLIENT_EXTENSIONS),
    issueExpired(dir, ca, 'expired', expiredCn),
    issue(dir, ca, 'katello', KATELLO_CN, CLIENT_EXTENSIONS),
  ]);
  return {
    dir,
    ca,
    foreignCa,
    server,
    host: { ...host, cn: hostCn },
    foreign: { ...foreign, cn: foreignCn },
    expired: { ...expired, cn: expiredCn },
    katello: { ...katello, cn: KATELLO_CN },
    async issueClient(name, cn) {
      return { ...(await issue(dir, ca, name, cn, CLIENT_EXTENSIONS)), cn };
    },
    pem: (certPath) => readFile(certPath, 'utf8'),
  };
}

/** A certs.d-style directory for `skopeo --cert-dir`: client.cert, client.key, ca.crt. */
export async function writeCertDir(target: string, caCert: string, client?: KeyPair): Promise<string> {
  await mkdir(target, { recursive: true });
  await copyFile(caCert, path.join(target, 'ca.crt'));
  if (client !== undefined) {
    await copyFile(client.cert, path.join(target, 'client.cert'));
    await copyFile(client.key, path.join(target, 'client.key'));
  }
  return target;
}

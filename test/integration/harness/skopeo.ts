/**
 * skopeo.ts — drive the real `skopeo` (1.9.3) client against any registry URL over plain HTTP, hermetically.
 *
 * Contract:
 *  - Every invocation runs with a fresh temp sandbox (removed afterwards): HOME, XDG_* dirs, TMPDIR/--tmpdir,
 *    an empty registries.conf (CONTAINERS_REGISTRIES_CONF), an empty --registries.d, `--insecure-policy`,
 *    `_CONTAINERS_ROOTLESS_UID=1000` (so, even as root, the blob-info cache goes to the sandbox instead of
 *    /var/lib/containers/cache), and an auth file: `opts.authfile` if given, else an empty `{"auths":{}}`
 *    in the sandbox, passed both as REGISTRY_AUTH_FILE and `--authfile`. Nothing touches the real home.
 *    Sandboxes left behind by a dying process are removed by a process 'exit' hook.
 *  - TLS verification is always off (`--tls-verify=false` / `--src-tls-verify=false` / `--dest-tls-verify=false`),
 *    retries are off (`--retry-times 0`), and each call is killed after `timeoutMs` (default 60 s).
 *  - Failures reject with a `CommandError` whose message holds the command line, stdout and stderr.
 *  - `creds` ("user:password") maps to `--creds` (inspect, list-tags) or `--src-creds` (copy from registry).
 *    skopeo only sends them after `GET /v2/` answered 401 with a WWW-Authenticate challenge.
 *  - Note: with TLS verification off, skopeo first tries HTTPS on the registry port and only then falls back to
 *    plain HTTP, so plain-HTTP servers see a garbage (TLS ClientHello) connection before each `GET /v2/` ping
 *    (one per run; two for a non-raw inspect, which pings again to list tags).
 *  - `sha256File(path)` streams a file through sha256 → "sha256:<hex>".
 *  - `verifyDirCopy(destDir)` checks a skopeo `dir:` copy: manifest.json (image manifest or index); for an
 *    index, each child manifest present as `<hex>.manifest.json`; every config/layer blob referenced by a
 *    present manifest must exist as `<hex>` with matching sha256 and size. Throws on any mismatch or missing
 *    blob; children of an index that were not copied (e.g. `--multi-arch system|index-only`) are reported
 *    in `missingInstances`, not treated as errors.
 */
import { createHash } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCommand, type CommandResult } from './run-command.js';

export const SKOPEO_BINARY = '/usr/bin/skopeo';
const DEFAULT_TIMEOUT_MS = 60_000;

export interface SkopeoOptions {
  /** "user:password" → --creds / --src-creds */
  creds?: string;
  /** An auth.json to use instead of the sandbox's empty one. */
  authfile?: string;
  /** Appended after the harness's own options, before the image reference(s). */
  extraArgs?: string[];
  /** Default 60 000 ms. */
  timeoutMs?: number;
}

export interface SkopeoInspectOptions extends SkopeoOptions {
  /** --no-tags: do not call tags/list as part of the inspection. */
  noTags?: boolean;
}

export interface SkopeoCopyOptions extends SkopeoOptions {
  /** --multi-arch (skopeo's default is 'system': copy only the instance matching this machine). */
  multiArch?: 'system' | 'all' | 'index-only';
  /** -a/--all (same as --multi-arch all). */
  all?: boolean;
  /** --preserve-digests */
  preserveDigests?: boolean;
}

/** `skopeo inspect` output (the fields skopeo 1.9.3 prints). */
export interface SkopeoImageInspection {
  Name: string;
  Digest: string;
  RepoTags: string[];
  Created?: string;
  DockerVersion: string;
  Labels: Record<string, string> | null;
  Architecture: string;
  Os: string;
  Variant?: string;
  Layers: string[];
  Env: string[] | null;
}

/** `skopeo inspect --raw` output: the exact manifest bytes the registry served. */
export interface SkopeoRawManifest {
  bytes: Buffer;
  /** sha256 of `bytes` ("sha256:<hex>") — equals the manifest digest when nothing was rewritten. */
  digest: string;
  mediaType: string | undefined;
  json: Record<string, unknown>;
}

export interface SkopeoTagList {
  Repository: string;
  Tags: string[];
}

/** `docker://127.0.0.1:PORT/<repo>:<tag>` or `...@sha256:...` from a registry base URL. */
export function dockerReference(registryUrl: string, repo: string, tagOrDigest: string): string {
  const host = new URL(registryUrl).host;
  const separator = tagOrDigest.includes(':') ? '@' : ':';
  return `docker://${host}/${repo}${separator}${tagOrDigest}`;
}

/** `docker://127.0.0.1:PORT/<repo>` (for list-tags). */
export function dockerRepository(registryUrl: string, repo: string): string {
  return `docker://${new URL(registryUrl).host}/${repo}`;
}

/** Writes an auth.json granting `username:password` for `registryUrl`'s host:port; returns its path. */
export async function writeAuthFile(
  filePath: string,
  entries: Array<{ registryUrl: string; username: string; password: string }>,
): Promise<string> {
  const auths: Record<string, { auth: string }> = {};
  for (const e of entries) {
    auths[new URL(e.registryUrl).host] = { auth: Buffer.from(`${e.username}:${e.password}`).toString('base64') };
  }
  await writeFile(filePath, JSON.stringify({ auths }, null, 2), { mode: 0o600 });
  return filePath;
}

interface SkopeoSandbox {
  env: NodeJS.ProcessEnv;
  globalArgs: string[];
  authfile: string;
  dispose(): Promise<void>;
}

/** Sandboxes not yet disposed; removed synchronously if the process exits first. */
const liveSandboxes = new Set<string>();
let exitHookInstalled = false;

function removeLiveSandboxesSync(): void {
  for (const root of liveSandboxes) {
    try {
      rmSync(root, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  liveSandboxes.clear();
}

async function createSandbox(authfile: string | undefined): Promise<SkopeoSandbox> {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', removeLiveSandboxesSync);
  }
  const root = await mkdtemp(path.join(os.tmpdir(), 'cg-skopeo-'));
  liveSandboxes.add(root);
  const dirs = {
    home: path.join(root, 'home'),
    run: path.join(root, 'run'),
    config: path.join(root, 'config'),
    data: path.join(root, 'data'),
    tmp: path.join(root, 'tmp'),
    registriesD: path.join(root, 'registries.d'),
  };
  const registriesConf = path.join(root, 'registries.conf');
  const effectiveAuthfile = authfile ?? path.join(root, 'auth.json');
  try {
    await Promise.all(Object.values(dirs).map((d) => mkdir(d, { recursive: true, mode: 0o700 })));
    await writeFile(registriesConf, 'unqualified-search-registries = []\n');
    if (authfile === undefined) await writeFile(effectiveAuthfile, '{"auths":{}}\n', { mode: 0o600 });
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    liveSandboxes.delete(root);
    throw err;
  }
  return {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dirs.home,
      XDG_RUNTIME_DIR: dirs.run,
      XDG_CONFIG_HOME: dirs.config,
      XDG_DATA_HOME: dirs.data,
      TMPDIR: dirs.tmp,
      REGISTRY_AUTH_FILE: effectiveAuthfile,
      CONTAINERS_REGISTRIES_CONF: registriesConf,
      // containers/image uses /var/lib/containers/cache for euid 0 unless told it is "rootless".
      _CONTAINERS_ROOTLESS_UID: '1000',
    },
    globalArgs: ['--insecure-policy', '--registries.d', dirs.registriesD, '--tmpdir', dirs.tmp],
    authfile: effectiveAuthfile,
    dispose: async () => {
      await rm(root, { recursive: true, force: true });
      liveSandboxes.delete(root);
    },
  };
}

/**
 * Runs `skopeo <global sandbox args> <subcommand> <buildArgs(sandbox)>` in a fresh sandbox. Exposed for
 * tests needing a subcommand not wrapped here (e.g. `copy` to another registry).
 */
export async function runSkopeo(
  subcommand: string,
  buildArgs: (sandbox: { authfile: string }) => string[],
  opts: { authfile?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const sandbox = await createSandbox(opts.authfile);
  try {
    return await runCommand(SKOPEO_BINARY, [...sandbox.globalArgs, subcommand, ...buildArgs(sandbox)], {
      env: sandbox.env,
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
  } finally {
    await sandbox.dispose();
  }
}

/** What every read-only skopeo call against a test registry takes: plain HTTP, no retries, our auth file. */
function registryArgs(authfile: string, opts: SkopeoOptions): string[] {
  return ['--tls-verify=false', '--retry-times', '0', '--authfile', authfile, ...credArgs(opts, '--creds')];
}

function credArgs(opts: SkopeoOptions, flag: string): string[] {
  return opts.creds !== undefined ? [flag, opts.creds] : [];
}

/**
 * `skopeo inspect`: parsed inspection; with `{ raw: true }` the same as skopeoInspectRaw (exact manifest bytes).
 */
export function skopeoInspect(ref: string, opts: SkopeoInspectOptions & { raw: true }): Promise<SkopeoRawManifest>;
export function skopeoInspect(ref: string, opts?: SkopeoInspectOptions & { raw?: false }): Promise<SkopeoImageInspection>;
export function skopeoInspect(
  ref: string,
  opts: SkopeoInspectOptions & { raw?: boolean } = {},
): Promise<SkopeoImageInspection | SkopeoRawManifest> {
  const { raw, ...rest } = opts;
  return raw ? skopeoInspectRaw(ref, rest) : inspectParsed(ref, rest);
}

async function inspectParsed(ref: string, opts: SkopeoInspectOptions): Promise<SkopeoImageInspection> {
  const result = await runSkopeo(
    'inspect',
    ({ authfile }) => [
      ...registryArgs(authfile, opts),
      ...(opts.noTags ? ['--no-tags'] : []),
      ...(opts.extraArgs ?? []),
      ref,
    ],
    opts,
  );
  return JSON.parse(result.stdout.toString('utf8')) as SkopeoImageInspection;
}

/** `skopeo inspect <flags>` stdout, exactly as printed. */
async function inspectBytes(flags: string[], ref: string, opts: SkopeoOptions): Promise<Buffer> {
  const result = await runSkopeo('inspect', ({ authfile }) => [...flags, ...registryArgs(authfile, opts), ...(opts.extraArgs ?? []), ref], opts);
  return result.stdout;
}

/** `skopeo inspect --raw`: the manifest (or index) exactly as served. */
export async function skopeoInspectRaw(ref: string, opts: SkopeoOptions = {}): Promise<SkopeoRawManifest> {
  const bytes = await inspectBytes(['--raw'], ref, opts);
  const json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  const mediaType = typeof json.mediaType === 'string' ? json.mediaType : undefined;
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, mediaType, json };
}

/** `skopeo inspect --config --raw`: the image config blob exactly as served. */
export async function skopeoInspectConfig(
  ref: string,
  opts: SkopeoOptions = {},
): Promise<{ bytes: Buffer; digest: string; json: Record<string, unknown> }> {
  const bytes = await inspectBytes(['--config', '--raw'], ref, opts);
  return {
    bytes,
    digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    json: JSON.parse(bytes.toString('utf8')) as Record<string, unknown>,
  };
}

/** `skopeo list-tags docker://host:port/repo` (follows `Link: rel="next"` pagination itself). */
export async function skopeoListTags(ref: string, opts: SkopeoOptions = {}): Promise<SkopeoTagList> {
  const result = await runSkopeo(
    'list-tags',
    ({ authfile }) => [
      ...registryArgs(authfile, opts),
      ...(opts.extraArgs ?? []),
      ref,
    ],
    opts,
  );
  return JSON.parse(result.stdout.toString('utf8')) as SkopeoTagList;
}

/** `skopeo copy <ref> dir:<destDir>`. Resolves with skopeo's output; verify the result with verifyDirCopy. */
export async function skopeoCopyToDir(
  ref: string,
  destDir: string,
  opts: SkopeoCopyOptions = {},
): Promise<CommandResult> {
  return runSkopeo(
    'copy',
    ({ authfile }) => [
      '--src-tls-verify=false',
      '--retry-times',
      '0',
      '--authfile',
      authfile,
      ...credArgs(opts, '--src-creds'),
      ...(opts.all ? ['--all'] : []),
      ...(opts.multiArch !== undefined ? ['--multi-arch', opts.multiArch] : []),
      ...(opts.preserveDigests ? ['--preserve-digests'] : []),
      ...(opts.extraArgs ?? []),
      ref,
      `dir:${destDir}`,
    ],
    opts,
  );
}

// ---------------------------------------------------------------------------------------------
// dir: copies
// ---------------------------------------------------------------------------------------------

export function sha256File(filePath: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const hash = createHash('sha256');
    const stream = createReadStream(filePath);
    stream.on('data', (chunk) => hash.update(chunk));
    stream.on('error', reject);
    stream.on('end', () => resolve(`sha256:${hash.digest('hex')}`));
  });
}

export interface VerifiedBlob {
  digest: string;
  size: number;
  mediaType: string;
  path: string;
}

export interface VerifiedImageManifest {
  /** sha256 of the manifest file bytes. */
  digest: string;
  mediaType: string;
  /** manifest.json for a single image, `<hex>.manifest.json` for a child of an index. */
  path: string;
  config: VerifiedBlob;
  layers: VerifiedBlob[];
}

export interface DirCopyReport {
  /** sha256 of manifest.json (the top-level manifest or index as copied). */
  manifestDigest: string;
  mediaType: string;
  kind: 'image' | 'index';
  /** Image manifests verified: the top-level one for an image, each copied child for an index. */
  images: VerifiedImageManifest[];
  /** Digests of index children not present in the copy. */
  missingInstances: string[];
  /** Every verified config/layer blob, de-duplicated. */
  blobs: VerifiedBlob[];
}

interface ManifestJsonDescriptor {
  mediaType?: string;
  digest: string;
  size: number;
}

interface ManifestJson {
  mediaType?: string;
  config?: ManifestJsonDescriptor;
  layers?: ManifestJsonDescriptor[];
  manifests?: ManifestJsonDescriptor[];
}

const INDEX_MEDIA_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

function digestHex(digest: string): string {
  const match = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!match?.[1]) throw new Error(`unsupported digest: ${digest}`);
  return match[1];
}

async function verifyBlobFile(destDir: string, descriptor: ManifestJsonDescriptor): Promise<VerifiedBlob> {
  const blobPath = path.join(destDir, digestHex(descriptor.digest));
  let size: number;
  try {
    size = (await stat(blobPath)).size;
  } catch {
    throw new Error(`dir copy ${destDir}: blob ${descriptor.digest} missing (expected file ${blobPath})`);
  }
  const actual = await sha256File(blobPath);
  if (actual !== descriptor.digest) {
    throw new Error(`dir copy ${destDir}: blob file ${blobPath} has sha256 ${actual}, expected ${descriptor.digest}`);
  }
  if (size !== descriptor.size) {
    throw new Error(`dir copy ${destDir}: blob ${descriptor.digest} is ${size} bytes, manifest says ${descriptor.size}`);
  }
  return { digest: descriptor.digest, size, mediaType: descriptor.mediaType ?? '', path: blobPath };
}

async function verifyImageManifest(
  destDir: string,
  manifestPath: string,
  bytes: Buffer,
  fallbackMediaType: string | undefined,
): Promise<VerifiedImageManifest> {
  const manifest = JSON.parse(bytes.toString('utf8')) as ManifestJson;
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new Error(`dir copy ${destDir}: ${manifestPath} is not an image manifest with config and layers`);
  }
  const config = await verifyBlobFile(destDir, manifest.config);
  const layers: VerifiedBlob[] = [];
  for (const layer of manifest.layers) layers.push(await verifyBlobFile(destDir, layer));
  return {
    digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    mediaType: manifest.mediaType ?? fallbackMediaType ?? '',
    path: manifestPath,
    config,
    layers,
  };
}

export async function verifyDirCopy(destDir: string): Promise<DirCopyReport> {
  const topPath = path.join(destDir, 'manifest.json');
  const topBytes = await readFile(topPath);
  const top = JSON.parse(topBytes.toString('utf8')) as ManifestJson;
  const manifestDigest = `sha256:${createHash('sha256').update(topBytes).digest('hex')}`;
  const isIndex = Array.isArray(top.manifests) || (top.mediaType !== undefined && INDEX_MEDIA_TYPES.has(top.mediaType));

  const images: VerifiedImageManifest[] = [];
  const missingInstances: string[] = [];
  if (!isIndex) {
    images.push(await verifyImageManifest(destDir, topPath, topBytes, undefined));
  } else {
    for (const child of top.manifests ?? []) {
      const childPath = path.join(destDir, `${digestHex(child.digest)}.manifest.json`);
      let childBytes: Buffer;
      try {
        childBytes = await readFile(childPath);
      } catch {
        missingInstances.push(child.digest);
        continue;
      }
      const verified = await verifyImageManifest(destDir, childPath, childBytes, child.mediaType);
      if (verified.digest !== child.digest) {
        throw new Error(`dir copy ${destDir}: ${childPath} has sha256 ${verified.digest}, index says ${child.digest}`);
      }
      images.push(verified);
    }
  }

  const blobs = new Map<string, VerifiedBlob>();
  for (const img of images) for (const b of [img.config, ...img.layers]) if (!blobs.has(b.digest)) blobs.set(b.digest, b);
  return {
    manifestDigest,
    mediaType: top.mediaType ?? '',
    kind: isIndex ? 'index' : 'image',
    images,
    missingInstances,
    blobs: [...blobs.values()],
  };
}

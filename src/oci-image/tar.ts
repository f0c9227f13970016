/**
 * A minimal ustar writer: enough to build image layers in code (the demo's images, the tests'
 * fixtures) without a tar binary or network. Deterministic: fixed owner, mode and time, so the
 * same files give the same bytes and so the same digests.
 */
import path from 'node:path';

/** Fixed timestamp for tar entries and image configs (2024-01-01T00:00:00Z). */
export const FIXED_EPOCH_SECONDS = 1_704_067_200;

export interface FileEntry {
  /** Relative path inside the layer, e.g. "etc/os-release". Parent directories are added automatically. */
  path: string;
  content: string | Uint8Array;
  /** Permission bits, default 0o644. */
  mode?: number;
}

const TAR_BLOCK = 512;

function writeTarString(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar field too long (${bytes.length} > ${length}): ${value}`);
  bytes.copy(header, offset);
}

function writeTarOctal(header: Buffer, offset: number, length: number, value: number): void {
  const digits = value.toString(8);
  if (digits.length > length - 1) throw new Error(`tar numeric field overflow: ${value}`);
  header.write(`${digits.padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

function splitTarName(name: string): { prefix: string; name: string } {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', name };
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0) {
      return { prefix, name: rest };
    }
  }
  throw new Error(`path too long for ustar: ${name}`);
}

/** One 512-byte ustar header. `type` '0' = regular file, '5' = directory. */
export function tarHeader(entry: { name: string; size: number; type: '0' | '5'; mode: number }): Buffer {
  const header = Buffer.alloc(TAR_BLOCK, 0);
  const { prefix, name } = splitTarName(entry.name);
  writeTarString(header, 0, 100, name);
  writeTarOctal(header, 100, 8, entry.mode);
  writeTarOctal(header, 108, 8, 0); // uid
  writeTarOctal(header, 116, 8, 0); // gid
  writeTarOctal(header, 124, 12, entry.size);
  writeTarOctal(header, 136, 12, FIXED_EPOCH_SECONDS);
  header.fill(0x20, 148, 156); // checksum placeholder: 8 spaces
  header.write(entry.type, 156, 1, 'ascii');
  header.write('ustar\0', 257, 6, 'ascii');
  header.write('00', 263, 2, 'ascii');
  writeTarString(header, 265, 32, 'root');
  writeTarString(header, 297, 32, 'root');
  writeTarOctal(header, 329, 8, 0); // devmajor
  writeTarOctal(header, 337, 8, 0); // devminor
  writeTarString(header, 345, 155, prefix);
  let checksum = 0;
  for (const byte of header) checksum += byte;
  header.write(`${checksum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return header;
}

export function tarPadding(size: number): Buffer {
  const rest = size % TAR_BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : TAR_BLOCK - rest, 0);
}

export const TAR_END = Buffer.alloc(2 * TAR_BLOCK, 0);

export function normalizeLayerPath(p: string): string {
  const normalized = path.posix.normalize(p).replace(/^\/+/, '');
  if (normalized === '' || normalized === '.' || normalized.startsWith('../')) {
    throw new Error(`invalid layer path: ${p}`);
  }
  return normalized;
}

/** Builds a complete tar archive in memory (directories first, then files, in the given order). */
export function buildTar(files: FileEntry[]): Buffer {
  const parts: Buffer[] = [];
  const seenDirs = new Set<string>();
  for (const file of files) {
    const name = normalizeLayerPath(file.path);
    const segments = name.split('/');
    for (let i = 1; i < segments.length; i++) {
      const dir = `${segments.slice(0, i).join('/')}/`;
      if (seenDirs.has(dir)) continue;
      seenDirs.add(dir);
      parts.push(tarHeader({ name: dir, size: 0, type: '5', mode: 0o755 }));
    }
    const content = typeof file.content === 'string' ? Buffer.from(file.content, 'utf8') : Buffer.from(file.content);
    parts.push(tarHeader({ name, size: content.length, type: '0', mode: file.mode ?? 0o644 }));
    parts.push(content, tarPadding(content.length));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

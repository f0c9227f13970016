/**
 * The OCI distribution-spec grammar for repository names, tags and digests ("Pulling manifests",
 * "Content Discovery"), as regular expressions anchored at both ends. Pure; no I/O.
 */

const nameComponent = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const nameRegex = new RegExp(`^${nameComponent}(?:/${nameComponent})*$`);
const tagRegex = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const digestRegex = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[A-Za-z0-9=_-]+$/;
const sha256Digest = /^sha256:[a-f0-9]{64}$/;
const SHA256_DIGEST_LENGTH = 'sha256:'.length + 64;
const knownDigestEncodings: Readonly<Record<string, RegExp>> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

/**
 * Distribution limits the whole reference (host included) to 255 characters; a name alone
 * longer than that can never be pulled by any client, so it is refused outright.
 */
export const MAX_NAME_LENGTH = 255;

export function isValidRepositoryName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && nameRegex.test(name);
}

export function isValidTag(tag: string): boolean {
  return tagRegex.test(tag);
}

/** A digest must match the general grammar, and registered algorithms their exact encoding. */
export function isValidDigest(digest: string): boolean {
  // Nearly every digest is a SHA-256 one: one anchored test instead of the three below.
  if (digest.length === SHA256_DIGEST_LENGTH && digest.startsWith('sha256:')) return sha256Digest.test(digest);
  if (digest.length > 256 || !digestRegex.test(digest)) return false;
  const separator = digest.indexOf(':');
  const algorithm = digest.slice(0, separator);
  const encoding = knownDigestEncodings[algorithm];
  return encoding === undefined ? false : encoding.test(digest.slice(separator + 1));
}

export function isValidReference(reference: string): boolean {
  return isValidTag(reference) || isValidDigest(reference);
}

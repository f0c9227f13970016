/** Parses `Authorization: Basic ...` strictly: valid base64, a colon, a non-empty user name. */
export type BasicCredentials = { readonly username: string; readonly password: string };

export type BasicParse = { kind: 'absent' } | { kind: 'invalid'; reason: string } | { kind: 'valid'; credentials: BasicCredentials };

export function parseBasicAuthorization(header: string | undefined): BasicParse {
  if (header === undefined || header === '') return { kind: 'absent' };
  const match = /^Basic +(\S*) *$/i.exec(header);
  if (match === null) return { kind: 'absent' };
  const encoded = match[1] ?? '';
  if (encoded.length === 0 || encoded.length > 8_192 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 === 1) {
    return { kind: 'invalid', reason: 'Basic credentials are not valid base64' };
  }
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return { kind: 'invalid', reason: 'Basic credentials have no "user:password" form' };
  const username = decoded.slice(0, colon);
  if (username === '' || username.length > 255 || /[\u0000-\u001f]/.test(username)) return { kind: 'invalid', reason: 'Basic credentials have an invalid user name' };
  return { kind: 'valid', credentials: { username, password: decoded.slice(colon + 1) } };
}

export function basicAuthorization(credentials: BasicCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

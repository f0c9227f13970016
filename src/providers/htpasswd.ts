/**
 * htpasswd files as Apache's `htpasswd -B` writes them: `user:$2y$...` per line. Only bcrypt is
 * accepted (as in CNCF Distribution): MD5-crypt, SHA1 and plain entries are reported, not used.
 */
export interface HtpasswdParse {
  readonly users: ReadonlyMap<string, string>;
  readonly problems: readonly string[];
}

export function parseHtpasswd(text: string): HtpasswdParse {
  const users = new Map<string, string>();
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const user = colon > 0 ? line.slice(0, colon) : '';
    const hash = line.slice(colon + 1);
    if (user === '') problems.push(`line ${index + 1}: expected user:hash`);
    else if (!/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) problems.push(`line ${index + 1}: user "${user}" is not a bcrypt entry (use htpasswd -B)`);
    else if (users.has(user)) problems.push(`line ${index + 1}: user "${user}" appears twice`);
    else users.set(user, hash);
  });
  return { users, problems };
}

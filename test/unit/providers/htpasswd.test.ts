/** htpasswd parsing: bcrypt entries only; everything else is reported with its line number. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { parseHtpasswd } from '../../../src/providers/htpasswd.js';

/** A real bcrypt hash (bcryptjs writes $2b$), with the prefix changed to the variant wanted. */
function bcryptEntry(password: string, prefix: '$2a$' | '$2b$' | '$2y$'): string {
  const hash = bcrypt.hashSync(password, 4);
  assert.match(hash, /^\$2b\$04\$/);
  return prefix + hash.slice(4);
}

const alice2y = bcryptEntry('alice-secret', '$2y$');
const bob2a = bcryptEntry('bob-secret', '$2a$');
const carol2b = bcryptEntry('carol-secret', '$2b$');

describe('parseHtpasswd: bcrypt entries', () => {
  const variants: Array<[string, string]> = [
    ['$2y$ (Apache htpasswd -B)', alice2y],
    ['$2a$', bob2a],
    ['$2b$', carol2b],
  ];
  for (const [variant, hash] of variants) {
    it(`accepts ${variant}`, () => {
      const parsed = parseHtpasswd(`user:${hash}\n`);
      assert.deepEqual(parsed.problems, []);
      assert.deepEqual([...parsed.users], [['user', hash]]);
    });
  }

  it('the hashes kept are the ones written, and they check the passwords', () => {
    const { users, problems } = parseHtpasswd(`alice:${alice2y}\nbob:${bob2a}\ncarol:${carol2b}`);
    assert.deepEqual(problems, []);
    assert.deepEqual([...users.keys()], ['alice', 'bob', 'carol']);
    assert.equal(bcrypt.compareSync('alice-secret', users.get('alice') ?? ''), true);
    assert.equal(bcrypt.compareSync('bob-secret', users.get('bob') ?? ''), true);
    assert.equal(bcrypt.compareSync('carol-secret', users.get('carol') ?? ''), true);
    assert.equal(bcrypt.compareSync('wrong', users.get('alice') ?? ''), false);
  });

  it('reads CRLF line endings and surrounding whitespace', () => {
    const { users, problems } = parseHtpasswd(`alice:${alice2y}\r\n  bob:${bob2a}  \r\n`);
    assert.deepEqual(problems, []);
    assert.equal(users.get('alice'), alice2y);
    assert.equal(users.get('bob'), bob2a);
  });

  it('an empty file has no users and no problems', () => {
    assert.deepEqual(parseHtpasswd(''), { users: new Map(), problems: [] });
  });
});

describe('parseHtpasswd: comments and blank lines', () => {
  it('skips them, and counts them for line numbers', () => {
    const text = ['# users of the gateway', '', `alice:${alice2y}`, '   ', '  # indented comment', 'plain:secret', '', `bob:${bob2a}`, ''].join('\n');
    const { users, problems } = parseHtpasswd(text);
    assert.deepEqual([...users.keys()], ['alice', 'bob']);
    assert.deepEqual(problems, ['line 6: user "plain" is not a bcrypt entry (use htpasswd -B)']);
  });
});

describe('parseHtpasswd: entries that are not bcrypt', () => {
  const refused: Array<[string, string]> = [
    ['MD5-crypt (htpasswd -m)', '$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/'],
    ['SHA1 (htpasswd -s)', '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g='],
    ['crypt(3) (htpasswd -d)', 'rqXexS6ZhobKA'],
    ['plain text (htpasswd -p)', 'password'],
    ['an empty hash', ''],
    ['a bcrypt hash cut short', alice2y.slice(0, 50)],
    ['a bcrypt hash with extra characters', `${alice2y}x`],
    ['a bcrypt hash without a cost', `$2y$$${alice2y.slice(7)}`],
    ['SHA-512 crypt', '$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.'],
  ];
  for (const [kind, hash] of refused) {
    it(`reports ${kind} with its line number and does not use it`, () => {
      const { users, problems } = parseHtpasswd(`# header\nuser:${hash}\nalice:${alice2y}\n`);
      assert.deepEqual(problems, ['line 2: user "user" is not a bcrypt entry (use htpasswd -B)']);
      assert.deepEqual([...users.keys()], ['alice']);
    });
  }

  // bcryptjs (what the static provider checks passwords with) refuses $2x$ with an exception and
  // never matches the 59-character $2$ form, so an accepted entry of either kind could never log in.
  const uncheckable: Array<[string, string]> = [
    ['$2x$ (crypt_blowfish\'s buggy-8-bit variant)', `$2x$${alice2y.slice(4)}`],
    ['$2$ (the original, no minor version)', `$2$${alice2y.slice(4)}`],
  ];
  for (const [kind, hash] of uncheckable) {
    it(`reports ${kind}, which the bcrypt library cannot check`, () => {
      const { users, problems } = parseHtpasswd(`user:${hash}\n`);
      assert.deepEqual([...users.keys()], []);
      assert.equal(problems.length, 1);
      assert.match(problems[0] ?? '', /^line 1: /);
    });
  }

  const malformed: Array<[string, string]> = [
    ['a line without a colon', 'just-a-name'],
    ['a line with an empty user name', `:${alice2y}`],
  ];
  for (const [kind, line] of malformed) {
    it(`reports ${kind}`, () => {
      const { users, problems } = parseHtpasswd(`alice:${alice2y}\n\n${line}\n`);
      assert.deepEqual(problems, ['line 3: expected user:hash']);
      assert.deepEqual([...users.keys()], ['alice']);
    });
  }

  it('reports every problem, each with its own line', () => {
    const text = [`alice:${alice2y}`, 'md5:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/', 'sha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', '#', 'plain:hunter2', 'nocolon'].join('\n');
    assert.deepEqual(parseHtpasswd(text).problems, [
      'line 2: user "md5" is not a bcrypt entry (use htpasswd -B)',
      'line 3: user "sha" is not a bcrypt entry (use htpasswd -B)',
      'line 5: user "plain" is not a bcrypt entry (use htpasswd -B)',
      'line 6: expected user:hash',
    ]);
  });
});

describe('parseHtpasswd: duplicates', () => {
  it('reports a user that appears twice and keeps the first entry', () => {
    const second = bcryptEntry('other-password', '$2y$');
    const { users, problems } = parseHtpasswd(`alice:${alice2y}\nbob:${bob2a}\n# again\nalice:${second}\n`);
    assert.deepEqual(problems, ['line 4: user "alice" appears twice']);
    assert.equal(users.get('alice'), alice2y);
    assert.equal(users.size, 2);
  });

  it('reports each repetition', () => {
    const { users, problems } = parseHtpasswd([`alice:${alice2y}`, `alice:${alice2y}`, `alice:${carol2b}`].join('\n'));
    assert.deepEqual(problems, ['line 2: user "alice" appears twice', 'line 3: user "alice" appears twice']);
    assert.equal(users.size, 1);
  });

  it('user names are case-sensitive: Alice and alice are two users', () => {
    const { users, problems } = parseHtpasswd(`alice:${alice2y}\nAlice:${bob2a}\n`);
    assert.deepEqual(problems, []);
    assert.equal(users.size, 2);
  });
});

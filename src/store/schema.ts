/**
 * The tables, as kysely sees them. Booleans are stored as 0/1 integers and times as epoch
 * milliseconds, so the same queries run unchanged on SQLite and PostgreSQL.
 */
import type { Generated } from 'kysely';

export interface RepositoriesTable {
  id: Generated<number>;
  name: string;
  auth_required: number;
}

export interface UsersTable {
  id: Generated<number>;
  name: string;
}

/** Only the SHA-256 checksum of a token is ever stored, never the token. */
export interface TokensTable {
  id: Generated<number>;
  user_id: number;
  token_checksum: string;
  expires_at: number;
}

export interface UserRepositoriesTable {
  user_id: number;
  repository_id: number;
}

export interface HostsTable {
  id: Generated<number>;
  uuid: string;
}

export interface HostRepositoriesTable {
  host_id: number;
  repository_id: number;
}

/** Gateway-owned secrets (e.g. the key that signs anonymous tokens), created on first start. */
export interface SecretsTable {
  name: string;
  value: string;
}

/** A JWT signing key (PKCS#8 PEM) with its self-signed certificate, for registries' rootcertbundle. */
export interface SigningKeysTable {
  kid: string;
  private_key: string;
  certificate: string;
  created_at: number;
  activates_at: number;
}

export interface Database {
  repositories: RepositoriesTable;
  users: UsersTable;
  tokens: TokensTable;
  user_repositories: UserRepositoriesTable;
  hosts: HostsTable;
  host_repositories: HostRepositoriesTable;
  secrets: SecretsTable;
  signing_keys: SigningKeysTable;
}

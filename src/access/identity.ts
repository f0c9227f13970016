/**
 * Who is calling, as the access decision sees it. Resolved once per request by identity/ from
 * verified credentials only; handlers never look at Authorization headers or certificates.
 * The anonymous caller is explicit, so there is no "undefined means anonymous" path to get wrong.
 */
export type Identity =
  /** `withToken`: the caller holds the gateway's anonymous token (it has done the token dance). */
  | { readonly kind: 'anonymous'; readonly withToken: boolean }
  | UserIdentity
  | { readonly kind: 'host'; readonly uuid: string };

/** Who vouched for a user: Katello (token + catalog), the config's users and rules, or a Kubernetes API server. */
export type ProviderName = 'katello' | 'static' | 'kubernetes';

export interface UserIdentity {
  readonly kind: 'user';
  readonly username: string;
  readonly provider: ProviderName;
  /** Kubernetes groups from the TokenReview, carried for SubjectAccessReviews. */
  readonly groups?: readonly string[];
  /** Kubernetes `user.extra` from the TokenReview (OpenShift token scopes), carried for SubjectAccessReviews. */
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

export const ANONYMOUS: Identity = Object.freeze({ kind: 'anonymous', withToken: false });
export const ANONYMOUS_WITH_TOKEN: Identity = Object.freeze({ kind: 'anonymous', withToken: true });

/** Exhaustiveness guard for switches over Identity['kind'] and other unions. */
export function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}

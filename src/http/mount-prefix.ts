/**
 * Where smart_proxy_container_gateway lives inside smart-proxy (its container_gateway_http_config.ru
 * maps it at `/container_gateway`): Katello calls `<proxy url>/container_gateway/<route>`
 * (lib/proxy_api/container_gateway.rb) and a capsule's Apache passes `/v2` and `/v1` to
 * `.../container_gateway/v2` and `.../container_gateway/v1`. Every route answers under the prefix
 * and at the root alike, so those callers work unchanged; links the gateway writes are root-relative
 * (`/v2/...`) and therefore right under either mount.
 *
 * Only the literal prefix followed by `/` (or the end) is taken off. Anything else — an encoded
 * prefix, `..` after it — is left for the router, which matches no route for it.
 */
export const MOUNT_PREFIX = '/container_gateway';

export function withoutMountPrefix(url: string): string {
  if (!url.startsWith(MOUNT_PREFIX)) return url;
  const rest = url.slice(MOUNT_PREFIX.length);
  if (rest === '' || rest.startsWith('?')) return `/${rest}`;
  return rest.startsWith('/') ? rest : url;
}

/**
 * Where the backend's registry API lives: an origin and, possibly, a path in front of `/v2/`.
 * Pulp on a Katello capsule is reached at `https://capsule/pulpcore_registry/v2/...` (Apache's path
 * to pulp-api; smart_proxy_container_gateway's container_gateway_main.rb builds every URL that
 * way), so `backend.url: https://capsule/pulpcore_registry` must put that path in front of every
 * call — `new URL('/v2/...', base)` would drop it.
 */
export class BackendLocation {
  readonly origin: string;
  /** The path in front of `/v2/`, without a trailing slash; '' at the root. */
  readonly basePath: string;

  constructor(readonly url: URL) {
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
  }

  /** The backend URL of an API path (`/v2/...`, `/index/static`), query included. */
  urlOf(pathAndQuery: string): URL {
    return new URL(`${this.basePath}${pathAndQuery}`, this.origin);
  }

  /** The API path (`/v2/...`) of a URL on the backend's origin under its base path; undefined for any other URL. */
  apiPathOf(url: URL, origin: string = url.origin): string | undefined {
    if (origin !== this.origin) return undefined;
    if (this.basePath === '') return url.pathname;
    return url.pathname.startsWith(`${this.basePath}/`) ? url.pathname.slice(this.basePath.length) : undefined;
  }
}

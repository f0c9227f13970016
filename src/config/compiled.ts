/**
 * The configuration as the rest of the gateway uses it: validated, with derived forms computed
 * once at load time (parsed listen address, URL objects, PEM contents, the trusted-proxy set),
 * so nothing is parsed per request.
 */
import type { BlockList } from 'node:net';
import type { RawConfig } from './schema.js';

export interface PeerTlsMaterial {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export interface GatewayConfig {
  readonly server: {
    readonly listen: { readonly host: string; readonly port: number };
    /** Origin (and optional path prefix) clients use; realm and Link headers are built from it. */
    readonly publicUrl: URL;
    readonly tls?: { readonly cert: Buffer; readonly key: Buffer; readonly clientCa?: Buffer; readonly files: NonNullable<RawConfig['server']['tls']> };
    readonly trustedProxies: readonly string[];
    /** CA for certificates in trusted proxies' headers (server.proxyClientCa, else server.tls.clientCa). */
    readonly proxyClientCa?: Buffer;
    /** The one header a trusted proxy's client certificate is read from. */
    readonly clientCertificateHeader: string;
    readonly trustedProxySet: BlockList;
    readonly bodyLimitBytes: number;
    readonly requestTimeoutMs: number;
    readonly shutdownGraceSeconds: number;
    readonly workers: number;
  };
  readonly database: RawConfig['database'];
  readonly backend: Omit<RawConfig['backend'], 'url' | 'clientUrl' | 'tls'> & {
    readonly url: URL;
    readonly clientUrl: URL | null;
    readonly tls?: PeerTlsMaterial;
    /**
     * Token services besides the backend's own origin that may receive backend.auth: the
     * gateway's own /v2/token and backend.auth.realms.
     */
    readonly allowedRealms: readonly URL[];
  };
  readonly upstream: Omit<RawConfig['upstream'], 'url' | 'tls'> & {
    readonly url: URL | null;
    readonly tls?: PeerTlsMaterial;
  };
  readonly identity: {
    readonly providers: RawConfig['identity']['providers'];
    readonly static: Omit<RawConfig['identity']['static'], 'htpasswd'> & {
      /** htpasswd users → bcrypt hash. */
      readonly users: ReadonlyMap<string, string>;
    };
    readonly kubernetes: Omit<RawConfig['identity']['kubernetes'], 'apiServer' | 'tls' | 'tokenFile'> & {
      readonly apiServer: URL | null;
      readonly tls?: PeerTlsMaterial;
      /** The gateway's own credential at the API server. */
      readonly bearerToken?: string;
    };
  };
  readonly tokens: {
    readonly issuer: string;
    readonly services: readonly string[];
    readonly lifetimeSeconds: number;
    readonly signingKeyPem?: Buffer;
    readonly verifyCertificates: readonly Buffer[];
  };
  readonly management: RawConfig['management'];
  readonly limits: RawConfig['limits'];
  readonly audit: RawConfig['audit'];
  readonly metrics: { readonly listen: { readonly host: string; readonly port: number } | null };
  readonly log: RawConfig['log'];
}

/**
 * The configuration schema: one zod schema is the type, the defaults and the validator.
 * Keys follow the external contract (shared contract.md); additions are documented in README.md.
 * Every object is strict, so a misspelt key is reported instead of silently ignored.
 */
import { z } from 'zod';

const httpUrl = z
  .string()
  .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), {
    message: 'must be an http:// or https:// URL',
  });

const filePath = z.string().min(1, 'must be a file path');

const tlsPeer = z
  .object({ ca: filePath.optional(), cert: filePath.optional(), key: filePath.optional() })
  .strict()
  .refine((tls) => (tls.cert === undefined) === (tls.key === undefined), {
    message: 'cert and key must be given together',
  });

const positiveMs = z.number().int().positive();

const providerName = z.enum(['katello', 'static', 'kubernetes']);
const action = z.enum(['pull', 'push', 'delete']);
/** Repository globs: `*` within a path segment, `**` across segments (picomatch). */
const repositoryGlob = z.string().min(1).regex(/^[a-z0-9._*?{},\[\]/-]+$/, 'must be a repository name glob (lower case, `*`, `**`, `?`, `{a,b}`)');

export const configSchema = z
  .object({
    server: z
      .object({
        listen: z.string().default('127.0.0.1:5050'),
        publicUrl: httpUrl.optional(),
        tls: z
          .object({ cert: filePath, key: filePath, clientCa: filePath.optional() })
          .strict()
          .optional(),
        trustedProxies: z.array(z.string()).default([]),
        /**
         * CA that client certificates forwarded by a trusted proxy (X-RHSM-SSL-Client-Cert,
         * SSL_CLIENT_CERT) must chain to. Defaults to server.tls.clientCa; needed when the gateway
         * itself speaks plain HTTP behind a TLS-terminating proxy.
         */
        proxyClientCa: filePath.optional(),
        /**
         * The one request header a trusted proxy puts the client certificate in (Apache:
         * `RequestHeader set X-RHSM-SSL-Client-Cert "%{SSL_CLIENT_CERT}s"`; nginx:
         * `proxy_set_header X-RHSM-SSL-Client-Cert $ssl_client_escaped_cert`). Matched exactly,
         * case aside: `SSL_CLIENT_CERT` and `SSL-Client-Cert` are different headers.
         */
        clientCertificateHeader: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a header name (letters, digits, "-", "_")').default('X-RHSM-SSL-Client-Cert'),
        /**
         * SIGTERM/SIGINT: how long requests in flight may finish (a slow download) before the
         * connections still open are closed and the process exits 0. Under systemd's and
         * Kubernetes' default 10 s stop timeout.
         */
        shutdownGraceSeconds: z.number().min(0).max(3600).default(8),
        /** Processes sharing the listening port (node:cluster); also `serve --workers N`. */
        workers: z.number().int().min(1).max(256).default(1),
        /**
         * A client that takes longer than this to send its request (headers and body) is
         * answered 408 and its connection closed; answers (a large blob) may take as long as they need.
         */
        requestTimeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
        /** Largest request body accepted anywhere (management pushes are the big ones). */
        bodyLimitBytes: z.number().int().positive().default(64 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        url: z
          .string()
          .min(1)
          .refine((url) => /^(sqlite:|postgres(ql)?:\/\/)/.test(url), { message: 'must be sqlite://PATH or postgres://user:password@host/database' })
          .default('sqlite://./data/gateway.db'),
        /** PostgreSQL: connections per process. */
        poolSize: z.number().int().positive().default(10),
        /** PostgreSQL: how long to wait for a free connection, and for a statement. */
        connectionTimeoutMs: positiveMs.default(5_000),
        statementTimeoutMs: positiveMs.default(30_000),
        /** SQLite: how long a writer waits for the lock before failing. */
        busyTimeoutMs: positiveMs.default(5_000),
        /** On an empty PostgreSQL database: copy this SQLite file's data over once, then rename the file. */
        migrateFrom: z.string().min(1).nullable().default(null),
      })
      .strict()
      .prefault({}),
    backend: z
      .object({
        url: httpUrl.default('http://127.0.0.1:5000'),
        mode: z.enum(['redirect', 'proxy']).default('redirect'),
        clientUrl: httpUrl.nullable().default(null),
        tls: tlsPeer.optional(),
        /**
         * Robot credentials for the backend. The gateway asks the backend once how it wants them:
         * Basic, or its own token flow (the Bearer challenge's realm, with these as Basic there).
         */
        auth: z
          .object({
            username: z.string().min(1),
            password: z.string(),
            /**
             * Token services (the realm of the backend's Bearer challenge) that may receive these
             * credentials besides the backend's own origin and the gateway's own /v2/token. An
             * entry with a path allows that path; an origin alone allows any path there.
             */
            realms: z.array(httpUrl).default([]),
            /** Backend tokens kept at once (one per repository and action); the least recently used go first. */
            tokenCacheEntries: z.number().int().min(1).max(1_000_000).default(1_000),
          })
          .strict()
          .optional(),
        timeouts: z
          .object({
            connectMs: positiveMs.default(5_000),
            headersMs: positiveMs.default(30_000),
            bodyMs: positiveMs.default(60_000),
          })
          .strict()
          .prefault({}),
        /** Path of the flatpak index on the backend, served filtered at /index/static. */
        flatpakIndexPath: z.string().regex(/^\/[A-Za-z0-9._~/-]*$/, 'must be an absolute path').default('/index/static'),
        /**
         * Blobs kept on local disk (content-addressed, least recently used out first beyond
         * maxBytes) and served from there once the backend confirmed the repository holds them.
         * Off unless set. With server.workers > 1 each worker keeps its own part of the directory
         * and of maxBytes.
         */
        blobCache: z
          .object({
            path: filePath,
            maxBytes: z.number().int().min(1024 * 1024, 'must be at least 1 MiB (1048576)'),
          })
          .strict()
          .optional(),
        /** Memory for manifests fetched by digest (immutable, served without a backend call). 0 disables. */
        manifestCacheBytes: z.number().int().min(0).default(32 * 1024 * 1024),
        /** Redirect mode: seconds a backend redirect for the same request is reused. 0 disables. */
        redirectCacheSeconds: z.number().int().min(0).max(3600).default(10),
        /** With a static or kubernetes provider: how long the backend's own catalog is reused. */
        catalogCacheSeconds: z.number().int().min(1).max(86_400).default(30),
        /** Concurrent keep-alive connections to the backend. */
        connections: z.number().int().positive().default(64),
      })
      .strict()
      .prefault({}),
    upstream: z
      .object({
        url: httpUrl.nullable().default(null),
        registryPath: z
          .string()
          .regex(/^\/(?:[A-Za-z0-9._~-]+\/)*$/, 'must be an absolute path ending in "/" (e.g. "/v2/")')
          .default('/v2/'),
        tls: tlsPeer.optional(),
        timeoutMs: positiveMs.default(10_000),
        /**
         * After `failures` consecutive failures (network errors, timeouts, 5xx), calls fail at
         * once; one probe goes through after probeSeconds, the wait doubling while probes fail,
         * up to openSeconds. So logins work again at most openSeconds after the server does.
         */
        circuitBreaker: z
          .object({
            failures: z.number().int().positive().default(3),
            probeSeconds: z.number().positive().max(3600).default(1),
            openSeconds: z.number().positive().max(3600).default(2),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    identity: z
      .object({
        /** Tried in order at login; the first that accepts the credentials wins. */
        providers: z.array(providerName).min(1).default(['katello']),
        static: z
          .object({
            /** htpasswd file with bcrypt entries (`htpasswd -B`). */
            htpasswd: filePath.nullable().default(null),
            /** Robot accounts: a password, or a bcrypt hash of one. */
            robots: z.array(z.object({ username: z.string().min(1), password: z.string().min(1) }).strict()).default([]),
            groups: z.record(z.string().min(1), z.array(z.string().min(1))).default({}),
            /**
             * Who may do what where. Subjects: a user or robot name, `group:NAME`, `authenticated`
             * (anyone logged in) or `anonymous`. Actions granted by every matching rule add up.
             */
            rules: z
              .array(
                z
                  .object({
                    subjects: z.array(z.string().min(1)).min(1),
                    repositories: z.array(repositoryGlob).min(1),
                    actions: z.array(action).min(1),
                  })
                  .strict(),
              )
              .default([]),
          })
          .strict()
          .prefault({}),
        kubernetes: z
          .object({
            apiServer: httpUrl.nullable().default(null),
            tls: tlsPeer.optional(),
            /** The gateway's own bearer token for TokenReview and SubjectAccessReview (a service account's). */
            tokenFile: filePath.nullable().default(null),
            /** TokenReview audiences; empty means the API server's default. */
            audiences: z.array(z.string().min(1)).default([]),
            /**
             * The SubjectAccessReview asked for each repository. With `namespace` null the
             * repository's first path segment is the namespace and the rest the resource name.
             */
            authorization: z
              .object({
                group: z.string().default('image.openshift.io'),
                resource: z.string().min(1).default('imagestreams'),
                subresource: z.string().default('layers'),
                namespace: z.string().min(1).nullable().default(null),
                pullVerb: z.string().min(1).default('get'),
                pushVerb: z.string().min(1).default('update'),
                deleteVerb: z.string().min(1).default('delete'),
              })
              .strict()
              .prefault({}),
            /** How long TokenReview and SubjectAccessReview answers are reused. */
            cacheSeconds: z.number().int().min(0).max(3600).default(30),
            timeoutMs: positiveMs.default(5_000),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    tokens: z
      .object({
        /** `iss` of the gateway's JWTs; a registry that trusts them must name the same. Default: the public URL's origin. */
        issuer: z.string().min(1).nullable().default(null),
        /** Accepted `service` (JWT `aud`) values; the first is the default. Default: the public URL's host. */
        services: z.array(z.string().min(1)).default([]),
        lifetimeSeconds: z.number().int().min(60).max(86_400).default(300),
        /** An EC P-256 private key (PEM) to sign with; without it a key is generated and kept in the database. */
        signingKey: filePath.nullable().default(null),
        /** Certificates of earlier signing keys whose tokens should still verify. */
        verifyCertificates: z.array(filePath).default([]),
      })
      .strict()
      .prefault({}),
    management: z
      .object({
        tokens: z.array(z.string().min(16, 'management tokens must be at least 16 characters')).default([]),
        clientCertCNs: z.array(z.string().min(1)).default([]),
        /**
         * The version Foreman reads at GET /version when the gateway is registered as a smart
         * proxy; Foreman warns when it differs from its own major.minor. Default: the gateway's.
         */
        proxyVersion: z.string().regex(/^\d+\.\d+(?:\.\d+)?$/, 'must be a version such as 3.14.0').nullable().default(null),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({
        /** stdout, off, or a file path (created if needed). */
        destination: z.string().min(1).default('stdout'),
      })
      .strict()
      .prefault({}),
    metrics: z
      .object({
        /** host:port of a separate listener for /metrics; null serves it on the main listener. */
        listen: z.string().nullable().default(null),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        /** Failed logins: slowed after slowAfter, refused (429) after perAccount / perAddress within windowSeconds. */
        logins: z
          .object({
            slowAfter: z.number().int().min(0).default(5),
            delayMs: z.number().int().min(0).default(1_000),
            perAccount: z.number().int().positive().default(10),
            perAddress: z.number().int().positive().default(50),
            windowSeconds: z.number().int().positive().default(900),
          })
          .strict()
          .prefault({}),
        /**
         * bcrypt checks (static provider) run on worker threads: `workers` of them (null: one
         * per CPU but one, at least one), with at most `queue` checks waiting; beyond, 503.
         */
        passwordChecks: z
          .object({
            workers: z.number().int().min(1).max(64).nullable().default(null),
            queue: z.number().int().min(0).max(100_000).default(64),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .prefault({}),
  })
  .strict();

export type RawConfig = z.infer<typeof configSchema>;

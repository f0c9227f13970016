/**
 * The configuration schema: one zod schema is the type, the defaults, the validator and the
 * documentation. Every key carries its description (`.describe()`), from which
 * `npm run docs:config` writes docs/configuration.md, so the reference cannot drift from the code.
 * Every object is strict, so a misspelt key is reported instead of silently ignored.
 */
import { z } from 'zod';

const httpUrl = z
  .string()
  .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), {
    message: 'must be an http:// or https:// URL',
  });

const filePath = z.string().min(1, 'must be a file path');

/** How the gateway reaches a server it asks (backend, management server, Kubernetes API server). */
const tlsPeer = z
  .object({
    ca: filePath.optional().describe('CA certificate(s), PEM, that the server\'s certificate must chain to (instead of the system\'s CAs).'),
    cert: filePath.optional().describe('Client certificate, PEM, the gateway presents to the server.'),
    key: filePath.optional().describe('Private key, PEM, of that client certificate.'),
  })
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
        listen: z.string().default('127.0.0.1:5050').describe('Address and port the gateway listens on: `host:port`, `[::1]:5050` for IPv6, `0.0.0.0:5050` for every interface.'),
        publicUrl: httpUrl
          .optional()
          .describe('The URL clients use to reach the gateway (behind a load balancer or ingress: its URL). The token realm in challenges, rewritten upload locations and the default token issuer come from it. Default: `http://` (or `https://` with `server.tls`) + `server.listen`.'),
        tls: z
          .object({
            cert: filePath.describe('Server certificate (PEM, with its chain). Reloaded on SIGHUP.'),
            key: filePath.describe('Private key of the server certificate (PEM). Reloaded on SIGHUP.'),
            clientCa: filePath
              .optional()
              .describe('CA that client certificates must chain to. When set, the gateway asks for (never requires) a client certificate; a valid one whose subject CN is a host UUID identifies that host (a subscription-manager consumer certificate).'),
          })
          .strict()
          .optional()
          .describe('When set, the gateway speaks HTTPS.'),
        trustedProxies: z
          .array(z.string())
          .default([])
          .describe('IP addresses or CIDRs of reverse proxies whose `X-Forwarded-*`, `X-Request-Id` and client-certificate headers are believed. Only the connection\'s own peer address counts.'),
        proxyClientCa: filePath
          .optional()
          .describe('CA that client certificates forwarded by a trusted proxy (in `server.clientCertificateHeader`) must chain to. Default: `server.tls.clientCa`; needed when the gateway speaks plain HTTP behind a TLS-terminating proxy.'),
        clientCertificateHeader: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a header name (letters, digits, "-", "_")')
          .default('X-RHSM-SSL-Client-Cert')
          .describe('The one request header a trusted proxy puts the client certificate in (Apache: `RequestHeader set X-RHSM-SSL-Client-Cert "%{SSL_CLIENT_CERT}s"`; nginx: `proxy_set_header X-RHSM-SSL-Client-Cert $ssl_client_escaped_cert`). Matched exactly, case aside: `SSL_CLIENT_CERT` and `SSL-Client-Cert` are different headers. A request from a trusted proxy that carries any other certificate header, or two of this one, is refused; the proxy must set this header on every request it forwards.'),
        shutdownGraceSeconds: z
          .number()
          .min(0)
          .max(3600)
          .default(8)
          .describe('SIGTERM/SIGINT: how long requests in flight may finish (a slow download) before the connections still open are closed and the process exits 0, in seconds. Keep it under the service manager\'s stop timeout.'),
        workers: z.number().int().min(1).max(256).default(1).describe('Processes sharing the listening port (node:cluster); a worker that dies is replaced. Also `serve --workers N`.'),
        requestTimeoutMs: z
          .number()
          .int()
          .min(100)
          .max(3_600_000)
          .default(60_000)
          .describe('A client that takes longer than this to send its request (headers and body) is answered 408 and its connection closed, in milliseconds; answers (a large blob) may take as long as they need.'),
        bodyLimitBytes: z
          .number()
          .int()
          .positive()
          .default(64 * 1024 * 1024)
          .describe('Largest request body accepted anywhere, in bytes (management pushes are the big ones; manifest pushes are bounded at 4 MiB regardless).'),
      })
      .strict()
      .prefault({})
      .describe('How the gateway listens and how clients reach it.'),
    database: z
      .object({
        url: z
          .string()
          .min(1)
          .refine((url) => /^(sqlite:|postgres(ql)?:\/\/)/.test(url), { message: 'must be sqlite://PATH or postgres://user:password@host/database' })
          .default('sqlite://./data/gateway.db')
          .describe('Where the gateway keeps its state: `sqlite://PATH` (relative to the working directory; `sqlite:///abs/path` for an absolute one; the file and its directory are created on first start) or `postgres://user:password@host:5432/database`. Migrated at start.'),
        poolSize: z.number().int().positive().default(10).describe('PostgreSQL: connections per process.'),
        connectionTimeoutMs: positiveMs.default(5_000).describe('PostgreSQL: how long to wait for a free connection, in milliseconds.'),
        statementTimeoutMs: positiveMs.default(30_000).describe('PostgreSQL: longest a statement may run, in milliseconds.'),
        busyTimeoutMs: positiveMs.default(5_000).describe('SQLite: how long a writer waits for the lock before failing, in milliseconds.'),
        migrateFrom: z
          .string()
          .min(1)
          .nullable()
          .default(null)
          .describe('PostgreSQL: on an empty database, copy this SQLite file\'s data in once (in one transaction, token signing keys included); the file is then renamed to `<file>.migrated-<time>`.'),
      })
      .strict()
      .prefault({})
      .describe('The database: an embedded SQLite file (the default) or PostgreSQL for several instances.'),
    backend: z
      .object({
        url: httpUrl.default('http://127.0.0.1:5000').describe('Base URL of the registry the gateway fronts (Pulp\'s content app, CNCF Distribution, Quay...); the gateway calls `{url}/v2/...`.'),
        mode: z
          .enum(['redirect', 'proxy'])
          .default('redirect')
          .describe('`redirect`: a redirect the backend answers for content is handed to the client (rewritten to `backend.clientUrl` when set); `proxy`: the gateway follows it and streams every byte itself.'),
        clientUrl: httpUrl
          .nullable()
          .default(null)
          .describe('Redirect mode: replace scheme, host and port of the backend\'s redirect locations with this URL (a load balancer in front of the content app).'),
        tls: tlsPeer.optional().describe('TLS towards the backend: its CA, and a client certificate if it wants one. A backend that trusts the gateway\'s own tokens and fetches them from the gateway over HTTPS needs the gateway\'s CA here.'),
        auth: z
          .object({
            username: z.string().min(1).describe('Robot account name at the backend.'),
            password: z.string().describe('Its password or token.'),
            realms: z
              .array(httpUrl)
              .default([])
              .describe('Token services (the realm of the backend\'s Bearer challenge) that may receive these credentials besides the backend\'s own origin and the gateway\'s own /v2/token. An entry with a path allows that path; an origin alone allows any path there. Any other realm is a 502 naming it.'),
            tokenCacheEntries: z
              .number()
              .int()
              .min(1)
              .max(1_000_000)
              .default(1_000)
              .describe('Backend tokens kept at once (one per repository and action); the least recently used go first.'),
          })
          .strict()
          .optional()
          .describe('Robot credentials for the backend; the client\'s own Authorization never reaches it. The gateway asks the backend once how it wants them: Basic, or its own token flow (the Bearer challenge\'s realm, with these as Basic there). Without it, a backend that answers 401 refuses every pull.'),
        timeouts: z
          .object({
            connectMs: positiveMs.default(5_000).describe('Connecting to the backend, in milliseconds.'),
            headersMs: positiveMs.default(30_000).describe('Waiting for the backend\'s response headers, in milliseconds.'),
            bodyMs: positiveMs.default(60_000).describe('Longest pause while reading a response body, in milliseconds.'),
          })
          .strict()
          .prefault({})
          .describe('Backend timeouts; each ends in 504 `BACKEND_TIMEOUT` for the client, never a hang.'),
        flatpakIndexPath: z
          .string()
          .regex(/^\/[A-Za-z0-9._~/-]*$/, 'must be an absolute path')
          .default('/index/static')
          .describe('Path of the flatpak index on the backend, served filtered to each caller at `/index/static`.'),
        blobCache: z
          .object({
            path: filePath.describe('Directory for the cached blobs (created 0700). Survives restarts; files are named by digest.'),
            maxBytes: z
              .number()
              .int()
              .min(1024 * 1024, 'must be at least 1 MiB (1048576)')
              .describe('Disk the cache may use, in bytes; the least recently used blobs go first beyond it.'),
          })
          .strict()
          .optional()
          .describe('Blobs kept on local disk by digest and served from there, once the backend has confirmed that the requested repository holds the digest. Written while the first client streams and kept only when the digest verifies. Off unless set. With `server.workers` > 1 each worker keeps its own part of the directory and of `maxBytes`. See docs/blob-cache.md.'),
        manifestCacheBytes: z
          .number()
          .int()
          .min(0)
          .default(32 * 1024 * 1024)
          .describe('Memory for manifests fetched by digest (immutable, so served again without a backend call, after the access decision). 0 disables.'),
        redirectCacheSeconds: z
          .number()
          .int()
          .min(0)
          .max(3600)
          .default(10)
          .describe('Redirect mode: how long a backend redirect for the same request is reused, in seconds. 0 disables.'),
        catalogCacheSeconds: z
          .number()
          .int()
          .min(1)
          .max(86_400)
          .default(30)
          .describe('With a `static` or `kubernetes` provider, `_catalog`, search and the flatpak index show the backend\'s own catalog (fetched with `backend.auth`), filtered per caller. A fetched catalog counts as fresh this many seconds; after that the old one is still answered while a new one loads in the background. A backend that refuses to list shows nothing until the next try.'),
        connections: z.number().int().positive().default(64).describe('Concurrent keep-alive connections to the backend.'),
      })
      .strict()
      .prefault({})
      .describe('The registry the gateway puts authentication and authorization in front of.'),
    upstream: z
      .object({
        url: httpUrl
          .nullable()
          .default(null)
          .describe('The management server (Katello/Foreman) that checks passwords for the `katello` provider and lists each user\'s and host\'s repositories. Null: `katello` logins answer 503 "not configured".'),
        registryPath: z
          .string()
          .regex(/^\/(?:[A-Za-z0-9._~-]+\/)*$/, 'must be an absolute path ending in "/" (e.g. "/v2/")')
          .default('/v2/')
          .describe('Where the management server\'s registry API is: token at `{url}{registryPath}token`, catalog at `{url}{registryPath}_catalog`.'),
        tls: tlsPeer.optional().describe('TLS towards the management server: its CA (Katello\'s server CA), and a client certificate if it wants one.'),
        timeoutMs: positiveMs.default(10_000).describe('Timeout of every call to the management server, in milliseconds.'),
        circuitBreaker: z
          .object({
            failures: z.number().int().positive().default(3).describe('Consecutive failures (network errors, timeouts, 5xx — never a 4xx a client caused) that open the circuit.'),
            probeSeconds: z.number().positive().max(3600).default(1).describe('While open, one probe goes through after this many seconds; the wait doubles while probes fail.'),
            openSeconds: z.number().positive().max(3600).default(2).describe('The longest wait between probes, in seconds: logins work again at most this long after the server does.'),
          })
          .strict()
          .prefault({})
          .describe('After that many consecutive failures, calls fail at once (503) while single probes test the server, so a dead management server costs clients no waiting.'),
      })
      .strict()
      .prefault({})
      .describe('The management server (Katello/Foreman) that owns users and their repositories.'),
    identity: z
      .object({
        providers: z
          .array(providerName)
          .min(1)
          .default(['katello'])
          .describe('Who may log in at `/v2/token`, tried in order; the first that accepts the credentials wins. `katello`: the management server checks the password (needs `upstream.url`); `static`: htpasswd users and robots from this file; `kubernetes`: the password is a cluster bearer token, checked with a TokenReview.'),
        static: z
          .object({
            htpasswd: filePath
              .nullable()
              .default(null)
              .describe('htpasswd file with bcrypt entries (`htpasswd -B`). Re-read on SIGHUP.'),
            robots: z
              .array(
                z
                  .object({
                    username: z.string().min(1).describe('Robot account name.'),
                    password: z.string().min(1).describe('Its password, or a bcrypt hash of one.'),
                  })
                  .strict(),
              )
              .default([])
              .describe('Machine accounts. Only robots may get `registry:catalog:*` in a token (a registry\'s own catalog is not filtered per caller).'),
            groups: z.record(z.string().min(1), z.array(z.string().min(1))).default({}).describe('Named groups of users and robots, for rules (`group:NAME`).'),
            rules: z
              .array(
                z
                  .object({
                    subjects: z
                      .array(z.string().min(1))
                      .min(1)
                      .describe('Who: a user or robot name, `group:NAME` (a configured group, or one from a Kubernetes review), `authenticated` (anyone logged in, by any provider, and hosts) or `anonymous` (everyone).'),
                    repositories: z.array(repositoryGlob).min(1).describe('Where: repository name globs; `*` within a path segment, `**` across segments.'),
                    actions: z.array(action).min(1).describe('What: `pull`, `push`, `delete` (push and delete need pull as well).'),
                  })
                  .strict(),
              )
              .default([])
              .describe('Who may do what where. The actions of all matching rules add up; nothing else is granted. Rules apply in addition to the repository list, never instead of it. Re-read on SIGHUP.'),
          })
          .strict()
          .prefault({})
          .describe('The `static` provider: users and rules kept in this configuration.'),
        kubernetes: z
          .object({
            apiServer: httpUrl.nullable().default(null).describe('URL of the Kubernetes API server (needed when `identity.providers` names `kubernetes`).'),
            tls: tlsPeer.optional().describe('TLS towards the API server (in a pod: `/var/run/secrets/kubernetes.io/serviceaccount/ca.crt`).'),
            tokenFile: filePath
              .nullable()
              .default(null)
              .describe('The gateway\'s own bearer token for TokenReview and SubjectAccessReview (a service account\'s, allowed by `system:auth-delegator`).'),
            audiences: z.array(z.string().min(1)).default([]).describe('TokenReview audiences a token must name; empty means the API server\'s default.'),
            authorization: z
              .object({
                group: z.string().default('image.openshift.io').describe('API group of the resource asked about.'),
                resource: z.string().min(1).default('imagestreams').describe('Resource asked about.'),
                subresource: z.string().default('layers').describe('Subresource asked about.'),
                namespace: z
                  .string()
                  .min(1)
                  .nullable()
                  .default(null)
                  .describe('Null: the repository\'s first path segment is the namespace and the rest the resource name. Set: every review asks in this namespace, without a name (one review per user answers for every repository).'),
                pullVerb: z.string().min(1).default('get').describe('Verb asked for pull.'),
                pushVerb: z.string().min(1).default('update').describe('Verb asked for push.'),
                deleteVerb: z.string().min(1).default('delete').describe('Verb asked for deleting manifests and blobs.'),
              })
              .strict()
              .prefault({})
              .describe('The SubjectAccessReview asked for each repository and action.'),
            cacheSeconds: z.number().int().min(0).max(3600).default(30).describe('How long TokenReview and SubjectAccessReview answers are reused, in seconds.'),
            timeoutMs: positiveMs.default(5_000).describe('Timeout of each call to the API server, in milliseconds.'),
          })
          .strict()
          .prefault({})
          .describe('The `kubernetes` provider: cluster tokens as passwords, reviews as permissions.'),
      })
      .strict()
      .prefault({})
      .describe('Who may log in, and (for `static` and `kubernetes`) what they may do.'),
    tokens: z
      .object({
        issuer: z
          .string()
          .min(1)
          .nullable()
          .default(null)
          .describe('`iss` of the gateway\'s JWTs; a registry that trusts them must name the same. Default: the public URL\'s origin.'),
        services: z
          .array(z.string().min(1))
          .default([])
          .describe('`service` (JWT `aud`) values the gateway accepts; the first is the one in its challenges. Default: the public URL\'s host.'),
        lifetimeSeconds: z.number().int().min(60).max(86_400).default(300).describe('Lifetime of the gateway\'s JWTs, in seconds.'),
        signingKey: filePath
          .nullable()
          .default(null)
          .describe('An EC P-256 private key (PEM) to sign with. Without it a key is generated and kept in the database, shared by every instance (`rotate-signing-key` adds a new one).'),
        verifyCertificates: z.array(filePath).default([]).describe('Certificates (PEM files) of earlier signing keys whose tokens should still verify.'),
      })
      .strict()
      .prefault({})
      .describe('The JWTs the gateway signs for `static` and `kubernetes` users (CNCF Distribution\'s token format).'),
    management: z
      .object({
        tokens: z
          .array(z.string().min(16, 'management tokens must be at least 16 characters'))
          .default([])
          .describe('Bearer secrets (16 characters or more) accepted on the management API, where Katello pushes repository lists and mappings. Empty, with no `clientCertCNs`: the management API refuses everyone. Reloaded on SIGHUP.'),
        clientCertCNs: z
          .array(z.string().min(1))
          .default([])
          .describe('Client-certificate subject CNs accepted on the management API instead of a secret (Foreman\'s, which Katello\'s sync pushes and Foreman\'s smart-proxy discovery present); needs `server.tls.clientCa`.'),
        proxyVersion: z
          .string()
          .regex(/^\d+\.\d+(?:\.\d+)?$/, 'must be a version such as 3.14.0')
          .nullable()
          .default(null)
          .describe('The version Foreman reads at `GET /version` when the gateway is registered as a smart proxy; Foreman warns when it differs from its own major.minor. Null: the gateway\'s own version.'),
      })
      .strict()
      .prefault({})
      .describe('Who may change the repository list and mappings (the management API).'),
    audit: z
      .object({
        destination: z
          .string()
          .min(1)
          .default('stdout')
          .describe('Where the audit log goes: `stdout`, `off`, or a file path (its directory is created if needed, so it must be writable; under systemd use the logs directory, `/var/log/container-gateway/`).'),
      })
      .strict()
      .prefault({})
      .describe('The audit log: every denied repository access, every login (never the password) and every management update, one JSON line each with `"audit":true`.'),
    metrics: z
      .object({
        listen: z.string().nullable().default(null).describe('`host:port` of a separate listener for `/metrics` (e.g. `127.0.0.1:9090`); null serves it on the main listener.'),
      })
      .strict()
      .prefault({})
      .describe('Prometheus metrics.'),
    limits: z
      .object({
        logins: z
          .object({
            slowAfter: z.number().int().min(0).default(5).describe('Failed logins (per user or address) answered at once; later ones wait `delayMs` first.'),
            delayMs: z.number().int().min(0).default(1_000).describe('The wait before answering a failed login past `slowAfter`, in milliseconds.'),
            perAccount: z.number().int().positive().default(10).describe('Failed logins for one user name within the window; after that, 429 with `Retry-After`, without asking any provider.'),
            perAddress: z.number().int().positive().default(50).describe('Failed logins from one client address within the window; after that, 429.'),
            windowSeconds: z.number().int().positive().default(900).describe('The window the failures are counted in, in seconds.'),
          })
          .strict()
          .prefault({})
          .describe('Failed-login throttling.'),
        passwordChecks: z
          .object({
            workers: z.number().int().min(1).max(64).nullable().default(null).describe('Worker threads for bcrypt checks (null: one per CPU but one, at least one).'),
            queue: z.number().int().min(0).max(100_000).default(64).describe('Checks that may wait for a worker; beyond, logins get 503 with `Retry-After`.'),
          })
          .strict()
          .prefault({})
          .describe('bcrypt checks of the static provider run off the event loop.'),
      })
      .strict()
      .prefault({})
      .describe('Limits against guessing passwords.'),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Level of the request log (one JSON line per request, on stdout).'),
      })
      .strict()
      .prefault({})
      .describe('The request log.'),
  })
  .strict();

export type RawConfig = z.infer<typeof configSchema>;

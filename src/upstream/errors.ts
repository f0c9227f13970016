/**
 * What can go wrong talking to the management server, as the token endpoint needs to tell it
 * apart. Translated into client-facing errors at the handler edge (token/plugin.ts).
 */
export class UpstreamRejected extends Error {
  override readonly name = 'UpstreamRejected';
}

/** A server the gateway asks (the management server, a Kubernetes API server) that could not answer; `service` names it for the client-facing message. */
abstract class UpstreamServiceError extends Error {
  constructor(
    message?: string,
    readonly service = 'the management server',
  ) {
    super(message);
  }
}

export class UpstreamUnavailable extends UpstreamServiceError {
  override readonly name: string = 'UpstreamUnavailable';
}

/** No management server is configured (upstream.url): nothing to reach, which is not the same as unreachable. */
export class UpstreamNotConfigured extends UpstreamUnavailable {
  override readonly name: string = 'UpstreamNotConfigured';
}

export class UpstreamFailed extends UpstreamServiceError {
  override readonly name = 'UpstreamFailed';

  constructor(
    message?: string,
    service?: string,
    /** The HTTP status the server answered, when it was one (5xx counts against it, 4xx does not). */
    readonly status?: number,
  ) {
    super(message, service);
  }
}

/**
 * What can go wrong talking to the management server, as the token endpoint needs to tell it
 * apart. Translated into client-facing errors at the handler edge (token/plugin.ts).
 */
export class UpstreamRejected extends Error {
  override readonly name = 'UpstreamRejected';
}

/** `service` names the server for the client-facing message (the management server, a Kubernetes API server). */
export class UpstreamUnavailable extends Error {
  override readonly name = 'UpstreamUnavailable';
  constructor(
    message?: string,
    readonly service = 'the management server',
  ) {
    super(message);
  }
}

export class UpstreamFailed extends Error {
  override readonly name = 'UpstreamFailed';
  constructor(
    message?: string,
    readonly service = 'the management server',
  ) {
    super(message);
  }
}

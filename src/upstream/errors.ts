/**
 * What can go wrong talking to the management server, as the token endpoint needs to tell it
 * apart. Translated into client-facing errors at the handler edge (token/plugin.ts).
 */
export class UpstreamRejected extends Error {
  override readonly name = 'UpstreamRejected';
}

export class UpstreamUnavailable extends Error {
  override readonly name = 'UpstreamUnavailable';
}

export class UpstreamFailed extends Error {
  override readonly name = 'UpstreamFailed';
}

/**
 * CircuitBreaker: after `failureThreshold` consecutive failures of the management server, calls
 * fail at once (UpstreamUnavailable), so a dead or hanging Katello costs clients no waiting time
 * per login or host lookup (Verdaccio's max_fails/fail_timeout). While open, one call — the
 * probe — is let through after `firstProbeMs`; while the others keep failing at once, its
 * outcome closes the circuit or opens it again with the wait doubled, up to `maxProbeMs`. So a
 * server that comes back is used again within `maxProbeMs`, and one that stays dead is asked
 * ever less often.
 *
 * Only what says the server is failing counts: a network error, a timeout, a 5xx. An answer —
 * a refused password, or a 4xx that a client's own input caused (a URL too long for a front
 * proxy) — shows the server is up, so a client can never switch logins off for everybody.
 */
import { UpstreamFailed, UpstreamUnavailable } from './errors.js';

export interface CircuitBreakerOptions {
  readonly failureThreshold: number;
  /** How long the circuit stays open before the first probe. */
  readonly firstProbeMs: number;
  /** The longest wait between probes while they keep failing. */
  readonly maxProbeMs: number;
  readonly now?: () => number;
}

/** Whether an error says the server is failing (as opposed to answering). */
export function isServerFailure(error: unknown): boolean {
  if (error instanceof UpstreamUnavailable) return true;
  return error instanceof UpstreamFailed && error.status !== undefined && error.status >= 500;
}

export class CircuitBreaker {
  private consecutiveFailures = 0;
  private probeAt = 0;
  private probeDelayMs: number;
  private probeInFlight = false;

  constructor(private readonly options: CircuitBreakerOptions) {
    this.probeDelayMs = options.firstProbeMs;
  }

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.consecutiveFailures < this.options.failureThreshold) return 'closed';
    return this.now() < this.probeAt ? 'open' : 'half-open';
  }

  async run<T>(call: () => Promise<T>): Promise<T> {
    const state = this.state;
    if (state === 'open' || (state === 'half-open' && this.probeInFlight)) {
      throw new UpstreamUnavailable('the management server is failing; not trying again for a moment');
    }
    const probe = state === 'half-open';
    if (probe) this.probeInFlight = true;
    try {
      const result = await call();
      this.close();
      return result;
    } catch (error) {
      if (!isServerFailure(error)) this.close();
      else this.recordFailure(probe);
      throw error;
    } finally {
      if (probe) this.probeInFlight = false;
    }
  }

  private close(): void {
    this.consecutiveFailures = 0;
    this.probeDelayMs = this.options.firstProbeMs;
  }

  private recordFailure(probe: boolean): void {
    this.consecutiveFailures += 1;
    if (this.consecutiveFailures < this.options.failureThreshold) return;
    if (probe) this.probeDelayMs = Math.min(this.probeDelayMs * 2, this.options.maxProbeMs);
    this.probeAt = this.now() + this.probeDelayMs;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}

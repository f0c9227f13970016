/**
 * CircuitBreaker: after `failureThreshold` consecutive failures of the management server, calls
 * fail at once for `openMs` (UpstreamUnavailable), so a dead or hanging Katello costs clients no
 * waiting time per login or host lookup (Verdaccio's max_fails/fail_timeout). After that one
 * call is let through; its outcome closes or re-opens the circuit. Refusals (wrong password) are
 * answers, not failures.
 */
import { UpstreamRejected, UpstreamUnavailable } from './errors.js';

export interface CircuitBreakerOptions {
  readonly failureThreshold: number;
  readonly openMs: number;
  readonly now?: () => number;
}

export class CircuitBreaker {
  private consecutiveFailures = 0;
  private openUntil = 0;
  private trialInFlight = false;

  constructor(private readonly options: CircuitBreakerOptions) {}

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.consecutiveFailures < this.options.failureThreshold) return 'closed';
    return this.now() < this.openUntil ? 'open' : 'half-open';
  }

  async run<T>(call: () => Promise<T>): Promise<T> {
    const state = this.state;
    if (state === 'open' || (state === 'half-open' && this.trialInFlight)) {
      throw new UpstreamUnavailable('the management server is failing; not trying again for a while');
    }
    const trial = state === 'half-open';
    if (trial) this.trialInFlight = true;
    try {
      const result = await call();
      this.consecutiveFailures = 0;
      return result;
    } catch (error) {
      if (error instanceof UpstreamRejected) {
        this.consecutiveFailures = 0;
      } else {
        this.consecutiveFailures += 1;
        if (this.consecutiveFailures >= this.options.failureThreshold) this.openUntil = this.now() + this.options.openMs;
      }
      throw error;
    } finally {
      if (trial) this.trialInFlight = false;
    }
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}

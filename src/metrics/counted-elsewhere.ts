/**
 * A Prometheus counter whose counting is done elsewhere (plain numbers on a hot path, a total
 * kept by another part): prom-client's Counter, given what grew since the last scrape when
 * /metrics is read. Each series is a stable labels object and its running total.
 */
import { Counter, type Registry } from 'prom-client';

export interface CountedSeries {
  /** The same object for the same series on every scrape. */
  readonly labels: Readonly<Record<string, string>>;
  readonly total: number;
}

export function counterCountedElsewhere(registry: Registry, name: string, help: string, labelNames: readonly string[], read: () => Iterable<CountedSeries>): void {
  const reported = new WeakMap<object, number>();
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const { labels, total } of read()) {
        const before = reported.get(labels) ?? 0;
        if (total > before) this.inc(labels, total - before);
        reported.set(labels, total);
      }
    },
  });
}

/**
 * RequestTallies against prom-client itself: the same requests recorded through the tallies and
 * through a prom-client Counter and Histogram scrape to the same lines, however scrapes and
 * requests interleave.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { RequestTallies } from '../../../src/metrics/request-tallies.js';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

function reference() {
  const registry = new Registry();
  const counter = new Counter({ name: 'cg_http_requests_total', help: 'requests', labelNames: ['route', 'method', 'status'], registers: [registry] });
  const histogram = new Histogram({ name: 'cg_http_request_duration_seconds', help: 'durations', labelNames: ['route'], buckets: BUCKETS, registers: [registry] });
  return {
    registry,
    record: (route: string, method: string, status: number, seconds: number) => {
      counter.inc({ route, method, status: String(status) });
      histogram.observe({ route }, seconds);
    },
  };
}

function tallies() {
  const registry = new Registry();
  const recorder = new RequestTallies({
    registry,
    requests: { name: 'cg_http_requests_total', help: 'requests' },
    durations: { name: 'cg_http_request_duration_seconds', help: 'durations', buckets: BUCKETS },
  });
  return { registry, record: recorder.record.bind(recorder) };
}

/** The scrape as a set of lines with label pairs in a fixed order (Prometheus does not order them). */
async function lines(registry: Registry): Promise<string[]> {
  const text = await registry.metrics();
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const match = /^([^{ ]+)\{([^}]*)\} (.*)$/.exec(line);
      if (match === null) return line;
      const pairs = (match[2] as string).split(',').sort();
      return `${match[1]}{${pairs.join(',')}} ${Number(match[3])}`;
    })
    .sort();
}

const request = fc.record({
  route: fc.constantFrom('manifest', 'blob', 'tags', '/v2/token', 'unmatched'),
  method: fc.constantFrom('GET', 'HEAD', 'PUT'),
  status: fc.constantFrom(200, 302, 401, 404, 500),
  // On a bucket bound, just off one, and anywhere up to beyond the last.
  seconds: fc.oneof(fc.constantFrom(...BUCKETS), fc.double({ min: 0, max: 20, noNaN: true })),
});

describe('RequestTallies', () => {
  it('scrapes as prom-client does for the same requests, across interleaved scrapes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(request, { maxLength: 30 }), { minLength: 1, maxLength: 4 }), async (batches) => {
        const expected = reference();
        const actual = tallies();
        for (const batch of batches) {
          for (const { route, method, status, seconds } of batch) {
            expected.record(route, method, status, seconds);
            actual.record(route, method, status, seconds);
          }
          assert.deepEqual(await lines(actual.registry), await lines(expected.registry));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('counts a request once however often it is scraped', async () => {
    const { registry, record } = tallies();
    record('manifest', 'GET', 200, 0.002);
    await registry.metrics();
    await registry.metrics();
    record('manifest', 'GET', 200, 0.002);
    const text = await registry.metrics();
    assert.match(text, /cg_http_requests_total\{route="manifest",method="GET",status="200"\} 2/);
    assert.match(text, /cg_http_request_duration_seconds_count\{route="manifest"\} 2/);
  });
});

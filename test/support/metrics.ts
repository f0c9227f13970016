/**
 * Reading the gateway's /metrics (Prometheus text format) in tests: one sample's value, by name
 * and labels, so a test can say how a counter moved.
 */
import { httpRequest } from '../integration/harness/http-client.js';

/**
 * The value of the samples of `name` whose labels include every pair of `labels`, summed (a
 * counter split by labels the test does not name counts whole); undefined when there is none.
 */
export function sampleOf(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  let total: number | undefined;
  for (const line of text.split('\n')) {
    const labelled = line.startsWith(`${name}{`);
    if (!labelled && !line.startsWith(`${name} `)) continue;
    const pairs = labelled ? line.slice(name.length + 1, line.indexOf('}')).split(',') : [];
    if (!wanted.every((pair) => pairs.includes(pair))) continue;
    total = (total ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** The value of one sample of the gateway at `baseUrl`, 0 when it has none yet (a counter never moved). */
export async function scrapeSample(baseUrl: string, name: string, labels: Readonly<Record<string, string>> = {}): Promise<number> {
  const text = (await httpRequest(`${baseUrl}/metrics`)).body.toString();
  return sampleOf(text, name, labels) ?? 0;
}

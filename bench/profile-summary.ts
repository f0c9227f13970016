/**
 * profile-summary.ts — what a `--profile` run's .cpuprofile says, as text: busy and idle time, and
 * self time by package or file and by function (the figures the results notes quote).
 *
 *   node --import tsx bench/profile-summary.ts <file.cpuprofile> [top]
 *
 * Self time of a native function (writev, writeLatin1String, writeBuffer) is mostly the system
 * call it makes: for loopback sockets, the kernel's network stack on both ends.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const [file, topArgument] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write('usage: node --import tsx bench/profile-summary.ts <file.cpuprofile> [top]\n');
  process.exit(2);
}
const top = Number(topArgument ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));

const timeByNode = new Map<number, number>();
profile.samples.forEach((id, index) => timeByNode.set(id, (timeByNode.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));

const shortUrl = (url: string): string => url.replace(/^file:\/\/.*\/node_modules\//, 'nm:').replace(/^file:\/\/.*\/dist\//, 'dist:');
const packageOf = (url: string): string => {
  if (!url.startsWith('nm:')) return url;
  const parts = url.slice(3).split('/');
  return `nm:${parts[0]?.startsWith('@') === true ? `${parts[0]}/${parts[1] ?? ''}` : (parts[0] ?? '')}`;
};

let total = 0;
let idle = 0;
const byFunction = new Map<string, number>();
const byPackage = new Map<string, number>();
for (const [id, time] of timeByNode) {
  const frame = nodes.get(id)?.callFrame;
  if (frame === undefined) continue;
  total += time;
  if (frame.functionName === '(idle)') {
    idle += time;
    continue;
  }
  const url = shortUrl(frame.url);
  const name = `${frame.functionName === '' ? '(anonymous)' : frame.functionName} ${url}${url === '' ? '' : `:${frame.lineNumber}`}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + time);
  const owner = url === '' ? frame.functionName : packageOf(url);
  byPackage.set(owner, (byPackage.get(owner) ?? 0) + time);
}

const busy = total - idle;
const lines = [`${file}`, `total ${(total / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s, busy ${(busy / 1e6).toFixed(2)} s`];
const table = (title: string, entries: Map<string, number>): void => {
  lines.push(`-- ${title} (share of busy time)`);
  for (const [name, time] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${((100 * time) / busy).toFixed(1).padStart(5)}%  ${name}`);
};
table('by package or file', byPackage);
table('self time by function', byFunction);
process.stdout.write(`${lines.join('\n')}\n`);

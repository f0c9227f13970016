/**
 * report.ts — the result model, target checks, and the three renderings: console table, JSON, Markdown.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fmt, type Summary } from './measure.js';

export type CheckStatus = 'pass' | 'fail' | 'invalid' | 'error';

export interface Check {
  /** What the target is, e.g. "req/s ≥ 0.85× registry". */
  target: string;
  status: CheckStatus;
  actual: string;
}

export interface Row {
  /** e.g. "3-digest" */
  id: string;
  scenario: number;
  title: string;
  /** What the headline numbers are in: 'req/s', 'MB/s', 'ms', 's'. */
  unit: string;
  baselineLabel?: string;
  baselineValue?: number;
  gatewayValue?: number;
  /** gateway ÷ baseline of the headline value. */
  ratio?: number;
  baseline?: Summary;
  gateway?: Summary;
  metrics?: Record<string, number | string | boolean>;
  checks: Check[];
  notes: string[];
  error?: string;
}

export interface Report {
  date: string;
  startedAt: string;
  durationS: number;
  mode: 'quick' | 'full';
  settings: Record<string, unknown>;
  environment: Record<string, string | number>;
  rows: Row[];
  /** Problems outside any one scenario (setup steps that failed). */
  problems: string[];
}

export function check(target: string, ok: boolean, actual: string, invalidReason?: string): Check {
  if (invalidReason !== undefined) return { target, status: 'invalid', actual: `${actual} (${invalidReason})` };
  return { target, status: ok ? 'pass' : 'fail', actual };
}

function statusWord(status: CheckStatus): string {
  return { pass: 'PASS', fail: 'FAIL', invalid: 'INVALID', error: 'ERROR' }[status];
}

function rowVerdict(row: Row): string {
  if (row.error !== undefined) return 'ERROR';
  if (row.checks.length === 0) return '-';
  return row.checks.map((c) => statusWord(c.status)).join(' ');
}

function pair(a: number | undefined, b: number | undefined, digits: number): string {
  return `${fmt(a, digits)} → ${fmt(b, digits)}`;
}

function digitsFor(unit: string, value: number | undefined): number {
  if (value === undefined || !Number.isFinite(value)) return 0;
  if (unit === 's') return 2;
  if (unit === 'ms') return 1;
  return Math.abs(value) >= 100 ? 0 : 1;
}

interface Column {
  title: string;
  cell: (row: Row) => string;
  align?: 'left' | 'right';
}

const COLUMNS: Column[] = [
  { title: 'id', cell: (r) => r.id, align: 'left' },
  { title: 'scenario', cell: (r) => r.title, align: 'left' },
  { title: 'unit', cell: (r) => r.unit, align: 'left' },
  { title: 'baseline', cell: (r) => fmt(r.baselineValue, digitsFor(r.unit, r.baselineValue)) },
  { title: 'gateway', cell: (r) => fmt(r.gatewayValue, digitsFor(r.unit, r.gatewayValue)) },
  { title: 'ratio', cell: (r) => (r.ratio === undefined ? '-' : `${fmt(r.ratio, 2)}×`) },
  { title: 'p50 ms b→g', cell: (r) => (r.gateway ? pair(r.baseline?.p50Ms, r.gateway.p50Ms, 2) : '-') },
  { title: 'p99 ms b→g', cell: (r) => (r.gateway ? pair(r.baseline?.p99Ms, r.gateway.p99Ms, 2) : '-') },
  {
    title: 'CPU s/1k req b→g',
    cell: (r) =>
      r.gateway === undefined
        ? '-'
        : r.unit === 'MB/s'
          ? `${pair(r.baseline?.cpuSecPerGB, r.gateway.cpuSecPerGB, 2)} s/GB`
          : pair(r.baseline?.cpuSecPerKReq, r.gateway.cpuSecPerKReq, 3),
  },
  { title: 'gw RSS MiB', cell: (r) => fmt(r.gateway?.peakRssMiB, 0) },
  { title: 'targets', cell: rowVerdict, align: 'left' },
];

export function consoleTable(rows: Row[]): string {
  const cells = rows.map((row) => COLUMNS.map((c) => c.cell(row)));
  const widths = COLUMNS.map((c, i) => Math.max(c.title.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (values: string[]): string =>
    values
      .map((v, i) => (COLUMNS[i]?.align === 'left' ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const out = [line(COLUMNS.map((c) => c.title)), line(widths.map((w) => '-'.repeat(w)))];
  for (const row of cells) out.push(line(row));
  const details: string[] = [];
  for (const row of rows) {
    if (row.error !== undefined) details.push(`${row.id}: ERROR ${row.error.split('\n')[0] ?? ''}`);
    for (const c of row.checks) details.push(`${row.id}: ${statusWord(c.status)} ${c.target}: ${c.actual}`);
  }
  return `${out.join('\n')}\n\n${details.join('\n')}`;
}

function mdEscape(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function markdown(report: Report): string {
  const lines: string[] = [];
  lines.push(`# Gateway benchmark ${report.date} (${report.mode})`, '');
  lines.push(
    `Started ${report.startedAt}, took ${Math.round(report.durationS)} s. ` +
      'Ratios are gateway ÷ baseline in the same run (rounds alternate baseline/gateway; medians of rounds). ' +
      'See bench/README.md for how to read them.',
    '',
  );
  lines.push('## Environment', '');
  for (const [key, value] of Object.entries(report.environment)) lines.push(`- ${key}: ${String(value)}`);
  lines.push(`- settings: \`${JSON.stringify(report.settings)}\``, '');

  const all: CheckStatus[] = report.rows.flatMap((r) => (r.error !== undefined ? ['error' as const] : r.checks.map((c) => c.status)));
  const count = (s: CheckStatus): number => all.filter((status) => status === s).length;
  lines.push('## Targets', '');
  lines.push(`${count('pass')} pass, ${count('fail')} fail, ${count('invalid')} invalid, ${count('error')} error.`, '');
  lines.push('| id | target | actual | result |', '|---|---|---|---|');
  for (const row of report.rows) {
    if (row.error !== undefined) lines.push(`| ${row.id} | (scenario failed) | ${mdEscape(row.error.slice(0, 300))} | **ERROR** |`);
    for (const c of row.checks) {
      const word = statusWord(c.status);
      lines.push(`| ${row.id} | ${mdEscape(c.target)} | ${mdEscape(c.actual)} | ${c.status === 'pass' ? word : `**${word}**`} |`);
    }
  }
  lines.push('');

  lines.push('## Results', '');
  lines.push(`| ${COLUMNS.map((c) => c.title).join(' | ')} |`);
  lines.push(`|${COLUMNS.map((c) => (c.align === 'left' ? '---' : '---:')).join('|')}|`);
  for (const row of report.rows) lines.push(`| ${COLUMNS.map((c) => mdEscape(c.cell(row))).join(' | ')} |`);
  lines.push('');

  lines.push('## Details', '');
  for (const row of report.rows) {
    lines.push(`### ${row.id}: ${row.title}`, '');
    if (row.baselineLabel !== undefined) lines.push(`- baseline: ${row.baselineLabel}`);
    for (const side of ['baseline', 'gateway'] as const) {
      const s = row[side];
      if (s === undefined) continue;
      lines.push(
        `- ${side} (${s.label}, ${s.tool}, ${s.rounds} rounds, ${s.requests} requests, ${s.errors} errors): ` +
          `${fmt(s.reqPerSec, 0)} req/s, ${fmt(s.mbPerSec, 1)} MB/s, p50 ${fmt(s.p50Ms, 2)} ms, p99 ${fmt(s.p99Ms, 2)} ms, ` +
          `CPU ${fmt(s.cpuSecPerKReq, 3)} s per 1k requests (${fmt(s.cpuSecPerGB, 2)} s per GB)` +
          (s.peakRssMiB !== undefined ? `, peak RSS ${fmt(s.peakRssMiB, 0)} MiB` : '') +
          (s.rssGrowthMiB !== undefined ? ` (growth ${fmt(s.rssGrowthMiB, 1)} MiB)` : '') +
          (s.alsoCpuLabel !== undefined ? `; ${s.alsoCpuLabel} CPU ${fmt(s.alsoCpuSecPerKReq, 3)} s per 1k` : ''),
      );
    }
    for (const [key, value] of Object.entries(row.metrics ?? {})) {
      lines.push(`- ${key}: ${typeof value === 'number' ? fmt(value, Number.isInteger(value) ? 0 : 3) : String(value)}`);
    }
    for (const note of row.notes) lines.push(`- note: ${mdEscape(note)}`);
    if (row.error !== undefined) lines.push('', '```', row.error, '```');
    lines.push('');
  }
  if (report.problems.length > 0) {
    lines.push('## Setup problems', '');
    for (const p of report.problems) lines.push(`- ${mdEscape(p)}`);
    lines.push('');
  }
  return lines.join('\n');
}

export async function writeReport(dir: string, report: Report): Promise<{ json: string; md: string }> {
  await mkdir(dir, { recursive: true });
  // A partial run (--only) never replaces the day's full run, nor a quick one.
  const only = report.settings.only;
  const partial = Array.isArray(only) ? `-only-${only.join('-')}` : '';
  const base = path.join(dir, `${report.date}${report.mode === 'quick' ? '-quick' : ''}${partial}`);
  const json = `${base}.json`;
  const md = `${base}.md`;
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(md, markdown(report));
  return { json, md };
}

/**
 * How the serving process's V8 heap is sized. V8's default growth is tuned for throughput: under
 * a steady stream of requests it let the old generation grow to four times what survives a full
 * collection before collecting it, so a gateway holding 30 MiB of live objects peaked above
 * 200 MiB of RSS (measured: 64 connections on one manifest against an instant backend). With
 * --optimize-for-size it grows conservatively: peak RSS 135 MiB, with the same CPU per request
 * (26.4 µs either way, same measurement) and the same throughput for blob transfers, whose
 * buffers are pooled (backend/bulk/). V8 reads this flag as it goes, so setting it when `serve` starts
 * works as well as on the command line.
 */
import v8 from 'node:v8';

export function sizeHeapForMemory(): void {
  v8.setFlagsFromString('--optimize-for-size');
}

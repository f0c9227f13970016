/**
 * Running N worker processes that share the listening port (node:cluster). The primary only
 * supervises: it migrates the database once before forking (so workers never race on the
 * schema), replaces a worker that dies unexpectedly, and on SIGTERM/SIGINT asks every worker to
 * drain its in-flight requests and exits when they are gone (bounded).
 */
import cluster from 'node:cluster';

const RESTART_DELAY_MS = 500;
/** Beyond the workers' own drain: time for them to exit once it is over. */
const EXIT_MARGIN_MS = 1_000;

export interface Supervisor {
  readonly log: (message: string, fields?: Record<string, unknown>) => void;
  /** How long a worker may take to drain and exit (server.shutdownGraceSeconds and its forced close). */
  readonly drainMs: number;
}

/** Tells a worker which of the N it is; a replacement takes the slot of the worker it replaces. */
const WORKER_SLOT_VARIABLE = 'CONTAINER_GATEWAY_WORKER_SLOT';

export function superviseWorkers(count: number, supervisor: Supervisor): void {
  let stopping = false;
  const slots = new Map<number, number>();
  const fork = (slot: number) => slots.set(cluster.fork({ [WORKER_SLOT_VARIABLE]: String(slot) }).id, slot);
  for (let slot = 0; slot < count; slot += 1) fork(slot);

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    supervisor.log('worker died; starting a replacement', { pid: worker.process.pid, code, signal });
    const slot = slots.get(worker.id) ?? 0;
    slots.delete(worker.id);
    setTimeout(() => fork(slot), RESTART_DELAY_MS).unref();
  });

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    supervisor.log('stopping workers', { signal });
    const workers = Object.values(cluster.workers ?? {});
    if (workers.length === 0) process.exit(0);
    for (const worker of workers) worker?.process.kill('SIGTERM');
    setTimeout(() => process.exit(1), supervisor.drainMs + EXIT_MARGIN_MS).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export function isWorkerProcess(): boolean {
  return cluster.isWorker;
}

/**
 * Which of the workers this process is (0 to N-1; a replacement keeps the slot), or undefined when
 * it runs alone. What a worker keeps on disk of its own (the blob cache) is kept per slot.
 */
export function workerSlot(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const slot = Number(process.env[WORKER_SLOT_VARIABLE]);
  return Number.isInteger(slot) && slot >= 0 ? slot : undefined;
}

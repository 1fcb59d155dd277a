/**
 * Prints job state changes in the demo's terminal. It is itself a `SeennClient` per visitor,
 * connected to the demo's own bridge from Node: the same client the page uses, on the server side.
 */
import { SeennClient, type SeennJob } from '../../src/client/index.js';
import type { Seenn } from '../../src/index.js';

/** What was last printed for a job, so only changes are printed. */
interface Printed {
  status: string;
  stage: number;
}

function describeJob(job: SeennJob): string {
  const parts = [`${job.status.padEnd(9)} ${String(job.progress).padStart(3)} %`];
  if (job.stage !== undefined) parts.push(`stage ${job.stage.current}/${job.stage.total} ${job.stage.name}`);
  if (job.status === 'queued' && job.queue !== undefined) parts.push(`#${job.queue.position} in line`);
  if (job.children !== undefined) parts.push(`children ${job.children.completed}/${job.children.total} done`);
  if (job.error !== undefined) parts.push(`error ${job.error.code}: ${job.error.message}`);
  return parts.join(' · ');
}

/** One Node client per visitor, printing status and stage changes of their jobs. */
export class JobLog {
  private readonly clients = new Map<string, SeennClient>();
  private readonly printed = new Map<string, Printed>();

  /**
   * @param seenn - issues the clients' tokens
   * @param baseUrl - the bridge, e.g. `http://127.0.0.1:3000/v1`
   * @param print - where lines go
   */
  constructor(
    private readonly seenn: Seenn,
    private readonly baseUrl: string,
    private readonly print: (line: string) => void,
  ) {}

  /** Starts following `userId`'s jobs (once per user). */
  follow(userId: string): SeennClient {
    const known = this.clients.get(userId);
    if (known !== undefined) return known;
    const client = new SeennClient({
      baseUrl: this.baseUrl,
      userId,
      token: () => this.seenn.tokens.issue({ userId, ttlSeconds: 3_600 }),
    });
    client.on('job', (job) => this.onJob(userId, job));
    client.on('error', (error) => this.print(`[${userId}] client: ${error.code} ${error.message}`));
    client.connect();
    this.clients.set(userId, client);
    return client;
  }

  /** Closes every client. */
  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private onJob(userId: string, job: SeennJob): void {
    const before = this.printed.get(job.id);
    const stage = job.stage?.current ?? 0;
    if (before !== undefined && before.status === job.status && before.stage === stage) return;
    this.printed.set(job.id, { status: job.status, stage });
    const indent = job.parent !== undefined ? '    └ ' : '';
    this.print(`[${userId}] ${indent}${job.title}: ${describeJob(job)}`);
  }
}

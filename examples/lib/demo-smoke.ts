/**
 * `npm run demo -- --smoke`: starts a video job and a batch through the demo's own routes, follows
 * them with a Node `SeennClient` until they finish, and says whether they completed.
 */
import type { SeennJob } from '../../src/client/index.js';
import type { JobLog } from './demo-log.js';

async function post(url: string, body: unknown): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${url} answered ${response.status}: ${await response.text()}`);
  return response.json();
}

/** Runs the smoke check; resolves `true` when every job completed within `timeoutMs`. */
export async function runSmoke(baseUrl: string, log: JobLog, timeoutMs: number): Promise<boolean> {
  const userId = 'smoke-user';
  const client = log.follow(userId);
  const started = (await Promise.all([
    post(`${baseUrl}/demo/jobs/video`, { userId }),
    post(`${baseUrl}/demo/jobs/batch`, { userId }),
  ])) as SeennJob[];
  const ids = started.map((job) => job.id);
  const finished = (): boolean => ids.every((id) => client.getJob(id)?.status === 'completed');
  const done = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      off();
      resolve(false);
    }, timeoutMs);
    const check = (): void => {
      if (!finished()) return;
      clearTimeout(timer);
      off();
      resolve(true);
    };
    const off = client.on('job', check);
    for (const id of ids) client.watch(id);
    check();
  });
  console.log(
    done
      ? `smoke: ok (${ids.length} jobs completed)`
      : `smoke: FAILED, jobs not completed within ${timeoutMs} ms: ${ids.map((id) => `${id}=${client.getJob(id)?.status ?? 'unknown'}`).join(', ')}`,
  );
  return done;
}

/**
 * The demo's HTTP server: the page and its script, demo-only routes to get a token and start jobs,
 * the seenn-bullmq bridge at `/v1` and the admin route (the Seenn page, bull-board, metrics) at
 * `/admin`.
 */
import { readFile } from 'node:fs/promises';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Seenn } from '../../src/index.js';
import { WEB_DIR } from './demo-bundle.js';
import { DEMO_QUEUES } from './demo-workers.js';

/** What the demo server needs. */
export interface DemoServerInput {
  seenn: Seenn;
  /** The page script (built by `buildDemoBundle`). */
  bundle: string;
  /** Called with each user that asks for a token (the demo prints their jobs' changes). */
  onVisitor: (userId: string) => void;
  /** Bridge heartbeat; short in tests. */
  heartbeatMs?: number;
  /** The admin route's token (at least 32 characters). */
  adminToken: string;
}

/** How many images a demo batch has. */
export const BATCH_SIZE = 5;

const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Reads the visitor's id from the body. In a real app the user comes from your own session, never from the body. */
function visitor(req: Request, res: Response): string | null {
  const userId: unknown = (req.body as { userId?: unknown } | undefined)?.userId;
  if (typeof userId === 'string' && USER_ID.test(userId)) return userId;
  res.status(400).json({
    error: {
      code: 'VALIDATION_ERROR',
      message: 'Expected a JSON body { "userId": "<letters, digits, _ or ->" }',
      details: {},
    },
  });
  return null;
}

/** Builds the Express app. */
export async function createDemoApp(input: DemoServerInput): Promise<express.Express> {
  const { seenn, bundle, onVisitor } = input;
  const [html, css] = await Promise.all([
    readFile(`${WEB_DIR}index.html`, 'utf8'),
    readFile(`${WEB_DIR}style.css`, 'utf8'),
  ]);
  const counters = new Map<string, number>();
  const nextNumber = (userId: string): number => {
    const value = (counters.get(userId) ?? 0) + 1;
    counters.set(userId, value);
    return value;
  };

  const app = express();
  app.disable('x-powered-by');
  app.get('/', (_req, res) => {
    res.type('html').send(html);
  });
  app.get('/style.css', (_req, res) => {
    res.type('css').send(css);
  });
  app.get('/app.js', (_req, res) => {
    res.type('js').set('Cache-Control', 'no-cache').send(bundle);
  });

  // Demo-only routes: in your app these are your own backend's, behind your own login.
  app.use('/demo', express.json({ limit: '4kb' }));
  app.post('/demo/token', async (req, res) => {
    const userId = visitor(req, res);
    if (userId === null) return;
    onVisitor(userId);
    res.json({ token: await seenn.tokens.issue({ userId, ttlSeconds: 3_600 }) });
  });
  app.post('/demo/jobs/video', async (req, res) => {
    const userId = visitor(req, res);
    if (userId === null) return;
    onVisitor(userId);
    const job = await seenn.jobs.start({
      queue: DEMO_QUEUES.video,
      userId,
      jobType: 'video',
      title: `Video #${nextNumber(userId)}`,
      data: { prompt: 'a cat surfing at sunset' },
    });
    res.status(201).json(job);
  });

  app.post('/demo/jobs/story', async (req, res) => {
    const userId = visitor(req, res);
    if (userId === null) return;
    onVisitor(userId);
    const job = await seenn.jobs.start({
      queue: DEMO_QUEUES.story,
      userId,
      jobType: 'story',
      title: `Story #${nextNumber(userId)}`,
    });
    res.status(201).json(job);
  });

  app.post('/demo/jobs/batch', async (req, res) => {
    const userId = visitor(req, res);
    if (userId === null) return;
    onVisitor(userId);
    const { parent } = await seenn.jobs.createBatch({
      queue: DEMO_QUEUES.image,
      userId,
      jobType: 'image',
      parentTitle: `Batch #${nextNumber(userId)}: ${BATCH_SIZE} images`,
      childTitles: Array.from({ length: BATCH_SIZE }, (_, index) => `Image ${index + 1}`),
    });
    res.status(201).json(parent);
  });

  app.use('/v1', seenn.bridge(input.heartbeatMs === undefined ? {} : { heartbeatMs: input.heartbeatMs }));
  app.use('/admin', seenn.admin({ auth: { token: input.adminToken }, queues: Object.values(DEMO_QUEUES) }));
  // Errors of the demo routes: the coded envelope the bridge uses too.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const coded = error as { code?: unknown; message?: unknown; status?: unknown; details?: unknown };
    const status = typeof coded.status === 'number' ? coded.status : 500;
    res.status(status).json({
      error: {
        code: typeof coded.code === 'string' ? coded.code : 'INTERNAL_ERROR',
        message: typeof coded.message === 'string' ? coded.message : 'Something went wrong',
        details: typeof coded.details === 'object' && coded.details !== null ? coded.details : {},
      },
    });
  });
  return app;
}

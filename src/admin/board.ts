/**
 * bull-board, loaded on demand: `@bull-board/api` is an optional peer dependency, required only when
 * an admin route with a `boardPath` is built. The board gets the Seenn context's BullMQ queues and
 * runs read-only unless `readOnly: false`.
 */
import type * as BullBoardApi from '@bull-board/api';
import type * as BullMQAdapterModule from '@bull-board/api/bullMQAdapter';
import type { IServerAdapter } from '@bull-board/api/typings/app';
import type { SeennContext } from '../context.js';
import { SeennError } from '../errors.js';

/** Loads a CommonJS module by name (Node's `require`, or a stand-in in tests). */
export type ModuleLoader = (id: string) => unknown;

/** The parts of `@bull-board/api` the admin route uses. */
export interface BullBoardApiModules {
  createBullBoard: typeof BullBoardApi.createBullBoard;
  BullMQAdapter: typeof BullMQAdapterModule.BullMQAdapter;
}

/** The error answered for bull-board when it cannot be loaded. */
export function boardUnavailableError(cause: unknown): SeennError {
  return new SeennError(
    'CONFIG_INVALID',
    'bull-board is not installed: npm install @bull-board/api@9 @bull-board/express@9, or pass `boardPath: null` to seenn.admin()',
    {
      details: { packages: ['@bull-board/api', '@bull-board/express'] },
      cause,
    },
  );
}

/** Loads `@bull-board/api`; throws the coded {@link boardUnavailableError} when it is missing. */
export function loadBullBoardApi(load: ModuleLoader): BullBoardApiModules {
  try {
    const api = load('@bull-board/api') as typeof BullBoardApi;
    const adapter = load('@bull-board/api/bullMQAdapter') as typeof BullMQAdapterModule;
    return { createBullBoard: api.createBullBoard, BullMQAdapter: adapter.BullMQAdapter };
  } catch (error) {
    throw boardUnavailableError(error);
  }
}

/** Builds the board for `queues` on `serverAdapter` (bull-board's framework adapter). */
export function createBoard(
  modules: BullBoardApiModules,
  serverAdapter: IServerAdapter,
  ctx: Pick<SeennContext, 'queue'>,
  queues: readonly string[],
  readOnly: boolean,
): void {
  modules.createBullBoard({
    queues: queues.map((name) => new modules.BullMQAdapter(ctx.queue(name), { readOnlyMode: readOnly })),
    serverAdapter,
  });
}

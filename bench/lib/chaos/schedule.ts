/**
 * The chaos soak's plan: which fault happens when, drawn from a seeded generator so that a run can be
 * replayed (`npm run chaos -- --seed <n>` gives the same faults at the same offsets; the processes'
 * own timing still varies). Pure: no I/O.
 */

/** The processes the soak kills and restarts. */
export type ChaosRole = 'worker' | 'publisher' | 'bridge';

/** One fault. */
export type ChaosAction =
  /** SIGKILL one process of `role` (the `index`-th), start a new one `downMs` later (a bridge on the same port). */
  | { kind: 'kill'; role: ChaosRole; index: number; downMs: number }
  /** SIGKILL redis-server (AOF, `appendfsync always`), start it again on the same port and files `downMs` later. */
  | { kind: 'redis-restart'; downMs: number }
  /** The TCP proxy in front of Redis stops moving bytes both ways for `stallMs` (connections stay open). */
  | { kind: 'proxy-stall'; stallMs: number }
  /** The proxy drops every connection to Redis at once (clients see resets and reconnect). */
  | { kind: 'proxy-drop' };

/** A fault and when it starts, in ms from the start of the chaos phase. */
export interface ScheduledAction {
  atMs: number;
  action: ChaosAction;
}

/** What a schedule is drawn for. */
export interface ScheduleOptions {
  /** Length of the chaos phase; no fault starts after it. */
  durationMs: number;
  /** Mean time between two fault starts (each gap is uniform in 0.5–1.5 × this). */
  meanGapMs: number;
  /** How many processes of each role run (a kill picks one of them). */
  processes: Record<ChaosRole, number>;
}

/** Every kind of fault, in the order the first round of a schedule is shuffled from. */
const KINDS = ['kill-worker', 'kill-publisher', 'kill-bridge', 'redis-restart', 'proxy-stall', 'proxy-drop'] as const;
type Kind = (typeof KINDS)[number];
/** Relative frequency of each kind after the first round. */
const WEIGHTS: Record<Kind, number> = {
  'kill-worker': 25,
  'kill-publisher': 20,
  'kill-bridge': 20,
  'redis-restart': 10,
  'proxy-stall': 15,
  'proxy-drop': 10,
};

/**
 * A small, fast 32-bit generator (mulberry32): the same seed gives the same sequence on every
 * platform. Returns a function giving floats in [0, 1).
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [min, max] from `random`. */
export function randomInt(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

function actionOf(kind: Kind, random: () => number, processes: Record<ChaosRole, number>): ChaosAction {
  switch (kind) {
    case 'kill-worker':
    case 'kill-publisher':
    case 'kill-bridge': {
      const role = kind.slice('kill-'.length) as ChaosRole;
      return {
        kind: 'kill',
        role,
        index: randomInt(random, 0, processes[role] - 1),
        downMs: randomInt(random, 100, 2_000),
      };
    }
    case 'redis-restart':
      return { kind: 'redis-restart', downMs: randomInt(random, 200, 2_000) };
    case 'proxy-stall':
      return { kind: 'proxy-stall', stallMs: randomInt(random, 300, 2_500) };
    case 'proxy-drop':
      return { kind: 'proxy-drop' };
  }
}

function weightedKind(random: () => number): Kind {
  const total = KINDS.reduce((sum, kind) => sum + WEIGHTS[kind], 0);
  let pick = random() * total;
  for (const kind of KINDS) {
    pick -= WEIGHTS[kind];
    if (pick < 0) return kind;
  }
  return KINDS[KINDS.length - 1] as Kind;
}

/**
 * The faults of one run. The first six are every kind once, in a shuffled order (so even a short run
 * meets each); the rest are drawn by weight. Same seed and options, same schedule.
 */
export function chaosSchedule(seed: number, options: ScheduleOptions): ScheduledAction[] {
  const random = seededRandom(seed);
  const firstRound: Kind[] = [...KINDS];
  for (let i = firstRound.length - 1; i > 0; i -= 1) {
    const j = randomInt(random, 0, i);
    [firstRound[i], firstRound[j]] = [firstRound[j] as Kind, firstRound[i] as Kind];
  }
  const schedule: ScheduledAction[] = [];
  let at = 0;
  for (;;) {
    at += Math.round(options.meanGapMs * (0.5 + random()));
    if (at >= options.durationMs) return schedule;
    const kind = firstRound.shift() ?? weightedKind(random);
    schedule.push({ atMs: at, action: actionOf(kind, random, options.processes) });
  }
}

/** One line describing an action, for the printed plan and the log. */
export function describeAction(action: ChaosAction): string {
  switch (action.kind) {
    case 'kill':
      return `SIGKILL ${action.role} #${action.index}, restart after ${action.downMs} ms`;
    case 'redis-restart':
      return `SIGKILL redis-server, restart after ${action.downMs} ms`;
    case 'proxy-stall':
      return `stall every Redis connection for ${action.stallMs} ms`;
    case 'proxy-drop':
      return 'drop every Redis connection';
  }
}

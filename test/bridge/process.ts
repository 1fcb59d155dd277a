/**
 * Starting bridge processes (`fixtures/bridge-process.ts`) under tsx, for tests and benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** A bridge running in a child process. */
export interface BridgeProcess {
  child: ChildProcess;
  port: number;
  /** Kills it with `signal` and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const FIXTURE = fileURLToPath(new URL('./fixtures/bridge-process.ts', import.meta.url));

/** Spawns a bridge process on `prefix` and waits for its port. */
export async function spawnBridge(
  redisUrl: string,
  prefix: string,
  secret: string,
  options: Record<string, unknown> = {},
  timeoutMs = 20_000,
): Promise<BridgeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: {
      ...process.env,
      SEENN_TEST_REDIS_URL: redisUrl,
      SEENN_PREFIX: prefix,
      SEENN_SECRET: secret,
      SEENN_BRIDGE_OPTIONS: JSON.stringify(options),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bridge process did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout?.on('data', (data: Buffer) => {
      output += data.toString();
      const match = /PORT (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bridge process exited early with ${code}`));
    });
  });
  return {
    child,
    port,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },
  };
}

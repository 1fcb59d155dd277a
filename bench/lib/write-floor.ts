/**
 * The floor of a heartbeat on this box: a plain `node:net` server (no HTTP, no bridge) writes one
 * 70-byte chunk to each of N loopback sockets per round and reports its CPU per write
 * (`process.cpuUsage()`, user and system), with `socket.write` alone and with cork/uncork around each
 * round. The sockets are held by a child process that reads and discards.
 *
 *   npx tsx bench/lib/write-floor.ts              # 10,000 sockets, 5 rounds per mode
 *   N=5000 ROUNDS=10 npx tsx bench/lib/write-floor.ts
 */
import { fork } from 'node:child_process';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const N = Number(process.env['N'] ?? 10_000);
const ROUNDS = Number(process.env['ROUNDS'] ?? 5);

function hold(port: number): void {
  let open = 0;
  let started = 0;
  const step = (): void => {
    for (let i = 0; i < 500 && started < N; i += 1, started += 1) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('data', () => undefined);
      socket.on('connect', () => {
        open += 1;
        if (open === N) process.send?.('open');
      });
    }
    if (started < N) setTimeout(step, 20);
  };
  step();
}

async function measure(): Promise<void> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    sockets.push(socket);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const child = fork(fileURLToPath(import.meta.url), ['hold', String((server.address() as AddressInfo).port)], {
    execArgv: ['--import', 'tsx'],
  });
  await new Promise((resolve) => child.once('message', resolve));
  await delay(500);
  const chunk = Buffer.from('45\r\nevent:heartbeat\ndata:{"timestamp":"2026-11-30T10:00:00.000Z"}\n\n\r\n');
  for (const mode of ['write', 'write', 'cork'] as const) {
    const before = process.cpuUsage();
    for (let round = 0; round < ROUNDS; round += 1) {
      if (mode === 'cork') for (const socket of sockets) socket.cork();
      for (const socket of sockets) socket.write(chunk);
      if (mode === 'cork') for (const socket of sockets) socket.uncork();
      await delay(200);
    }
    const cpu = process.cpuUsage(before);
    const per = (us: number): string => (us / ROUNDS / sockets.length).toFixed(2);
    console.log(
      `${mode}: ${sockets.length} sockets, µs per write: user ${per(cpu.user)}, system ${per(cpu.system)}, total ${per(cpu.user + cpu.system)}`,
    );
  }
  child.kill();
  server.close();
  for (const socket of sockets) socket.destroy();
}

if (process.argv[2] === 'hold') hold(Number(process.argv[3]));
else await measure();

/**
 * CPU time and resident memory of another process, read from Linux's `/proc/<pid>/stat` and
 * `/proc/<pid>/status` (the benchmarks run on Linux; elsewhere these return null).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK` (the unit of utime/stime), read once; 100 when it cannot be read. */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU time of `pid` so far, in ms (resolution one clock tick, usually 10 ms). */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / clockTicks();
  } catch {
    return null;
  }
}

/** Resident set size of `pid` (`VmRSS`), in bytes. */
export function processRssBytes(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Samples the RSS of `pid` every `everyMs` until stopped; `stop()` returns the peak in bytes. */
export function sampleRssPeak(pid: number, everyMs = 50): { stop(): number } {
  let peak = processRssBytes(pid) ?? 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, processRssBytes(pid) ?? 0);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, processRssBytes(pid) ?? 0);
    },
  };
}

/**
 * How many connections the kernel has refused so far because a listening socket's accept queue was
 * full (`TcpExt: ListenOverflows` in `/proc/net/netstat`, for this network namespace); `null` off
 * Linux. A refused SYN is retried by the client after 1, 3, 7, 15 s…, which is what a connect storm's
 * tail then measures.
 */
export function listenOverflows(): number | null {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const names = lines.find((line) => line.startsWith('TcpExt:'))?.split(' ');
    const values = lines.filter((line) => line.startsWith('TcpExt:'))[1]?.split(' ');
    const at = names?.indexOf('ListenOverflows') ?? -1;
    return at < 0 || values === undefined ? null : Number(values[at]);
  } catch {
    return null;
  }
}

/** The kernel's cap on a listening socket's accept queue (`net.core.somaxconn`); `null` off Linux. */
export function somaxconn(): number | null {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
  } catch {
    return null;
  }
}

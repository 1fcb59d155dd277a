/**
 * The slot checker: computes the Redis Cluster hash slot (CRC16 of the key or of its `{hash tag}`,
 * mod 16384) of every key each command, script and pipeline sends, and records every call whose keys
 * span more than one slot. On a cluster such a call fails (CROSSSLOT), or — a pipeline of single-key
 * commands — works only while its slots happen to share a master; on one Redis it always works. So
 * the check catches a mix whatever Redis the test runs on.
 *
 * It patches ioredis's `Redis.prototype.sendCommand` (every command, including each command of a
 * pipeline and of a Cluster, which sends through its node connections) and `Pipeline.prototype.exec`
 * (the pipeline as a whole). Install it only where every name is cluster-ready (queues or prefix
 * hash-tagged): BullMQ's own scripts span slots when neither is.
 */
import { Pipeline, Redis, type Command } from 'ioredis';

/** A call whose keys span several slots. */
export interface SlotViolation {
  /** The command name, or `pipeline`. */
  kind: string;
  /** Its keys, with their slots. */
  keys: { key: string; slot: number }[];
}

/** CRC16/XMODEM (polynomial 0x1021, initial 0), the checksum Redis Cluster hashes keys with. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit += 1) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/**
 * The hash slot of `key`: when the key holds a `{` followed later by a `}` with at least one byte
 * between them, only the bytes between the first `{` and the first `}` after it are hashed.
 */
export function keySlot(key: string | Buffer): number {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % 16384;
  }
  return crc16(bytes) % 16384;
}

function slotsOf(keys: readonly (string | Buffer)[]): { key: string; slot: number }[] {
  return keys.map((key) => ({ key: key.toString(), slot: keySlot(key) }));
}

function mixed(keys: readonly { slot: number }[]): boolean {
  return new Set(keys.map((entry) => entry.slot)).size > 1;
}

/** A checker installed by {@link installSlotChecker}. */
export interface SlotChecker {
  /** Every mix seen since install (or the last {@link SlotChecker.reset}). */
  readonly violations: SlotViolation[];
  /** Calls checked (commands with at least one key, and pipelines). */
  readonly checked: { commands: number; pipelines: number };
  /** Forgets what was recorded. */
  reset(): void;
  /** Puts ioredis back as it was. */
  uninstall(): void;
}

interface Patchable {
  sendCommand(command: Command, ...rest: unknown[]): unknown;
}
interface PipelineInternals {
  _queue?: Command[];
  exec(...args: unknown[]): unknown;
}

/** Patches ioredis so every call is checked; see the module comment. One checker at a time. */
export function installSlotChecker(): SlotChecker {
  const redisProto = Redis.prototype as unknown as Patchable;
  const pipelineProto = Pipeline.prototype as unknown as PipelineInternals;
  const originalSend = redisProto.sendCommand;
  const originalExec = pipelineProto.exec;
  const violations: SlotViolation[] = [];
  const checked = { commands: 0, pipelines: 0 };
  redisProto.sendCommand = function patchedSend(this: Patchable, command: Command, ...rest: unknown[]) {
    const keys = command.getKeys();
    if (keys.length > 0) {
      checked.commands += 1;
      const slotted = slotsOf(keys);
      if (mixed(slotted)) violations.push({ kind: command.name, keys: slotted });
    }
    return originalSend.call(this, command, ...rest);
  };
  const seen = new WeakSet<object>();
  pipelineProto.exec = function patchedExec(this: PipelineInternals, ...args: unknown[]) {
    // A Cluster pipeline calls exec again when it retries after a redirection: check it once.
    if (!seen.has(this)) {
      seen.add(this);
      checked.pipelines += 1;
      const slotted = slotsOf((this._queue ?? []).flatMap((command) => command.getKeys()));
      if (mixed(slotted)) violations.push({ kind: 'pipeline', keys: slotted });
    }
    return originalExec.apply(this, args);
  };
  return {
    violations,
    checked,
    reset() {
      violations.length = 0;
      checked.commands = 0;
      checked.pipelines = 0;
    },
    uninstall() {
      redisProto.sendCommand = originalSend;
      pipelineProto.exec = originalExec;
    },
  };
}

/**
 * The logger interface library code writes to. pino loggers satisfy it as they are; the default is
 * silent, so the package prints nothing unless it is given a logger.
 */

/** A log method: an object of facts first, then a message (pino's calling convention). */
export type LogFn = (facts: Record<string, unknown>, message?: string) => void;

/** The minimal structured logger this package uses. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** A logger that adds `bindings` to every line. */
  child(bindings: Record<string, unknown>): Logger;
}

const noop: LogFn = () => undefined;

/** A logger that discards everything: the default. */
export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};

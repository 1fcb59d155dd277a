/** A logger for tests that keeps each line as text (level, message, facts as JSON), e.g. to prove a secret never reaches a log. */
import type { Logger } from '../../src/logger.js';

export function capturingLogger(lines: string[]): Logger {
  const log =
    (level: string) =>
    (facts: Record<string, unknown>, message?: string): void => {
      lines.push(
        `${level} ${message ?? ''} ${JSON.stringify(facts, (_key, value: unknown) => (value instanceof Error ? { message: value.message, stack: value.stack, cause: String(value.cause) } : value))}`,
      );
    };
  const logger: Logger = {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: () => logger,
  };
  return logger;
}

import { pino, type Logger } from 'pino';
import type { Config } from './config.ts';

export type { Logger };

/**
 * Structured JSON logs on stdout. Each service takes a child logger with its `service` name;
 * request-scoped children add `requestId`.
 */
export function createLogger(
  config: Pick<Config, 'LOG_LEVEL'>,
  bindings: Record<string, unknown> = {},
): Logger {
  return pino({
    level: config.LOG_LEVEL,
    base: { ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        '*.password',
        '*.refreshToken',
        '*.accessToken',
        '*.authorization',
        'req.headers.authorization',
      ],
      censor: '[redacted]',
    },
  });
}

/** Structured JSON logs (pino) on stdout, with levels. */
import { pino } from 'pino';
import type { Logger } from '../core/logger.js';
import type { LogLevel } from './config.js';

export function createLogger(level: LogLevel, name: string): Logger & { level: string } {
  return pino({ level, base: { host: name }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** The attempt-limit syntax of the throttle options: `'10/15m'`, failures per window. */
import { parseDuration } from './duration.js';

/** At most this many failures per window, then 429 until the window ends. */
export interface Rate {
  limit: number;
  /** Seconds. */
  window: number;
}

export const RATE_LIMIT_MAX = 1_000_000;
/** The longest window: a counter outliving a month would be a lockout, not a throttle. */
export const RATE_WINDOW_MAX = 30 * 86_400;

/**
 * `'<count>/<duration>'`, the duration as for other options (seconds, `30s`, `15m`, `12h`, `7d`):
 * `'10/15m'` is 10 failures per 15 minutes. Null for anything else, or out of range.
 */
export function parseRate(value: unknown): Rate | null {
  if (typeof value !== 'string') return null;
  const m = /^\s*(\d{1,7})\s*\/\s*(\S+)\s*$/.exec(value);
  if (!m) return null;
  const limit = Number(m[1]);
  const window = parseDuration(m[2]);
  if (limit < 1 || limit > RATE_LIMIT_MAX || window === null || window < 1 || window > RATE_WINDOW_MAX) return null;
  return { limit, window };
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

export interface DurationOptions {
  /**
   * Also accept milliseconds: the `ms` suffix (`'500ms'`) and fractional seconds as a number
   * (`0.5`), both to whole milliseconds. The result may then be fractional. Off by default:
   * every other duration is whole seconds.
   */
  ms?: boolean;
}

/**
 * Parses a duration into seconds: a number of seconds (number or digit string) or `30s`, `15m`,
 * `12h`, `7d`, `2w`; with `{ ms: true }` also `500ms` and fractional numbers of seconds.
 * Returns null for anything else (negative, fractional strings, unknown units, overflow, and
 * sub-millisecond fractions).
 */
export function parseDuration(value: unknown, options: DurationOptions = {}): number | null {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    if (!options.ms || !Number.isFinite(value) || value < 0) return null;
    const ms = Math.round(value * 1000);
    // Whole milliseconds only (allowing for binary rounding, e.g. 0.1 + 0.2).
    return Math.abs(ms - value * 1000) < 1e-6 && Number.isSafeInteger(ms) ? ms / 1000 : null;
  }
  if (typeof value !== 'string') return null;
  const m = /^\s*(\d{1,12})\s*(ms|[smhdw]?)\s*$/i.exec(value);
  if (!m) return null;
  const unit = (m[2] || 's').toLowerCase();
  if (unit === 'ms') return options.ms ? Number(m[1]) / 1000 : null;
  const n = Number(m[1]) * UNITS[unit]!;
  return Number.isSafeInteger(n) ? n : null;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * Parses a duration: a number of seconds (number or digit string) or `30s`, `15m`, `12h`, `7d`, `2w`.
 * Returns null for anything else (negative, fractional strings, unknown units, overflow).
 */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const m = /^\s*(\d{1,12})\s*([smhdw]?)\s*$/i.exec(value);
  if (!m) return null;
  const n = Number(m[1]) * (UNITS[(m[2] || 's').toLowerCase()] ?? 1);
  return Number.isSafeInteger(n) ? n : null;
}

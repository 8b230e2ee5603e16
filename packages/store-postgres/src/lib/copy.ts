/**
 * The rows `importRecords` sends with `COPY … FROM STDIN` (text format) into a staging table: one
 * line per record, the columns in COLUMNS order (the values `recordParams` gives the INSERT path),
 * tab-separated, `\N` for NULL.
 */
import type { TokenRecord } from '@tessera/core/store';
import { recordParams } from './rows.js';

/** What COPY's text format reads specially inside a column: the escape character and the separators. */
const SPECIAL = /[\\\t\n\r]/;
const SPECIALS = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** False for a string with a lone UTF-16 surrogate, which UTF-8 can't encode (Node would send U+FFFD instead). Node 20 has it (ES2024). */
const wellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

function column(v: string | number | null): string {
  if (v === null) return '\\N';
  if (typeof v === 'number') return String(v);
  // Refused rather than altered: a record arrives as it left, or not at all (the INSERT path refuses it too).
  if (!wellFormed(v)) throw new RangeError('importRecords: a record holds a string that is not valid Unicode');
  return SPECIAL.test(v) ? v.replace(SPECIALS, c => ESCAPES[c]!) : v;
}

/** The COPY text of `records`, one line each. */
export function copyText(records: readonly TokenRecord[]): string {
  let out = '';
  for (const r of records) {
    const p = recordParams(r);
    let line = column(p[0]!);
    for (let i = 1; i < p.length; i++) line += '\t' + column(p[i]!);
    out += line + '\n';
  }
  return out;
}

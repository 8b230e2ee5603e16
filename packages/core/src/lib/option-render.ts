/** The README's options table, rendered from the declaration (`pnpm docs:options`; a test keeps the README in step). */
import { OPTION_TABLE } from '../option-table.js';
import type { OptionEntry } from './option-types.js';

/** A markdown table cell: pipes escaped, no line breaks. */
export function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** The README options table, one row per option (and per group that has a doc line). */
export function renderOptionsTable(table: readonly OptionEntry[] = OPTION_TABLE): string {
  const rows = table
    .filter(e => e.doc !== undefined)
    .map(e => `| \`${e.path}\` | ${cell(e.defaultDoc)} | ${cell(e.doc!)} |`);
  return ['| Option | Default | Meaning |', '|---|---|---|', ...rows].join('\n');
}

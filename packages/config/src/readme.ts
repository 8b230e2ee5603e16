/**
 * The README's options and environment tables, rendered from the option declaration. Used by
 * `pnpm docs:options` (scripts/options-table.mjs, on the built output) and by a test that fails
 * when README.md is out of step.
 */
import { renderOptionsTable } from '@tessera/core/options';
import { renderEnvTable } from './env-table.js';

/** Marker name -> its rendered content; README.md holds `<!-- NAME:start -->` … `<!-- NAME:end -->`. */
export const README_TABLES: Readonly<Record<string, () => string>> = {
  'options-table': renderOptionsTable,
  'env-table': renderEnvTable,
};

/** README text with every marked table re-rendered. Throws when a marker pair is missing. */
export function renderReadmeTables(readme: string): string {
  let out = readme;
  for (const [name, render] of Object.entries(README_TABLES)) {
    const start = `<!-- ${name}:start -->`;
    const end = `<!-- ${name}:end -->`;
    const i = out.indexOf(start);
    const j = out.indexOf(end);
    if (i < 0 || j < i) throw new Error(`README.md: missing ${start} … ${end}`);
    out = `${out.slice(0, i + start.length)}\n\n${render()}\n\n${out.slice(j)}`;
  }
  return out;
}

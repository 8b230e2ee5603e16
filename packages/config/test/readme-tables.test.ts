import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { renderReadmeTables } from '../src/readme.js';

const README = new URL('../../../README.md', import.meta.url);

describe('README tables', () => {
  it('the options and environment tables in README.md are the ones the option table renders', () => {
    const readme = readFileSync(README, 'utf8');
    const rendered = renderReadmeTables(readme);
    if (rendered !== readme) {
      const a = readme.split('\n');
      const b = rendered.split('\n');
      const i = a.findIndex((line, n) => line !== b[n]);
      throw new Error(
        `README.md's options/environment tables are out of date: run \`pnpm docs:options\`.\n` +
          `First difference, line ${i + 1}:\n  README:   ${a[i]}\n  rendered: ${b[i]}`,
      );
    }
    expect(rendered).toBe(readme);
  });

  it('refuses a README without the markers', () => {
    expect(() => renderReadmeTables('# Tessera\n')).toThrow(/missing <!-- options-table:start -->/);
  });
});

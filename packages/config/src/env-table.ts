/**
 * The `TESSERA_*` variables: one per option of the declaration in `@tessera/core/options` that can
 * come from the environment, plus the few read around the options (`ENV_EXTRAS`).
 */
import { OPTION_TABLE, cell, type OptionEntry, type OptionType } from '@tessera/core/options';

/** Variables read next to the options rather than mapped to one option each. */
export const ENV_EXTRAS = [
  {
    name: 'TESSERA_STORE',
    option: '`store`',
    value: 'a store URL: `memory:`, `file:./dir` (default `file:.tessera`), `redis://…`, `rediss://…`, `redis+cluster://host:port,host:port`, `postgres://…`, `dynamodb://table?region=…` (`fromEnv()` opens it)',
  },
  {
    name: 'TESSERA_TOKEN_EXPIRATION_SECONDS',
    option: '`accessTtl`, `refreshTtl` / `ttl`',
    value: '`accessToken:60,refreshToken:3600` (gateway style) sets `accessTtl` and `refreshTtl`; a plain duration sets `ttl`',
  },
] as const;

export type EnvExtra = (typeof ENV_EXTRAS)[number]['name'];

/** The table entries that have a variable, in table order. */
export function envOptions(): (OptionEntry & { env: string })[] {
  return (OPTION_TABLE as readonly OptionEntry[]).filter((e): e is OptionEntry & { env: string } => e.env !== undefined);
}

/** What a variable of this type takes, for the README. */
export function envValueDoc(t: OptionType): string {
  switch (t.kind) {
    case 'group':
      return '`false` / `off` turns it off';
    case 'string':
      return 'text';
    case 'boolean':
      return '`true` or `false`';
    case 'booleanOrAuto':
      return '`auto`, `true` or `false`';
    case 'integer':
      return `a whole number, ${t.min} to ${t.max}${t.off ? '; `off`' : ''}`;
    case 'duration':
      return `seconds or ${t.ms ? '`500ms`, ' : ''}\`30s\`, \`15m\`, \`7d\`${t.off ? '; `off`' : ''}`;
    case 'window':
      return '`20%`, or seconds or `30s`, `15m`, `7d`';
    case 'enum':
      return [...t.values, ...(t.off ? ['off'] : [])].map(v => `\`${v}\``).join(', ');
    case 'secrets':
      return 'comma-separated for a keyring';
    case 'keys':
      return 'PEM block(s) (newlines or `\\n`), or a JWK / JWK Set as JSON';
    case 'list':
      return 'comma-separated';
    case 'trustProxy':
      return '`true`, a hop count, or comma-separated addresses/subnets (`loopback`, `10.0.0.0/8`)';
    case 'rate':
      return 'failures per window: `10/15m` (a count, `/`, seconds or `30s`, `15m`, `7d`); `off`';
    case 'function':
    case 'store':
    case 'logger':
      return 'none';
  }
}

/** The README environment table: Variable | Option | Value. */
export function renderEnvTable(): string {
  const rows = envOptions().map(e => `| \`${e.env}\` | \`${e.path}\` | ${cell(envValueDoc(e.type))} |`);
  const extras = ENV_EXTRAS.map(x => `| \`${x.name}\` | ${cell(x.option)} | ${cell(x.value)} |`);
  return ['| Variable | Option | Value |', '|---|---|---|', ...rows, ...extras].join('\n');
}

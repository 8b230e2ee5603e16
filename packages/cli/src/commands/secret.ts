/** `tessera secret`: a new 256-bit signing secret (base64url) for TESSERA_SECRET. */
import { generateSecret } from '@tessera/core';
import { Command } from 'commander';
import { say, sayJson } from '../shared.js';

export function secretCommand(): Command {
  return new Command('secret')
    .description('print a new 256-bit signing secret (base64url), e.g. for TESSERA_SECRET')
    .option('--json', 'print {"secret": "..."}')
    .action((opts: { json?: boolean }) => {
      // Needs no store and no configuration: it also works while TESSERA_SECRET holds a bad value.
      const secret = generateSecret();
      if (opts.json) sayJson({ secret });
      else say(secret);
    });
}

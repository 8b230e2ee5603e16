/** The attack corpus: every case by id, in one table (docs/security.md maps each id to ASVS, RFC 8725, RFC 9700 and CVEs), run against each framework. */
import { describe, it } from '@jest/globals';
import type { SuiteContext } from '../../adapter-suite.js';
import { ALGORITHM_ATTACKS } from './algorithms.js';
import { API_TOKEN_ATTACKS } from './api-tokens.js';
import { AUTHORIZATION_ATTACKS } from './authorization.js';
import { BODY_ATTACKS } from './bodies.js';
import { CLAIM_ATTACKS } from './claims.js';
import { COOKIE_ATTACKS } from './cookies.js';
import { CROSS_SITE_ATTACKS } from './cross-site.js';
import { ENUMERATION_ATTACKS } from './enumeration.js';
import { FIXATION_ATTACKS } from './fixation.js';
import type { Attack } from './harness.js';
import { HEADER_ATTACKS } from './headers.js';
import { KEY_ID_ATTACKS } from './key-ids.js';
import { REPLAY_ATTACKS } from './replay.js';
import { TOKEN_SHAPE_ATTACKS } from './token-shape.js';
import { TOKEN_TYPE_ATTACKS } from './token-types.js';

export type { Attack } from './harness.js';

export const ATTACKS: readonly Attack[] = [
  ...ALGORITHM_ATTACKS,
  ...KEY_ID_ATTACKS,
  ...TOKEN_SHAPE_ATTACKS,
  ...TOKEN_TYPE_ATTACKS,
  ...CLAIM_ATTACKS,
  ...COOKIE_ATTACKS,
  ...FIXATION_ATTACKS,
  ...CROSS_SITE_ATTACKS,
  ...HEADER_ATTACKS,
  ...BODY_ATTACKS,
  ...API_TOKEN_ATTACKS,
  ...REPLAY_ATTACKS,
  ...ENUMERATION_ATTACKS,
  ...AUTHORIZATION_ATTACKS,
];

// Ids are cited from docs/security.md: a duplicate would make a citation ambiguous.
const ids = ATTACKS.map(a => a.id);
const dup = ids.find((id, i) => ids.indexOf(id) !== i);
if (dup !== undefined) throw new Error(`attack corpus: duplicate id ${dup}`);

export default function attacks(ctx: SuiteContext): void {
  describe('attack corpus', () => {
    for (const attack of ATTACKS) it(`${attack.id} ${attack.title}`, () => attack.run(ctx));
  });
}

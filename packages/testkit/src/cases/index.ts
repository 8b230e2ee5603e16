import type { SuiteContext } from '../adapter-suite.js';
import cookieDefaults from './cookie-defaults.js';
import cookieOptions from './cookie-options.js';
import csrf from './csrf.js';
import login from './login.js';
import secrets from './secrets.js';
import slidingRefresh from './sliding-refresh.js';
import staleTokens from './stale-tokens.js';
import storeFailure from './store-failure.js';
import storeTracking from './store-tracking.js';

/** One file per behaviour; each registers its own describe block. */
export const ALL_CASES: ((ctx: SuiteContext) => void)[] = [
  cookieDefaults,
  cookieOptions,
  login,
  storeTracking,
  slidingRefresh,
  staleTokens,
  secrets,
  storeFailure,
  csrf,
];

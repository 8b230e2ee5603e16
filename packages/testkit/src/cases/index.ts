import type { SuiteContext } from '../adapter-suite.js';
import cookieDefaults from './cookie-defaults.js';
import cookieOptions from './cookie-options.js';
import admin from './admin.js';
import apiTokens from './api-tokens.js';
import jobs from './jobs.js';
import binding from './binding.js';
import csrf from './csrf.js';
import events from './events.js';
import pairConcurrency from './pair-concurrency.js';
import pairManyTabs from './pair-many-tabs.js';
import pairMode from './pair-mode.js';
import tenant from './tenant.js';
import timeouts from './timeouts.js';
import tokenOptions from './token-options.js';
import login from './login.js';
import secrets from './secrets.js';
import jwks from './jwks.js';
import slidingRefresh from './sliding-refresh.js';
import staleTokens from './stale-tokens.js';
import storeFailure from './store-failure.js';
import storeTracking from './store-tracking.js';
import badBodies from './bad-bodies.js';
import brokenSecret from './broken-secret.js';
import programmaticSessions from './programmatic-sessions.js';
import fixation from './fixation.js';
import freshness from './freshness.js';
import rejection from './rejection.js';
import logging from './logging.js';
import trustProxy from './trust-proxy.js';
import contractTightening from './contract-tightening.js';
import throttle from './throttle.js';
import sealed from './sealed.js';
import atRest from './at-rest.js';
import attacks from './attacks/index.js';

/** One file per behaviour; each registers its own describe block. */
export const ALL_CASES: ((ctx: SuiteContext) => void)[] = [
  cookieDefaults,
  cookieOptions,
  login,
  storeTracking,
  slidingRefresh,
  staleTokens,
  secrets,
  jwks,
  storeFailure,
  csrf,
  pairMode,
  pairConcurrency,
  pairManyTabs,
  timeouts,
  binding,
  apiTokens,
  jobs,
  tenant,
  admin,
  events,
  tokenOptions,
  badBodies,
  brokenSecret,
  programmaticSessions,
  fixation,
  freshness,
  rejection,
  logging,
  trustProxy,
  contractTightening,
  throttle,
  sealed,
  atRest,
  attacks,
];

export { defineAdapterSuite, isAdmin, cookieHeader, verifyCredentials, USERS, SECRET, SECRET_KID } from './adapter-suite.js';
export type { Mount, MountSetup, SuiteContext, TestApp, StoreKind } from './adapter-suite.js';
export { fakeClock } from './clock.js';
export type { FakeClock } from './clock.js';
export { failingStore } from './failing-store.js';
export type { FailingStore, FailMode } from './failing-store.js';
export { parseSetCookie, setCookies } from './cookies.js';
export type { SetCookie } from './cookies.js';

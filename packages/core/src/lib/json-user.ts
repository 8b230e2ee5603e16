/** The user object as it will be stored: a JSON copy, or a TypeError naming the field that can't be. */
import type { User } from '../types.js';

export function storableUser(user: User): User {
  if (typeof user !== 'object' || user === null || Array.isArray(user) || typeof user.id !== 'string' || user.id.length === 0) {
    throw new TypeError('a session needs a user object with a non-empty string `id`');
  }
  const seen = new Set<object>();
  const check = (value: unknown, path: string): void => {
    const t = typeof value;
    if (t === 'function' || t === 'symbol' || t === 'bigint') throw new TypeError(`the user object can't be stored as JSON: \`${path}\` is a ${t}`);
    if (t !== 'object' || value === null) return;
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return; // Date and friends
    if (seen.has(value as object)) throw new TypeError(`the user object can't be stored as JSON: \`${path}\` is a cycle`);
    seen.add(value as object);
    for (const [k, v] of Object.entries(value as object)) check(v, Array.isArray(value) ? `${path}[${k}]` : `${path}.${k}`);
    seen.delete(value as object);
  };
  check(user, 'user');
  return JSON.parse(JSON.stringify(user)) as User;
}

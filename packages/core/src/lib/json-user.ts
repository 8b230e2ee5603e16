/** The user object (and credentials) as they will be stored: a JSON copy, or a TypeError naming the field that can't be. */
import type { User } from '../types.js';

export function storableUser(user: User): User {
  if (typeof user !== 'object' || user === null || Array.isArray(user) || typeof user.id !== 'string' || user.id.length === 0) {
    throw new TypeError('a session needs a user object with a non-empty string `id`');
  }
  return storableJson(user, 'user', 'the user object');
}

/** A JSON copy of `value`; `root` names it in the TypeError (`user.roles[2]`), `what` in the sentence. */
export function storableJson<T>(value: T, root: string, what: string): T {
  const seen = new Set<object>();
  const check = (v: unknown, path: string): void => {
    const t = typeof v;
    if (t === 'function' || t === 'symbol' || t === 'bigint') throw new TypeError(`${what} can't be stored as JSON: \`${path}\` is a ${t}`);
    if (t !== 'object' || v === null) return;
    if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return; // Date and friends
    if (seen.has(v as object)) throw new TypeError(`${what} can't be stored as JSON: \`${path}\` is a cycle`);
    seen.add(v as object);
    for (const [k, x] of Object.entries(v as object)) check(x, Array.isArray(v) ? `${path}[${k}]` : `${path}.${k}`);
    seen.delete(v as object);
  };
  check(value, root);
  return JSON.parse(JSON.stringify(value)) as T;
}

import { kidOf, type User } from '@tessera/core';

export const SECRET = 'conformance-secret-0123456789-abcdefghijklmnop';
export const SECRET_KID = kidOf(SECRET);

/** The suite's users; `name` and `role` are this suite's own fields (it declares no `User` augmentation, so apps' own stay theirs). */
export type FixtureUser = User & { name: string; role?: string };

export const USERS: Record<string, { password: string; user: FixtureUser }> = {
  alice: { password: 'wonderland', user: { id: 'alice', name: 'Alice' } },
  bob: { password: 'builder', user: { id: 'bob', name: 'Bob' } },
  root: { password: 'administrator', user: { id: 'root', name: 'Root', role: 'admin' } },
};

export async function verifyCredentials(input: { username: string; password: string }): Promise<User | null> {
  const u = USERS[input.username];
  return u && u.password === input.password ? u.user : null;
}


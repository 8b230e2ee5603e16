import type { HttpRequest, HttpResponse } from '../src/index.js';

export function req(init: { method?: string; path?: string; headers?: Record<string, string>; ip?: string; secure?: boolean; body?: unknown } = {}): HttpRequest {
  const headers = Object.fromEntries(Object.entries(init.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    method: init.method ?? 'GET',
    path: init.path ?? '/',
    header: name => headers[name],
    ip: init.ip ?? '127.0.0.1',
    secure: init.secure ?? false,
    body: async () => init.body,
  };
}

export function res(): HttpResponse & { cookies: string[] } {
  const cookies: string[] = [];
  return { cookies, appendHeader: (n, v) => void (n === 'set-cookie' && cookies.push(v)) };
}

export const SECRET = 'unit-test-secret-0123456789-abcdefghijklmnop';

/** Set-Cookie parsing for assertions. */
export interface SetCookie {
  raw: string;
  name: string;
  value: string;
  attrs: Record<string, string | true>;
}

export function parseSetCookie(raw: string): SetCookie {
  const [pair, ...rest] = raw.split(';');
  const eq = pair!.indexOf('=');
  const attrs: Record<string, string | true> = {};
  for (const a of rest) {
    const i = a.indexOf('=');
    const k = (i === -1 ? a : a.slice(0, i)).trim().toLowerCase();
    attrs[k] = i === -1 ? true : a.slice(i + 1).trim();
  }
  return { raw, name: pair!.slice(0, eq).trim(), value: pair!.slice(eq + 1).trim(), attrs };
}

export function setCookies(headers: Record<string, unknown>): SetCookie[] {
  const h = headers['set-cookie'];
  if (h === undefined) return [];
  return (Array.isArray(h) ? h : [h as string]).map(parseSetCookie);
}

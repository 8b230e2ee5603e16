/** Small node-redis helpers for the bench: reachability probe and prefix cleanup. */
import { createClient } from 'redis';
import { assertLoopback } from './scenarios.mjs';

/** A client that fails fast (no endless reconnect loop) and never crashes the process on 'error'. */
export async function connectRedis(url, { reconnect = false } = {}) {
  const client = createClient({
    url: assertLoopback(url),
    socket: { connectTimeout: 2000, reconnectStrategy: reconnect ? retries => (retries > 5 ? false : 100) : false },
  });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Resolves to null when Redis answers PING, else to a human-readable reason. */
export async function redisProblem(url) {
  let client;
  try {
    client = await connectRedis(url);
    await client.ping();
    return null;
  } catch (err) {
    return `redis not reachable at ${url}: ${err?.message ?? err}`;
  } finally {
    await closeRedis(client);
  }
}

export async function closeRedis(client) {
  if (!client) return;
  try {
    if (typeof client.close === 'function') await client.close();
    else await client.quit();
  } catch {
    try {
      client.destroy?.();
    } catch {}
  }
}

/** Deletes every key starting with `prefix`; returns how many. */
export async function deleteByPrefix(url, prefix) {
  if (!prefix || prefix.length < 4) throw new Error(`refusing to delete by a short prefix ${JSON.stringify(prefix)}`);
  const client = await connectRedis(url);
  let n = 0;
  try {
    // Escape glob metacharacters so the prefix is matched literally.
    const match = prefix.replace(/[*?[\]\\]/g, c => `\\${c}`) + '*';
    let batch = [];
    for await (const chunk of client.scanIterator({ MATCH: match, COUNT: 1000 })) {
      for (const key of Array.isArray(chunk) ? chunk : [chunk]) batch.push(key);
      if (batch.length >= 1000) {
        n += await client.unlink(batch);
        batch = [];
      }
    }
    if (batch.length) n += await client.unlink(batch);
  } finally {
    await closeRedis(client);
  }
  return n;
}

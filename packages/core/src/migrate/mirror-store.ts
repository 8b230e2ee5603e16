/**
 * The store a server uses while a switch is under way: every read goes to the authoritative store
 * (`primary`: the source in `mirror`, the target in `flip`), every change is made there first and
 * then made in the other one too, so both hold every change and either can be left.
 *
 * Making a change in the other store copes with the copier racing it: the record is first copied
 * there as the primary now holds it (`importRecords` is put-if-absent, so a copy the copier made
 * earlier is kept, and a stale copy the copier makes later is refused), and the change is applied
 * only when the record was already there. Changes are monotonic (a revocation is never undone, a
 * rotation never repeated, `lastSeenAt` only grows), so the order two servers apply them in does
 * not matter.
 */
import { FAULT_KEY, REVOKE_ALL_KEY } from './state.js';
import type { BulkStore, ListPage, ListQuery, RevokeWhere, RotateResult, TokenRecord, TokenStore } from '../store.js';

const PAGE = 500;

export class MirrorStore implements TokenStore {
  /**
   * @param source the store the switch is announced in (where a fault or a revoke-all is noted)
   * @param copying true in `mirror`/`copy` (the source is primary and the copier may be running)
   */
  constructor(
    readonly primary: BulkStore,
    readonly secondary: BulkStore,
    private readonly source: BulkStore,
    private readonly copying: boolean,
  ) {
    // Attempt counters are the primary's alone: short-lived, they are neither mirrored nor copied.
    if (typeof primary.hit === 'function') this.hit = (key, windowSeconds, now, by) => primary.hit!(key, windowSeconds, now, by);
  }

  readonly hit?: TokenStore['hit'];

  /** Applies `change` to the secondary; a failure there is noted in the source (the copier then undoes the switch) and fails the request. */
  private async mirror(op: string, change: () => Promise<unknown>): Promise<void> {
    try {
      await change();
    } catch (err) {
      await this.source.setMeta(FAULT_KEY, JSON.stringify({ op, at: Math.floor(Date.now() / 1000) })).catch(() => {});
      throw err;
    }
  }

  /** Copies the primary's record into the secondary unless it is there; true when this copied it (with every change so far). */
  private async copied(id: string): Promise<boolean> {
    const rec = await this.primary.get(id);
    return rec !== null && (await this.secondary.importRecords([rec])) === 1;
  }

  get(id: string): Promise<TokenRecord | null> {
    return this.primary.get(id);
  }

  async put(record: TokenRecord): Promise<void> {
    await this.primary.put(record);
    await this.mirror('put', () => this.secondary.put(record));
  }

  async touch(id: string, lastSeenAt: number, expiresAt?: number | null): Promise<boolean> {
    const ok = await this.primary.touch(id, lastSeenAt, expiresAt);
    if (ok) await this.mirror('touch', async () => (await this.copied(id)) || (await this.secondary.touch(id, lastSeenAt, expiresAt)));
    return ok;
  }

  async rotate(usedId: string, next: TokenRecord, now: number): Promise<RotateResult> {
    const res = await this.primary.rotate(usedId, next, now);
    if (res.status === 'rotated') {
      await this.mirror('rotate', async () => {
        // The used record was copied already rotated, or is rotated here now; either way `next` must be there.
        if ((await this.copied(usedId)) || (await this.secondary.rotate(usedId, next, now)).status !== 'rotated') {
          await this.secondary.importRecords([next]);
        }
      });
    }
    return res;
  }

  async countReuse(id: string, limit: number): Promise<boolean> {
    const ok = await this.primary.countReuse(id, limit);
    if (ok) await this.mirror('countReuse', async () => (await this.copied(id)) || (await this.secondary.countReuse(id, limit)));
    return ok;
  }

  async revoke(where: RevokeWhere, now: number): Promise<number> {
    if ('all' in where) {
      // The copier can't be raced record by record here: it is told, and revokes again what it copied meanwhile.
      if (this.copying) await this.source.setMeta(REVOKE_ALL_KEY, JSON.stringify({ wall: Date.now() / 1000, at: now }));
      const n = await this.primary.revoke(where, now);
      await this.mirror('revoke', () => this.secondary.revoke(where, now));
      return n;
    }
    const n = await this.primary.revoke(where, now);
    await this.mirror('revoke', async () => {
      if ('id' in where) {
        if (!(await this.copied(where.id))) await this.secondary.revoke(where, now);
        return;
      }
      // A user's or a login's records, as the primary now holds them (revoked), then the revocation
      // for those the secondary already had.
      const subject = 'subject' in where ? where.subject : (await this.primary.get(where.family))?.subject;
      if (subject !== undefined) {
        let cursor: string | null = null;
        do {
          const page: ListPage = await this.primary.list({ subject, cursor, limit: PAGE });
          const mine = 'family' in where ? page.records.filter(r => r.family === where.family) : page.records;
          if (mine.length > 0) await this.secondary.importRecords(mine);
          cursor = page.cursor;
        } while (cursor !== null);
      }
      await this.secondary.revoke(where, now);
    });
    return n;
  }

  list(query: ListQuery): Promise<ListPage> {
    return this.primary.list(query);
  }

  async purgeExpired(now: number): Promise<number> {
    const n = await this.primary.purgeExpired(now);
    await this.secondary.purgeExpired(now).catch(() => 0); // the other store's garbage can wait
    return n;
  }

  initSecret(candidate: string): Promise<string> {
    return this.primary.initSecret!(candidate);
  }
  exportRecords(cursor: string | null, limit: number): Promise<ListPage> {
    return this.primary.exportRecords(cursor, limit);
  }
  importRecords(records: readonly TokenRecord[]): Promise<number> {
    return this.primary.importRecords(records);
  }
  getMeta(key: string): Promise<string | null> {
    return this.primary.getMeta(key);
  }
  setMeta(key: string, value: string | null): Promise<void> {
    return this.primary.setMeta(key, value);
  }

  /** The stores belong to the server (the source) and to the follower (the target): closing this closes neither. */
  async close(): Promise<void> {}
}

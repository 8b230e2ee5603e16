/**
 * Lua scripts of the Redis Cluster store (cluster.ts). Each one touches exactly one key, given as
 * KEYS[1] (so the cluster client routes it to the master of that key's slot, and Redis Cluster
 * never sees a cross-slot script): a record (`<prefix>r:{<id>}`) or one index set
 * (`<prefix>s:{<subject>}` / `<prefix>f:{<family>}`). Everything that spans several keys is a
 * sequence of these steps, ordered by cluster.ts.
 *
 * Records are stored exactly as by the single-node store (codec.ts): JSON whose `user` field holds
 * the user object as a JSON string, so cjson never re-encodes user data. Index sets are sorted
 * sets whose score is the time (Redis' clock, microseconds) a member was last added, strictly
 * increasing per member: a cleaner removes a member only if its score is still the one it read,
 * so a member added again meanwhile is never removed (see UNINDEX).
 */
import { createHash } from 'node:crypto';
import { KEY_MARGIN_SECONDS, type Script } from './scripts.js';

function script(body: string): Script {
  const source = PRELUDE + body;
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const PRELUDE = `
local K = KEYS[1]
local NULL = cjson.null

local function isnull(v) return v == nil or v == NULL end
local function isnum(v) return type(v) == 'number' end

-- Redis' clock: seconds, milliseconds (to compare with PTTL) and microseconds (index scores).
local function servernow()
  local t = redis.call('TIME')
  local sec, usec = tonumber(t[1]), tonumber(t[2])
  return sec, sec * 1000 + math.floor(usec / 1000), sec * 1000000 + usec
end

-- When the key of a record expiring at exp expires (nil = never): KEY_MARGIN_SECONDS later.
local function keyexp(exp)
  if exp == nil then return nil end
  return exp + ${KEY_MARGIN_SECONDS}
end

-- The record decoded (nil unless a JSON object or array), and the raw value (nil when absent).
local function load()
  local raw = redis.call('GET', K)
  if not raw then return nil, nil end
  local ok, r = pcall(cjson.decode, raw)
  if not ok or type(r) ~= 'table' then return nil, raw end
  return r, raw
end

-- Unrevoked and not expired at now: the guard of touch and rotate.
local function islive(r, now)
  return isnull(r.revokedAt) and (r.expiresAt == NULL or (isnum(r.expiresAt) and r.expiresAt > now))
end

-- Rewrites the record in place, keeping its expiry.
local function rewrite(r)
  redis.call('SET', K, cjson.encode(r), 'KEEPTTL')
end

-- Writes the record json expiring at exp (record time, nil = never); a record whose key would
-- already have expired is deleted instead. Returns 1 when written, 0 when deleted.
local function write(json, exp)
  exp = keyexp(exp)
  if exp ~= nil and exp <= servernow() then
    redis.call('DEL', K)
    return 0
  end
  if exp == nil then redis.call('SET', K, json) else redis.call('SET', K, json, 'EXAT', exp) end
  return 1
end
`;

/**
 * Adds members to an index set (KEYS[1]) and makes the set outlive its longest-lived member (no
 * expiry while one never expires). A member whose record key would already have expired is not
 * added. Each member's score becomes Redis' time in microseconds, or its previous score + 1 when
 * that is not lower (scores only grow). ARGV: (id, expiresAt ('' = never)) pairs.
 * Returns, per pair, {score (0 = not added), 1 when the member is new else 0}.
 */
export const INDEX = script(`
local snow, nowms, nowus = servernow()
local pttl = redis.call('PTTL', K) -- -2: no set yet, -1: a member never expires
local forever, maxexp = false, nil
local out = {}
for i = 1, #ARGV, 2 do
  local id, exp = ARGV[i], keyexp(tonumber(ARGV[i + 1]))
  if exp ~= nil and exp <= snow then
    out[#out + 1] = 0
    out[#out + 1] = 0
  else
    local score = nowus
    local old = redis.call('ZSCORE', K, id)
    if old then
      old = tonumber(old)
      if old >= score then score = old + 1 end
    end
    redis.call('ZADD', K, score, id)
    out[#out + 1] = score
    out[#out + 1] = old and 0 or 1
    if exp == nil then forever = true elseif maxexp == nil or exp > maxexp then maxexp = exp end
  end
end
if forever then
  if pttl ~= -1 then redis.call('PERSIST', K) end
elseif maxexp ~= nil and (pttl == -2 or (pttl >= 0 and nowms + pttl < maxexp * 1000)) then
  redis.call('EXPIREAT', K, maxexp)
end
return out
`);

/**
 * Removes members from an index set (KEYS[1]), each only while its score is still the one given:
 * a member added again since (by a put, a touch, a rotation) has a higher score and stays.
 * ARGV: minimum age in microseconds by Redis' clock ('' = any), then (id, score) pairs.
 * Returns how many were removed.
 */
export const UNINDEX = script(`
local _, _, nowus = servernow()
local minage = tonumber(ARGV[1])
local n = 0
for i = 2, #ARGV, 2 do
  local id, score = ARGV[i], tonumber(ARGV[i + 1])
  local cur = redis.call('ZSCORE', K, id)
  if cur and tonumber(cur) == score and (minage == nil or nowus - score >= minage) then
    redis.call('ZREM', K, id)
    n = n + 1
  end
end
return n
`);

/** Writes a record (KEYS[1]). ARGV: json, expiresAt ('' = never). Returns 1, or 0 when deleted (key already past its expiry). */
export const PUT = script(`
return write(ARGV[1], tonumber(ARGV[2]))
`);

/**
 * Put-if-absent (importRecords): SET NX. ARGV: json, expiresAt ('' = never). Returns 1 when
 * written, 0 when a record is present, -1 when its key would already have expired (not written).
 */
export const IMPORT = script(`
local exp = keyexp(tonumber(ARGV[2]))
if exp ~= nil and exp <= servernow() then return -1 end
local written
if exp == nil then written = redis.call('SET', K, ARGV[1], 'NX') else written = redis.call('SET', K, ARGV[1], 'NX', 'EXAT', exp) end
if written then return 1 end
return 0
`);

/**
 * Deletes a rotation's lost successor (KEYS[1]) when it is still what the rotation wrote (ARGV[1]),
 * or that record revoked since by a concurrent revoke of its user or login (the only other writer
 * of an id no token names yet). Returns 1 when deleted.
 */
export const DELETE_IF = script(`
local cur = redis.call('GET', K)
if not cur then return 0 end
if cur ~= ARGV[1] then
  local ok1, a = pcall(cjson.decode, cur)
  local ok2, b = pcall(cjson.decode, ARGV[1])
  if not ok1 or not ok2 or type(a) ~= 'table' or type(b) ~= 'table' or isnull(a.revokedAt) then return 0 end
  for k, v in pairs(b) do
    if k ~= 'revokedAt' and type(v) ~= 'table' and a[k] ~= v then return 0 end
  end
  for k, v in pairs(a) do
    if k ~= 'revokedAt' and type(v) ~= 'table' and b[k] == nil then return 0 end
  end
end
redis.call('DEL', K)
return 1
`);

/**
 * ARGV: lastSeenAt, expiresAt ('keep' | 'null' | seconds), expected subject, expected family.
 * Returns {1} when updated, {0} when not (absent, revoked, expired at lastSeenAt: never revived),
 * {-1, subject, family} when a new expiry was asked for and the record's subject or family is not
 * the expected one (the caller indexes those and tries again: a new expiry must be covered by the
 * index sets before the record gets it).
 */
export const TOUCH = script(`
local seen = tonumber(ARGV[1])
local r = load()
if r == nil or not islive(r, seen) then return { 0 } end
-- lastSeenAt only moves forward, so it must be a number to compare.
if not isnum(r.lastSeenAt) then return { 0 } end
if seen > r.lastSeenAt then r.lastSeenAt = seen end
local mode = ARGV[2]
if mode == 'keep' then
  rewrite(r)
  return { 1 }
end
if type(r.subject) ~= 'string' or type(r.family) ~= 'string' then return { 0 } end
if r.subject ~= ARGV[3] or r.family ~= ARGV[4] then return { -1, r.subject, r.family } end
local exp = tonumber(mode)
if exp == nil then r.expiresAt = NULL else r.expiresAt = exp end
write(cjson.encode(r), exp)
return { 1 }
`);

/**
 * The compare-and-set of a rotation, on the used record (KEYS[1]): the one step that decides the
 * single winner. When it is live at now and not yet rotated, mark it rotated (replacedBy = nextId,
 * reuseCount = 0); otherwise change nothing and return the stored value.
 * ARGV: now, nextId. Returns {'rotated'} | {'conflict', usedJson} | {'conflict'} (absent).
 */
export const ROTATE = script(`
local now = tonumber(ARGV[1])
local r, raw = load()
if raw == nil then return { 'conflict' } end
if r == nil or not islive(r, now) or not isnull(r.rotatedAt) then return { 'conflict', raw } end
r.rotatedAt = now
r.replacedBy = ARGV[2]
r.reuseCount = 0
rewrite(r)
return { 'rotated' }
`);

/** Counted reuse: increments reuseCount (absent = 0) while below the limit. ARGV: limit. Returns 1 when counted. */
export const COUNT_REUSE = script(`
local r = load()
if r == nil then return 0 end
local count = r.reuseCount
if isnull(count) then count = 0 elseif not isnum(count) then return 0 end
if count >= tonumber(ARGV[1]) then return 0 end
r.reuseCount = count + 1
rewrite(r)
return 1
`);

/**
 * Marks the record revoked when it is unrevoked and matches: field 'id' and 'all' match any record,
 * 'subject' and 'family' only one whose field equals value (an index member may be stale).
 * ARGV: now, field, value. Returns 1 when newly revoked.
 */
export const REVOKE = script(`
local r = load()
if r == nil or not isnull(r.revokedAt) then return 0 end
local field = ARGV[2]
if field ~= 'id' and field ~= 'all' and r[field] ~= ARGV[3] then return 0 end
r.revokedAt = tonumber(ARGV[1])
rewrite(r)
return 1
`);

/** Deletes the record when it is revoked or expired at now (only on evidence of death). ARGV: now. Returns 1 when deleted. */
export const PURGE = script(`
local r = load()
if r ~= nil and (not isnull(r.revokedAt) or (isnum(r.expiresAt) and r.expiresAt <= tonumber(ARGV[1]))) then
  redis.call('DEL', K)
  return 1
end
return 0
`);

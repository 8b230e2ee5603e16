/**
 * Lua scripts: every read-modify-write runs inside Redis, so it is atomic across all the
 * processes sharing the instance. ARGV[1] is always the key prefix.
 *
 * Records are JSON whose `user` field holds the user object as a JSON *string* (see codec.ts):
 * the scripts decode and re-encode records with cjson, which would corrupt arbitrary user data
 * (empty arrays become objects, numbers lose precision), so user data stays opaque to Lua.
 */
import { createHash } from 'node:crypto';

export interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(body: string): Script {
  const source = PRELUDE + body;
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * Seconds a record's key outlives the record's `expiresAt`. Redis' own expiry only collects the
 * key: whether a record is live is judged by the caller's `now` (islive below, the core's checks),
 * which may lag Redis' clock: whole-second clocks, a call that lands late on a loaded server,
 * clock skew between servers. A key gone at the exact `expiresAt` ended sessions that their
 * server still saw live (SESSION_ENDED for a refresh that arrived in time).
 */
export const KEY_MARGIN_SECONDS = 120;

/**
 * Helpers shared by all scripts. Records are not validated here: that is written once, in
 * TypeScript (the core's `parseRecord`, through codec.ts, on every value read back). A script
 * reads only the fields its own guard needs; a field of an unexpected type fails the guard
 * instead of being compared, so a drifted record never makes a script error out.
 */
const PRELUDE = `
local P = ARGV[1]
local NULL = cjson.null

local function isnull(v) return v == nil or v == NULL end
local function isnum(v) return type(v) == 'number' end

local function rkey(id) return P .. 'r:' .. id end
local function skey(subject) return P .. 's:' .. subject end
local function fkey(family) return P .. 'f:' .. family end

-- Redis' clock: seconds, and milliseconds (to compare with PTTL).
local function servernow()
  local t = redis.call('TIME')
  local sec = tonumber(t[1])
  return sec, sec * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- When the key of a record expiring at exp expires (nil = never): KEY_MARGIN_SECONDS later.
local function keyexp(exp)
  if exp == nil then return nil end
  return exp + ${KEY_MARGIN_SECONDS}
end

-- The stored value decoded (nil unless it is a JSON object or array), and the raw JSON (nil when absent).
local function load(id)
  local raw = redis.call('GET', rkey(id))
  if not raw then return nil, nil end
  local ok, r = pcall(cjson.decode, raw)
  if not ok or type(r) ~= 'table' then return nil, raw end
  return r, raw
end

-- Unrevoked and not expired at now: the guard of touch and rotate.
local function islive(r, now)
  return isnull(r.revokedAt) and (r.expiresAt == NULL or (isnum(r.expiresAt) and r.expiresAt > now))
end

-- Adds id to an index set whose expiry must outlast its longest-lived member (exp nil = never).
local function index(key, id, exp, nowms)
  local pttl = redis.call('PTTL', key) -- -2: no set yet, -1: a member never expires
  redis.call('SADD', key, id)
  if exp == nil then
    if pttl ~= -1 then redis.call('PERSIST', key) end
  elseif pttl == -2 or (pttl >= 0 and nowms + pttl < exp * 1000) then
    redis.call('EXPIREAT', key, exp)
  end
end

-- Writes a record (json) expiring at exp, and its indexes; a record whose key would already have
-- expired (keyexp) is deleted.
local function store(id, json, subject, family, exp)
  exp = keyexp(exp)
  local k = rkey(id)
  local old = redis.call('GET', k)
  if old then
    local ok, o = pcall(cjson.decode, old)
    if ok and type(o) == 'table' then
      if type(o.subject) == 'string' and o.subject ~= subject then redis.call('SREM', skey(o.subject), id) end
      if type(o.family) == 'string' and o.family ~= family then redis.call('SREM', fkey(o.family), id) end
    end
  end
  local snow, nowms = servernow()
  if exp ~= nil and exp <= snow then
    redis.call('DEL', k)
    redis.call('SREM', skey(subject), id)
    redis.call('SREM', fkey(family), id)
    return
  end
  if exp == nil then redis.call('SET', k, json) else redis.call('SET', k, json, 'EXAT', exp) end
  index(skey(subject), id, exp, nowms)
  if family ~= id then index(fkey(family), id, exp, nowms) end
end

-- Index updates of a batch of records: members are collected per set, then each set gets one
-- PTTL, SADD and EXPIREAT/PERSIST however many members the batch adds (exp nil = never).
local function batchindex()
  local members, maxexp, keys = {}, {}, {}
  local b = {}
  function b.note(key, id, exp)
    local m = members[key]
    if m == nil then
      m = {}
      members[key] = m
      keys[#keys + 1] = key
      maxexp[key] = exp or false
    end
    m[#m + 1] = id
    local cur = maxexp[key]
    if cur ~= false then
      if exp == nil then maxexp[key] = false elseif exp > cur then maxexp[key] = exp end
    end
  end
  function b.flush(nowms)
    for _, key in ipairs(keys) do
      local pttl = redis.call('PTTL', key)
      redis.call('SADD', key, unpack(members[key]))
      local exp = maxexp[key]
      if exp == false then
        if pttl ~= -1 then redis.call('PERSIST', key) end
      elseif pttl == -2 or (pttl >= 0 and nowms + pttl < exp * 1000) then
        redis.call('EXPIREAT', key, exp)
      end
    end
  end
  return b
end

-- Rewrites a record in place, keeping its expiry.
local function rewrite(id, r)
  redis.call('SET', rkey(id), cjson.encode(r), 'KEEPTTL')
end
`;

/** ARGV: prefix, id, json, subject, family, expiresAt ('' = never). */
export const PUT = script(`
store(ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]))
return 1
`);

/**
 * Bulk PUT (migrations): many records per call, one clock read, and each index set updated
 * once per call. An overwritten record is not removed from an old subject/family index here:
 * stale members are harmless (readers check the record itself) and purgeExpired drops them.
 * ARGV: prefix, then (id, json, subject, family, expiresAt) per record. Returns records kept.
 */
export const PUT_MANY = script(`
local snow, nowms = servernow()
local idx = batchindex()
local n = 0
for i = 2, #ARGV, 5 do
  local id, exp = ARGV[i], keyexp(tonumber(ARGV[i + 4]))
  if exp ~= nil and exp <= snow then
    redis.call('DEL', rkey(id))
  else
    if exp == nil then redis.call('SET', rkey(id), ARGV[i + 1]) else redis.call('SET', rkey(id), ARGV[i + 1], 'EXAT', exp) end
    idx.note(skey(ARGV[i + 2]), id, exp)
    if ARGV[i + 3] ~= id then idx.note(fkey(ARGV[i + 3]), id, exp) end
    n = n + 1
  end
end
idx.flush(nowms)
return n
`);

/**
 * Bulk put-if-absent (importRecords): each record is written with SET NX, so one already present
 * (or written concurrently by put or another import) is never overwritten, and only records
 * actually written join their indexes, as by PUT. A record whose key would already have expired
 * (KEY_MARGIN_SECONDS past its expiresAt) is not written (put would delete it at once). ARGV as
 * PUT_MANY. Returns how many were written.
 */
export const IMPORT = script(`
local snow, nowms = servernow()
local idx = batchindex()
local n = 0
for i = 2, #ARGV, 5 do
  local id, exp = ARGV[i], keyexp(tonumber(ARGV[i + 4]))
  if exp == nil or exp > snow then
    local written
    if exp == nil then written = redis.call('SET', rkey(id), ARGV[i + 1], 'NX') else written = redis.call('SET', rkey(id), ARGV[i + 1], 'NX', 'EXAT', exp) end
    if written then
      idx.note(skey(ARGV[i + 2]), id, exp)
      if ARGV[i + 3] ~= id then idx.note(fkey(ARGV[i + 3]), id, exp) end
      n = n + 1
    end
  end
end
idx.flush(nowms)
return n
`);

/**
 * Counts keys matching a pattern with a bounded number of SCAN steps per call, so only a count
 * crosses the network and Redis is never blocked for long. ARGV: prefix, cursor, pattern,
 * COUNT per step, steps. Returns {next cursor ('0' = done), keys counted}.
 */
export const COUNT = script(`
local cursor, n = ARGV[2], 0
for _ = 1, tonumber(ARGV[5]) do
  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[3], 'COUNT', ARGV[4])
  cursor = r[1]
  n = n + #r[2]
  if cursor == '0' then break end
end
return { cursor, n }
`);

/**
 * ARGV: prefix, id, lastSeenAt, expiresAt ('keep' | 'null' | seconds). Returns 1 when updated.
 * A revoked record, or one expired at lastSeenAt, is left as it is (never revived).
 */
export const TOUCH = script(`
local id = ARGV[2]
local seen = tonumber(ARGV[3])
local r = load(id)
if r == nil or not islive(r, seen) then return 0 end
-- lastSeenAt only moves forward, so it must be a number to compare.
if not isnum(r.lastSeenAt) then return 0 end
if seen > r.lastSeenAt then r.lastSeenAt = seen end
local mode = ARGV[4]
if mode == 'keep' then
  rewrite(id, r)
else
  -- A new expiry re-indexes the record, which takes its subject and family.
  if type(r.subject) ~= 'string' or type(r.family) ~= 'string' then return 0 end
  local exp = tonumber(mode)
  if exp == nil then r.expiresAt = NULL else r.expiresAt = exp end
  store(id, cjson.encode(r), r.subject, r.family, exp)
end
return 1
`);

/**
 * The compare-and-set: when the used record is live at now and not yet rotated, store the
 * successor and mark the used record rotated. Otherwise write nothing and return the stored
 * value, for the caller to read back.
 * ARGV: prefix, usedId, now, nextId, nextJson, nextSubject, nextFamily, nextExpiresAt ('' = never).
 * Returns {'rotated'} | {'conflict', usedJson} | {'conflict'} (absent).
 */
export const ROTATE = script(`
local usedId = ARGV[2]
local now = tonumber(ARGV[3])
local r, raw = load(usedId)
if raw == nil then return { 'conflict' } end
if r == nil or not islive(r, now) or not isnull(r.rotatedAt) then return { 'conflict', raw } end
local nextId = ARGV[4]
store(nextId, ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]))
r.rotatedAt = now
r.replacedBy = nextId
r.reuseCount = 0
rewrite(usedId, r)
return { 'rotated' }
`);

/**
 * Counted reuse: increments reuseCount (absent = 0) while it is below the limit.
 * ARGV: prefix, id, limit. Returns 1 when counted, 0 otherwise.
 */
export const COUNT_REUSE = script(`
local id = ARGV[2]
local r = load(id)
if r == nil then return 0 end
local count = r.reuseCount
if isnull(count) then count = 0 elseif not isnum(count) then return 0 end
if count >= tonumber(ARGV[3]) then return 0 end
r.reuseCount = count + 1
rewrite(id, r)
return 1
`);

/**
 * Marks unrevoked matching records revoked. ARGV: prefix, now, field, value, ids...
 * field 'id': value is the id; 'subject': members of that index set; 'family': the root
 * record (id = family) and the members of the family set;
 * 'all': the ids given after value. Returns how many were newly revoked.
 */
export const REVOKE = script(`
local now = tonumber(ARGV[2])
local field, value = ARGV[3], ARGV[4]
local ids
if field == 'id' then
  ids = { value }
elseif field == 'subject' then
  ids = redis.call('SMEMBERS', skey(value))
elseif field == 'family' then
  -- The family's root record (a session: family = its own id) is not in its family set.
  ids = redis.call('SMEMBERS', fkey(value))
  ids[#ids + 1] = value
else
  ids = {}
  for i = 5, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local n = 0
for _, id in ipairs(ids) do
  local r = load(id)
  if r ~= nil and isnull(r.revokedAt) and (field == 'all' or field == 'id' or r[field] == value) then
    r.revokedAt = now
    rewrite(id, r)
    n = n + 1
  end
end
return n
`);

/** Deletes the given records when they are not live at `now`. ARGV: prefix, now, ids... Returns the count. */
export const PURGE = script(`
local now = tonumber(ARGV[2])
local n = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local r = load(id)
  -- Only on evidence of death: a value without these fields (a newer version's, say) is left alone.
  if r ~= nil and (not isnull(r.revokedAt) or (isnum(r.expiresAt) and r.expiresAt <= now)) then
    redis.call('DEL', rkey(id))
    if type(r.subject) == 'string' then redis.call('SREM', skey(r.subject), id) end
    if type(r.family) == 'string' then redis.call('SREM', fkey(r.family), id) end
    n = n + 1
  end
end
return n
`);

/** Removes index members whose record is gone. ARGV: prefix, setKeys... Returns members removed. */
export const CLEAN_INDEX = script(`
local n = 0
for i = 2, #ARGV do
  local key = ARGV[i]
  for _, id in ipairs(redis.call('SMEMBERS', key)) do
    if redis.call('EXISTS', rkey(id)) == 0 then
      redis.call('SREM', key, id)
      n = n + 1
    end
  end
end
return n
`);

/**
 * A fixed-window attempt counter: a hash { count, resetAt } under `<prefix>c:<key>`. The window is
 * judged by the caller's clock (`now`), like every record time; Redis' own expiry only collects
 * the key, relative to its creation, so a skew between the two clocks can neither drop a live
 * window early nor keep a dead one counting. ARGV: prefix, key, windowSeconds, now, by.
 * Returns {count, resetAt}.
 */
export const HIT = script(`
local k = P .. 'c:' .. ARGV[2]
local window, now, by = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local reset = tonumber(redis.call('HGET', k, 'resetAt'))
if reset ~= nil and reset > now then
  local count = redis.call('HINCRBY', k, 'count', ARGV[5])
  if count < 0 then
    redis.call('HSET', k, 'count', '0')
    count = 0
  end
  return { count, reset }
end
if by <= 0 then return { 0, now } end
redis.call('DEL', k)
redis.call('HSET', k, 'count', ARGV[5], 'resetAt', tostring(now + window))
redis.call('EXPIRE', k, ARGV[3])
return { by, now + window }
`);

/** Stores the candidate secret unless one exists; returns the stored one. ARGV: prefix, candidate. */
export const INIT_SECRET = script(`
local k = P .. 'secret'
if redis.call('SET', k, ARGV[2], 'NX') then return ARGV[2] end
return redis.call('GET', k)
`);

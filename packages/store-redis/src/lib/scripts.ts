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
 * Helpers shared by all scripts. `load` is a port of `parseRecord` from @tessera/core: a record
 * that the JS side would treat as absent is treated as absent here too, so the decisions
 * (touch, rotate, revoke, purge) agree with `get`.
 */
const PRELUDE = `
local P = ARGV[1]
local NULL = cjson.null
local MAXINT = 9007199254740991
local KINDS = { session = true, refresh = true, api = true }

local function isnull(v) return v == nil or v == NULL end
local function isint(v) return type(v) == 'number' and v >= 0 and v <= MAXINT and math.floor(v) == v end
local function optint(v) return isnull(v) or isint(v) end
local function optstr(v) return isnull(v) or type(v) == 'string' end

local function rkey(id) return P .. 'r:' .. id end
local function skey(subject) return P .. 's:' .. subject end
local function fkey(family) return P .. 'f:' .. family end

-- Redis' clock: seconds, and milliseconds (to compare with PTTL).
local function servernow()
  local t = redis.call('TIME')
  local sec = tonumber(t[1])
  return sec, sec * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function valid(r, id)
  if type(r) ~= 'table' then return false end
  if type(r.id) ~= 'string' or r.id ~= id or #r.id == 0 or #r.id > 256 then return false end
  if type(r.kind) ~= 'string' or not KINDS[r.kind] then return false end
  if type(r.subject) ~= 'string' or type(r.family) ~= 'string' then return false end
  if not isint(r.createdAt) or not isint(r.lastSeenAt) then return false end
  if not (r.expiresAt == NULL or isint(r.expiresAt)) then return false end
  if not optint(r.revokedAt) or not optint(r.absoluteExpiresAt) or not optint(r.rotatedAt) or not optint(r.reuseCount) then return false end
  if not optstr(r.replacedBy) or not optstr(r.tenant) or not optstr(r.ip) or not optstr(r.secretHash) or not optstr(r.label) then return false end
  if not (isnull(r.binding) or r.binding == 'exact' or r.binding == 'subnet') then return false end
  if r.user ~= nil then
    if type(r.user) ~= 'string' then return false end
    local ok, u = pcall(cjson.decode, r.user)
    if not ok or type(u) ~= 'table' or type(u.id) ~= 'string' then return false end
  elseif r.kind == 'session' then
    return false
  end
  return true
end

-- The record and its raw JSON, or nil when absent or unreadable.
local function load(id)
  local raw = redis.call('GET', rkey(id))
  if not raw then return nil end
  local ok, r = pcall(cjson.decode, raw)
  if not ok or not valid(r, id) then return nil end
  return r, raw
end

local function islive(r, now)
  return isnull(r.revokedAt) and (r.expiresAt == NULL or r.expiresAt > now)
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

-- Writes a record (json) with its expiry and indexes; an already expired record is deleted.
local function store(id, json, subject, family, exp)
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
local members, maxexp, keys = {}, {}, {}
local function note(key, id, exp)
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
local n = 0
for i = 2, #ARGV, 5 do
  local id, exp = ARGV[i], tonumber(ARGV[i + 4])
  if exp ~= nil and exp <= snow then
    redis.call('DEL', rkey(id))
  else
    if exp == nil then redis.call('SET', rkey(id), ARGV[i + 1]) else redis.call('SET', rkey(id), ARGV[i + 1], 'EXAT', exp) end
    note(skey(ARGV[i + 2]), id, exp)
    if ARGV[i + 3] ~= id then note(fkey(ARGV[i + 3]), id, exp) end
    n = n + 1
  end
end
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
return n
`);

/** ARGV: prefix, id, lastSeenAt, expiresAt ('keep' | 'null' | seconds). Returns 1 when updated. */
export const TOUCH = script(`
local id = ARGV[2]
local r = load(id)
if r == nil or not isnull(r.revokedAt) then return 0 end
local seen = tonumber(ARGV[3])
if not isnull(r.expiresAt) and r.expiresAt <= seen then return 0 end
if seen > r.lastSeenAt then r.lastSeenAt = seen end
local mode = ARGV[4]
if mode == 'keep' then
  rewrite(id, r)
else
  local exp = tonumber(mode)
  if exp == nil then r.expiresAt = NULL else r.expiresAt = exp end
  store(id, cjson.encode(r), r.subject, r.family, exp)
end
return 1
`);

/**
 * decideRotate from @tessera/core, then the writes it calls for.
 * ARGV: prefix, usedId, now, maxReuse ('' = no policy), graceSeconds, nextId, nextJson,
 * nextSubject, nextFamily, nextExpiresAt ('' = never).
 * Returns {'rotated'} | {'grace', successorId} | {'reused', usedJson} | {'revoked'} | {'missing'}.
 */
export const ROTATE = script(`
local usedId = ARGV[2]
local now = tonumber(ARGV[3])
local r, raw = load(usedId)
if r == nil or (r.expiresAt ~= NULL and r.expiresAt <= now) then return { 'missing' } end
if not isnull(r.revokedAt) then return { 'revoked' } end
if isnull(r.rotatedAt) then
  local nextId = ARGV[6]
  store(nextId, ARGV[7], ARGV[8], ARGV[9], tonumber(ARGV[10]))
  r.rotatedAt = now
  r.replacedBy = nextId
  r.reuseCount = 0
  rewrite(usedId, r)
  return { 'rotated' }
end
local maxReuse = tonumber(ARGV[4])
local count = 0
if not isnull(r.reuseCount) then count = r.reuseCount end
if maxReuse ~= nil and type(r.replacedBy) == 'string' and r.replacedBy ~= ''
  and now - r.rotatedAt <= tonumber(ARGV[5]) and count < maxReuse then
  r.reuseCount = count + 1
  rewrite(usedId, r)
  return { 'grace', r.replacedBy }
end
return { 'reused', raw }
`);

/**
 * Marks live matching records revoked. ARGV: prefix, now, field, value, ids...
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
  if r ~= nil and not islive(r, now) then
    redis.call('DEL', rkey(id))
    redis.call('SREM', skey(r.subject), id)
    redis.call('SREM', fkey(r.family), id)
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

/** Stores the candidate secret unless one exists; returns the stored one. ARGV: prefix, candidate. */
export const INIT_SECRET = script(`
local k = P .. 'secret'
if redis.call('SET', k, ARGV[2], 'NX') then return ARGV[2] end
return redis.call('GET', k)
`);

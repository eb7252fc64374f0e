-- Admits one request: observes every counter, and in mode 'admit', only if
-- every enforced limit has room, takes all of them. One call, atomic.
--
-- KEYS[i]: counter i.
-- ARGV[1]: 'admit' or 'peek' (observe only); ARGV[2]: lease id;
-- ARGV[3]: lease TTL ms; ARGV[4..6]: key TTL ms of rate, day and month keys;
-- then per counter i, from ARGV[7 + 3 (i - 1)]: kind, amount, the tightest
-- enforced limit (-1: none).
-- Reply: {admitted (1/0), first refusing counter (0: none), server time ms,
-- then per counter: bucket, x, y} where x, y are, before this request,
-- 'r': taken in the current and previous window; 'c': leases alive, 0;
-- 'd' / 'm': committed and reserved in the current bucket.

if redis.replicate_commands then
  redis.replicate_commands()
end

local mode = ARGV[1]
local lease_id = ARGV[2]
local lease_ttl = tonumber(ARGV[3])
local key_ttl = { r = tonumber(ARGV[4]), d = tonumber(ARGV[5]), m = tonumber(ARGV[6]),
  c = lease_ttl + WINDOW_MS }
local now = server_now()

local function observe_rate(key)
  local v = redis.call('HMGET', key, 'w', 'c', 'p')
  local window = bucket_of('r', now)
  local stored = tonumber(v[1])
  local current, previous = 0, 0
  if stored == nil then
    current, previous = 0, 0
  elseif stored >= window then
    -- Same window (or a server clock that stepped back: keep the stored one).
    window, current, previous = stored, tonumber(v[2]) or 0, tonumber(v[3]) or 0
  elseif stored == window - 1 then
    previous = tonumber(v[2]) or 0
  end
  return { bucket = window, x = current, y = previous }
end

local function observe_concurrency(key)
  local alive = redis.call('ZCOUNT', key, '(' .. int(now), '+inf')
  return { bucket = 0, x = alive, y = 0 }
end

local function observe_spend(kind, key)
  local v = redis.call('HMGET', key, 'b', 'c', 'r', 'pb', 'pc', 'pr')
  local bucket = bucket_of(kind, now)
  local stored = tonumber(v[1])
  local s = { bucket = bucket, x = 0, y = 0, pb = bucket - 1, pc = 0, pr = 0 }
  if stored == nil then
    return s
  elseif stored >= bucket then
    return { bucket = stored, x = tonumber(v[2]) or 0, y = tonumber(v[3]) or 0,
      pb = tonumber(v[4]) or (stored - 1), pc = tonumber(v[5]) or 0, pr = tonumber(v[6]) or 0 }
  elseif stored == bucket - 1 then
    s.pc, s.pr = tonumber(v[2]) or 0, tonumber(v[3]) or 0
  end
  return s
end

local function observe(kind, key)
  if kind == 'r' then
    return observe_rate(key)
  elseif kind == 'c' then
    return observe_concurrency(key)
  end
  return observe_spend(kind, key)
end

local function has_room(kind, view, amount, limit)
  if kind == 'r' then
    local left = WINDOW_MS - (now % WINDOW_MS)
    local used = view.x + math.ceil(view.y * left / WINDOW_MS)
    return used + amount <= limit
  elseif kind == 'c' then
    return view.x + 1 <= limit
  end
  return view.x + view.y < limit
end

local function take(kind, key, view, amount)
  if kind == 'r' then
    redis.call('HSET', key, 'w', int(view.bucket), 'c', int(view.x + amount), 'p', int(view.y))
  elseif kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', int(now))
    redis.call('ZADD', key, int(now + lease_ttl), lease_id)
  else
    redis.call('HSET', key, 'b', int(view.bucket), 'c', int(view.x), 'r', int(view.y + amount),
      'pb', int(view.pb), 'pc', int(view.pc), 'pr', int(view.pr))
  end
  redis.call('PEXPIRE', key, int(key_ttl[kind]))
end

local views = {}
local refused = 0
for i = 1, #KEYS do
  local arg = 7 + 3 * (i - 1)
  local kind, amount, limit = ARGV[arg], tonumber(ARGV[arg + 1]), tonumber(ARGV[arg + 2])
  views[i] = observe(kind, KEYS[i])
  if refused == 0 and limit >= 0 and not has_room(kind, views[i], amount, limit) then
    refused = i
  end
end

if mode == 'admit' and refused == 0 then
  for i = 1, #KEYS do
    local arg = 7 + 3 * (i - 1)
    take(ARGV[arg], KEYS[i], views[i], tonumber(ARGV[arg + 1]))
  end
end

local reply = { refused == 0 and 1 or 0, refused, now }
for i = 1, #KEYS do
  reply[#reply + 1] = views[i].bucket
  reply[#reply + 1] = views[i].x
  reply[#reply + 1] = views[i].y
end
return reply

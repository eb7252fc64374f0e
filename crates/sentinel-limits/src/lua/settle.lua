-- Settles one lease: replaces estimates with real use, releases concurrency
-- and reports the spend alert thresholds this call crossed first. One call,
-- atomic. Only touches keys that exist, so no key is left without a TTL.
--
-- KEYS: the counters, then the alert sets of spend counters.
-- ARGV[1]: lease id; ARGV[2]: number of counters n; ARGV[3], ARGV[4]: alert
-- key TTL ms for day and month; then per counter: kind ('t' tokens, 'c'
-- concurrency, 'd' / 'm' spend), bucket, estimate, actual, the KEYS index of
-- its alert set (0: none), the number k of thresholds, then k pairs
-- (member, amount).
-- Reply: {counter number, threshold number, spend after} per threshold
-- crossed and not already alerted in this bucket.

local lease_id = ARGV[1]
local counters = tonumber(ARGV[2])
local alert_ttl = { d = tonumber(ARGV[3]), m = tonumber(ARGV[4]) }

local function settle_tokens(key, bucket, estimate, actual)
  local v = redis.call('HMGET', key, 'w', 'c', 'p')
  local stored = tonumber(v[1])
  if stored == nil then
    return
  end
  local field, value
  if stored == bucket then
    field, value = 'c', v[2]
  elseif stored == bucket + 1 then
    field, value = 'p', v[3]
  else
    return
  end
  local corrected = (tonumber(value) or 0) - estimate + actual
  if corrected < 0 then
    corrected = 0
  end
  redis.call('HSET', key, field, int(corrected))
end

-- Returns committed spend before and after, or nil if the bucket is gone.
local function settle_spend(key, bucket, reserved, actual)
  local v = redis.call('HMGET', key, 'b', 'c', 'r', 'pb', 'pc', 'pr')
  local committed_field, reserved_field, committed, held
  if tonumber(v[1]) == bucket then
    committed_field, reserved_field, committed, held = 'c', 'r', v[2], v[3]
  elseif tonumber(v[4]) == bucket then
    committed_field, reserved_field, committed, held = 'pc', 'pr', v[5], v[6]
  else
    return nil
  end
  local before = tonumber(committed) or 0
  local after = before + actual
  local still_reserved = (tonumber(held) or 0) - reserved
  if still_reserved < 0 then
    still_reserved = 0
  end
  redis.call('HSET', key, committed_field, int(after), reserved_field, int(still_reserved))
  return before, after
end

local reply = {}
local arg = 5
for i = 1, counters do
  local kind, bucket = ARGV[arg], tonumber(ARGV[arg + 1])
  local estimate, actual = tonumber(ARGV[arg + 2]), tonumber(ARGV[arg + 3])
  local alert_key, thresholds = tonumber(ARGV[arg + 4]), tonumber(ARGV[arg + 5])
  local first_threshold = arg + 6
  arg = first_threshold + 2 * thresholds
  if kind == 't' then
    settle_tokens(KEYS[i], bucket, estimate, actual)
  elseif kind == 'c' then
    redis.call('ZREM', KEYS[i], lease_id)
  else
    local before, after = settle_spend(KEYS[i], bucket, estimate, actual)
    if before ~= nil and alert_key > 0 then
      for j = 1, thresholds do
        local member = ARGV[first_threshold + 2 * (j - 1)]
        local amount = tonumber(ARGV[first_threshold + 2 * (j - 1) + 1])
        if before < amount and amount <= after
          and redis.call('SADD', KEYS[alert_key], member) == 1 then
          redis.call('PEXPIRE', KEYS[alert_key], int(alert_ttl[kind]))
          reply[#reply + 1] = i
          reply[#reply + 1] = j
          reply[#reply + 1] = after
        end
      end
    end
  end
end
return reply

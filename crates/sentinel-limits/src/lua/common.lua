-- Helpers shared by the admit and settle scripts (prepended to each).
--
-- Kinds: 'r' requests or tokens per minute (hash w, c, p: window number,
-- taken in it, taken in the one before), 'c' concurrency (zset of lease ids
-- scored by expiry), 'd' / 'm' spend per UTC day / month (hash b, c, r, pb,
-- pc, pr: bucket, committed, reserved, and the same for the bucket before).
-- Numbers stay exact below 2^53; they are written back with '%d' so that
-- Redis never stores a float.

local WINDOW_MS = 60000
local DAY_MS = 86400000

local function int(x)
  return string.format('%d', x)
end

-- Milliseconds since the epoch, from the server's clock.
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Months since January 1970 of the UTC day `days` since the epoch
-- (H. Hinnant's civil_from_days).
local function month_of_day(days)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400
  if month <= 2 then
    year = year + 1
  end
  return (year - 1970) * 12 + (month - 1)
end

-- The window ('r') or period ('d', 'm') bucket `now` falls in.
local function bucket_of(kind, now)
  if kind == 'd' then
    return math.floor(now / DAY_MS)
  elseif kind == 'm' then
    return month_of_day(math.floor(now / DAY_MS))
  end
  return math.floor(now / WINDOW_MS)
end

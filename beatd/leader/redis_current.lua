if redis.replicate_commands then redis.replicate_commands() end
local held = redis.call('GET', KEYS[1])
if not held then return nil end
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl_ms = redis.call('PTTL', KEYS[1])
if ttl_ms < 0 then return {held, -1} end
return {held, now_ms + ttl_ms}

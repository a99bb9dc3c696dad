if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl_ms = tonumber(ARGV[2])
local held = redis.call('GET', KEYS[1])
if held then
  if cjson.decode(held)['holder'] ~= ARGV[1] then
    return {0, held, now_ms}
  end
  -- Compare-and-extend: our own live lease, same token.
  redis.call('PEXPIRE', KEYS[1], ttl_ms)
  return {1, held, now_ms + ttl_ms}
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], now_ms)
end
local token = redis.call('INCR', KEYS[2])
-- Written by hand: cjson would print a large token in exponent notation.
local value = '{"holder":' .. cjson.encode(ARGV[1]) .. ',"token":' .. string.format('%d', token) .. '}'
redis.call('SET', KEYS[1], value, 'NX', 'PX', ttl_ms)
return {1, value, now_ms + ttl_ms}

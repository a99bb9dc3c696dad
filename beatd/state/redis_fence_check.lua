local function below(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local format = redis.call('GET', KEYS[3])
if format and tonumber(format) > tonumber(ARGV[2]) then
  return {'newer-format', format}
end
local fence = redis.call('GET', KEYS[2]) or '0'
if below(ARGV[1], fence) then
  return {'fenced', fence}
end
local function raise_fence()
  if below(fence, ARGV[1]) then redis.call('SET', KEYS[2], ARGV[1]) end
  if not format then redis.call('SET', KEYS[3], ARGV[2]) end
end
-- HSET and HDEL get at most this many arguments a call: unpack() is bounded by Lua's C stack.
local chunk = 1000

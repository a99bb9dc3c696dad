raise_fence()
local recovered = tonumber(ARGV[3])
for i = 4, 3 + recovered do
  redis.call('HDEL', KEYS[4], ARGV[i])
end
for i = 4 + recovered, #ARGV, 2 do
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
end
return {'ok'}

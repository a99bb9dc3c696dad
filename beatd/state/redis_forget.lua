raise_fence()
for i = 3, #ARGV, chunk do
  redis.call('HDEL', KEYS[1], unpack(ARGV, i, math.min(i + chunk - 1, #ARGV)))
  redis.call('HDEL', KEYS[4], unpack(ARGV, i, math.min(i + chunk - 1, #ARGV)))
end
return {'ok'}

local updates = {}
for i = 3, #ARGV, 3 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  -- Equal widths make string order time order; an equal instant may be re-recorded.
  if not current or cjson.decode(current).scheduled_at <= ARGV[i + 1] then
    updates[#updates + 1] = ARGV[i]
    updates[#updates + 1] = ARGV[i + 2]
  end
end
raise_fence()
for i = 1, #updates, chunk do
  redis.call('HSET', KEYS[1], unpack(updates, i, math.min(i + chunk - 1, #updates)))
end
return {'ok'}

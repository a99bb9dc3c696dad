local held = redis.call('GET', KEYS[1])
if held then
  local lease = cjson.decode(held)
  if lease['holder'] == ARGV[1] and lease['token'] == tonumber(ARGV[2]) then
    return redis.call('DEL', KEYS[1])
  end
end
return 0

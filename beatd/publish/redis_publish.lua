-- beatd: push one batch of task messages, each scheduled run at most once (redis_transport.py).
--
-- Runs as one server-side step, so a run is pushed and its entry's high-water mark moved
-- together: a retry after a lost reply, or a new leader re-sending what a killed one
-- pushed but never recorded, finds the mark at or past the run and pushes nothing.
--
-- KEYS[1]    the high-water mark hash: field = entry name, value = the scheduled instant
--            (microseconds since the epoch) of that entry's newest pushed run
-- KEYS[2..]  the queue lists and binding sets the plan names by their index in KEYS
-- ARGV[1]    the plan, JSON: {"bindings": [[set index, permanent set index, member], ...],
--            "messages": [[entry name, scheduled instant (epoch microseconds, as a string),
--            marked (1, or 0 for a manual run the mark neither holds back nor moves),
--            [list indexes]], ...]}
-- ARGV[i+1]  the payload of the plan's message i
-- Returns    {statuses, refusals, binding errors}: statuses has one character per message,
--            1 (pushed), 0 (already pushed: the mark is at or past it) or r (refused);
--            refusals the error of each refused message, in order; binding errors 0 or
--            the error, per binding. (One string, not an array of 1,000 replies: the
--            client reads it at a fraction of the cost.)
--
-- A refusal concerns one message only: its list holds another type (WRONGTYPE), or Redis
-- is out of memory (OOM, which Redis checks before a script's first write). Nothing is
-- pushed for a refused message and its mark stays. Any other error (READONLY after a
-- failover, ...) concerns every message: the script stops, and the caller retries the
-- batch, which the marks make safe.

local CHUNK = 1000  -- arguments per unpack(), well inside Lua's C stack

local marks = KEYS[1]
local marks_type = redis.call('TYPE', marks)['ok']
if marks_type ~= 'hash' and marks_type ~= 'none' then
  return redis.error_reply('WRONGTYPE the high-water mark key ' .. marks .. ' holds a ' .. marks_type ..
                           ', not a hash: beatd keeps its marks there; delete the key')
end
local plan = cjson.decode(ARGV[1])

-- The refusal text for one message's error reply, or the error raised for the whole batch.
local function refusal(reply)
  local text = reply['err']
  if string.sub(text, 1, 9) == 'WRONGTYPE' or string.sub(text, 1, 3) == 'OOM' then
    return text
  end
  error(reply)
end

local function failed(reply)
  return type(reply) == 'table' and reply['err'] ~= nil
end

-- LPUSH key items..., in chunks; the first error reply, or nil.
local function push(key, items)
  for from = 1, #items, CHUNK do
    local reply = redis.pcall('LPUSH', key, unpack(items, from, math.min(from + CHUNK - 1, #items)))
    if failed(reply) then
      return reply
    end
  end
  return nil
end

local binding_errors = {}
for number, binding in ipairs(plan['bindings']) do
  local reply = redis.pcall('SADD', KEYS[binding[1]], binding[3])
  if not failed(reply) then
    reply = redis.pcall('SADD', KEYS[binding[2]], binding[3])
  end
  binding_errors[number] = failed(reply) and refusal(reply) or 0
end

-- The marks of the batch's entries, read at once.
local newest = {}  -- entry name -> its mark, as this batch leaves it
local names = {}
for _, message in ipairs(plan['messages']) do
  if message[3] == 1 and newest[message[1]] == nil then
    newest[message[1]] = -math.huge
    names[#names + 1] = message[1]
  end
end
for from = 1, #names, CHUNK do
  local stored = redis.call('HMGET', marks, unpack(names, from, math.min(from + CHUNK - 1, #names)))
  for offset, value in ipairs(stored) do
    if value then
      newest[names[from + offset - 1]] = tonumber(value)
    end
  end
end

-- A list key of another type refuses every message for it: checked before any push, so
-- a message for several lists goes to all of them or to none.
local list_errors = {}
local function list_error(index)
  local known = list_errors[index]
  if known == nil then
    local kind = redis.call('TYPE', KEYS[index])['ok']
    known = false
    if kind ~= 'list' and kind ~= 'none' then
      known = 'WRONGTYPE ' .. KEYS[index] .. ' holds a ' .. kind .. ', not a list of messages'
    end
    list_errors[index] = known
  end
  return known
end

-- Decide each message, gathering the payloads of each list in order: one LPUSH per list
-- (LPUSH k a b c is LPUSH k a; LPUSH k b; LPUSH k c).
local statuses = {}
local payloads = {}  -- list index -> payloads
local lists = {}  -- list indexes, in first use order
for number, message in ipairs(plan['messages']) do
  local status = 1
  if message[3] == 1 and tonumber(message[2]) <= newest[message[1]] then
    status = 0
  end
  if status == 1 then
    for _, index in ipairs(message[4]) do
      local problem = list_error(index)
      if problem then
        status = problem
        break
      end
    end
  end
  if status == 1 then
    for _, index in ipairs(message[4]) do
      if payloads[index] == nil then
        payloads[index] = {}
        lists[#lists + 1] = index
      end
      table.insert(payloads[index], ARGV[number + 1])
    end
    if message[3] == 1 then
      newest[message[1]] = tonumber(message[2])
    end
  end
  statuses[number] = status
end

local push_errors = {}
for _, index in ipairs(lists) do
  local reply = push(KEYS[index], payloads[index])
  if reply then
    push_errors[index] = refusal(reply)
  end
end

-- Move the marks of what was pushed; the arguments' own digits are written, since
-- tostring() of a Lua number this large gives 1.7e+15.
local moved = {}
for number, message in ipairs(plan['messages']) do
  if statuses[number] == 1 then
    for _, index in ipairs(message[4]) do
      if push_errors[index] then
        statuses[number] = push_errors[index]
        break
      end
    end
    if statuses[number] == 1 and message[3] == 1 then
      moved[#moved + 1] = message[1]
      moved[#moved + 1] = message[2]
    end
  end
end
if #moved > 0 then
  -- Field, value pairs: an even chunk size keeps them together. Only a run newer than
  -- its entry's mark so far is pushed, so the last value written for a field is its newest.
  for from = 1, #moved, CHUNK do
    redis.call('HSET', marks, unpack(moved, from, math.min(from + CHUNK - 1, #moved)))
  end
end
local codes, refusals = {}, {}
for number, status in ipairs(statuses) do
  if status == 1 or status == 0 then
    codes[number] = tostring(status)
  else
    codes[number] = 'r'
    refusals[#refusals + 1] = status
  end
end
return {table.concat(codes), refusals, binding_errors}

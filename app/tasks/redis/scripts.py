"""The Lua scripts of the Redis store (app.tasks.redis.store): each state change of a task is one
script, so it is atomic, and two replicas can never both finish one task. Their keys and arguments
are the store's calls'; the key names are listed in the store's docstring.
"""

from __future__ import annotations

from app.tasks.records import FINISHED, TaskState

FINISHED_LUA = ("local function finished(s) return " + " or ".join(f"s == '{st}'" for st in sorted(FINISHED))
                + " end\n")  # records.FINISHED, in Lua

SUBMIT = FINISHED_LUA + """
local st = redis.call('HGET', KEYS[1], 'status')
if st and not finished(st) then return {'conflict', st} end
local n = redis.call('SCARD', KEYS[2])
if n >= tonumber(ARGV[2]) then return {'busy', tostring(n)} end
if st then
  local f = redis.call('HGET', KEYS[4], ARGV[1])
  if f then redis.call('DECRBY', KEYS[6], tonumber(string.match(f, '|(%d+)$'))) end
  redis.call('HDEL', KEYS[4], ARGV[1]); redis.call('ZREM', KEYS[5], ARGV[1]); redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'status', '""" + TaskState.PENDING + """', 'rec', ARGV[3], 'input', ARGV[4])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], '*', 'task_id', ARGV[1])
return {'ok', tostring(n)}
"""

# a progress save: only while the task is live; -1 when a cancel was asked for, -2 when the record is gone
UPDATE = FINISHED_LUA + """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return -2 end
if finished(st) then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'rec', ARGV[2])
if redis.call('HEXISTS', KEYS[1], 'cancel') == 1 then return -1 end
return 1
"""

# the one-winner end: the record, its results and its callback (the outbox), then the bounds
FINISH = FINISHED_LUA + """
if ARGV[8] ~= '' then redis.call('XACK', KEYS[3], ARGV[9], ARGV[8]); redis.call('XDEL', KEYS[3], ARGV[8]) end
local st = redis.call('HGET', KEYS[1], 'status')
if not st then redis.call('SREM', KEYS[2], ARGV[1]); return 0 end
if finished(st) then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'rec', ARGV[3])
for i = 14, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[12] ~= '' then  -- the callback, in the outbox with the end: leased to this replica first
  redis.call('HSET', KEYS[7], ARGV[1], ARGV[12]); redis.call('ZADD', KEYS[8], ARGV[13], ARGV[1])
end
redis.call('HDEL', KEYS[1], 'input', 'cancel')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('SREM', KEYS[2], ARGV[1])
local function size(id)
  local f = redis.call('HGET', KEYS[4], id)
  if f then return tonumber(string.match(f, '|(%d+)$')) end
  return 0
end
redis.call('DECRBY', KEYS[6], size(ARGV[1]))
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2] .. '|' .. ARGV[11])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
redis.call('INCRBY', KEYS[6], ARGV[11])
local function drop(id)
  redis.call('DECRBY', KEYS[6], size(id))
  redis.call('HDEL', KEYS[4], id); redis.call('ZREM', KEYS[5], id)
  redis.call('DEL', ARGV[10] .. 'task:' .. id)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', tonumber(ARGV[4]) - tonumber(ARGV[5]) / 1000)) do drop(id) end
while tonumber(redis.call('GET', KEYS[6]) or '0') > tonumber(ARGV[6]) do
  local o = redis.call('ZRANGE', KEYS[5], 0, 0)
  if #o == 0 then break end
  drop(o[1])
end
while redis.call('ZCARD', KEYS[5]) > tonumber(ARGV[7]) do drop(redis.call('ZRANGE', KEYS[5], 0, 0)[1]) end
return 1
"""

# a cancel request: the flag, and the status it found (nil: unknown)
CANCEL = FINISHED_LUA + """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return false end
if not finished(st) then redis.call('HSET', KEYS[1], 'cancel', '1') end
return st
"""

# hand a running task back to the queue (graceful stop): a new entry, the old one acknowledged
HAND_BACK = FINISHED_LUA + """
local st = redis.call('HGET', KEYS[1], 'status')
if ARGV[2] ~= '' then redis.call('XACK', KEYS[2], ARGV[3], ARGV[2]); redis.call('XDEL', KEYS[2], ARGV[2]) end
if not st or finished(st) then return 0 end
redis.call('XADD', KEYS[2], '*', 'task_id', ARGV[1])
return 1
"""


# pending callbacks whose lease ran out (their replica died, or has not got to them): leased anew
DUE = """
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))) do
  local d = redis.call('HGET', KEYS[1], id)
  if d then redis.call('ZADD', KEYS[2], ARGV[2], id); table.insert(out, d) else redis.call('ZREM', KEYS[2], id) end
end
return out
"""

# forget a task admitted here that could not start (never called by the stream dispatcher, kept whole)
DISCARD = """
redis.call('DEL', KEYS[1]); redis.call('SREM', KEYS[2], ARGV[1])
return 1
"""

"""The shared risk store on Redis (REDIS_URL): several bot processes, one daily loss budget.

The budget is reserved and settled by Lua scripts, which Redis runs atomically: of two processes
racing for the last of the budget, exactly one sees its reservation fit. The state is one key
(its events go to the audit trail, persistence.audit_trail); it is as durable as the server's persistence makes
them, so production runs Redis with `appendonly yes` and `appendfsync always` to get SQLite's
guarantee (acknowledged means on disk).
"""

from __future__ import annotations

from typing import Any

import redis

from persistence import store
from protocol.secrets import redact_url
from risk.state import RiskBookState, decode_state, encode_state

LEDGER_TTL_S = 3 * 86_400  # a day's ledger outlives its day long enough for late outcomes and reports

RESERVE = """
local realized = tonumber(redis.call('GET', KEYS[1]) or '0')
local used = 0
if realized < 0 then used = -realized end
local now = tonumber(ARGV[5])
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local value = all[i + 1]
  local sep = string.find(value, ':', 1, true)
  local amount = tonumber(string.sub(value, 1, sep - 1))
  local expires = tonumber(string.sub(value, sep + 1))
  if expires <= now then
    redis.call('HDEL', KEYS[2], all[i])
  elseif all[i] ~= ARGV[1] then
    used = used + amount
  end
end
if used + tonumber(ARGV[2]) > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':' .. ARGV[4])
return 1
"""

SETTLE = """
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('SADD', KEYS[3], ARGV[1]) == 1 then
  redis.call('INCRBY', KEYS[1], ARGV[2])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return redis.call('GET', KEYS[1])
"""


class RedisRiskStore:
    def __init__(self, url: str, book_id: str = "main", prefix: str = "arbiter:risk", ledger: str = "") -> None:
        self.location = redact_url(url)
        self.book_id = book_id
        self.prefix = prefix
        self._r: Any = redis.Redis.from_url(url)
        self._r.ping()  # fail at start-up, naming the server, not at the first trade
        self._reserve = self._r.register_script(RESERVE)
        self._settle = self._r.register_script(SETTLE)
        self._state_key = f"{prefix}:book:{book_id}:state"
        # the shared loss ledger's namespace: books of one world share it, other worlds never do
        self._ledger = f"{prefix}:loss:{ledger}" if ledger else f"{prefix}:loss"
        self._reservations_key = f"{self._ledger}:reservations"

    def _realized_key(self, day: float) -> str:
        return f"{self._ledger}:{store.day_key(day)}:realized"

    # --- state --------------------------------------------------------------------------

    def load(self) -> RiskBookState | None:
        blob = self._r.get(self._state_key)
        if blob is None:
            return None
        try:
            return decode_state(blob)
        except store.UNDECODABLE as exc:
            moved = f"{self._state_key}:unreadable:{store.aside_stamp()}"
            self._r.rename(self._state_key, moved)
            raise store.StateUnreadable(f"{self.location} key {self._state_key}", moved, str(exc)) from exc

    def save(self, state: RiskBookState) -> None:
        self._r.set(self._state_key, encode_state(state))

    # --- the loss ledger ----------------------------------------------------------------------

    def reserve_loss(
        self, day: float, reservation_id: str, amount: float, limit: float, expires_at: float, now: float
    ) -> bool:
        keys = [self._realized_key(day), self._reservations_key]
        args: list[str | int] = [
            reservation_id, store.to_micro(amount), store.to_micro(limit), int(expires_at * 1000), int(now * 1000)
        ]
        return bool(self._reserve(keys=keys, args=args))

    def settle_loss(self, day: float, reservation_id: str, pnl: float, now: float) -> store.SharedDay:
        settled_key = f"{self._ledger}:{store.day_key(day)}:settled"
        keys = [self._realized_key(day), self._reservations_key, settled_key]
        self._settle(keys=keys, args=[reservation_id, store.to_micro(pnl), LEDGER_TTL_S])
        return self.shared_day(day, now)

    def shared_day(self, day: float, now: float) -> store.SharedDay:
        realized = int(self._r.get(self._realized_key(day)) or 0)
        reserved = 0
        for value in self._r.hvals(self._reservations_key):
            amount, expires = value.decode().split(":")
            if int(expires) > now * 1000:
                reserved += int(amount)
        return store.SharedDay.from_micro(realized, reserved)

    def close(self) -> None:
        self._r.close()

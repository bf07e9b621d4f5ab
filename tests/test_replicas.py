"""Several replicas sharing tasks through a real Redis (TASK_BACKEND=redis)."""

from __future__ import annotations

import redis

from tests.redis_server import persistent_redis, redis_server  # noqa: F401  (fixtures)


def test_the_redis_server_has_the_primitives_the_queue_uses(redis_server):  # noqa: F811
    r = redis.Redis.from_url(redis_server.url)
    info = r.info("server")
    assert tuple(int(x) for x in info["redis_version"].split(".")[:2]) >= (6, 2)  # XAUTOCLAIM
    r.xgroup_create("s", "g", id="0", mkstream=True)
    r.xadd("s", {"task_id": "a"})
    assert r.xreadgroup("g", "c1", {"s": ">"}, count=1)[0][1][0][1] == {b"task_id": b"a"}
    _, claimed, _ = r.xautoclaim("s", "g", "c2", min_idle_time=0, count=1)
    assert claimed[0][1] == {b"task_id": b"a"}

"""The FastAPI peer of `benches/http-jobs.sh`: `POST /v1/jobs` takes
`{"intent": ...}` and inserts one row (the same row pgbench inserts) into
`bench_jobs` through an asyncpg pool, committing durably, then answers 202
with the new id. Run under uvicorn with as many worker processes as
`skynet serve` has runtime threads.

Environment: BENCH_DSN (the scratch database), BENCH_PLAN_BYTES (the size
of the plan text, taken from a real SKYNET job), BENCH_POOL (connections
per process, default 8).
"""

import os
import time
import uuid
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI
from pydantic import BaseModel

DSN = os.environ["BENCH_DSN"]
PLAN = "x" * int(os.environ.get("BENCH_PLAN_BYTES", "1000"))
POOL = int(os.environ.get("BENCH_POOL", "8"))
INSERT = (
    "INSERT INTO bench_jobs (id, intent, status, plan, created_at) "
    "VALUES ($1, $2, 'queued', $3, $4)"
)
pool = None


@asynccontextmanager
async def lifespan(_app):
    global pool
    pool = await asyncpg.create_pool(DSN, min_size=POOL, max_size=POOL)
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


class Submit(BaseModel):
    intent: str


@app.post("/v1/jobs", status_code=202)
async def submit(body: Submit):
    job_id = str(uuid.uuid4())
    await pool.execute(INSERT, job_id, body.intent, PLAN, time.time_ns() // 1000)
    return {"id": job_id, "intent": body.intent, "status": "queued"}

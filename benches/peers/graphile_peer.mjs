// graphile-worker's side of the peer benchmark: a worker process and the
// clients. bench.py copies this file next to the installed node_modules.
//
// Settings are the ones graphile-worker's performance page measures its
// best figures with: localQueue of 500, job completions and failures
// batched with a 0 ms delay, and a pool of concurrency + 2 connections
// (at least 10, as its docs advise). Per-job info logs are off, as they are
// for the other peers.
//
// Workers print `READY` once running and `LAT <ms>` from the latency
// task; clients print `MARK begin|end` and one `RESULT <json>`.

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { parseArgs } from "node:util";
import { Logger, makeWorkerUtils, run } from "graphile-worker";

const run_true = promisify(execFile);
const quiet = new Logger(() => (level, message) => {
  if (level === "error") process.stderr.write(`${message}\n`);
});

const say = (line) => process.stdout.write(`${line}\n`);
const nowSecs = () => (performance.timeOrigin + performance.now()) / 1000;
const cpuSecs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

// Jobs run by this process, reported at shutdown so the driver can check.
let ran = 0;
const taskList = {
  noop: async () => {
    ran++;
  },
  spawn_true: async () => {
    await run_true("/bin/true", [], { stdio: ["ignore", "pipe", "pipe"] });
    ran++;
  },
  stamp: async (payload) => {
    say(`LAT ${((nowSecs() - payload.t) * 1000).toFixed(3)}`);
  },
};

async function worker(connectionString, concurrency) {
  const runner = await run({
    taskList,
    logger: quiet,
    noHandleSignals: true,
    preset: {
      worker: {
        connectionString,
        concurrentJobs: concurrency,
        maxPoolSize: Math.max(10, concurrency + 2),
        localQueue: { size: 500 },
        completeJobBatchDelay: 0,
        failJobBatchDelay: 0,
      },
    },
  });
  const stop = async () => {
    await runner.stop();
    say(`RAN ${ran}`);
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  say("READY");
  await runner.promise;
}

async function enqueue(connectionString, jobs, batch) {
  const utils = await makeWorkerUtils({ connectionString, logger: quiet });
  await utils.migrate();
  say("MARK begin");
  const cpu0 = cpuSecs();
  const t0 = performance.now();
  for (let left = jobs; left > 0; ) {
    const n = Math.min(left, batch);
    if (n === 1) {
      await utils.addJob("noop", {});
    } else {
      await utils.addJobs(Array.from({ length: n }, () => ({ identifier: "noop", payload: {} })));
    }
    left -= n;
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuSecs() - cpu0;
  say("MARK end");
  say(`RESULT ${JSON.stringify({ jobs, secs, cpu })}`);
  await utils.release();
}

async function paced(connectionString, rate, secs) {
  const utils = await makeWorkerUtils({ connectionString, logger: quiet });
  await utils.migrate();
  const total = rate * secs;
  say("MARK begin");
  const cpu0 = cpuSecs();
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const delay = t0 + (i * 1000) / rate - performance.now();
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    await utils.addJob("stamp", { t: nowSecs() });
  }
  const took = (performance.now() - t0) / 1000;
  const cpu = cpuSecs() - cpu0;
  say("MARK end");
  say(`RESULT ${JSON.stringify({ jobs: total, secs: took, cpu })}`);
  await utils.release();
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string" },
    concurrency: { type: "string", default: "1" },
    jobs: { type: "string", default: "0" },
    batch: { type: "string", default: "1" },
    rate: { type: "string", default: "100" },
    secs: { type: "string", default: "30" },
  },
});
const url = values.url;
switch (positionals[0]) {
  case "worker":
    await worker(url, Number(values.concurrency));
    break;
  case "enqueue":
    await enqueue(url, Number(values.jobs), Number(values.batch));
    break;
  case "paced":
    await paced(url, Number(values.rate), Number(values.secs));
    break;
  default:
    process.stderr.write("usage: graphile_peer.mjs worker|enqueue|paced --url URL ...\n");
    process.exit(2);
}

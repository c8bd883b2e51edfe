// The Prisma 6 client's dataloader workload for bench/batch.py: findUnique by a random id, either in
// lock-step batches (`Promise.all` of N calls: the client sends them as one `{"batch": [...]}`) or one
// request at a time. Prints {count, seconds, latencies_ms, errors}: count is findUniques answered,
// a latency is one request's (a batch's or a single call's).
// Usage: node batch.cjs <client folder> <url> <batched|single> <seconds> <batch size> <users>
'use strict';
const [clientFolder, url, mode, seconds, size, users] = process.argv.slice(2);
const { PrismaClient } = require(clientFolder);

const prisma = new PrismaClient({ datasourceUrl: url });
const perBatch = mode === 'batched' ? Number(size) : 1;
const randomId = () => 1 + Math.floor(Math.random() * Number(users));

async function request() {
  if (perBatch === 1) return [await prisma.user.findUnique({ where: { id: randomId() } })];
  return Promise.all(Array.from({ length: perBatch }, () => prisma.user.findUnique({ where: { id: randomId() } })));
}

(async () => {
  let errors = 0;
  for (let i = 0; i < 20; i++) await request(); // warm-up: schema upload, connections, caches
  const latencies = [];
  let count = 0;
  const started = process.hrtime.bigint();
  const until = started + BigInt(Math.round(Number(seconds) * 1e9));
  while (process.hrtime.bigint() < until) {
    const t0 = process.hrtime.bigint();
    try {
      const found = await request();
      if (found.some((user) => user === null)) errors++;
      count += found.length;
    } catch (e) {
      errors++;
      console.error(String(e));
    }
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(JSON.stringify({ count, seconds: elapsed, latencies_ms: latencies, errors }) + '\n');
  await prisma.$disconnect();
})();

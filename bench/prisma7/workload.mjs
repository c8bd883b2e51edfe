// One Prisma 7 workload phase against one server: node workload.mjs CLIENT_DIR URL OPERATION SECONDS CONCURRENCY
// Prints {"operation", "count", "seconds", "latencies_ms", "errors"} as JSON.
import { createRequire } from "node:module";
import path from "node:path";

const [clientDir, url, operation, seconds, concurrency] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const { PrismaClient } = require(path.resolve(clientDir));
const db = new PrismaClient({ accelerateUrl: url });

let serial = 0;
const operations = {
  findUnique: () => db.user.findUnique({ where: { id: 1 + Math.floor(Math.random() * 1000) } }),
  findManyInclude: () =>
    db.user.findMany({
      where: { id: { gt: Math.floor(Math.random() * 990) } },
      take: 10,
      orderBy: { id: "asc" },
      include: { posts: { take: 5, orderBy: { id: "asc" } } },
    }),
  create: () =>
    db.post.create({ data: { title: `bench ${process.pid} ${++serial}`, authorId: 1 + (serial % 1000) } }),
};
const run = operations[operation];
await run(); // connection-info and warm-up
for (let i = 0; i < 20; i++) await run();

const latencies = [];
let errors = 0;
const deadline = performance.now() + Number(seconds) * 1000;
const started = performance.now();
await Promise.all(
  Array.from({ length: Number(concurrency) }, async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await run();
        latencies.push(performance.now() - t0);
      } catch (error) {
        errors += 1;
        if (errors === 1) console.error(String(error));
      }
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
const latencies_ms = latencies.map((ms) => Math.round(ms * 1000) / 1000);
console.log(JSON.stringify({ operation, count: latencies.length, seconds: elapsed, latencies_ms, errors }));
await db.$disconnect();

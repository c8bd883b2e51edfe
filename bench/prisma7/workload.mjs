// One Prisma 7 workload phase against one server: node workload.mjs CLIENT_DIR URL OPERATION SECONDS CONCURRENCY
// Prints {"operation", "count", "seconds", "latencies_ms", "errors"} as JSON.
import { createHash, createHmac, randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";

const [clientDir, url, operation, seconds, concurrency] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const { PrismaClient } = require(path.resolve(clientDir));
// BW_SERVICE_SECRET + BW_CLAIMS (+ BW_ORIGIN_ID): talk to the origin directly, signing each request as
// the edge does (bwcontract/service.py: v2, for that origin's audience, a fresh nonce each), to measure
// the origin without the local edge's hop.
if (process.env.BW_SERVICE_SECRET) {
  const secret = process.env.BW_SERVICE_SECRET;
  const audience = `origin:${process.env.BW_ORIGIN_ID ?? "o1"}`;
  const claims = Buffer.from(process.env.BW_CLAIMS).toString("base64url");
  const plainFetch = globalThis.fetch;
  globalThis.fetch = async (input, init = {}) => {
    const target = new URL(typeof input === "string" ? input : input.url);
    const body = init.body ? Buffer.from(init.body) : Buffer.alloc(0);
    const nonce = randomBytes(16).toString("base64url");
    const head = `v2.${Math.floor(Date.now() / 1000)}.${nonce}.${claims}`;
    const digest = createHash("sha256").update(body).digest("hex");
    const message = [head, audience, (init.method ?? "GET").toUpperCase(), target.pathname + target.search, digest];
    const mac = createHmac("sha256", secret).update(message.join("\n")).digest("base64url");
    const headers = new Headers(init.headers);
    headers.set("x-breakwater-service", `${head}.${mac}`);
    return plainFetch(input, { ...init, headers });
  };
}
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

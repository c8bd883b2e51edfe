// Runs a list of operations with the real Prisma 6 client + withAccelerate() against the edge and
// prints one JSON line of results: `node run.mjs <prisma+postgres URL> '<JSON list of operations>'`.
// Operations: {op:"read", ttl?, swr?, tags?} (findMany with cacheStrategy, withAccelerateInfo()),
// {op:"write", title}, {op:"batch"} (a $transaction of 3 reads), {op:"invalidate", tags}, {op:"invalidateAll"}, {op:"sleep", ms}.
import { PrismaClient } from "./generated/client/index.js";
import { withAccelerate } from "@prisma/extension-accelerate";

const [url, script] = process.argv.slice(2);
// 6.x: the extension only finds the local /invalidate when the URL is passed to the constructor.
const prisma = new PrismaClient({ datasourceUrl: url }).$extends(withAccelerate());
const results = [];
try {
  for (const step of JSON.parse(script)) {
    if (step.op === "read") {
      const cacheStrategy = { ttl: step.ttl, swr: step.swr, tags: step.tags };
      const { data, info } = await prisma.post
        .findMany({ orderBy: { id: "asc" }, cacheStrategy })
        .withAccelerateInfo();
      results.push({
        status: info.cacheStatus,
        lastModified: info.lastModified.toISOString(),
        titles: data.map((p) => p.title),
      });
    } else if (step.op === "write") {
      results.push({ created: (await prisma.post.create({ data: { title: step.title } })).title });
    } else if (step.op === "batch") {
      // $transaction([...]): one request carrying three operations.
      const done = await prisma.$transaction([
        prisma.post.count(),
        prisma.post.findFirst(),
        prisma.post.findMany({ take: 1 }),
      ]);
      results.push({ batch: done.length });
    } else if (step.op === "invalidate") {
      await prisma.$accelerate.invalidate({ tags: step.tags });
      results.push({ invalidated: step.tags });
    } else if (step.op === "invalidateAll") {
      await prisma.$accelerate.invalidateAll();
      results.push({ invalidated: "all" });
    } else if (step.op === "sleep") {
      await new Promise((resolve) => setTimeout(resolve, step.ms));
      results.push({ slept: step.ms });
    }
  }
} catch (error) {
  results.push({ error: String(error?.message ?? error), code: error?.code ?? null, name: error?.name ?? null });
} finally {
  await prisma.$disconnect();
}
console.log(JSON.stringify(results));

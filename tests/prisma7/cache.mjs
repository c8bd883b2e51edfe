// The Accelerate extension's cache features with the real Prisma Client 7 against the edge:
//   node cache.mjs CLIENT_DIR URL '<JSON list of steps>'
// Steps: {op:"read", tag, ttl?, swr?, tags?} (findMany with cacheStrategy and withAccelerateInfo()),
// {op:"write", tag} (a post created through Prisma 7), {op:"invalidate", tags}, {op:"invalidateAll"},
// {op:"sleep", ms}. Prints one JSON line: the result of every step.
import { createRequire } from "node:module";
import path from "node:path";

const [clientDir, url, script] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const { PrismaClient } = require(path.resolve(clientDir));
const { withAccelerate } = require("@prisma/extension-accelerate");

const db = new PrismaClient({ accelerateUrl: url }).$extends(withAccelerate());
const results = [];
let serial = 0;
try {
  for (const step of JSON.parse(script)) {
    if (step.op === "read") {
      const { data, info } = await db.post
        .findMany({
          where: { title: { startsWith: step.tag } },
          orderBy: { id: "asc" },
          select: { title: true },
          cacheStrategy: { ttl: step.ttl, swr: step.swr, tags: step.tags },
        })
        .withAccelerateInfo();
      results.push({ status: info.cacheStatus, titles: data.map((p) => p.title) });
    } else if (step.op === "write") {
      const title = `${step.tag}-${++serial}`;
      await db.post.create({ data: { title, author: { create: { email: `${title}-${process.pid}@x.io` } } } });
      results.push({ created: title });
    } else if (step.op === "invalidate") {
      await db.$accelerate.invalidate({ tags: step.tags });
      results.push({ invalidated: step.tags });
    } else if (step.op === "invalidateAll") {
      await db.$accelerate.invalidateAll();
      results.push({ invalidated: "all" });
    } else if (step.op === "sleep") {
      await new Promise((resolve) => setTimeout(resolve, step.ms));
      results.push({ slept: step.ms });
    }
  }
} catch (error) {
  results.push({ error: String(error?.message ?? error), code: error?.code ?? null, name: error?.name ?? null });
} finally {
  await db.$disconnect();
}
console.log(JSON.stringify(results));

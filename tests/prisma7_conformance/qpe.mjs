// Prisma's own query-plan executor (@prisma/query-plan-executor) on a local port: the fuzzer's
// Prisma 7 reference. Usage: node qpe.mjs PORT DATABASE_URL (prints "listening PORT" when ready).
import http from "node:http";
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { Server, parseDuration, createConsoleLogger, withActiveLogger } from "@prisma/query-plan-executor";

// The executor keeps its logger in the OpenTelemetry context: without a context manager it fails
// every request with "No active logger found".
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const [port, databaseUrl] = process.argv.slice(2);
const logger = createConsoleLogger("json", "error");
const server = await withActiveLogger(logger, () =>
  Server.create({
    databaseUrl,
    queryTimeout: parseDuration("PT1M"),
    maxTransactionTimeout: parseDuration("PT1M"),
    maxTransactionWaitTime: parseDuration("PT1M"),
    maxResponseSize: 128 * 1024 * 1024,
    perRequestLogContext: { logFormat: "json", logLevel: "error" },
  }),
);

http
  .createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const request = new Request(`http://${req.headers.host}${req.url}`, {
      method: req.method,
      headers: Object.entries(req.headers).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]])),
      body: req.method === "GET" || req.method === "HEAD" || body.length === 0 ? undefined : body,
    });
    const response = await withActiveLogger(logger, () => server.fetch(request));
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  })
  .listen(Number(port), "127.0.0.1", () => console.log(`listening ${port}`));

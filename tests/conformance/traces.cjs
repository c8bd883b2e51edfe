// Prisma 6 with OpenTelemetry tracing on (@prisma/instrumentation): one query through the client,
// and the spans it exported as JSON lines {name, id, parent, attributes}.
//   node traces.cjs   (env: FUZZ_PROJECT, FUZZ_CLIENT_BW, FUZZ_BW_URL)
const path = require("node:path");
const { createRequire } = require("node:module");

const project = createRequire(path.join(process.env.FUZZ_PROJECT, "package.json"));
const { context, trace } = project("@opentelemetry/api");
const { AsyncLocalStorageContextManager } = project("@opentelemetry/context-async-hooks");
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = project("@opentelemetry/sdk-trace-base");
const { registerInstrumentations } = project("@opentelemetry/instrumentation");
const { PrismaInstrumentation } = project("@prisma/instrumentation");

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);
registerInstrumentations({ instrumentations: [new PrismaInstrumentation()], tracerProvider: provider });

const { PrismaClient } = require(process.env.FUZZ_CLIENT_BW);

async function main() {
  const prisma = new PrismaClient({ datasourceUrl: process.env.FUZZ_BW_URL });
  await prisma.user.findMany({ where: { id: { gt: 0 } }, include: { posts: true } });
  await prisma.$disconnect();
  for (const span of exporter.getFinishedSpans()) {
    const parent = span.parentSpanContext?.spanId ?? span.parentSpanId ?? null;
    const line = { name: span.name, id: span.spanContext().spanId, parent, attributes: span.attributes };
    process.stdout.write(JSON.stringify(line) + "\n");
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

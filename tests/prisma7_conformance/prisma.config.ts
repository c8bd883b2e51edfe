// Only the CLI reads this (`prisma generate`); the fuzzer passes `accelerateUrl` to the client.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: process.env.PRISMA_SCHEMA_PATH ?? "generated/schema.prisma",
  datasource: { url: "prisma+postgres://127.0.0.1:1/?api_key=generate-only" },
});

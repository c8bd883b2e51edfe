// Running an operation through one real Prisma client, and the outcome in comparable form.

class Rollback extends Error {
  constructor(results) {
    super("fuzzer rollback");
    this.results = results;
  }
}

const lower = (model) => model[0].toLowerCase() + model.slice(1);

// Tagged values (values.mjs) into the client's own types.
export function hydrate(value, side) {
  if (Array.isArray(value)) return value.map((v) => hydrate(v, side));
  if (value === null || typeof value !== "object") return value;
  if ("$bigint" in value) return BigInt(value.$bigint);
  if ("$decimal" in value) return new side.Prisma.Decimal(value.$decimal);
  if ("$date" in value) return new Date(value.$date);
  if ("$bytes" in value) return Uint8Array.from(Buffer.from(value.$bytes, "base64"));
  if ("$null" in value) return side.Prisma[value.$null];
  if ("$ref" in value) return side.client[lower(value.$ref[0])].fields[value.$ref[1]];
  if ("$json" in value) return value.$json;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hydrate(v, side)]));
}

function request(op, client, side) {
  if (op.kind === "raw") {
    const params = hydrate(op.params, side);
    return op.action === "queryRaw" ? client.$queryRawUnsafe(op.sql, ...params) : client.$executeRawUnsafe(op.sql, ...params);
  }
  return client[lower(op.model)][op.action](hydrate(op.args, side));
}

export async function execute(op, side, timeoutMs = 30000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`timed out after ${timeoutMs} ms`), { name: "FuzzTimeout" })), timeoutMs);
  });
  try {
    return { ok: true, value: await Promise.race([run(op, side), timeout]) };
  } catch (error) {
    if (error instanceof Rollback) return { ok: true, value: { rolledBack: error.results } };
    return { ok: false, error: describe(error) };
  } finally {
    clearTimeout(timer);
  }
}

async function run(op, side) {
  const { client } = side;
  if (op.kind === "batch") {
    const options = op.isolationLevel ? { isolationLevel: op.isolationLevel } : undefined;
    return client.$transaction(
      op.ops.map((inner) => request(inner, client, side)),
      options,
    );
  }
  if (op.kind === "itx") {
    return client.$transaction(
      async (tx) => {
        const results = [];
        for (const inner of op.ops) results.push(await request(inner, tx, side));
        if (op.rollback) throw new Rollback(results);
        return results;
      },
      { timeout: 10000, maxWait: 10000 },
    );
  }
  return request(op, client, side);
}

export function describe(error) {
  const out = { name: error?.constructor?.name ?? "Error" };
  if (error?.name === "FuzzTimeout") out.name = "FuzzTimeout";
  if (error?.code !== undefined) out.code = error.code;
  out.message = clean(String(error?.message ?? error));
  if (error?.meta !== undefined) out.meta = error.meta;
  return out;
}

// Without the code frame the client puts in front of the message (minified runtime source).
function clean(message) {
  const lines = message.split("\n").filter((line) => !/^\s*(→\s*)?\d+ /.test(line) && !/^\/.*:\d+:\d+$/.test(line));
  return lines.join("\n").replace(/\n{3,}/g, "\n\n").slice(0, 3000);
}

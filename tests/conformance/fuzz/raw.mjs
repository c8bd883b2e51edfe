// Raw queries: SELECTs over every column type of the schema's tables, expressions of types the
// schema does not have ("char", time, interval, money, inet, …), parameters of every JS type, with
// and without a cast, and executeRaw writes.

import { MODELS } from "./schema.mjs";
import { sample } from "./values.mjs";

const EXPRESSIONS = [
  "'1E+2'::numeric",
  "100::numeric(10,2)",
  "0.000001::numeric",
  "'NaN'::numeric",
  "12345678901234567890.5::numeric",
  "'12:00'::time",
  "'12:00:01.5'::time",
  "'23:59:59.999999'::time",
  "'12:00+02'::timetz",
  "'d'::\"char\"",
  "'2020-01-01'::date",
  "'2020-01-01 10:00:00.123456'::timestamp",
  "'2020-01-01 10:00+02'::timestamptz",
  "'10000-01-01'::date",
  "'infinity'::date",
  "'-infinity'::timestamptz",
  "'4714-11-24 BC'::date",
  "'0001-01-01 10:00 BC'::timestamp",
  "'10000-01-01 10:00:00.5+00'::timestamptz",
  "ARRAY['infinity'::timestamp]",
  "'24:00'::time",
  "'24:00-05:30'::timetz",
  "'1 day 2 hours'::interval",
  "'127.0.0.1'::inet",
  "'{\"a\":[1,2]}'::json",
  "'[1,\"x\",null]'::jsonb",
  "'null'::jsonb",
  "'\"s\"'::jsonb",
  "'\\x0102ff'::bytea",
  "''::bytea",
  "ARRAY[1,2]::int[]",
  "'{1,NULL,3}'::int[]",
  "ARRAY['a','b c']::text[]",
  "ARRAY[1.5,2]::numeric[]",
  "ARRAY['2020-01-01 00:00:00']::timestamp[]",
  "ARRAY['\\x01'::bytea]",
  "ARRAY[true,false]",
  "ARRAY['{\"a\":1}'::jsonb]",
  "ARRAY['12:00'::time]",
  "ARRAY['2020-01-01'::date]",
  "'{}'::int[]",
  "'a'::name",
  "'(1,2)'::point",
  "'abc'::varchar(2)",
  "'ab'::char(4)",
  "true",
  "NULL",
  "NULL::int",
  "'RED'::\"Color\"",
  "ARRAY['RED','BLUE']::\"Color\"[]",
  "'member'::\"role\"",
  "1.5::float4",
  "0.1::float4",
  "1.5::float8",
  "'Infinity'::float8",
  "'-Infinity'::float4",
  "'NaN'::float8",
  "'x'::xml",
  "'12.5'::money",
  "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
  "ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid]",
  "9007199254740993::int8",
  "ARRAY[9007199254740993]::int8[]",
  "32767::int2",
  "2147483647::int4",
  "B'101'::bit(3)",
  "'a b'::tsvector",
  "1 + 1",
  "'text'",
  "42",
  "4.2",
  "(SELECT count(*) FROM \"users\")",
  "(SELECT sum(\"views\") FROM \"Post\")",
  "(SELECT avg(\"amount\") FROM \"order_lines\")",
  "(SELECT max(\"joined_at\") FROM \"users\")",
];

function columns(model) {
  const spec = MODELS[model];
  return Object.entries(spec.fields)
    .filter(([, f]) => !f.volatile)
    .map(([name, f]) => [f.column ?? name, f]);
}

const q = (name) => `"${name}"`;

// A JS value to pass as a raw parameter (tagged like everything else).
function param(rng) {
  return rng.weighted([
    [2, () => rng.int(-5, 50)],
    [1, () => rng.pick([1.5, 0.1, -2.25])],
    [1, () => ({ $bigint: rng.pick(["1", "9007199254740993"]) })],
    [1, () => ({ $decimal: rng.pick(["1.5", "1E+2", "0.000001"]) })],
    [2, () => rng.pick(["alpha", "", "it's", "2020-01-01"])],
    [1, () => rng.chance(0.5)],
    [2, () => ({ $date: rng.pick(["2020-01-01T00:00:00.000Z", "2021-06-15T12:30:45.123Z"]) })],
    [1, () => ({ $bytes: rng.pick(["AQID", ""]) })],
    [1, () => null],
    [1, () => rng.pick([[1, 2], ["a", "b"], []])],
    [1, () => ({ $json: rng.pick([{ a: 1 }, [1, "x"]]) })],
  ])();
}

const CASTS = ["", "", "::text", "::int", "::int8", "::numeric", "::float8", "::bool", "::timestamp", "::timestamptz", "::date", "::jsonb", "::bytea", "::int[]", "::text[]"];

// Types Prisma 6.19's executor cannot read but Prisma 7's can (and Breakwater does, for both).
const ONLY_7 = new Set(["'a'::name"]);

export function rawOperation(rng, generation = "7") {
  const kind = rng.weighted([
    [4, "columns"],
    [4, "expressions"],
    [3, "params"],
    [2, "execute"],
  ]);
  if (kind === "columns") {
    const model = rng.pick(["Kitchen", "Kitchen", "User", "Post", "Sku", "Membership"]);
    const spec = MODELS[model];
    const picked = rng.subset(columns(model), 1, 6);
    const params = [];
    let sql = `SELECT ${picked.map(([c]) => q(c)).join(", ")} FROM ${q(spec.table)}`;
    if (rng.chance(0.5)) {
      const [column, f] = rng.pick(columns(model).filter(([, g]) => !g.list && g.type !== "Json" && g.type !== "Bytes"));
      params.push(sample(rng, f));
      sql += ` WHERE ${q(column)} ${rng.pick(["=", "<>", ">", "<="])} $1`;
      if (f.enum) sql = sql.replace(/\$1$/, `$1::${q(f.type === "Role" ? "role" : f.type)}`);
    }
    sql += ` ORDER BY ${spec.id.map((k) => q(spec.fields[k].column ?? k)).join(", ")}`;
    if (rng.chance(0.3)) sql += ` LIMIT ${rng.int(0, 3)}`;
    return { kind: "raw", action: "queryRaw", sql, params };
  }
  if (kind === "expressions") {
    const picked = rng.subset(generation === "6" ? EXPRESSIONS.filter((e) => !ONLY_7.has(e)) : EXPRESSIONS, 1, 4);
    const sql = `SELECT ${picked.map((e, i) => `${e} AS ${q(`c${i}`)}`).join(", ")}`;
    return { kind: "raw", action: "queryRaw", sql, params: [] };
  }
  if (kind === "params") {
    const n = rng.int(1, 3);
    const params = Array.from({ length: n }, () => param(rng));
    const sql = `SELECT ${params.map((_, i) => `$${i + 1}${rng.pick(CASTS)} AS ${q(`p${i + 1}`)}`).join(", ")}`;
    return { kind: "raw", action: "queryRaw", sql, params };
  }
  const writes = [
    () => ({ sql: `UPDATE "kitchen" SET "i" = $1 WHERE "id" = $2`, params: [rng.int(0, 9), rng.int(1, 9)] }),
    () => ({ sql: `UPDATE "users" SET "joined_at" = $1 WHERE "id" <= $2`, params: [{ $date: "2022-02-02T02:02:02.202Z" }, rng.int(1, 4)] }),
    () => ({ sql: `DELETE FROM "Comment" WHERE "likes" > $1`, params: [rng.pick([1, 5, 10])] }),
    () => ({ sql: `INSERT INTO "Label" ("name", "weight") VALUES ($1, $2)`, params: [rng.pick(["l-a", "l-z", "fresh"]), rng.int(1, 5)] }),
    () => ({ sql: `UPDATE "Post" SET "tags" = $1 WHERE "id" = $2`, params: [rng.pick([["a"], [], ["x", "y"]]), rng.int(1, 17)] }),
    () => ({ sql: `UPDATE "kitchen" SET "d" = $1, "b" = $2 WHERE "id" = $3`, params: [{ $decimal: "2.5" }, { $bigint: "77" }, rng.int(1, 9)] }),
    () => ({ sql: `UPDATE "kitchen" SET "by" = $1 WHERE "id" = $2`, params: [{ $bytes: "AQID" }, rng.int(1, 9)] }),
    () => ({ sql: `UPDATE "kitchen" SET "j" = $1 WHERE "id" = $2`, params: [{ $json: { via: "raw" } }, rng.int(1, 9)] }),
    () => ({ sql: `SELECT 1`, params: [] }),
  ];
  const { sql, params } = rng.pick(writes)();
  return { kind: "raw", action: "executeRaw", sql, params };
}


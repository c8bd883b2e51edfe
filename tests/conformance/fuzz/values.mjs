// Value domains, shared by the seed data and the queries so that filters meet the rows they name.
// Values are kept in a portable tagged form ({$bigint}, {$decimal}, {$date}, {$bytes}, {$null},
// {$ref}) so a query prints as JSON and each client hydrates it into its own Prisma types.

import { ENUMS } from "./schema.mjs";

export const INTS = [-3, 0, 1, 2, 3, 5, 7, 10, 42, 100];
export const INT_EDGES = [2147483647, -2147483648];
export const SMALLINTS = [-1, 0, 1, 7, 300, 32767];
export const BIGINTS = ["0", "1", "-1", "42", "1000", "9007199254740993", "-9223372036854775808", "9223372036854775807"];
export const FLOATS = [0, 1.5, -2.25, 3.14159, 0.1, 1e10, 2.5e-8, 42];
export const DECIMALS = {
  Dec12_4: ["0", "1.5", "-2.25", "12.3456", "99999999.9999", "0.0001", "100", "42"],
  Dec10_2: ["0", "1.5", "19.99", "-3.1", "100", "12345678.9", "42"],
  Dec20_6: ["0", "1E+2", "123456.789012", "-0.000001", "1.5", "42", "1e-6"],
  Dec65_30: ["0", "1.5", "1E+2", "12345678901234567890.123456789", "-7.25", "42", "0.000000000000000000000000000001"],
};
export const STRINGS = ["alpha", "Beta", "gamma ray", "delta", "ALPHA", "a%b_c", "", "Ünïcødé", "line\nbreak", "o'quote", "zeta", "beta"];
export const SHORT = ["a", "bb", "ccc", "Dd", "e%", "f_g", ""];
export const CHAR3 = ["abc", "x", "xy", "ABC", "a b"];
export const UUIDS = ["00000000-0000-0000-0000-000000000000", "123e4567-e89b-12d3-a456-426614174000", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"];
export const DATES = [
  "2020-01-01T00:00:00.000Z",
  "2021-06-15T12:30:45.123Z",
  "1999-12-31T23:59:59.999Z",
  "2024-02-29T08:00:00.000Z",
  "1970-01-01T00:00:00.000Z",
  "2015-03-14T09:26:53.589Z",
];
export const TIMES = ["1970-01-01T12:00:00.000Z", "1970-01-01T23:59:59.999Z", "1970-01-01T00:00:00.000Z", "1970-01-01T08:30:15.250Z"];
export const JSONS = [
  { plan: "gold", n: 1, tags: ["a", "b"], nested: { x: 1, y: "deep" } },
  { plan: "silver", n: 2, tags: ["b"], nested: { x: 2 } },
  { plan: "bronze", tags: [], nested: {} },
  { plan: "golden", n: 3.5, tags: ["a", "c", "b"] },
  [1, 2, 3],
  ["a", "b"],
  "text",
  42,
  true,
  {},
];
export const JSON_KEYS = ["plan", "n", "tags", "nested"];
export const BYTES = ["", "AQID", "aGk=", "/w==", "AAAA"];
export const WORDS = ["alpha", "beta", "gamma", "delta", "red", "fox", "quick"];

export function domain(field) {
  // The valid values of a field (one element of a list field), in tagged form.
  if (field.enum) return ENUMS[field.type];
  switch (field.type) {
    case "Int":
      return field.native === "SmallInt" ? SMALLINTS : INTS;
    case "BigInt":
      return BIGINTS.map((v) => ({ $bigint: v }));
    case "Float":
      return FLOATS;
    case "Decimal":
      return (DECIMALS[field.native] ?? DECIMALS.Dec65_30).map((v) => ({ $decimal: v }));
    case "String":
      if (field.native === "Char3") return CHAR3;
      if (field.native === "VarChar10") return SHORT;
      if (field.native === "Uuid") return UUIDS;
      return STRINGS;
    case "Boolean":
      return [true, false];
    case "DateTime":
      if (field.native === "Time3") return TIMES.map((v) => ({ $date: v }));
      if (field.native === "Date") return DATES.map((v) => ({ $date: v.slice(0, 10) + "T00:00:00.000Z" }));
      return DATES.map((v) => ({ $date: v }));
    case "Json":
      return JSONS;
    case "Bytes":
      return BYTES.map((v) => ({ $bytes: v }));
    default:
      throw new Error(`no domain for ${field.type}`);
  }
}

// A value that does not fit the column, for the error paths (null when there is none).
export function misfit(field) {
  if (field.native === "VarChar10") return "much too long for ten";
  if (field.native === "Char3") return "four";
  if (field.native === "SmallInt") return 40000;
  if (field.type === "Int" && !field.enum) return 2147483647;
  if (field.native === "Dec10_2") return { $decimal: "123456789012.5" };
  return null;
}

export function sample(rng, field) {
  const values = domain(field);
  if (field.type === "Int" && !field.enum && !field.native && rng.chance(0.03)) return rng.pick(INT_EDGES);
  return rng.pick(values);
}

export function sampleList(rng, field, max = 3) {
  const n = rng.int(0, max);
  return Array.from({ length: n }, () => sample(rng, field));
}

// Into the values `pg` binds for the seed data (the database's own representation).
export function toPg(field, value) {
  if (value === null || value === undefined) return null;
  if (field.list) return value.map((v) => toPg({ ...field, list: false }, v));
  if (field.enum) return field.type === "Role" && value === "MEMBER" ? "member" : value;
  if (typeof value !== "object" || Array.isArray(value) || value === null) {
    return field.type === "Json" ? JSON.stringify(value) : value;
  }
  if ("$bigint" in value) return value.$bigint;
  if ("$decimal" in value) return value.$decimal;
  if ("$bytes" in value) return Buffer.from(value.$bytes, "base64");
  if ("$date" in value) {
    const iso = value.$date;
    if (field.native === "Date") return iso.slice(0, 10);
    if (field.native === "Time3") return iso.slice(11, 23);
    if (field.native === "Tz3" || field.native === "Tz6") return iso;
    return iso.replace("T", " ").replace("Z", "");
  }
  if (field.type === "Json") return JSON.stringify(value);
  throw new Error(`cannot bind ${JSON.stringify(value)}`);
}

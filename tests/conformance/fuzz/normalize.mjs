// Outcomes into a canonical JSON form: client values tagged as in values.mjs, values the two
// engines compute each on their own (now(), uuid(), @updatedAt) replaced by a marker, floats to 12
// significant digits, and lists whose order the query leaves open sorted.

import { MODELS } from "./schema.mjs";
import { ordered } from "./order.mjs";

const VOLATILE_DATES = new Set(["createdAt", "updatedAt"]);
const STARTED = Date.now() - 24 * 3600 * 1000;

function isDecimal(value) {
  return value?.constructor?.name === "Decimal" || (value && typeof value === "object" && "d" in value && "e" in value && "s" in value && typeof value.toFixed === "function");
}

export function tagged(value, key = "") {
  if (value === null || value === undefined) return value ?? null;
  if (typeof value === "bigint") return { $bigint: value.toString() };
  if (typeof value === "number") {
    // Prisma 6's reference runs in-process and hands NaN and ±Infinity over as they are; over HTTP
    // (Prisma 7's executor, Breakwater) JSON carries them as null.
    if (!Number.isFinite(value)) return null;
    return Number.isInteger(value) ? value : Number(value.toPrecision(12));
  }
  if (typeof value !== "object") {
    if (key === "ref" && typeof value === "string") return "<ref>";
    return value;
  }
  if (value instanceof Date) {
    const time = value.getTime();
    if (VOLATILE_DATES.has(key) && time >= STARTED) return "<now>";
    return { $date: Number.isNaN(time) ? "Invalid Date" : value.toISOString() };
  }
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString("base64") };
  if (isDecimal(value)) return { $decimal: value.toString() };
  if (Array.isArray(value)) return value.map((v) => tagged(v, key));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, tagged(v, k)]));
}

// Which lists of an operation's result have an order the query fixes: a spec tree.
function recordSpec(model, args) {
  const children = {};
  const spec = MODELS[model];
  for (const sel of [args?.select, args?.include]) {
    if (!sel || typeof sel !== "object") continue;
    for (const [name, nested] of Object.entries(sel)) {
      const rel = spec?.relations[name];
      if (!rel || !nested) continue;
      const inner = nested === true ? {} : nested;
      children[name] = rel.list ? { list: true, unordered: !ordered(rel.model, inner), item: recordSpec(rel.model, inner) } : recordSpec(rel.model, inner);
    }
  }
  return { children };
}

export function resultSpec(op) {
  if (op.kind === "batch" || op.kind === "itx") return { tuple: op.ops.map(resultSpec) };
  if (op.kind === "raw") return { children: {} };
  const { action, args = {}, model } = op;
  if (["findMany", "createManyAndReturn", "updateManyAndReturn"].includes(action)) {
    const unordered = action !== "findMany" || !ordered(model, args);
    return { list: true, unordered, item: recordSpec(model, args) };
  }
  if (action === "groupBy") {
    const by = Array.isArray(args.by) ? args.by : [args.by];
    const sorted = new Set((Array.isArray(args.orderBy) ? args.orderBy : args.orderBy ? [args.orderBy] : []).flatMap((t) => Object.keys(t)));
    return { list: true, unordered: !by.every((name) => sorted.has(name)), item: { children: {} } };
  }
  return recordSpec(model, args);
}

// Prisma's relation joins read related rows through JSON, so a BigInt there comes back as a
// double (9007199254740993 → 9007199254740992); Breakwater keeps it exact. Related records are
// compared with their BigInts rounded the same way (README: deliberate differences).
function roundBigInts(value) {
  if (Array.isArray(value)) return value.map(roundBigInts);
  if (value === null || typeof value !== "object") return value;
  if ("$bigint" in value) return { $bigint: BigInt(Number(value.$bigint)).toString() };
  if ("$decimal" in value) return { $decimal: String(Number(value.$decimal)) }; // Decimals too
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, roundBigInts(v)]));
}

export function canonical(value, spec, nested = false) {
  if (value === null || typeof value !== "object" || !spec) return value;
  if (spec.tuple) {
    const list = Array.isArray(value) ? value : value.rolledBack;
    if (!Array.isArray(list)) return value;
    const out = list.map((v, i) => canonical(v, spec.tuple[i]));
    return Array.isArray(value) ? out : { rolledBack: out };
  }
  if (spec.list && Array.isArray(value)) {
    const items = value.map((v) => canonical(v, spec.item, nested));
    if (spec.unordered) items.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0));
    return items;
  }
  if (Array.isArray(value)) return value;
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    if (spec.children?.[k]) out[k] = canonical(v, spec.children[k], true);
    else out[k] = nested ? roundBigInts(v) : v;
  }
  return out;
}

// The comparable form of an outcome ({ok, value} | {ok: false, error}).
export function comparable(outcome, op) {
  if (!outcome.ok) {
    const { code } = outcome.error;
    // Prisma 6's query compiler throws a database error it does not classify as the driver's own
    // error object; over HTTP (Prisma 6's engines, Breakwater) it is a PrismaClientUnknownRequestError.
    const name = outcome.error.name === "DriverAdapterError" ? "PrismaClientUnknownRequestError" : outcome.error.name;
    return { error: { name, code: code ?? null } };
  }
  return { value: canonical(tagged(outcome.value), resultSpec(op)) };
}

// Where two comparable outcomes differ: up to `limit` [path, reference, breakwater] triples.
export function differences(a, b, limit = 4, at = "$") {
  const out = [];
  const walk = (x, y, path) => {
    if (out.length >= limit) return;
    if (JSON.stringify(x) === JSON.stringify(y)) return;
    if (x && y && typeof x === "object" && typeof y === "object" && Array.isArray(x) === Array.isArray(y)) {
      if (Array.isArray(x) && x.length !== y.length) {
        out.push([`${path}.length`, x.length, y.length]);
      }
      const keys = Array.isArray(x) ? [...Array(Math.min(x.length, y.length)).keys()] : [...new Set([...Object.keys(x), ...Object.keys(y)])];
      if (!Array.isArray(x) && JSON.stringify(Object.keys(x)) !== JSON.stringify(Object.keys(y)) && new Set(Object.keys(x)).size === new Set([...Object.keys(x), ...Object.keys(y)]).size && Object.keys(x).length === Object.keys(y).length) {
        out.push([`${path} (key order)`, Object.keys(x), Object.keys(y)]);
      }
      for (const k of keys) walk(x[k], y[k], `${path}.${k}`);
      return;
    }
    const clip = (v) => (v !== undefined && JSON.stringify(v).length > 400 ? `${JSON.stringify(v).slice(0, 400)}…` : v);
    out.push([path, clip(x), clip(y)]);
  };
  walk(a, b, at);
  return out;
}

// When a query fixes the order of its rows. Prisma's engine orders by exactly what the client
// asks (the id only when nothing is asked and the query pages), so ties of a partial order come out
// in whatever order Postgres reads them; Breakwater breaks them by the id. Lists whose order the
// query leaves open are compared as sets, and a page (take / skip / cursor / distinct) over a
// partial order is not a question the two engines must answer alike: the generator never asks it.

import { MODELS } from "./schema.mjs";

function terms(orderBy) {
  if (orderBy === undefined || orderBy === null) return [];
  return Array.isArray(orderBy) ? orderBy : [orderBy];
}

// Whether `orderBy` orders the rows of `model` totally: it sorts directly by every field of a
// unique criteria whose fields are all required (a nullable unique field can repeat NULL).
export function isTotal(model, orderBy) {
  const spec = MODELS[model];
  if (!spec) return false;
  const direct = new Set();
  for (const term of terms(orderBy)) {
    for (const [name, value] of Object.entries(term)) {
      if (spec.fields[name] && (typeof value === "string" || (value && typeof value === "object" && "sort" in value))) direct.add(name);
    }
  }
  return [spec.id, ...spec.uniques].some((set) => set.every((name) => direct.has(name) && spec.fields[name].req));
}

export function pages(args) {
  return args.take !== undefined || args.skip !== undefined || args.cursor !== undefined || args.distinct !== undefined;
}

// The list of `model` rows that `args` asks for has a fixed order.
export function ordered(model, args) {
  const orderBy = terms(args.orderBy);
  if (orderBy.length) return isTotal(model, orderBy);
  // `skip: 0` alone is no page: Prisma's engine leaves the order to Postgres then.
  return args.take !== undefined || (args.skip !== undefined && args.skip !== 0) || args.cursor !== undefined;
}

// A page over a partial order: its rows are not determined by the query.
function ambiguousArgs(model, args, list) {
  if (!args || typeof args !== "object") return false;
  if (list && pages(args) && terms(args.orderBy).length && !isTotal(model, args.orderBy)) return true;
  if (list && args.distinct !== undefined && !isTotal(model, args.orderBy)) return true;
  for (const sel of [args.select, args.include]) {
    if (!sel || typeof sel !== "object") continue;
    for (const [name, nested] of Object.entries(sel)) {
      const rel = MODELS[model]?.relations[name];
      if (rel && nested && typeof nested === "object" && ambiguousArgs(rel.model, nested, rel.list)) return true;
    }
  }
  return false;
}

// A write whose `limit` leaves the choice of rows to the database: the two databases may hold
// different rows after it, so it ends its episode (nothing after it is compared on those rows).
export function limitedWrite(op) {
  if (op.kind === "batch" || op.kind === "itx") return op.ops.some(limitedWrite);
  return op.kind === "model" && op.args?.limit !== undefined && op.action !== "findMany";
}

export function ambiguous(op) {
  if (op.kind === "batch" || op.kind === "itx") return op.ops.some(ambiguous);
  if (op.kind !== "model") return false;
  const { action, args = {}, model } = op;
  if (action === "groupBy") {
    if (!(args.take !== undefined || args.skip !== undefined)) return false;
    const by = new Set(Array.isArray(args.by) ? args.by : [args.by]);
    const sorted = new Set(terms(args.orderBy).flatMap((t) => Object.keys(t)));
    return ![...by].every((name) => sorted.has(name));
  }
  // `limit` on a write: which rows it takes is the database's choice (no order), so the rows it
  // returns are too.
  if (action === "updateManyAndReturn" && args.limit !== undefined) return true;
  const list = ["findMany", "findFirst", "findFirstOrThrow", "aggregate", "count"].includes(action);
  if (action.startsWith("findFirst") && !isTotal(model, args.orderBy)) return true; // a page of one
  return ambiguousArgs(model, args, list);
}

// Make every page of `args` (and of its nested lists) total by sorting by the id last.
export function totalize(model, args, list = true) {
  if (!args || typeof args !== "object") return args;
  if (list && (pages(args) || args.distinct !== undefined) && terms(args.orderBy).length && !isTotal(model, args.orderBy)) {
    const have = new Set(terms(args.orderBy).flatMap((t) => Object.keys(t)));
    const extra = MODELS[model].id.filter((name) => !have.has(name)).map((name) => ({ [name]: "asc" }));
    args.orderBy = [...terms(args.orderBy), ...extra];
  } else if (list && args.distinct !== undefined && !terms(args.orderBy).length) {
    args.orderBy = MODELS[model].id.map((name) => ({ [name]: "asc" }));
  }
  for (const sel of [args.select, args.include]) {
    if (!sel || typeof sel !== "object") continue;
    for (const [name, nested] of Object.entries(sel)) {
      const rel = MODELS[model].relations[name];
      if (rel && nested && typeof nested === "object") totalize(rel.model, nested, rel.list);
    }
  }
  return args;
}

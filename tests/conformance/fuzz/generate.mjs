// The query generator: from a seeded Rng, operations over every part of Prisma's query surface.
// An operation is plain JSON (values tagged as in values.mjs), so it prints as a reproduction:
//   {kind: "model", model, action, args}       a model operation
//   {kind: "raw", action, sql, params}        $queryRawUnsafe / $executeRawUnsafe
//   {kind: "batch", ops, isolationLevel?}     $transaction([...])
//   {kind: "itx", ops, rollback}              $transaction(async (tx) => ...), thrown out when rollback
// One module (over 400 lines) because every part of the surface draws on the same model and value
// choosers; the smaller parts (raw SQL, order totalizing) are beside it.
import { MODELS, isNumeric, uniqueSelectors } from "./schema.mjs";
import { JSON_KEYS, STRINGS, WORDS, misfit, sample, sampleList } from "./values.mjs";
import { rawOperation } from "./raw.mjs";
import { totalize } from "./order.mjs";

const SEEDED = { User: 8, Profile: 6, Post: 16, Category: 6, Comment: 20, Group: 4, OrderLine: 10, Kitchen: 8 };
const LABELS = ["l-a", "l-b", "l-c", "urgent", "later", "new"];

export class Generator {
  constructor(rng, generation = "7") {
    this.rng = rng;
    this.generation = generation;
  }

  // --- values --------------------------------------------------------------------------------

  field(model, name) {
    return MODELS[model].fields[name];
  }

  scalars(model, filter = () => true) {
    return Object.entries(MODELS[model].fields)
      .filter(([, f]) => filter(f))
      .map(([n]) => n);
  }

  // A value for `model.name` that likely exists in the data (keys, names), else from its domain.
  known(model, name) {
    const r = this.rng;
    const f = this.field(model, name);
    const ids = SEEDED[model];
    if ((MODELS[model].id.includes(name) && f.auto) || (f.fk && f.type === "Int")) {
      const target = f.fk ? this.fkTarget(model, name) : model;
      return r.int(1, (SEEDED[target] ?? 5) + 2);
    }
    const key = `${model}.${name}`;
    switch (key) {
      case "User.email":
        return `u${r.int(1, 11)}@x.io`;
      case "User.name":
        return r.pick(["Ada", "Bob", "Cy", "Dee", "ada", "Eve", "Zed"]);
      case "User.age":
        return r.pick([18, 21, 30, 42, 7]);
      case "Profile.handle":
        return `h${r.int(1, 9)}${r.pick(["", "x", "_y"])}`;
      case "Category.name":
        return r.pick(["news", "tech", "art", "misc", "Tech", "sport", "new"]);
      case "Group.name":
        return r.pick(["core", "infra", "Design", "ops", "more"]);
      case "Label.name":
        return r.pick(LABELS);
      case "Sku.vendor":
      case "OrderLine.vendor":
        return r.pick(["acme", "globex", "initech"]);
      case "Sku.code":
      case "OrderLine.code":
        return r.int(1, 4);
      case "Sku.label":
        return r.pick(["bolt", "nut", "gear"]);
      case "Sku.qty":
        return r.pick([0, 1, 2, 5, 6]);
      case "Post.title":
        return r.chance(0.5) ? `${r.pick(WORDS)} ${r.pick(WORDS)}` : r.pick(STRINGS);
      case "Membership.userId":
        return r.int(1, 9);
      case "Membership.groupId":
        return r.int(1, 5);
      default:
        return this.value(f);
    }
  }

  fkTarget(model, name) {
    for (const rel of Object.values(MODELS[model].relations)) {
      if (rel.from?.includes(name)) return rel.model;
    }
    return model;
  }

  // Prisma 7's executor writes a Bytes list's items as their base64 text (README: deliberate
  // differences), so Prisma 7 runs never write one.
  writable(f) {
    return !(this.generation === "7" && f.type === "Bytes" && f.list);
  }

  value(f) {
    if (f.list) return sampleList(this.rng, f);
    if (this.rng.chance(0.02)) return misfit(f) ?? sample(this.rng, f);
    return sample(this.rng, f);
  }

  // --- where ---------------------------------------------------------------------------------

  filterable(model) {
    // Prisma 6's engine fails the type-testing Json filters on a `@db.Json` (not jsonb) column
    // (jsonb_typeof(json) does not exist; README: deliberate differences).
    return this.scalars(model, (f) => !f.volatile && !(this.generation === "6" && f.native === "JsonText"));
  }

  where(model, depth = 2) {
    const r = this.rng;
    const out = {};
    const n = r.weighted([[3, 1], [2, 2], [1, 3]]);
    for (let i = 0; i < n; i++) {
      const kind = r.weighted([
        [6, "scalar"],
        [depth > 0 ? 3 : 0, "relation"],
        [depth > 0 ? 2 : 0, "logic"],
      ]);
      if (kind === "scalar") {
        const name = r.pick(this.filterable(model));
        out[name] = this.scalarFilter(model, name);
      } else if (kind === "relation") {
        const rels = Object.keys(MODELS[model].relations);
        if (!rels.length) continue;
        const name = r.pick(rels);
        out[name] = this.relationFilter(model, name, depth - 1);
      } else {
        const op = r.pick(["AND", "OR", "NOT"]);
        const parts = Array.from({ length: r.int(op === "OR" ? 0 : 1, 3) }, () => this.where(model, depth - 1));
        out[op] = parts.length === 1 && r.chance(0.4) ? parts[0] : parts;
      }
    }
    return out;
  }

  relationFilter(model, name, depth) {
    const r = this.rng;
    const rel = MODELS[model].relations[name];
    const inner = () => (r.chance(0.15) ? {} : this.where(rel.model, depth));
    if (rel.list) return { [r.pick(["some", "every", "none"])]: inner() };
    const optional = !rel.req;
    return r.weighted([
      [3, () => ({ is: inner() })],
      [2, () => ({ isNot: inner() })],
      [2, () => inner()],
      [optional ? 1 : 0, () => null],
      [optional ? 1 : 0, () => ({ is: null })],
      [optional ? 1 : 0, () => ({ isNot: null })],
    ])();
  }

  scalarFilter(model, name) {
    const r = this.rng;
    const f = this.field(model, name);
    const v = () => this.known(model, name);
    if (f.list) return this.listFilter(f);
    if (f.type === "Json") return this.jsonFilter(f);
    const nullable = !f.req;
    const many = () => Array.from({ length: r.int(0, 3) }, v);
    const ordered = ["Int", "BigInt", "Float", "Decimal", "DateTime", "String"].includes(f.type) && !f.enum;
    const text = f.type === "String" && !f.enum && f.native !== "Uuid";
    const ops = () => {
      const out = {};
      for (let i = 0; i < r.int(1, 2); i++) {
        const op = r.weighted([
          [3, "equals"],
          [2, "not"],
          [2, "in"],
          [1, "notIn"],
          [ordered ? 2 : 0, "lt"],
          [ordered ? 2 : 0, "gte"],
          [ordered ? 1 : 0, "lte"],
          [ordered ? 1 : 0, "gt"],
          [text ? 2 : 0, "contains"],
          [text ? 1 : 0, "startsWith"],
          [text ? 1 : 0, "endsWith"],
          [f.search ? 1 : 0, "search"],
        ]);
        if (op === "in" || op === "notIn") out[op] = many();
        else if (op === "not") out.not = r.chance(0.3) ? this.scalarFilter(model, name) : nullable && r.chance(0.2) ? null : v();
        else if (op === "contains" || op === "startsWith" || op === "endsWith")
          out[op] = r.pick(["a", "A", "%", "_", "ph", "ta", "", "ray", "a\\_", "\\%"]);
        else if (op === "search") out.search = this.searchText();
        else if (op === "equals" && nullable && r.chance(0.15)) out.equals = null;
        else out[op] = this.fieldRef(model, name, op) ?? v();
      }
      if (text && r.chance(0.3)) out.mode = r.pick(["insensitive", "default"]);
      return out;
    };
    return r.weighted([
      [2, () => v()],
      [nullable ? 1 : 0, () => null],
      [6, ops],
    ])();
  }

  searchText() {
    const r = this.rng;
    const w = () => r.pick(WORDS);
    return r.pick([w(), `${w()} & ${w()}`, `${w()} | ${w()}`, `!${w()}`, `${w()} <-> ${w()}`, `${w().slice(0, 3)}:*`]);
  }

  fieldRef(model, name, op) {
    // A reference to another field of the same type, now and then (`prisma.model.fields.x`).
    if (!this.rng.chance(0.08) || op === "in" || op === "notIn") return null;
    const f = this.field(model, name);
    const others = this.scalars(model, (g) => g !== f && g.type === f.type && !g.list && !g.volatile && g.enum === f.enum);
    if (!others.length) return null;
    return { $ref: [model, this.rng.pick(others)] };
  }

  listFilter(f) {
    const r = this.rng;
    const e = () => sample(r, { ...f, list: false });
    // A Bytes list as a parameter is written wrong by Prisma 7's executor (as for writes above).
    const lists = this.writable(f) ? 1 : 0;
    return r.weighted([
      [3, () => ({ has: e() })],
      [2 * lists, () => ({ hasEvery: sampleList(r, f) })],
      [2 * lists, () => ({ hasSome: sampleList(r, f) })],
      [2, () => ({ isEmpty: r.chance(0.5) })],
      [lists, () => ({ equals: sampleList(r, f) })],
      [lists, () => sampleList(r, f)],
    ])();
  }

  jsonFilter(f) {
    const r = this.rng;
    const path = () => r.weighted([[3, [r.pick(JSON_KEYS)]], [1, ["nested", r.pick(["x", "y"])]], [1, ["tags", String(r.int(0, 2))]], [1, []]]);
    const scalar = () => r.pick(["gold", "silver", "a", "b", 1, 2, 3.5, true, "deep"]);
    const nulls = () => ({ $null: r.pick(["DbNull", "JsonNull", "AnyNull"]) });
    return r.weighted([
      [2, () => ({ equals: r.chance(0.3) ? nulls() : sample(r, f) })],
      [1, () => ({ not: r.chance(0.3) ? nulls() : sample(r, f) })],
      [2, () => ({ path: path(), equals: scalar() })],
      [3, () => ({ path: path(), [r.pick(["string_contains", "string_starts_with", "string_ends_with"])]: r.pick(["ol", "g", "d", "silver", "x"]) })],
      [2, () => ({ path: path(), [r.pick(["array_contains", "array_starts_with", "array_ends_with"])]: r.pick(["a", "b", ["a"], ["b", "a"], 1, [1, 2]]) })],
      [1, () => ({ path: path(), [r.pick(["gt", "gte", "lt", "lte"])]: r.pick([1, 2, 3]) })],
      [1, () => ({ path: path(), not: scalar() })],
      [1, () => ({ [r.pick(["array_contains", "string_contains"])]: r.pick(["a", ["a"], "te", 1]) })],
    ])();
  }

  uniqueWhere(model, { extra = true } = {}) {
    const r = this.rng;
    const [key, fields] = r.pick(uniqueSelectors(model));
    const out = {};
    if (fields.length === 1) out[key] = this.known(model, fields[0]);
    else out[key] = Object.fromEntries(fields.map((n) => [n, this.known(model, n)]));
    if (extra && r.chance(0.15)) {
      const name = r.pick(this.filterable(model));
      if (!(name in out)) out[name] = this.scalarFilter(model, name);
    }
    return out;
  }

  // --- order, pages, selection ---------------------------------------------------------------

  orderable(model) {
    return this.scalars(model, (f) => !f.list && f.type !== "Json" && !f.volatile);
  }

  orderBy(model, { relations = true, total = 0.85, nested = false } = {}) {
    const r = this.rng;
    const terms = [];
    let forceTotal = false;
    for (let i = 0; i < r.int(1, 2); i++) {
      const kind = r.weighted([
        [5, "scalar"],
        [relations ? 2 : 0, "relation"],
        [relations ? 1 : 0, "count"],
        [relations && this.scalars(model, (f) => f.search).length ? 1 : 0, "relevance"],
      ]);
      if (kind === "scalar") {
        // a field once per order (Prisma's engine fails a distinct over a repeated one)
        const name = r.pick(this.orderable(model));
        if (terms.some((t) => name in t)) continue;
        terms.push({ [name]: this.direction(this.field(model, name)) });
      } else if (kind === "relation") {
        const rels = Object.entries(MODELS[model].relations).filter(([, rel]) => !rel.list);
        if (!rels.length) continue;
        const [name, rel] = r.pick(rels);
        const inner = r.pick(this.orderable(rel.model));
        terms.push({ [name]: { [inner]: this.direction(this.field(rel.model, inner)) } });
      } else if (kind === "count") {
        // Prisma 6's engine fails ordering a related list by an m-n relation's count, or by any
        // relation's count without the id after it (P2022 "The column `(not available)` does not
        // exist"): a bug of the reference, not behaviour to copy (README: Conformance).
        const skip = (rel) => nested && rel.m2m && this.generation === "6";
        const rels = Object.entries(MODELS[model].relations).filter(([, rel]) => rel.list && !skip(rel));
        if (!rels.length) continue;
        terms.push({ [r.pick(rels)[0]]: { _count: r.pick(["asc", "desc"]) } });
        if (nested && this.generation === "6") forceTotal = true;
      } else {
        const fields = this.scalars(model, (f) => f.search);
        terms.push({ _relevance: { fields: r.subset(fields, 1), search: r.pick(WORDS), sort: r.pick(["asc", "desc"]) } });
      }
    }
    const totalOrder = r.chance(total);
    if (forceTotal || totalOrder) {
      for (const key of MODELS[model].id) if (!terms.some((t) => key in t)) terms.push({ [key]: r.pick(["asc", "desc"]) });
    }
    return terms.length === 1 && r.chance(0.5) ? terms[0] : terms;
  }

  direction(f) {
    const r = this.rng;
    const sort = r.pick(["asc", "desc"]);
    if (!f.req && r.chance(0.35)) return { sort, nulls: r.pick(["first", "last"]) };
    return sort;
  }

  page(model, args, { nested = false } = {}) {
    const r = this.rng;
    if (r.chance(0.3)) args.take = r.weighted([[4, r.int(0, 5)], [2, -r.int(1, 4)]]);
    if (r.chance(0.2)) args.skip = r.int(0, 4);
    // No cursor in a related list: Prisma's engine answers it one way for one parent and another
    // for many (README: deliberate differences).
    if (!nested && r.chance(0.12)) args.cursor = this.uniqueWhere(model, { extra: false });
    return args;
  }

  distinct(model) {
    const names = this.scalars(model, (f) => !f.list && f.type !== "Json" && !f.volatile);
    const picked = this.rng.subset(names, 1, 2);
    return picked.length === 1 && this.rng.chance(0.5) ? picked[0] : picked;
  }

  findArgs(model, depth, { list = true, nested = false } = {}) {
    const r = this.rng;
    const args = {};
    if (r.chance(0.6)) args.where = this.where(model, Math.min(depth, 2));
    if (list) {
      if (r.chance(0.6)) args.orderBy = this.orderBy(model, { relations: depth > 0, nested });
      this.page(model, args, { nested });
      if (r.chance(0.1)) args.distinct = this.distinct(model);
    }
    Object.assign(args, this.selection(model, depth));
    return totalize(model, args, list);
  }

  // select / include / omit, nested down to `depth` relation levels.
  selection(model, depth, { toOneOnly = false, relations = true } = {}) {
    const r = this.rng;
    const rels = Object.entries(MODELS[model].relations).filter(([, rel]) => (toOneOnly ? !rel.list : true));
    const canNest = relations && depth > 0 && rels.length;
    const kind = r.weighted([
      [4, "none"],
      [3, "select"],
      [canNest ? 3 : 0, "include"],
      [1, "omit"],
    ]);
    if (kind === "none") return {};
    if (kind === "omit") {
      const names = this.scalars(model);
      const out = { omit: Object.fromEntries(r.subset(names, 1, names.length - 1).map((n) => [n, r.chance(0.9)])) };
      if (canNest && r.chance(0.3)) out.include = this.relationSelection(model, rels, depth);
      return out;
    }
    if (kind === "include") {
      const include = this.relationSelection(model, rels, depth);
      return { include: Object.keys(include).length ? include : { [rels[0][0]]: true } };
    }
    const select = Object.fromEntries(r.subset(this.scalars(model), 1, 5).map((n) => [n, r.chance(0.95)]));
    if (canNest && r.chance(0.5)) Object.assign(select, this.relationSelection(model, rels, depth));
    if (!Object.values(select).some(Boolean)) select[this.scalars(model)[0]] = true;
    return { select };
  }

  relationSelection(model, rels, depth) {
    const r = this.rng;
    const out = {};
    for (const [name, rel] of r.subset(rels, 1, 2)) {
      if (r.chance(0.35)) {
        out[name] = true;
        continue;
      }
      const nested = rel.list ? this.findArgs(rel.model, depth - 1, { nested: true }) : this.selection(rel.model, depth - 1);
      out[name] = Object.keys(nested).length ? nested : true;
    }
    const lists = rels.filter(([, rel]) => rel.list);
    if (lists.length && r.chance(0.2)) {
      out._count = r.chance(0.4)
        ? true
        : {
            select: Object.fromEntries(
              r.subset(lists, 1, 2).map(([name, rel]) => [name, r.chance(0.5) ? true : { where: this.where(rel.model, 0) }]),
            ),
          };
    }
    return out;
  }

  // --- reads ---------------------------------------------------------------------------------

  read(model) {
    const r = this.rng;
    const action = r.weighted([
      [6, "findMany"],
      [2, "findFirst"],
      [1, "findFirstOrThrow"],
      [3, "findUnique"],
      [1, "findUniqueOrThrow"],
      [2, "count"],
      [2, "aggregate"],
      [2, "groupBy"],
    ]);
    let args;
    if (action === "findUnique" || action === "findUniqueOrThrow") {
      args = { where: this.uniqueWhere(model), ...this.selection(model, 2) };
    } else if (action === "count") {
      args = {};
      if (r.chance(0.6)) args.where = this.where(model, 1);
      if (r.chance(0.2)) args.orderBy = this.orderBy(model, { relations: false, total: 1 });
      this.page(model, args);
      totalize(model, args);
      if (r.chance(0.3)) {
        args.select = { _all: true };
        for (const n of r.subset(this.filterable(model), 0, 2)) args.select[n] = true;
      }
    } else if (action === "aggregate") {
      args = this.aggregateArgs(model);
    } else if (action === "groupBy") {
      args = this.groupByArgs(model);
    } else {
      args = this.findArgs(model, 2, { list: true });
      if (action.startsWith("findFirst") && r.chance(0.85)) {
        // the first of a total order (else any row is as good as another)
        args.take ??= undefined;
        const terms = args.orderBy === undefined ? [] : Array.isArray(args.orderBy) ? args.orderBy : [args.orderBy];
        const have = new Set(terms.flatMap((t) => Object.keys(t)));
        args.orderBy = [...terms, ...MODELS[model].id.filter((k) => !have.has(k)).map((k) => ({ [k]: "asc" }))];
        if (args.take === undefined) delete args.take;
      }
      if (r.chance(0.15)) args.relationLoadStrategy = r.pick(["join", "query"]);
    }
    return { kind: "model", model, action, args };
  }

  aggregates(model, { count = true } = {}) {
    const r = this.rng;
    const out = {};
    const numeric = this.scalars(model, (f) => isNumeric(f) && !f.list && !f.enum);
    const comparable = this.scalars(model, (f) => !f.list && !["Json", "Bytes"].includes(f.type));
    if (count && r.chance(0.6))
      out._count = r.chance(0.4) ? true : Object.fromEntries([["_all", true], ...r.subset(this.scalars(model), 0, 2).map((n) => [n, true])]);
    if (numeric.length && r.chance(0.5)) out._avg = Object.fromEntries(r.subset(numeric, 1, 2).map((n) => [n, true]));
    if (numeric.length && r.chance(0.5)) out._sum = Object.fromEntries(r.subset(numeric, 1, 2).map((n) => [n, true]));
    if (r.chance(0.5)) out._min = Object.fromEntries(r.subset(comparable, 1, 2).map((n) => [n, true]));
    if (r.chance(0.5)) out._max = Object.fromEntries(r.subset(comparable, 1, 2).map((n) => [n, true]));
    return out;
  }

  aggregateArgs(model) {
    const r = this.rng;
    const args = this.aggregates(model);
    if (!Object.keys(args).length) args._count = true;
    if (r.chance(0.6)) args.where = this.where(model, 1);
    if (r.chance(0.3)) args.orderBy = this.orderBy(model, { relations: false, total: 1 });
    this.page(model, args);
    return totalize(model, args);
  }

  groupByArgs(model) {
    const r = this.rng;
    const groupable = this.scalars(model, (f) => !f.list && !["Json"].includes(f.type) && !f.volatile);
    const by = r.subset(groupable, 1, 2);
    const args = { by: by.length === 1 && r.chance(0.3) ? by[0] : by, ...this.aggregates(model) };
    if (r.chance(0.5)) args.where = this.where(model, 1);
    if (r.chance(0.3)) args.having = this.having(model, by);
    if (r.chance(0.6) || true) {
      const terms = by.map((n) => ({ [n]: this.direction(this.field(model, n)) }));
      if (r.chance(0.3)) {
        const numeric = this.scalars(model, (f) => isNumeric(f) && !f.list && !f.enum);
        if (numeric.length) terms.unshift({ [r.pick(["_count", "_avg", "_sum", "_min", "_max"])]: { [r.pick(numeric)]: r.pick(["asc", "desc"]) } });
      }
      if (r.chance(0.8)) args.orderBy = terms;
    }
    if (args.orderBy && r.chance(0.3)) args.take = r.int(0, 4);
    if (args.orderBy && r.chance(0.2)) args.skip = r.int(0, 3);
    if ((args.take !== undefined || args.skip !== undefined) && r.chance(0.8)) {
      // pages of groups over all `by` fields, else the page is Postgres's choice
      const sorted = new Set(args.orderBy.flatMap((t) => Object.keys(t)));
      for (const name of by) if (!sorted.has(name)) args.orderBy.push({ [name]: "asc" });
    }
    return args;
  }

  having(model, by) {
    const r = this.rng;
    const out = {};
    const numeric = this.scalars(model, (f) => isNumeric(f) && !f.list && !f.enum);
    for (let i = 0; i < r.int(1, 2); i++) {
      if (numeric.length && r.chance(0.6)) {
        const name = r.pick(numeric);
        const op = r.pick(["_count", "_avg", "_sum", "_min", "_max"]);
        const f = op === "_count" ? { type: "Int", req: true } : op === "_avg" ? { type: "Float", req: true } : this.field(model, name);
        out[name] = { [op]: { [r.pick(["gt", "gte", "lt", "lte", "equals", "not"])]: op === "_count" ? r.int(0, 3) : sample(r, { ...f, list: false, native: undefined }) } };
      } else {
        const name = r.pick(by);
        out[name] = this.scalarFilter(model, name);
      }
    }
    return out;
  }

  // --- writes --------------------------------------------------------------------------------

  // Create data for `model`; `without` is the relation field a nested create comes through (its
  // back side is filled in by Prisma and must not be given).
  // Now and then the way back a nested write may not name (Prisma's `…WithoutAuthorInput` types
  // leave out the back relation and its foreign key): a validation error on both sides.
  backMisfit(model, without, data) {
    const r = this.rng;
    if (!without || !r.chance(0.02)) return data;
    const back = MODELS[model].relations[without];
    if (back.from && r.chance(0.5)) data[back.from[0]] = this.known(model, back.from[0]);
    else data[without] = { connect: this.uniqueWhere(back.model) };
    return data;
  }

  createData(model, depth, { without = null, scalarsOnly = false } = {}) {
    const r = this.rng;
    const spec = MODELS[model];
    const data = {};
    const backFks = new Set(without ? (spec.relations[without].from ?? []) : []);
    const fkRels = Object.entries(spec.relations).filter(([name, rel]) => rel.from && name !== without);
    const unchecked = scalarsOnly || r.chance(0.5);
    for (const [name, f] of Object.entries(spec.fields)) {
      if (backFks.has(name) || f.volatile || !this.writable(f)) continue;
      if (f.fk && !unchecked && fkRels.some(([, rel]) => rel.from.includes(name))) continue;
      const needed = f.req && !f.def && !f.auto;
      if (needed || r.chance(f.auto ? 0.03 : 0.35)) {
        data[name] = f.auto ? r.int(1, 30) : !f.req && r.chance(0.1) ? this.nullOf(f) : this.known(model, name);
      }
    }
    if (!scalarsOnly && !unchecked) {
      for (const [name, rel] of fkRels) {
        if (!rel.req && !r.chance(0.3)) continue;
        data[name] = this.toOneWrite(rel, depth, rel.back, { create: true });
      }
    }
    if (!scalarsOnly && depth > 0) {
      for (const [name, rel] of Object.entries(spec.relations)) {
        if (rel.from || name === without || !r.chance(0.2)) continue;
        if (rel.list) data[name] = this.listCreateWrite(rel, depth - 1);
        else data[name] = this.toOneWrite(rel, depth - 1, rel.back, { create: true });
      }
    }
    return this.backMisfit(model, without, data);
  }

  nullOf(f) {
    if (f.type === "Json") return { $null: this.rng.pick(["DbNull", "JsonNull"]) };
    return null;
  }

  toOneWrite(rel, depth, back, { create }) {
    const r = this.rng;
    const nested = () => this.createData(rel.model, Math.max(depth - 1, 0), { without: back });
    const kind = r.weighted([
      [4, "connect"],
      [depth > 0 || create ? 2 : 0, "create"],
      [2, "connectOrCreate"],
    ]);
    if (kind === "connect") return { connect: this.uniqueWhere(rel.model) };
    if (kind === "create") return { create: nested() };
    return { connectOrCreate: { where: this.uniqueWhere(rel.model), create: nested() } };
  }

  listCreateWrite(rel, depth) {
    const r = this.rng;
    const back = rel.back;
    const many = (make) => (r.chance(0.5) ? make() : Array.from({ length: r.int(0, 2) }, make));
    const out = {};
    for (const kind of r.subset(["create", "connect", "connectOrCreate", ...(rel.m2m ? [] : ["createMany"])], 1, 2)) {
      if (kind === "create") out.create = many(() => this.createData(rel.model, depth, { without: back }));
      if (kind === "connect") out.connect = many(() => this.uniqueWhere(rel.model));
      if (kind === "connectOrCreate")
        out.connectOrCreate = many(() => ({ where: this.uniqueWhere(rel.model), create: this.createData(rel.model, depth, { without: back }) }));
      if (kind === "createMany") {
        out.createMany = { data: many(() => this.createData(rel.model, 0, { without: back, scalarsOnly: true })) };
        if (r.chance(0.4)) out.createMany.skipDuplicates = r.chance(0.7);
      }
    }
    return out;
  }

  updateData(model, depth, { without = null, scalarsOnly = false } = {}) {
    const r = this.rng;
    const spec = MODELS[model];
    const data = {};
    const backFks = new Set(without ? (spec.relations[without].from ?? []) : []);
    const unchecked = scalarsOnly || r.chance(0.4);
    const names = this.scalars(model, (f) => !f.volatile && this.writable(f) && !(f.auto && !r.chance(0.05)));
    for (const name of r.subset(names, 1, 3)) {
      const f = spec.fields[name];
      if (backFks.has(name) || (f.fk && !unchecked)) continue;
      data[name] = this.scalarUpdate(model, name);
    }
    if (!scalarsOnly && depth > 0 && r.chance(0.35)) {
      const rels = Object.entries(spec.relations).filter(([name, rel]) => name !== without && !(unchecked && rel.from));
      for (const [name, rel] of r.subset(rels, 1, 1)) {
        data[name] = rel.list ? this.listUpdateWrite(rel, depth - 1) : this.toOneUpdateWrite(rel, depth - 1);
      }
    }
    if (!Object.keys(data).length) {
      const name = r.pick(this.scalars(model, (f) => !f.volatile && !f.auto && !f.fk));
      data[name] = this.scalarUpdate(model, name);
    }
    return this.backMisfit(model, without, data);
  }

  scalarUpdate(model, name) {
    const r = this.rng;
    const f = this.field(model, name);
    const v = () => this.known(model, name);
    if (f.list) {
      return r.weighted([
        [2, () => sampleList(r, f)],
        [2, () => ({ set: sampleList(r, f) })],
        [3, () => ({ push: r.chance(0.5) ? sample(r, { ...f, list: false }) : sampleList(r, f, 2) })],
      ])();
    }
    const numeric = isNumeric(f) && !f.enum;
    return r.weighted([
      [4, () => v()],
      [2, () => ({ set: f.req || r.chance(0.8) ? v() : this.nullOf(f) })],
      [f.req ? 0 : 1, () => this.nullOf(f)],
      [numeric ? 3 : 0, () => ({ [r.pick(["increment", "decrement", "multiply", "divide"])]: this.arith(f) })],
    ])();
  }

  arith(f) {
    const r = this.rng;
    const n = r.pick([1, 2, 3, 0.5, 10]);
    if (f.type === "BigInt") return { $bigint: String(Math.max(1, Math.round(n))) };
    if (f.type === "Decimal") return { $decimal: String(n) };
    if (f.type === "Int") return Math.max(1, Math.round(n));
    return n;
  }

  toOneUpdateWrite(rel, depth) {
    const r = this.rng;
    const back = rel.back;
    const optional = !rel.req;
    const kind = r.weighted([
      [3, "connect"],
      [2, "create"],
      [2, "connectOrCreate"],
      [2, "update"],
      [2, "upsert"],
      [optional ? 2 : 0, "disconnect"],
      [optional || !rel.from ? 1 : 0, "delete"],
    ]);
    const create = () => this.createData(rel.model, depth, { without: back });
    const update = () => this.updateData(rel.model, depth, { without: back });
    switch (kind) {
      case "connect":
        return { connect: this.uniqueWhere(rel.model) };
      case "create":
        return { create: create() };
      case "connectOrCreate":
        return { connectOrCreate: { where: this.uniqueWhere(rel.model), create: create() } };
      case "update":
        return { update: r.chance(0.3) ? { where: this.where(rel.model, 0), data: update() } : update() };
      case "upsert":
        return { upsert: { create: create(), update: update() } };
      case "disconnect":
        return { disconnect: r.chance(0.7) ? true : this.where(rel.model, 0) };
      default:
        return { delete: r.chance(0.7) ? true : this.where(rel.model, 0) };
    }
  }

  listUpdateWrite(rel, depth) {
    const r = this.rng;
    const back = rel.back;
    const many = (make) => (r.chance(0.5) ? make() : Array.from({ length: r.int(0, 2) }, make));
    const backRequired = !rel.m2m && MODELS[rel.model].relations[back]?.req;
    const out = {};
    const kinds = [
      "create",
      "connect",
      "connectOrCreate",
      "update",
      "updateMany",
      "upsert",
      "deleteMany",
      "delete",
      "set",
      "disconnect",
      ...(rel.m2m ? [] : ["createMany"]),
    ];
    for (const kind of r.subset(kinds, 1, 2)) {
      const create = () => this.createData(rel.model, depth, { without: back });
      switch (kind) {
        case "create":
          out.create = many(create);
          break;
        case "createMany":
          out.createMany = { data: many(() => this.createData(rel.model, 0, { without: back, scalarsOnly: true })) };
          if (r.chance(0.4)) out.createMany.skipDuplicates = r.chance(0.7);
          break;
        case "connect":
          out.connect = many(() => this.uniqueWhere(rel.model));
          break;
        case "connectOrCreate":
          out.connectOrCreate = many(() => ({ where: this.uniqueWhere(rel.model), create: create() }));
          break;
        case "update":
          out.update = many(() => ({ where: this.uniqueWhere(rel.model), data: this.updateData(rel.model, depth, { without: back }) }));
          break;
        case "updateMany":
          out.updateMany = many(() => ({ where: this.where(rel.model, 0), data: this.updateData(rel.model, 0, { without: back, scalarsOnly: true }) }));
          break;
        case "upsert":
          out.upsert = many(() => ({ where: this.uniqueWhere(rel.model), create: create(), update: this.updateData(rel.model, depth, { without: back }) }));
          break;
        case "deleteMany":
          out.deleteMany = many(() => (r.chance(0.2) ? {} : this.where(rel.model, 0)));
          break;
        case "delete":
          out.delete = many(() => this.uniqueWhere(rel.model));
          break;
        case "set":
          if (backRequired) break;
          out.set = Array.from({ length: r.int(0, 2) }, () => this.uniqueWhere(rel.model, { extra: false }));
          break;
        case "disconnect":
          if (backRequired) break;
          out.disconnect = many(() => this.uniqueWhere(rel.model));
          break;
      }
    }
    if (!Object.keys(out).length) out.connect = this.uniqueWhere(rel.model);
    return out;
  }

  write(model) {
    const r = this.rng;
    const action = r.weighted([
      [5, "create"],
      [2, "createMany"],
      [2, "createManyAndReturn"],
      [5, "update"],
      [2, "updateMany"],
      [1, "updateManyAndReturn"],
      [3, "upsert"],
      [2, "delete"],
      [1, "deleteMany"],
    ]);
    const args = {};
    const depth = r.int(1, 2);
    switch (action) {
      case "create":
        args.data = this.createData(model, depth);
        Object.assign(args, this.selection(model, 1));
        break;
      case "createMany":
      case "createManyAndReturn":
        args.data = Array.from({ length: r.int(0, 3) }, () => this.createData(model, 0, { scalarsOnly: true }));
        if (args.data.length === 1 && r.chance(0.3)) args.data = args.data[0];
        if (r.chance(0.5)) args.skipDuplicates = r.chance(0.7);
        if (action === "createManyAndReturn") Object.assign(args, this.selection(model, 1, { toOneOnly: true }));
        break;
      case "update":
        args.where = this.uniqueWhere(model);
        args.data = this.updateData(model, depth);
        Object.assign(args, this.selection(model, 1));
        break;
      case "updateMany":
      case "updateManyAndReturn":
        if (r.chance(0.8)) args.where = this.where(model, 1);
        args.data = this.updateData(model, 0, { scalarsOnly: true });
        if (r.chance(0.2)) args.limit = r.int(0, 3);
        if (action === "updateManyAndReturn") Object.assign(args, this.selection(model, 1, { toOneOnly: true }));
        break;
      case "upsert":
        args.where = this.uniqueWhere(model);
        args.create = this.createData(model, depth);
        args.update = this.updateData(model, depth);
        Object.assign(args, this.selection(model, 1));
        break;
      case "delete":
        args.where = this.uniqueWhere(model);
        Object.assign(args, this.selection(model, 1));
        break;
      case "deleteMany":
        if (r.chance(0.85)) args.where = this.where(model, 1);
        if (r.chance(0.2)) args.limit = r.int(0, 3);
        break;
    }
    return { kind: "model", model, action, args };
  }

  // --- operations ----------------------------------------------------------------------------

  model() {
    return this.rng.weighted([
      [5, "User"],
      [5, "Post"],
      [2, "Profile"],
      [2, "Category"],
      [3, "Comment"],
      [1, "Group"],
      [2, "Membership"],
      [1, "Label"],
      [2, "Sku"],
      [1, "OrderLine"],
      [3, "Kitchen"],
    ]);
  }

  single() {
    const r = this.rng;
    const kind = r.weighted([
      [55, "read"],
      [35, "write"],
      [7, "raw"],
    ]);
    if (kind === "raw") return rawOperation(r, this.generation);
    return kind === "read" ? this.read(this.model()) : this.write(this.model());
  }

  operation() {
    const r = this.rng;
    const kind = r.weighted([
      [94, "single"],
      [3, "batch"],
      [3, "itx"],
    ]);
    if (kind === "single") return this.single();
    const ops = Array.from({ length: r.int(1, 3) }, () => this.single());
    if (kind === "batch") {
      const op = { kind: "batch", ops };
      if (r.chance(0.3)) op.isolationLevel = r.pick(["ReadCommitted", "RepeatableRead", "Serializable"]);
      return op;
    }
    return { kind: "itx", ops, rollback: r.chance(0.3) };
  }
}

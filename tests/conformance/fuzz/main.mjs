// The differential runner: the same seeded operations through Prisma's own engine (the reference)
// and through Breakwater, with the real client on both sides, each on its own copy of the same
// seeded database. A difference is shrunk to a minimal reproduction and printed as JSON.
//
//   node main.mjs --generation 6|7 --seed N --count N [--episode 40] [--max-mismatches 5] [--progress N]
//   node main.mjs --generation 6|7 --replay cases.json     (re-run reproductions, print outcomes)
//
// Environment: FUZZ_PROJECT (the Node project with pg and the adapter), FUZZ_CLIENT_BW and
// FUZZ_CLIENT_REF (generated clients; the same one for Prisma 7), FUZZ_BW_URL (Breakwater's
// prisma+postgres URL), FUZZ_REF_URL (Prisma 7: the query-plan executor's URL), FUZZ_BW_DSN and
// FUZZ_REF_DSN (the two databases, for seeding; Prisma 6's reference also queries FUZZ_REF_DSN).

import { createRequire } from "node:module";
import path from "node:path";
import { readFileSync } from "node:fs";

import { Rng } from "./rng.mjs";
import { Generator } from "./generate.mjs";
import { makeSeed, seedStatements } from "./data.mjs";
import { execute } from "./execute.mjs";
import { comparable, differences } from "./normalize.mjs";
import { isWrite, shrink } from "./shrink.mjs";
import { JOIN_TABLES, MODELS } from "./schema.mjs";
import { ambiguous, limitedWrite } from "./order.mjs";

function options(argv) {
  const out = { generation: "6", seed: 1, count: 100, episode: 40, maxMismatches: 5, progress: 0, replay: null, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, "").replace(/-(.)/g, (_, c) => c.toUpperCase());
    if (key === "verbose") out.verbose = true;
    else out[key] = argv[++i];
  }
  for (const k of ["seed", "count", "episode", "maxMismatches", "progress"]) out[k] = Number(out[k]);
  return out;
}

const opts = options(process.argv.slice(2));
const env = process.env;
const project = createRequire(path.join(env.FUZZ_PROJECT, "package.json"));
const pg = project("pg");

// --- the wire (Prisma 7): raw results are compared as the servers sent them ----------------------
const wire = new Map(); // host → the JSON bodies of its /query answers for the current operation
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const response = await realFetch(input, init);
  const url = new URL(typeof input === "string" ? input : input.url);
  if (url.pathname.endsWith("/query") || url.pathname.endsWith("/graphql")) {
    const text = await response.clone().text();
    const list = wire.get(url.host) ?? [];
    list.push(text);
    wire.set(url.host, list);
  }
  return response;
};
const hostOf = (url) => (url ? new URL(url.replace(/^prisma\+postgres:/, "http:")).host : "");

function sides() {
  const bwModule = createRequire(path.join(env.FUZZ_CLIENT_BW, "index.js"))(env.FUZZ_CLIENT_BW);
  const refModule = createRequire(path.join(env.FUZZ_CLIENT_REF, "index.js"))(env.FUZZ_CLIENT_REF);
  let ref;
  if (opts.generation === "6") {
    const { PrismaPg } = project("@prisma/adapter-pg");
    const log = env.FUZZ_LOG_SQL ? [{ emit: "event", level: "query" }] : [];
    ref = new refModule.PrismaClient({ adapter: new PrismaPg({ connectionString: env.FUZZ_REF_DSN }), log });
    if (env.FUZZ_LOG_SQL) ref.$on("query", (e) => process.stderr.write(`ref sql: ${e.query} ${e.params}\n`));
  } else {
    ref = new refModule.PrismaClient({ accelerateUrl: env.FUZZ_REF_URL });
  }
  const bw =
    opts.generation === "6"
      ? new bwModule.PrismaClient({ datasourceUrl: env.FUZZ_BW_URL })
      : new bwModule.PrismaClient({ accelerateUrl: env.FUZZ_BW_URL });
  return {
    ref: { name: "reference", client: ref, Prisma: refModule.Prisma, host: hostOf(env.FUZZ_REF_URL) },
    bw: { name: "breakwater", client: bw, Prisma: bwModule.Prisma, host: hostOf(env.FUZZ_BW_URL) },
  };
}

const pools = { ref: new pg.Pool({ connectionString: env.FUZZ_REF_DSN, max: 2 }), bw: new pg.Pool({ connectionString: env.FUZZ_BW_DSN, max: 2 }) };

async function reseed(dataSeed) {
  const statements = seedStatements(makeSeed(new Rng(dataSeed)));
  await Promise.all(
    Object.values(pools).map(async (pool) => {
      const conn = await pool.connect();
      try {
        await conn.query("BEGIN");
        for (const [sql, params] of statements) await conn.query(sql, params);
        await conn.query("COMMIT");
      } catch (error) {
        await conn.query("ROLLBACK");
        throw error;
      } finally {
        conn.release();
      }
    }),
  );
}

// Every table's rows (their volatile columns left out), as sorted JSON texts: what a database holds.
async function snapshot(pool) {
  const out = {};
  const tables = Object.values(MODELS).map((spec) => [
    spec.table,
    Object.values(spec.fields).filter((f) => !f.volatile),
    Object.entries(spec.fields).filter(([, f]) => !f.volatile).map(([name, f]) => f.column ?? name),
  ]);
  for (const table of new Set(Object.values(JOIN_TABLES).map(([t]) => t))) tables.push([table, null, ["A", "B"]]);
  for (const [table, , columns] of tables) {
    const { rows } = await pool.query({ text: `SELECT ${columns.map((c) => `"${c}"::text`).join(", ")} FROM "${table}"`, rowMode: "array" });
    out[table] = rows.map((r) => JSON.stringify(r)).sort();
  }
  return out;
}

// Where the two databases' contents differ after a run of writes that each answered alike (a
// write whose answer is a count can still change different rows): table → rows on one side only.
async function divergence() {
  const [ref, bw] = await Promise.all([snapshot(pools.ref), snapshot(pools.bw)]);
  const out = {};
  for (const table of Object.keys(ref)) {
    const a = new Set(ref[table]);
    const b = new Set(bw[table]);
    const onlyRef = ref[table].filter((r) => !b.has(r));
    const onlyBw = bw[table].filter((r) => !a.has(r));
    if (onlyRef.length || onlyBw.length) out[table] = { reference: onlyRef.slice(0, 5), breakwater: onlyBw.slice(0, 5) };
  }
  return Object.keys(out).length ? out : null;
}

// A write that failed on both sides changed no row, but the steps each engine ran before the
// failure may have used up different autoincrement values (README: deliberate differences): both
// databases go on from the higher value of each sequence, so later ids compare.
async function syncSequences() {
  const read = async (pool) => (await pool.query("SELECT schemaname, sequencename, last_value FROM pg_sequences")).rows;
  const [ref, bw] = await Promise.all([read(pools.ref), read(pools.bw)]);
  const theirs = new Map(bw.map((r) => [`"${r.schemaname}"."${r.sequencename}"`, r.last_value]));
  for (const r of ref) {
    const name = `"${r.schemaname}"."${r.sequencename}"`;
    const values = [r.last_value, theirs.get(name)].filter((v) => v !== null && v !== undefined).map(BigInt);
    if (r.last_value === theirs.get(name) || !values.length) continue;
    const top = values.reduce((a, b) => (a > b ? a : b)).toString();
    await Promise.all(Object.values(pools).map((pool) => pool.query("SELECT setval($1::regclass, $2::int8, true)", [name, top])));
  }
}

// `op` on both sides (the answers in order: reference, Breakwater), sequences kept in step.
async function onBoth(op, s) {
  const answers = await Promise.all([execute(op, s.ref), execute(op, s.bw)]);
  if (isWrite(op) && !answers[0].ok && !answers[1].ok) await syncSequences();
  return answers;
}

// The first write of `ops` (from a fresh `dataSeed`) after which the databases differ.
async function firstDivergent(s, dataSeed, ops) {
  await reseed(dataSeed);
  for (let i = 0; i < ops.length; i++) {
    await onBoth(ops[i], s);
    if (!isWrite(ops[i])) continue;
    const diff = await divergence();
    if (diff) return { prefix: ops.slice(0, i), op: ops[i], diff };
  }
  return null;
}

// One operation on both sides at once: their comparable outcomes, and whether they agree.
async function both(s, op) {
  wire.clear();
  const [ref, bw] = await onBoth(op, s);
  const a = comparable(ref, op);
  const b = comparable(bw, op);
  const result = { ref, bw, a, b, same: JSON.stringify(a) === JSON.stringify(b) };
  if (!result.same && ref.ok && bw.ok && ambiguous(op)) result.same = true; // a page of ties: any rows do
  if (!result.same && precedence(op, a, b)) {
    // A nested write that fails for two reasons at once: which one is reported depends on the
    // order each engine runs its steps in (README: deliberate differences). Counted, not failed.
    result.same = true;
    result.precedence = true;
  }
  if (!result.same && referenceCrash(a, b)) {
    // Prisma's own client threw a plain TypeError (a crash of the reference, e.g. a batch whose
    // findUniqueOrThrow fails beside a query that fails validation) where Breakwater answered
    // with a Prisma error: counted, not failed (README: deliberate differences).
    result.same = true;
    result.referenceCrash = true;
  }
  if (!result.same && inexactRawDecimal(op, s.ref.Prisma.Decimal)) {
    // Prisma 6's query compiler passes a raw query's Decimal parameter to the driver adapter as a
    // JS number (12345678901234567890.1 arrives as 12345678901234567000); Breakwater, as Prisma's
    // Rust engine, binds the exact value (README: deliberate differences). Counted, not failed.
    result.same = true;
    result.rawDecimal = true;
  }
  if (opts.generation === "7" && op.kind === "raw" && ref.ok && bw.ok) {
    // The client hides some differences of the wire (1E+2 and 100 are the same Decimal), so raw
    // results are also compared as the two servers sent them.
    const data = (host) => (wire.get(host) ?? []).map((t) => JSON.parse(t).data);
    result.wire = { reference: data(s.ref.host), breakwater: data(s.bw.host) };
    result.same &&= JSON.stringify(result.wire.reference) === JSON.stringify(result.wire.breakwater);
  }
  return result;
}

// Errors of a rejected write, any of which the same write may hit first.
const WRITE_ERRORS = new Set(["P2002", "P2003", "P2011", "P2014", "P2017", "P2018", "P2025"]);

function nestedWrite(op) {
  if (op.kind === "batch" || op.kind === "itx") return op.ops.some(nestedWrite);
  if (op.kind !== "model" || !isWrite(op)) return false;
  const spec = MODELS[op.model];
  const relational = (data) => data && typeof data === "object" && Object.keys(data).some((k) => spec.relations[k]);
  const args = op.args ?? {};
  return [args.data, args.create, args.update].some((d) => (Array.isArray(d) ? d.some(relational) : relational(d)));
}

function precedence(op, a, b) {
  const codes = [a.error?.code, b.error?.code];
  return nestedWrite(op) && codes.every((c) => WRITE_ERRORS.has(c)) && a.error.name === b.error.name;
}

function inexactRawDecimal(op, Decimal) {
  if (opts.generation !== "6" || op.kind !== "raw") return false;
  const inexact = (p) => p && typeof p === "object" && "$decimal" in p && !new Decimal(p.$decimal).equals(new Decimal(Number(p.$decimal)));
  return (op.params ?? []).some(inexact);
}

function referenceCrash(a, b) {
  const prisma = (name) => typeof name === "string" && name.startsWith("Prisma");
  return a.error && b.error && !prisma(a.error.name) && prisma(b.error.name);
}

// Reproduce from a fresh seed: replay `prefix`, then run `op`. True when the two still differ.
async function differs(s, dataSeed, prefix, op) {
  await reseed(dataSeed);
  for (const p of prefix) await onBoth(p, s);
  const result = await both(s, op);
  return result.same ? null : result;
}

function say(line) {
  process.stdout.write(JSON.stringify(line, (_, v) => (typeof v === "bigint" ? `${v}n` : v)) + "\n");
}

function report(result) {
  const small = JSON.stringify(result.a).length + JSON.stringify(result.b).length < 3000;
  const out = small ? { reference: result.a, breakwater: result.b } : { differences: differences(result.a, result.b) };
  const tail = (message) => message.split("\n").filter((l) => l.trim()).slice(-3).join("\n").slice(-600);
  if (!result.ref.ok) out.referenceError = tail(result.ref.error.message);
  if (!result.bw.ok) out.breakwaterError = tail(result.bw.error.message);
  if (result.wire) out.wire = differences(result.wire.reference, result.wire.breakwater);
  return out;
}

// The episode's end: both databases must hold the same rows. True when enough was found.
async function endEpisode(s, dataSeed, prefix, mismatches) {
  const diff = prefix.some(isWrite) ? await divergence() : null;
  if (!diff) return false;
  const found = await firstDivergent(s, dataSeed, prefix);
  const line = found
    ? { type: "mismatch", kind: "divergence", generation: opts.generation, seed: opts.seed, dataSeed, prefix: found.prefix, op: found.op, divergence: found.diff }
    : { type: "flaky", kind: "divergence", dataSeed, ops: prefix, divergence: diff };
  mismatches.push(line);
  say(line);
  return mismatches.length >= opts.maxMismatches;
}

async function fuzz(s) {
  const rng = new Rng(opts.seed);
  const gen = new Generator(rng, opts.generation);
  const started = Date.now();
  const mismatches = [];
  const seen = new Set();
  let episode = 0;
  let dataSeed = 0;
  let prefix = [];
  let queries = 0;
  let ops = 0;
  const counts = {};
  for (; ops < opts.count; ops++) {
    if (prefix.length === 0) {
      dataSeed = (opts.seed * 7919 + episode++) >>> 0;
      await reseed(dataSeed);
    }
    if (opts.progress && ops > 0 && ops % opts.progress === 0) {
      say({ type: "progress", generation: opts.generation, seed: opts.seed, operations: ops, queries, mismatches: mismatches.length, seconds: (Date.now() - started) / 1000 });
    }
    const op = gen.operation();
    const limited = limitedWrite(op);
    if (limited && prefix.length) {
      // The episode ends before a write whose rows are the database's choice, and it starts a new one.
      if (await endEpisode(s, dataSeed, prefix, mismatches)) break;
      prefix = [];
      dataSeed = (opts.seed * 7919 + episode++) >>> 0;
      await reseed(dataSeed);
    }
    const label = op.kind === "model" ? op.action : op.kind === "raw" ? op.action : op.kind;
    counts[label] = (counts[label] ?? 0) + 1;
    queries += op.ops ? op.ops.length : 1;
    const result = await both(s, op);
    if (result.precedence) counts.precedence = (counts.precedence ?? 0) + 1;
    if (result.referenceCrash) counts.referenceCrash = (counts.referenceCrash ?? 0) + 1;
    if (result.rawDecimal) counts.rawDecimal = (counts.rawDecimal ?? 0) + 1;
    if (opts.verbose) say({ type: "op", n: ops, op, ...report(result) });
    if (result.same) {
      if (limited) {
        prefix = []; // the databases may now hold different rows: a fresh episode next
        continue;
      }
      prefix.push(op);
      if (prefix.length >= opts.episode || ops + 1 === opts.count) {
        if (await endEpisode(s, dataSeed, prefix, mismatches)) break;
        prefix = [];
      }
      continue;
    }
    const found = await shrink({ dataSeed, prefix, op }, (p, o) => differs(s, dataSeed, p, o));
    prefix = [];
    if (!found) {
      say({ type: "flaky", dataSeed, op, ...report(result) });
      mismatches.push({ flaky: true, op });
      continue;
    }
    const key = found.signature;
    if (seen.has(key)) continue;
    seen.add(key);
    const mismatch = { type: "mismatch", generation: opts.generation, seed: opts.seed, dataSeed, prefix: found.prefix, op: found.op, ...report(found.result) };
    mismatches.push(mismatch);
    say(mismatch);
    if (mismatches.length >= opts.maxMismatches) break;
  }
  say({ type: "summary", generation: opts.generation, seed: opts.seed, operations: ops, queries, mismatches: mismatches.length, seconds: (Date.now() - started) / 1000, counts });
}

async function single(s) {
  const op = JSON.parse(opts.op);
  await reseed(Number(opts.dataSeed ?? 1));
  const result = await both(s, op);
  say({ type: "single", same: result.same, reference: result.a, breakwater: result.b, referenceError: result.ref.error?.message, breakwaterError: result.bw.error?.message, wire: result.wire });
}

async function replay(s) {
  const cases = JSON.parse(readFileSync(opts.replay, "utf8"));
  // A request that never reached a server (the connection dropped on a loaded machine) is not an
  // answer: the case runs again from its seed (it starts from a fresh database, so it can).
  const unreached = (r) => /fetch failed|ECONNRESET|socket hang up/.test(`${r.ref.error?.message} ${r.bw.error?.message}`);
  for (const c of cases) {
    let result;
    for (let attempt = 0; attempt < 3 && (!result || unreached(result)); attempt++) {
      await reseed(c.dataSeed);
      for (const p of c.prefix ?? []) await onBoth(p, s);
      result = await both(s, c.op);
    }
    const line = { type: "replay", name: c.name, same: result.same, reference: result.a, breakwater: result.b };
    if (!result.same) Object.assign(line, { referenceError: result.ref.error?.message, breakwaterError: result.bw.error?.message });
    if (result.wire) Object.assign(line, { wireReference: result.wire.reference, wireBreakwater: result.wire.breakwater });
    say(line);
  }
}

const s = sides();
try {
  if (opts.replay) await replay(s);
  else if (opts.op) await single(s);
  else await fuzz(s);
} finally {
  await Promise.allSettled([s.ref.client.$disconnect(), s.bw.client.$disconnect(), pools.ref.end(), pools.bw.end()]);
}

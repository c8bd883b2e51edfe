// Shrinking a difference to a minimal reproduction (delta debugging): first the operations that
// ran before it in the episode (reads never matter; then halves, then one write at a time), then
// the operation itself (drop keys and list items, unwrap transactions) while the two still differ.

import { ambiguous } from "./order.mjs";

const WRITES = new Set(["create", "createMany", "createManyAndReturn", "update", "updateMany", "updateManyAndReturn", "upsert", "delete", "deleteMany"]);

export function isWrite(op) {
  if (op.kind === "batch" || op.kind === "itx") return op.ops.some(isWrite);
  if (op.kind === "raw") return op.action === "executeRaw";
  return WRITES.has(op.action);
}

function* simpler(op) {
  if (op.kind === "batch" || op.kind === "itx") {
    for (const inner of op.ops) yield inner;
    for (let i = 0; i < op.ops.length; i++) {
      if (op.ops.length > 1) yield { ...op, ops: op.ops.filter((_, j) => j !== i) };
    }
    for (let i = 0; i < op.ops.length; i++) {
      for (const smaller of simpler(op.ops[i])) yield { ...op, ops: op.ops.map((o, j) => (j === i ? smaller : o)) };
    }
    if (op.rollback) yield { ...op, rollback: false };
    if (op.isolationLevel) yield { ...op, isolationLevel: undefined };
    return;
  }
  if (op.kind === "raw") {
    const items = op.sql.match(/^SELECT (.*)$/s)?.[1]?.split(/, (?=(?:[^']*'[^']*')*[^']*$)/) ?? [];
    if (op.params.length === 0 && items.length > 1) {
      for (let i = 0; i < items.length; i++) yield { ...op, sql: `SELECT ${items.filter((_, j) => j !== i).join(", ")}` };
    }
    return;
  }
  for (const args of simplerValue(op.args, 0)) yield { ...op, args };
}

// Smaller versions of a JSON value: without a key, without a list item, or with a smaller child.
function* simplerValue(value, depth, key = "") {
  if (Array.isArray(value)) {
    // an empty `distinct` is no question at all (Prisma's engines answer it in two ways)
    for (let i = 0; i < value.length; i++) if (!(key === "distinct" && value.length === 1)) yield value.filter((_, j) => j !== i);
    if (value.length === 1 && depth > 0) yield value[0];
    for (let i = 0; i < value.length; i++) {
      for (const smaller of simplerValue(value[i], depth + 1)) yield value.map((v, j) => (j === i ? smaller : v));
    }
    return;
  }
  if (value === null || typeof value !== "object") return;
  if (Object.keys(value).some((k) => k.startsWith("$"))) return; // a tagged value is a leaf
  const keys = Object.keys(value);
  for (const key of keys) {
    const { [key]: _, ...rest } = value;
    yield rest;
  }
  for (const key of keys) {
    if (value[key] !== true && typeof value[key] === "object" && value[key] !== null && depth > 0) yield { ...value, [key]: true };
    for (const smaller of simplerValue(value[key], depth + 1, key)) yield { ...value, [key]: smaller };
  }
}

export function signature(op) {
  if (op.kind === "batch" || op.kind === "itx") return `${op.kind}(${op.ops.map(signature).join(",")})`;
  if (op.kind === "raw") return `raw:${op.action}:${op.sql.replace(/\$\d+/g, "$")}`;
  const paths = new Set();
  const walk = (v, at) => {
    if (Array.isArray(v)) v.forEach((x) => walk(x, `${at}[]`));
    else if (v && typeof v === "object" && !Object.keys(v).some((k) => k.startsWith("$"))) {
      for (const [k, x] of Object.entries(v)) {
        paths.add(`${at}.${k}`);
        walk(x, `${at}.${k}`);
      }
    }
  };
  walk(op.args, "");
  return `${op.model}.${op.action}:${[...paths].sort().join(" ")}`;
}

// What the reference answered, as a kind: a value, or an error class and code. A smaller
// operation must keep it, so shrinking a wrong answer never slides into comparing two
// validation errors of a query nobody would write.
function kind(outcome) {
  return outcome.error ? `${outcome.error.name}:${outcome.error.code}` : "value";
}

export async function shrink({ prefix, op }, differs, budget = 300) {
  let tries = 0;
  let wanted = null;
  const attempt = async (p, o) => {
    if (ambiguous(o)) return null; // a page over a partial order may differ for good reasons
    tries++;
    const found = await differs(p, o);
    return found && (wanted === null || kind(found.a) === wanted) ? found : null;
  };
  let result = await attempt(prefix, op);
  if (!result) return null;
  wanted = kind(result.a);
  let current = prefix;
  if (current.length) {
    const without = await attempt([], op);
    if (without) {
      current = [];
      result = without;
    } else {
      const writes = current.filter(isWrite);
      if (writes.length < current.length) {
        const r = await attempt(writes, op);
        if (r) {
          current = writes;
          result = r;
        }
      }
      // ddmin over the remaining prefix
      let chunk = Math.ceil(current.length / 2);
      while (chunk >= 1 && tries < budget / 2) {
        let removed = false;
        for (let start = 0; start < current.length && tries < budget / 2; start += chunk) {
          const candidate = [...current.slice(0, start), ...current.slice(start + chunk)];
          const r = await attempt(candidate, op);
          if (r) {
            current = candidate;
            result = r;
            removed = true;
            break;
          }
        }
        if (!removed) chunk = Math.floor(chunk / 2);
      }
    }
  }
  let best = op;
  let improved = true;
  while (improved && tries < budget) {
    improved = false;
    for (const candidate of simpler(best)) {
      if (tries >= budget) break;
      const r = await attempt(current, candidate);
      if (r) {
        best = candidate;
        result = r;
        improved = true;
        break;
      }
    }
  }
  return { prefix: current, op: best, result, signature: signature(best), tries };
}

// The seed data of an episode: a small, dense set of rows (every relation kind populated, nulls and
// edge values included) made from a seed, written with plain SQL into the reference's database and
// Breakwater's alike, so both start every episode from the same state.

import { JOIN_TABLES, MODELS } from "./schema.mjs";
import { DATES, JSONS, STRINGS, WORDS, sample, sampleList, toPg } from "./values.mjs";

const NAMES = ["Ada", "Bob", "Cy", "Dee", "ada", "Eve", null];
const LABELS = ["l-a", "l-b", "l-c", "urgent", "later"];

function sentence(rng, n) {
  return Array.from({ length: n }, () => rng.pick(WORDS)).join(" ");
}

export function makeSeed(rng) {
  const rows = {};
  const maybe = (p, make) => (rng.chance(p) ? make() : null);
  const F = (model, name) => MODELS[model].fields[name];

  const users = [];
  const pairs = new Set();
  for (let id = 1; id <= 8; id++) {
    let name = rng.pick(NAMES);
    let age = maybe(0.8, () => rng.pick([18, 21, 30, 42, 7]));
    if (name !== null && age !== null && pairs.has(`${name}|${age}`)) age = null;
    if (name !== null && age !== null) pairs.add(`${name}|${age}`);
    users.push({
      id,
      email: `u${id}@x.io`,
      name,
      role: rng.pick(["ADMIN", "MEMBER", "GUEST"]),
      roles: maybe(0.6, () => sampleList(rng, F("User", "roles"))),
      age,
      karma: sample(rng, F("User", "karma")),
      score: maybe(0.7, () => sample(rng, F("User", "score"))),
      balance: maybe(0.7, () => sample(rng, F("User", "balance"))),
      active: rng.chance(0.7),
      birthday: maybe(0.6, () => sample(rng, F("User", "birthday"))),
      joinedAt: { $date: rng.pick(DATES) },
      createdAt: { $date: rng.pick(DATES) },
      settings: maybe(0.7, () => rng.pick(JSONS)),
      avatar: maybe(0.5, () => sample(rng, F("User", "avatar"))),
      tags: maybe(0.8, () => sampleList(rng, F("User", "tags"))),
      managerId: id > 1 ? maybe(0.5, () => rng.int(1, id - 1)) : null,
    });
  }
  rows.User = users;
  rows.Profile = users
    .filter(() => rng.chance(0.6))
    .map((u, i) => ({
      id: i + 1,
      bio: sentence(rng, rng.int(1, 4)),
      handle: `h${u.id}${rng.pick(["", "x", "_y"])}`,
      prefs: rng.pick(JSONS),
      userId: u.id,
    }));
  const posts = [];
  const titles = new Set();
  for (let id = 1; id <= 16; id++) {
    const authorId = rng.int(1, users.length);
    let title = rng.chance(0.5) ? `${rng.pick(WORDS)} ${rng.pick(WORDS)}` : rng.pick(STRINGS);
    if (titles.has(`${authorId}|${title}`)) title = `${title} ${id}`;
    titles.add(`${authorId}|${title}`);
    posts.push({
      id,
      title,
      body: maybe(0.8, () => sentence(rng, rng.int(1, 6))),
      published: rng.chance(0.5),
      color: maybe(0.7, () => rng.pick(["RED", "GREEN", "BLUE"])),
      views: sample(rng, F("Post", "views")),
      rating: maybe(0.7, () => sample(rng, F("Post", "rating"))),
      price: maybe(0.7, () => sample(rng, F("Post", "price"))),
      meta: maybe(0.7, () => rng.pick(JSONS)),
      blob: maybe(0.4, () => sample(rng, F("Post", "blob"))),
      tags: maybe(0.8, () => sampleList(rng, F("Post", "tags"))),
      scores: maybe(0.7, () => sampleList(rng, F("Post", "scores"))),
      publishedAt: maybe(0.6, () => sample(rng, F("Post", "publishedAt"))),
      updatedAt: { $date: rng.pick(DATES) },
      authorId,
      editorId: maybe(0.4, () => rng.int(1, users.length)),
    });
  }
  rows.Post = posts;
  const catNames = rng.shuffle(["news", "tech", "art", "misc", "Tech", "sport"]);
  rows.Category = catNames.map((name, i) => ({
    id: i + 1,
    name,
    parentId: i > 0 ? maybe(0.6, () => rng.int(1, i)) : null,
  }));
  const comments = [];
  for (let id = 1; id <= 20; id++) {
    const postId = rng.int(1, posts.length);
    const earlier = comments.filter((c) => c.postId === postId);
    comments.push({
      id,
      body: sentence(rng, rng.int(1, 3)),
      likes: rng.pick([0, 0, 1, 2, 5, 10]),
      ref: `seed-${id}`,
      postId,
      authorId: maybe(0.8, () => rng.int(1, users.length)),
      parentId: earlier.length && rng.chance(0.4) ? rng.pick(earlier).id : null,
    });
  }
  rows.Comment = comments;
  rows.Group = ["core", "infra", "Design", "ops"].map((name, i) => ({ id: i + 1, name }));
  const memberships = new Map();
  for (let i = 0; i < 9; i++) {
    const userId = rng.int(1, users.length);
    const groupId = rng.int(1, 4);
    memberships.set(`${userId}|${groupId}`, {
      userId,
      groupId,
      rank: rng.pick([0, 1, 2, 3]),
      note: maybe(0.5, () => rng.pick(STRINGS)),
      since: { $date: rng.pick(DATES) },
    });
  }
  rows.Membership = [...memberships.values()];
  rows.Label = LABELS.map((name) => ({ name, weight: rng.pick([1, 2, 3, 10]) }));
  const skus = [];
  const labelQty = new Set();
  for (const vendor of ["acme", "globex"]) {
    for (let code = 1; code <= 3; code++) {
      let label = rng.pick(["bolt", "nut", "gear"]);
      let qty = rng.pick([0, 1, 5]);
      while (labelQty.has(`${label}|${qty}`)) qty += 1;
      labelQty.add(`${label}|${qty}`);
      skus.push({ vendor, code, label, qty, weight: maybe(0.7, () => sample(rng, F("Sku", "weight"))) });
    }
  }
  rows.Sku = skus;
  rows.OrderLine = Array.from({ length: 10 }, (_, i) => {
    const sku = rng.pick(skus);
    return { id: i + 1, vendor: sku.vendor, code: sku.code, amount: rng.pick([1, 2, 3, 10, 100]) };
  });
  rows.Kitchen = Array.from({ length: 8 }, (_, i) => {
    const row = { id: i + 1 };
    for (const [name, field] of Object.entries(MODELS.Kitchen.fields)) {
      if (name === "id") continue;
      row[name] = rng.chance(0.25) ? null : field.list ? sampleList(rng, field) : sample(rng, field);
    }
    return row;
  });
  const joins = {};
  const pairsOf = (n, aMax, bMax, a, b) => {
    const set = new Map();
    for (let i = 0; i < n; i++) {
      const pair = [a(rng.int(1, aMax)), b(rng.int(1, bMax))];
      set.set(pair.join("|"), pair);
    }
    return [...set.values()];
  };
  joins._Follows = pairsOf(10, users.length, users.length, (x) => x, (x) => x);
  joins._CategoryToPost = pairsOf(16, rows.Category.length, posts.length, (x) => x, (x) => x);
  joins._GroupToLabel = pairsOf(6, 4, LABELS.length, (x) => x, (x) => LABELS[x - 1]);
  return { rows, joins };
}

const ORDER = ["User", "Profile", "Post", "Category", "Comment", "Group", "Membership", "Label", "Sku", "OrderLine", "Kitchen"];

function q(name) {
  return `"${name}"`;
}

// The statements that put `seed` in a database: [sql, params] pairs, run in one transaction.
export function seedStatements(seed) {
  const tables = [...ORDER.map((m) => MODELS[m].table), ...new Set(Object.values(JOIN_TABLES).map(([t]) => t))];
  const out = [[`TRUNCATE ${tables.map(q).join(", ")} RESTART IDENTITY CASCADE`, []]];
  for (const model of ORDER) {
    const spec = MODELS[model];
    const list = seed.rows[model];
    if (!list.length) continue;
    const names = Object.keys(spec.fields);
    const params = [];
    const tuples = list.map((row) => {
      const marks = names.map((name) => {
        params.push(toPg(spec.fields[name], row[name]));
        return `$${params.length}`;
      });
      return `(${marks.join(", ")})`;
    });
    const columns = names.map((n) => q(spec.fields[n].column ?? n)).join(", ");
    out.push([`INSERT INTO ${q(spec.table)} (${columns}) VALUES ${tuples.join(", ")}`, params]);
    for (const key of spec.id.filter((k) => spec.fields[k].auto)) {
      const column = spec.fields[key].column ?? key;
      out.push([
        `SELECT setval(pg_get_serial_sequence('${q(spec.table)}', '${column}'), (SELECT max(${q(column)}) FROM ${q(spec.table)}))`,
        [],
      ]);
    }
  }
  for (const [table, pairs] of Object.entries(seed.joins)) {
    if (!pairs.length) continue;
    const params = pairs.flat();
    const tuples = pairs.map((_, i) => `($${2 * i + 1}, $${2 * i + 2})`);
    out.push([`INSERT INTO ${q(table)} ("A", "B") VALUES ${tuples.join(", ")}`, params]);
  }
  return out;
}

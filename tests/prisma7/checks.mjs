// The real Prisma Client 7 against a `prisma+postgres://` URL: every check runs one kind of
// operation and asserts its whole result. Usage:
//   node checks.mjs CLIENT_DIR URL [NAME_FILTER]
// Prints one JSON line per check: {"name", "ok", "error"?}. tests/plans/test_prisma7_client.py runs it
// once per generated client (with and without the relationJoins preview feature).
// One file (over 400 lines) on purpose: the checks share one client per run and read as a list.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";

const [clientDir, url, filter] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const { PrismaClient, Prisma } = require(path.resolve(clientDir));
const { withAccelerate } = require("@prisma/extension-accelerate");

const base = new PrismaClient({ accelerateUrl: url });
const db = base.$extends(withAccelerate());

const checks = [];
const check = (name, fn) => checks.push({ name, fn });
let serial = 0;
const unique = (prefix) => `${prefix}-${process.pid}-${++serial}@x.io`;

async function user(data = {}) {
  return db.user.create({ data: { email: unique("u"), ...data } });
}

async function rejects(promise, code) {
  try {
    await promise;
  } catch (error) {
    assert.equal(error.code, code, `expected ${code}, got ${error.code}: ${error.message}`);
    return error;
  }
  assert.fail(`expected a ${code} error, the operation succeeded`);
}

const pick = (row, ...keys) => Object.fromEntries(keys.map((k) => [k, row[k]]));

// --- reads ---------------------------------------------------------------------------------

check("findUnique by id and by unique field", async () => {
  const u = await user({ name: "Ann" });
  assert.deepEqual(pick(await db.user.findUnique({ where: { id: u.id } }), "id", "email", "name", "role"), {
    id: u.id,
    email: u.email,
    name: "Ann",
    role: "USER",
  });
  assert.deepEqual(await db.user.findUnique({ where: { email: u.email }, select: { id: true } }), { id: u.id });
  assert.equal(await db.user.findUnique({ where: { id: -1 } }), null);
});

check("findUniqueOrThrow and findFirstOrThrow raise P2025", async () => {
  const error = await rejects(db.user.findUniqueOrThrow({ where: { id: -1 } }), "P2025");
  assert.match(error.message, /No record was found for a query/);
  await rejects(db.post.findFirstOrThrow({ where: { title: "no such post" } }), "P2025");
});

check("findFirst with orderBy, skip and compound unique where", async () => {
  const u = await user();
  const p = await db.post.create({ data: { title: "c", authorId: u.id } });
  await db.comment.createMany({
    data: [1, 2, 3].map((seq) => ({ postId: p.id, seq, text: `t${seq}` })),
  });
  const second = await db.comment.findFirst({ where: { postId: p.id }, orderBy: { seq: "desc" }, skip: 1 });
  assert.deepEqual(pick(second, "seq", "text"), { seq: 2, text: "t2" });
  const byCompound = await db.comment.findUnique({ where: { postId_seq: { postId: p.id, seq: 3 } } });
  assert.equal(byCompound.text, "t3");
});

check("findMany with filters, ordering and take", async () => {
  const u = await user();
  await db.post.createMany({
    data: ["alpha", "beta", "gamma", "delta"].map((title, i) => ({
      title,
      authorId: u.id,
      published: i % 2 === 0,
      views: BigInt(i * 10),
    })),
  });
  const rows = await db.post.findMany({
    where: {
      authorId: u.id,
      OR: [{ title: { startsWith: "a" } }, { title: { contains: "mm" } }, { views: { gte: 30n } }],
      NOT: { title: { equals: "ALPHA", mode: "insensitive" } },
    },
    orderBy: [{ published: "desc" }, { title: "asc" }],
    select: { title: true, published: true, views: true },
  });
  assert.deepEqual(rows, [
    { title: "gamma", published: true, views: 20n },
    { title: "delta", published: false, views: 30n },
  ]);
  const taken = await db.post.findMany({ where: { authorId: u.id }, orderBy: { title: "desc" }, take: -2 });
  assert.deepEqual(
    taken.map((p) => p.title),
    ["beta", "alpha"],
  );
});

check("cursor pagination", async () => {
  const u = await user();
  await db.post.createMany({ data: [1, 2, 3, 4, 5].map((n) => ({ title: `p${n}`, authorId: u.id })) });
  const all = await db.post.findMany({ where: { authorId: u.id }, orderBy: { id: "asc" } });
  const page = await db.post.findMany({
    where: { authorId: u.id },
    cursor: { id: all[1].id },
    skip: 1,
    take: 2,
    orderBy: { id: "asc" },
    select: { title: true },
  });
  assert.deepEqual(page, [{ title: "p3" }, { title: "p4" }]);
  const back = await db.post.findMany({
    where: { authorId: u.id },
    cursor: { id: all[3].id },
    take: -2,
    orderBy: { id: "asc" },
    select: { title: true },
  });
  assert.deepEqual(back, [{ title: "p3" }, { title: "p4" }]);
});

check("distinct", async () => {
  const u = await user();
  await db.post.createMany({
    data: ["x", "x", "y", "x", "y", "z"].map((title) => ({ title, authorId: u.id })),
  });
  const rows = await db.post.findMany({
    where: { authorId: u.id },
    distinct: ["title"],
    orderBy: { title: "asc" },
    select: { title: true },
  });
  assert.deepEqual(rows, [{ title: "x" }, { title: "y" }, { title: "z" }]);
  const two = await db.post.findMany({
    where: { authorId: u.id },
    distinct: ["title"],
    orderBy: { id: "asc" },
    take: 2,
    select: { title: true },
  });
  assert.deepEqual(two, [{ title: "x" }, { title: "y" }]);
});

check("include and nested select with _count", async () => {
  const u = await user({ name: "Writer" });
  await db.profile.create({ data: { bio: "hi", userId: u.id } });
  const p1 = await db.post.create({ data: { title: "one", authorId: u.id, published: true } });
  await db.post.create({ data: { title: "two", authorId: u.id } });
  await db.comment.create({ data: { postId: p1.id, seq: 1, text: "first!" } });
  const found = await db.user.findUnique({
    where: { id: u.id },
    include: {
      profile: { select: { bio: true } },
      posts: {
        orderBy: { id: "asc" },
        select: { title: true, comments: { select: { text: true } }, _count: { select: { comments: true } } },
      },
      _count: { select: { posts: true, likes: true } },
    },
  });
  assert.deepEqual(
    { ...found, createdAt: undefined, updatedAt: undefined },
    {
      id: u.id,
      email: u.email,
      name: "Writer",
      role: "USER",
      managerId: null,
      createdAt: undefined,
      updatedAt: undefined,
      profile: { bio: "hi" },
      posts: [
        { title: "one", comments: [{ text: "first!" }], _count: { comments: 1 } },
        { title: "two", comments: [], _count: { comments: 0 } },
      ],
      _count: { posts: 2, likes: 0 },
    },
  );
  const filteredCount = await db.user.findUnique({
    where: { id: u.id },
    select: { _count: { select: { posts: { where: { published: true } } } } },
  });
  assert.deepEqual(filteredCount, { _count: { posts: 1 } });
});

check("include to-one, self relations and many-to-many", async () => {
  const boss = await user({ name: "Boss" });
  const a = await user({ name: "A", managerId: boss.id });
  const b = await user({ name: "B", manager: { connect: { id: boss.id } }, following: { connect: [{ id: a.id }] } });
  const cat = await db.category.create({ data: { name: unique("cat") } });
  const post = await db.post.create({
    data: { title: "m2m", authorId: a.id, categories: { connect: { id: cat.id } } },
  });
  const withBoss = await db.user.findUnique({
    where: { id: boss.id },
    select: { reports: { select: { name: true }, orderBy: { name: "asc" } }, manager: true },
  });
  assert.deepEqual(withBoss, { reports: [{ name: "A" }, { name: "B" }], manager: null });
  const follows = await db.user.findUnique({
    where: { id: a.id },
    select: { followers: { select: { name: true } }, manager: { select: { name: true } } },
  });
  assert.deepEqual(follows, { followers: [{ name: "B" }], manager: { name: "Boss" } });
  const cats = await db.category.findUnique({
    where: { id: cat.id },
    include: { posts: { select: { title: true, author: { select: { name: true } } } } },
  });
  assert.deepEqual(cats, { id: cat.id, name: cat.name, posts: [{ title: "m2m", author: { name: "A" } }] });
  assert.equal(post.title, "m2m");
  assert.equal(b.managerId, boss.id);
});

check("relation filters some, every, none, is and isNot", async () => {
  const tag = unique("rf");
  const u1 = await user({ name: tag });
  const u2 = await user({ name: tag });
  const u3 = await user({ name: tag });
  await db.post.create({ data: { title: "pub", published: true, authorId: u1.id } });
  await db.post.create({ data: { title: "draft", published: false, authorId: u1.id } });
  await db.post.create({ data: { title: "pub", published: true, authorId: u2.id } });
  const ids = async (where) =>
    (await db.user.findMany({ where: { name: tag, ...where }, orderBy: { id: "asc" }, select: { id: true } })).map(
      (r) => r.id,
    );
  assert.deepEqual(await ids({ posts: { some: { published: false } } }), [u1.id]);
  assert.deepEqual(await ids({ posts: { every: { published: true } } }), [u2.id, u3.id]);
  assert.deepEqual(await ids({ posts: { none: {} } }), [u3.id]);
  const posts = await db.post.findMany({
    where: { author: { is: { id: u2.id } } },
    select: { authorId: true },
  });
  assert.deepEqual(posts, [{ authorId: u2.id }]);
  const notU1 = await db.post.count({
    where: { AND: [{ author: { isNot: { id: u1.id } } }, { author: { is: { name: tag } } }] },
  });
  assert.equal(notU1, 1);
});

check("count, aggregate and groupBy", async () => {
  const u = await user();
  await db.post.createMany({
    data: [
      { title: "g1", authorId: u.id, published: true, views: 5n, rating: 1.5, price: "10.50" },
      { title: "g1", authorId: u.id, published: false, views: 7n, rating: 2.5, price: "1.25" },
      { title: "g2", authorId: u.id, published: true, views: 9n, rating: null, price: null },
    ],
  });
  assert.equal(await db.post.count({ where: { authorId: u.id } }), 3);
  assert.deepEqual(await db.post.count({ where: { authorId: u.id }, select: { _all: true, rating: true } }), {
    _all: 3,
    rating: 2,
  });
  const agg = await db.post.aggregate({
    where: { authorId: u.id },
    _count: { _all: true },
    _sum: { views: true, price: true },
    _avg: { rating: true },
    _min: { title: true },
    _max: { views: true },
  });
  assert.deepEqual(JSON.parse(JSON.stringify(agg, (_k, v) => (typeof v === "bigint" ? `${v}n` : v))), {
    _count: { _all: 3 },
    _sum: { views: "21n", price: "11.75" },
    _avg: { rating: 2 },
    _min: { title: "g1" },
    _max: { views: "9n" },
  });
  const groups = await db.post.groupBy({
    by: ["title"],
    where: { authorId: u.id },
    _count: { _all: true },
    _sum: { views: true },
    having: { views: { _sum: { gt: 5n } } },
    orderBy: { title: "asc" },
  });
  assert.deepEqual(groups, [
    { title: "g1", _count: { _all: 2 }, _sum: { views: 12n } },
    { title: "g2", _count: { _all: 1 }, _sum: { views: 9n } },
  ]);
});

// --- writes --------------------------------------------------------------------------------

check("create with nested create, connect and connectOrCreate", async () => {
  const catName = unique("cat");
  const existing = await db.category.create({ data: { name: unique("cat") } });
  const made = await db.user.create({
    data: {
      email: unique("nested"),
      name: "Nested",
      role: "GUEST",
      profile: { create: { bio: "bio" } },
      posts: {
        create: [
          {
            title: "with cats",
            categories: {
              connect: [{ id: existing.id }],
              connectOrCreate: [{ where: { name: catName }, create: { name: catName } }],
            },
          },
          { title: "plain", comments: { create: [{ seq: 1, text: "c1" }] } },
        ],
      },
    },
    include: {
      profile: { select: { bio: true } },
      posts: {
        orderBy: { title: "asc" },
        select: {
          title: true,
          categories: { select: { name: true }, orderBy: { name: "asc" } },
          comments: { select: { text: true } },
        },
      },
    },
  });
  assert.equal(made.role, "GUEST");
  assert.deepEqual(made.profile, { bio: "bio" });
  assert.deepEqual(made.posts, [
    { title: "plain", categories: [], comments: [{ text: "c1" }] },
    {
      title: "with cats",
      categories: [{ name: existing.name }, { name: catName }].sort((x, y) => (x.name < y.name ? -1 : 1)),
      comments: [],
    },
  ]);
  assert.match(made.profile ? (await db.profile.findUnique({ where: { userId: made.id } })).id : "", /^[0-9a-f-]{36}$/);
});

check("createMany and createManyAndReturn", async () => {
  const u = await user();
  const many = await db.post.createMany({
    data: [
      { title: "cm1", authorId: u.id },
      { title: "cm2", authorId: u.id },
    ],
  });
  assert.deepEqual(many, { count: 2 });
  const returned = await db.post.createManyAndReturn({
    data: [
      { title: "cr1", authorId: u.id, tags: ["a"] },
      { title: "cr2", authorId: u.id, tags: [] },
    ],
    select: { title: true, tags: true, author: { select: { email: true } } },
  });
  assert.deepEqual(returned, [
    { title: "cr1", tags: ["a"], author: { email: u.email } },
    { title: "cr2", tags: [], author: { email: u.email } },
  ]);
  const cats = [unique("dup"), unique("dup")];
  const skipped = await db.category.createMany({
    data: [{ name: cats[0] }, { name: cats[0] }, { name: cats[1] }],
    skipDuplicates: true,
  });
  assert.deepEqual(skipped, { count: 2 });
});

check("update with atomic operations and nested writes", async () => {
  const u = await user();
  const p = await db.post.create({
    data: { title: "u", authorId: u.id, views: 10n, rating: 2, scores: [1], price: "1.00" },
  });
  const updated = await db.post.update({
    where: { id: p.id },
    data: {
      views: { increment: 5n },
      rating: { multiply: 3 },
      price: { decrement: "0.25" },
      scores: { push: [2, 3] },
      title: { set: "u2" },
      comments: { create: { seq: 1, text: "added" } },
    },
    select: { title: true, views: true, rating: true, price: true, scores: true, comments: { select: { text: true } } },
  });
  assert.deepEqual(
    { ...updated, price: updated.price.toString() },
    { title: "u2", views: 15n, rating: 6, price: "0.75", scores: [1, 2, 3], comments: [{ text: "added" }] },
  );
  const divided = await db.post.update({ where: { id: p.id }, data: { rating: { divide: 4 } }, select: { rating: true } });
  assert.deepEqual(divided, { rating: 1.5 });
  const withProfile = await db.user.update({
    where: { id: u.id },
    data: {
      profile: { upsert: { create: { bio: "new" }, update: { bio: "updated" } } },
      posts: { updateMany: { where: { title: "u2" }, data: { published: true } } },
    },
    select: { profile: { select: { bio: true } }, posts: { select: { published: true } } },
  });
  assert.deepEqual(withProfile, { profile: { bio: "new" }, posts: [{ published: true }] });
  await rejects(db.post.update({ where: { id: -1 }, data: { title: "x" } }), "P2025");
});

check("updateMany and updateManyAndReturn", async () => {
  const u = await user();
  await db.post.createMany({ data: [1, 2, 3].map((n) => ({ title: `um${n}`, authorId: u.id, views: BigInt(n) })) });
  assert.deepEqual(
    await db.post.updateMany({ where: { authorId: u.id, views: { lt: 3n } }, data: { views: { increment: 100n } } }),
    { count: 2 },
  );
  const back = await db.post.updateManyAndReturn({
    where: { authorId: u.id },
    data: { published: true },
    select: { title: true, views: true, published: true },
  });
  assert.deepEqual(
    back.sort((x, y) => (x.title < y.title ? -1 : 1)),
    [
      { title: "um1", views: 101n, published: true },
      { title: "um2", views: 102n, published: true },
      { title: "um3", views: 3n, published: true },
    ],
  );
});

check("upsert creates, then updates", async () => {
  const email = unique("ups");
  const created = await db.user.upsert({ where: { email }, create: { email, name: "first" }, update: { name: "second" } });
  assert.equal(created.name, "first");
  const updated = await db.user.upsert({ where: { email }, create: { email, name: "first" }, update: { name: "second" } });
  assert.deepEqual(pick(updated, "id", "name"), { id: created.id, name: "second" });
  const u = await user();
  const p = await db.post.create({ data: { title: "l", authorId: u.id } });
  const like = await db.like.upsert({
    where: { userId_postId: { userId: u.id, postId: p.id } },
    create: { userId: u.id, postId: p.id },
    update: {},
    select: { userId: true, postId: true },
  });
  assert.deepEqual(like, { userId: u.id, postId: p.id });
});

check("m-n set and disconnect, nested delete and composite foreign keys", async () => {
  const u = await user();
  const [c1, c2, c3] = await Promise.all([1, 2, 3].map(() => db.category.create({ data: { name: unique("c") } })));
  const p = await db.post.create({
    data: { title: "mn", authorId: u.id, categories: { connect: [{ id: c1.id }, { id: c2.id }] } },
  });
  const names = async () =>
    (await db.post.findUnique({ where: { id: p.id }, select: { categories: { select: { id: true } } } })).categories
      .map((c) => c.id)
      .sort();
  await db.post.update({ where: { id: p.id }, data: { categories: { disconnect: { id: c1.id } } } });
  assert.deepEqual(await names(), [c2.id]);
  await db.post.update({ where: { id: p.id }, data: { categories: { set: [{ id: c1.id }, { id: c3.id }] } } });
  assert.deepEqual(await names(), [c1.id, c3.id].sort());
  await db.like.create({ data: { userId: u.id, postId: p.id, reactions: { create: [{ emoji: "+1" }, { emoji: "<3" }] } } });
  const like = await db.like.findUnique({
    where: { userId_postId: { userId: u.id, postId: p.id } },
    select: { reactions: { select: { emoji: true }, orderBy: { emoji: "asc" } }, post: { select: { title: true } } },
  });
  assert.deepEqual(like, { reactions: [{ emoji: "+1" }, { emoji: "<3" }], post: { title: "mn" } });
  await db.like.update({
    where: { userId_postId: { userId: u.id, postId: p.id } },
    data: { reactions: { deleteMany: { emoji: "+1" } } },
  });
  assert.equal(await db.reaction.count({ where: { userId: u.id } }), 1);
  await rejects(
    db.post.update({ where: { id: p.id }, data: { categories: { connect: { id: "missing" } } } }),
    "P2025",
  );
});

check("delete and deleteMany", async () => {
  const u = await user();
  const p = await db.post.create({ data: { title: "del", authorId: u.id } });
  await db.post.createMany({ data: [{ title: "dm", authorId: u.id }, { title: "dm", authorId: u.id }] });
  const deleted = await db.post.delete({ where: { id: p.id }, select: { title: true } });
  assert.deepEqual(deleted, { title: "del" });
  assert.deepEqual(await db.post.deleteMany({ where: { authorId: u.id, title: "dm" } }), { count: 2 });
  await rejects(db.post.delete({ where: { id: p.id } }), "P2025");
});

check("unique violation is P2002 and foreign key violation is P2003", async () => {
  const u = await user();
  const error = await rejects(db.user.create({ data: { email: u.email } }), "P2002");
  assert.match(error.message, /Unique constraint failed/);
  await rejects(db.post.create({ data: { title: "orphan", authorId: -5 } }), "P2003");
  await rejects(db.post.create({ data: { title: "orphan", author: { connect: { id: -5 } } } }), "P2025");
});

// --- value types ---------------------------------------------------------------------------

check("every scalar type round-trips", async () => {
  const at = new Date("2024-05-06T07:08:09.123Z");
  const made = await db.post.create({
    data: {
      title: "types",
      author: { create: { email: unique("types") } },
      views: 9007199254740993n,
      rating: 0.1,
      price: new Prisma.Decimal("12345678.90"),
      meta: { a: [1, "x", null, { b: true }] },
      cover: Buffer.from([0, 1, 254, 255]),
      tags: ["a", "b,c", 'd"e'],
      scores: [-1, 0, 2147483647],
      createdAt: at,
    },
    omit: { id: true, authorId: true },
  });
  const expected = {
    title: "types",
    body: null,
    published: false,
    views: 9007199254740993n,
    rating: 0.1,
    price: new Prisma.Decimal("12345678.9"),
    meta: { a: [1, "x", null, { b: true }] },
    cover: new Uint8Array([0, 1, 254, 255]),
    tags: ["a", "b,c", 'd"e'],
    scores: [-1, 0, 2147483647],
    createdAt: at,
  };
  const normal = (row) => ({ ...row, price: row.price.toString(), cover: Array.from(row.cover) });
  assert.deepEqual(normal(made), normal(expected));
  const read = await db.post.findFirst({
    where: { title: "types", views: 9007199254740993n, meta: { path: ["a", "1"], equals: "x" } },
    omit: { id: true, authorId: true },
  });
  assert.deepEqual(normal(read), normal(expected));
});

check("date, time, uuid, json, char and list columns round-trip", async () => {
  const made = await db.sample.create({
    data: {
      day: new Date("2024-02-29T00:00:00.000Z"),
      clock: new Date("1970-01-01T13:14:15.678Z"),
      at: new Date("2024-05-06T07:08:09.123Z"),
      small: -32768,
      real: 1.5,
      code: "ab",
      doc: [1, { x: "y" }],
      flags: [true, false],
      dates: [new Date("2000-01-01T00:00:00.000Z")],
      amounts: ["1.5", "-0.000001"],
      big: [1n, -9223372036854775808n],
      roles: ["ADMIN", "GUEST"],
      blobs: [Buffer.from("hi")],
    },
  });
  const read = await db.sample.findUnique({ where: { id: made.id } });
  const normal = (row) => ({
    ...row,
    amounts: row.amounts.map(String),
    blobs: row.blobs.map((b) => Buffer.from(b).toString()),
  });
  assert.deepEqual(normal(read), normal(made));
  assert.match(read.uid, /^[0-9a-f-]{36}$/);
  assert.equal(typeof read.id, "bigint");
  assert.deepEqual(normal(read), {
    id: made.id,
    uid: made.uid,
    day: new Date("2024-02-29T00:00:00.000Z"),
    clock: new Date("1970-01-01T13:14:15.678Z"),
    at: new Date("2024-05-06T07:08:09.123Z"),
    small: -32768,
    real: 1.5,
    code: "ab ",
    doc: [1, { x: "y" }],
    flags: [true, false],
    dates: [new Date("2000-01-01T00:00:00.000Z")],
    amounts: ["1.5", "-0.000001"],
    big: [1n, -9223372036854775808n],
    roles: ["ADMIN", "GUEST"],
    blobs: ["hi"],
  });
  const filtered = await db.sample.findMany({
    where: { id: made.id, roles: { has: "GUEST" }, day: { lte: new Date("2024-03-01") }, uid: made.uid },
    select: { id: true },
  });
  assert.deepEqual(filtered, [{ id: made.id }]);
});

check("null filters and Json null sentinels", async () => {
  const u = await user();
  await db.post.create({ data: { title: "jn", authorId: u.id, meta: Prisma.JsonNull } });
  await db.post.create({ data: { title: "jn", authorId: u.id } });
  assert.equal(await db.post.count({ where: { authorId: u.id, meta: { equals: Prisma.JsonNull } } }), 1);
  assert.equal(await db.post.count({ where: { authorId: u.id, meta: { equals: Prisma.DbNull } } }), 1);
  assert.equal(await db.post.count({ where: { authorId: u.id, body: null } }), 2);
});

// --- transactions --------------------------------------------------------------------------

check("batch transaction commits every operation", async () => {
  const email = unique("batch");
  const [made, count] = await db.$transaction([
    db.user.create({ data: { email }, select: { email: true } }),
    db.user.count({ where: { email } }),
  ]);
  assert.deepEqual([made, count], [{ email }, 1]);
});

check("batch transaction rolls back when one operation fails", async () => {
  const u = await user();
  const email = unique("batchfail");
  await rejects(db.$transaction([db.user.create({ data: { email } }), db.user.create({ data: { email: u.email } })]), "P2002");
  assert.equal(await db.user.count({ where: { email } }), 0);
});

check("interactive transaction commits, and rolls back when the callback throws", async () => {
  const email = unique("itx");
  const id = await db.$transaction(async (tx) => {
    const u = await tx.user.create({ data: { email } });
    await tx.post.create({ data: { title: "itx", authorId: u.id } });
    return u.id;
  });
  assert.equal(await db.post.count({ where: { authorId: id } }), 1);
  const lost = unique("itxfail");
  await assert.rejects(
    db.$transaction(async (tx) => {
      await tx.user.create({ data: { email: lost } });
      throw new Error("changed my mind");
    }),
    /changed my mind/,
  );
  assert.equal(await db.user.count({ where: { email: lost } }), 0);
});

check("interactive transaction with an isolation level sees its own writes", async () => {
  const email = unique("iso");
  const seen = await db.$transaction(
    async (tx) => {
      await tx.user.create({ data: { email } });
      return tx.user.count({ where: { email } });
    },
    { isolationLevel: Prisma.TransactionIsolationLevel.Serializable },
  );
  assert.equal(seen, 1);
});

check("interactive transaction past its timeout is P2028 and rolled back", async () => {
  const email = unique("slow");
  const error = await rejects(
    db.$transaction(
      async (tx) => {
        await tx.user.create({ data: { email } });
        await new Promise((resolve) => setTimeout(resolve, 700));
        await tx.user.count();
      },
      { timeout: 300 },
    ),
    "P2028",
  );
  assert.match(error.message, /expired|timeout|closed/i);
  assert.equal(await db.user.count({ where: { email } }), 0);
});

// --- raw -----------------------------------------------------------------------------------

check("queryRaw returns typed columns", async () => {
  const u = await user({ name: "raw" });
  const rows = await db.$queryRaw`
    SELECT id, email, display_name, 1::bigint AS big, 1.5::numeric AS num, true AS flag,
           '2024-05-06 07:08:09.123'::timestamp AS ts, '{"a":1}'::jsonb AS doc, '\\x0102'::bytea AS bin,
           ARRAY[1,2]::int[] AS ints, NULL::text AS nothing
    FROM users WHERE id = ${u.id}`;
  assert.deepEqual(rows, [
    {
      id: u.id,
      email: u.email,
      display_name: "raw",
      big: 1n,
      num: new Prisma.Decimal("1.5"),
      flag: true,
      ts: new Date("2024-05-06T07:08:09.123Z"),
      doc: { a: 1 },
      bin: new Uint8Array([1, 2]),
      ints: [1, 2],
      nothing: null,
    },
  ]);
  const unsafe = await db.$queryRawUnsafe("SELECT $1::text AS echoed, $2::int + 1 AS next", "hi", 41);
  assert.deepEqual(unsafe, [{ echoed: "hi", next: 42 }]);
});

check("executeRaw returns the affected row count and raw errors are P2010", async () => {
  const u = await user();
  await db.post.createMany({ data: [{ title: "r", authorId: u.id }, { title: "r", authorId: u.id }] });
  const n = await db.$executeRaw`UPDATE "Post" SET title = ${"raw!"} WHERE author_id = ${u.id}`;
  assert.equal(n, 2);
  await rejects(db.$queryRaw`SELECT * FROM no_such_table`, "P2010");
});

// --- batching and cache hints --------------------------------------------------------------

check("DataLoader batches concurrent findUnique calls", async () => {
  const [a, b] = [await user({ name: "dl-a" }), await user({ name: "dl-b" })];
  const found = await Promise.all([
    db.user.findUnique({ where: { id: a.id }, select: { name: true } }),
    db.user.findUnique({ where: { id: b.id }, select: { name: true } }),
    db.user.findUnique({ where: { id: -1 }, select: { name: true } }),
  ]);
  assert.deepEqual(found, [{ name: "dl-a" }, { name: "dl-b" }, null]);
});

check("queries with cacheStrategy still answer", async () => {
  const u = await user({ name: "cached" });
  const row = await db.user.findUnique({ where: { id: u.id }, select: { name: true }, cacheStrategy: { ttl: 30 } });
  assert.deepEqual(row, { name: "cached" });
});

// --- runner --------------------------------------------------------------------------------

let failed = 0;
for (const { name, fn } of checks) {
  if (filter && !name.includes(filter)) continue;
  try {
    await fn();
    console.log(JSON.stringify({ name, ok: true }));
  } catch (error) {
    failed += 1;
    console.log(JSON.stringify({ name, ok: false, error: String(error?.stack ?? error) }));
  }
}
await base.$disconnect();
process.exitCode = failed ? 1 : 0;

// The real Prisma Client 6.x against Breakwater: every operation family on schema.prisma, run in order
// on one fresh database. Prints one JSON object {scenario: result | {error: {name, code, message}}}.
// Usage: PRISMA6_CLIENT=<generated folder>/client DATABASE_URL=prisma+postgres://…?api_key=… node scenarios.cjs
'use strict';
const { PrismaClient, Prisma } = require(process.env.PRISMA6_CLIENT);
const { withAccelerate } = require('@prisma/extension-accelerate');

const url = process.env.DATABASE_URL;
const prisma = new PrismaClient({ datasourceUrl: url });
const accelerated = new PrismaClient({ datasourceUrl: url }).$extends(withAccelerate());

function plain(value) {
  return JSON.parse(
    JSON.stringify(value, function (key, v) {
      const raw = this[key];
      if (typeof raw === 'bigint') return `${raw}n`;
      if (raw instanceof Date) return `D:${raw.toISOString()}`;
      if (raw instanceof Uint8Array) return `B:${Buffer.from(raw).toString('base64')}`;
      if (Prisma.Decimal.isDecimal(raw)) return `Dec:${raw.toString()}`;
      return v;
    }),
  );
}

async function failure(promise) {
  try {
    await promise;
    return { error: null };
  } catch (e) {
    return { error: { name: e.constructor.name, code: e.code ?? null, message: String(e.message).split('\n').pop() } };
  }
}

const ts = new Date('2024-05-06T07:08:09.123Z');
const scenarios = [
  ['create with nested writes', () =>
    prisma.user.create({
      data: {
        email: 'ada@x.io', name: 'Ada', role: 'ADMIN',
        posts: {
          create: [
            { title: 'Engines', published: true, views: 10n, rating: 4.5, price: new Prisma.Decimal('12.30'),
              meta: { a: [1, 'x'], n: { deep: true } }, blob: Buffer.from('hi'), tags: ['math', 'engines'],
              categories: { connectOrCreate: [{ where: { name: 'science' }, create: { name: 'science' } }] },
              comments: { create: [{ body: 'first' }] } },
            { title: 'Notes', tags: [] },
          ],
        },
        profile: { create: { bio: 'Countess' } },
      },
      include: { posts: { include: { categories: true, comments: { select: { body: true } } }, orderBy: { id: 'asc' } }, profile: { select: { bio: true } } },
    })],
  ['createMany', () => prisma.user.createMany({ data: [{ email: 'bob@x.io', name: 'Bob' }, { email: 'cy@x.io' }, { email: 'ada@x.io' }], skipDuplicates: true })],
  ['createManyAndReturn', () => prisma.category.createManyAndReturn({ data: [{ name: 'art' }, { name: 'history' }], select: { name: true } })],
  ['connect and self relations', () =>
    prisma.user.update({
      where: { email: 'bob@x.io' },
      data: { manager: { connect: { email: 'ada@x.io' } }, following: { connect: [{ email: 'ada@x.io' }, { email: 'cy@x.io' }] },
              posts: { create: { title: 'Bob writes', views: 3n, rating: 2, categories: { connect: [{ name: 'art' }, { name: 'science' }] } } } },
      select: { email: true, manager: { select: { email: true } }, following: { select: { email: true }, orderBy: { email: 'asc' } }, _count: { select: { posts: true } } },
    })],
  ['every scalar type reads back', () => prisma.post.findFirst({ where: { title: 'Engines' }, omit: { id: true, authorId: true } })],
  ['filters', () =>
    prisma.post.findMany({
      where: {
        OR: [{ title: { contains: 'ENG', mode: 'insensitive' } }, { NOT: { rating: null }, rating: { lt: 3 } }],
        author: { is: { role: { in: ['ADMIN', 'USER'] } } },
        views: { gte: 1n },
        tags: { isEmpty: false },
      },
      select: { title: true },
      orderBy: { title: 'asc' },
    })],
  ['relation filters', async () => ({
    some: (await prisma.user.findMany({ where: { posts: { some: { published: true } } }, select: { email: true } })).map((u) => u.email),
    every: (await prisma.user.findMany({ where: { posts: { every: { published: false } } }, select: { email: true }, orderBy: { email: 'asc' } })).map((u) => u.email),
    none: (await prisma.user.findMany({ where: { posts: { none: {} } }, select: { email: true } })).map((u) => u.email),
    isNot: (await prisma.user.findMany({ where: { profile: { isNot: null } }, select: { email: true } })).map((u) => u.email),
    noManager: (await prisma.user.count({ where: { manager: null } })),
    m2m: (await prisma.category.findMany({ where: { posts: { some: { author: { email: 'bob@x.io' } } } }, select: { name: true }, orderBy: { name: 'asc' } })).map((c) => c.name),
  })],
  ['scalar list and json filters', async () => ({
    has: await prisma.post.count({ where: { tags: { has: 'math' } } }),
    hasEvery: await prisma.post.count({ where: { tags: { hasEvery: ['math', 'engines'] } } }),
    hasSome: await prisma.post.count({ where: { tags: { hasSome: ['zzz', 'engines'] } } }),
    jsonPath: await prisma.post.count({ where: { meta: { path: ['n', 'deep'], equals: true } } }),
    jsonArray: await prisma.post.count({ where: { meta: { path: ['a'], array_contains: ['x'] } } }),
    jsonEquals: await prisma.post.count({ where: { meta: { equals: { a: [1, 'x'], n: { deep: true } } } } }),
    dbNull: await prisma.post.count({ where: { meta: { equals: Prisma.DbNull } } }),
    startsWith: await prisma.post.count({ where: { title: { startsWith: 'Eng' } } }),
    dates: await prisma.user.count({ where: { createdAt: { gt: new Date('2000-01-01') } } }),
    decimal: await prisma.post.count({ where: { price: { gt: new Prisma.Decimal('12.29') } } }),
    fieldRef: await prisma.post.count({ where: { views: { gt: prisma.post.fields.rating } } }),
  })],
  ['order, pagination and distinct', async () => ({
    ordered: (await prisma.post.findMany({ orderBy: [{ rating: { sort: 'asc', nulls: 'first' } }, { title: 'desc' }], select: { title: true } })).map((p) => p.title),
    byAuthor: (await prisma.post.findMany({ orderBy: [{ author: { email: 'desc' } }, { id: 'asc' }], select: { title: true } })).map((p) => p.title),
    byCount: (await prisma.user.findMany({ orderBy: [{ posts: { _count: 'desc' } }, { email: 'asc' }], select: { email: true } })).map((u) => u.email),
    cursor: (await prisma.user.findMany({ cursor: { email: 'bob@x.io' }, orderBy: { email: 'asc' }, select: { email: true } })).map((u) => u.email),
    lastTwo: (await prisma.user.findMany({ take: -2, orderBy: { email: 'asc' }, select: { email: true } })).map((u) => u.email),
    skip: (await prisma.user.findMany({ skip: 1, take: 1, orderBy: { email: 'asc' }, select: { email: true } })).map((u) => u.email),
    distinct: (await prisma.post.findMany({ distinct: ['authorId'], orderBy: { id: 'asc' }, select: { title: true } })).map((p) => p.title),
  })],
  ['full text search', async () => ({
    both: await prisma.post.findMany({ where: { title: { search: 'bob & writes' } }, select: { title: true } }),
    either: await prisma.post.findMany({ where: { title: { search: 'engines | notes' } }, select: { title: true }, orderBy: { title: 'asc' } }),
    neither: await prisma.post.findMany({ where: { NOT: { title: { search: 'engines | notes | bob' } } }, select: { title: true } }),
    ranked: await prisma.post.findMany({ orderBy: [{ _relevance: { fields: ['title'], search: 'notes', sort: 'desc' } }, { id: 'asc' }], take: 2, select: { title: true } }),
  })],
  ['composite id', async () => {
    await prisma.membership.create({ data: { userId: 1, groupId: 7, role: 'owner', joinedAt: ts } });
    return prisma.membership.findUnique({ where: { userId_groupId: { userId: 1, groupId: 7 } } });
  }],
  ['aggregate', () => prisma.post.aggregate({ _count: { _all: true, rating: true }, _avg: { views: true }, _sum: { views: true, price: true }, _min: { title: true }, _max: { rating: true } })],
  ['groupBy', () => prisma.post.groupBy({ by: ['authorId'], _count: { _all: true }, _sum: { views: true }, having: { views: { _sum: { gt: 0 } } }, orderBy: { authorId: 'asc' } })],
  ['count with select', () => prisma.post.count({ select: { _all: true, rating: true } })],
  ['update with atomic operations and nested writes', () =>
    prisma.user.update({
      where: { email: 'ada@x.io' },
      data: {
        name: { set: 'Ada L.' },
        posts: {
          updateMany: { where: { published: false }, data: { views: { increment: 5 } } },
          update: { where: { id: 1 }, data: { views: { multiply: 2 }, tags: { push: 'history' }, categories: { set: [{ name: 'history' }] } } },
          upsert: { where: { id: 999 }, create: { title: 'Upserted' }, update: { title: 'never' } },
        },
        profile: { update: { bio: 'Countess of Lovelace' } },
      },
      include: { posts: { select: { title: true, views: true, tags: true, categories: { select: { name: true } } }, orderBy: { id: 'asc' } }, profile: { select: { bio: true } } },
    })],
  ['updateMany and updateManyAndReturn', async () => ({
    many: await prisma.user.updateMany({ where: { name: null }, data: { name: 'anonymous' } }),
    returned: await prisma.user.updateManyAndReturn({ where: { name: 'anonymous' }, data: { role: 'ADMIN' }, select: { email: true, role: true } }),
  })],
  ['upsert', async () => ({
    created: await prisma.category.upsert({ where: { name: 'music' }, create: { name: 'music' }, update: { name: 'never' }, select: { name: true } }),
    updated: await prisma.category.upsert({ where: { name: 'music' }, create: { name: 'never' }, update: { name: 'jazz' }, select: { name: true } }),
  })],
  ['nested disconnect and delete', () =>
    prisma.user.update({
      where: { email: 'bob@x.io' },
      data: { manager: { disconnect: true }, following: { disconnect: { email: 'cy@x.io' } }, posts: { deleteMany: { title: 'Bob writes' } } },
      select: { managerId: true, following: { select: { email: true } }, posts: true },
    })],
  ['delete and deleteMany', async () => ({
    one: await prisma.comment.delete({ where: { id: (await prisma.comment.findFirstOrThrow()).id }, select: { body: true } }),
    many: await prisma.category.deleteMany({ where: { name: { in: ['jazz', 'art'] } } }),
  })],
  ['raw queries', async () => ({
    query: await prisma.$queryRaw`SELECT email, ${5}::int AS five, ${10n}::bigint AS big, ${ts} AS at FROM users WHERE email = ${'ada@x.io'}`,
    execute: await prisma.$executeRawUnsafe('UPDATE "Category" SET name = name || $1 WHERE name = $2', '!', 'science'),
    error: await failure(prisma.$queryRawUnsafe('SELECT nope FROM users')),
  })],
  ['batch transaction', async () => {
    const [made, count] = await prisma.$transaction([prisma.category.create({ data: { name: 'batch' } }), prisma.category.count()]);
    const failed = await failure(prisma.$transaction([prisma.category.create({ data: { name: 'kept?' } }), prisma.category.create({ data: { name: 'batch' } })]));
    return { made: made.name, count, failed, kept: await prisma.category.count({ where: { name: 'kept?' } }) };
  }],
  ['interactive transactions', async () => {
    const committed = await prisma.$transaction(async (tx) => {
      const c = await tx.category.create({ data: { name: 'itx' } });
      return tx.category.findUnique({ where: { id: c.id }, select: { name: true } });
    });
    const rolledBack = await failure(prisma.$transaction(async (tx) => {
      await tx.category.create({ data: { name: 'itx-rollback' } });
      throw new Error('changed my mind');
    }));
    const expired = await failure(prisma.$transaction(async (tx) => {
      await tx.category.create({ data: { name: 'itx-slow' } });
      await new Promise((r) => setTimeout(r, 400));
      await tx.category.create({ data: { name: 'itx-slow-2' } });
    }, { timeout: 150, maxWait: 1000, isolationLevel: 'Serializable' }));
    const left = (await prisma.category.findMany({ where: { name: { startsWith: 'itx' } }, select: { name: true } })).map((c) => c.name);
    return { committed, rolledBack, expired: expired.error && expired.error.code, left };
  }],
  ['errors', async () => ({
    unique: await failure(prisma.user.create({ data: { email: 'ada@x.io' } })),
    foreignKey: await failure(prisma.post.create({ data: { title: 'orphan', authorId: 424242 } })),
    tooLong: await failure(prisma.post.create({ data: { title: 'x'.repeat(201), authorId: 1 } })),
    notFound: await failure(prisma.user.findUniqueOrThrow({ where: { id: 424242 } })),
    updateMissing: await failure(prisma.user.update({ where: { id: 424242 }, data: { name: 'x' } })),
    connectMissing: await failure(prisma.post.create({ data: { title: 't', author: { connect: { email: 'nobody@x.io' } } } })),
    invalid: await failure(prisma.user.findMany({ where: { email: { contains: 5 } } })),
  })],
  ['dataloader batch and accelerate', async () => {
    const [a, b] = await Promise.all([
      prisma.user.findUnique({ where: { email: 'ada@x.io' }, select: { email: true } }),
      prisma.user.findUnique({ where: { email: 'bob@x.io' }, select: { email: true } }),
    ]);
    const cached = await accelerated.user.findMany({ where: { email: 'cy@x.io' }, select: { email: true }, cacheStrategy: { ttl: 60 } });
    return { a, b, cached };
  }],
  ['dataloader findUniques share one statement', async () => {
    // findUnique calls of one tick go out as one batch; the origin answers a batch of one shape with
    // one statement. Each answer must be what the same call awaited on its own gets.
    const logged = new PrismaClient({ datasourceUrl: url, log: [{ emit: 'event', level: 'query' }] });
    const events = [];
    logged.$on('query', (e) => events.push(e));
    const ask = (email) => logged.user.findUnique({
      where: { email },
      include: { posts: { select: { title: true, views: true, price: true, blob: true }, orderBy: { id: 'asc' } }, _count: { select: { posts: true } } },
    });
    const emails = ['ada@x.io', 'nobody@x.io', 'bob@x.io', 'ada@x.io'];
    const together = await Promise.all(emails.map(ask));
    const statements = events.filter((e) => e.query.includes('"public".')).length;
    const alone = [];
    for (const email of emails) alone.push(await ask(email));
    const orThrow = await Promise.allSettled([
      logged.user.findUniqueOrThrow({ where: { id: 424242 }, select: { email: true } }),
      logged.user.findUniqueOrThrow({ where: { email: 'bob@x.io' }, select: { email: true } }),
    ]);
    await logged.$disconnect();
    return {
      same: JSON.stringify(plain(together)) === JSON.stringify(plain(alone)),
      statements,
      found: together.map((u) => u && u.email),
      orThrow: orThrow.map((r) => (r.status === 'fulfilled' ? r.value : { code: r.reason.code })),
    };
  }],
  ['query logs', async () => {
    const logged = new PrismaClient({ datasourceUrl: url, log: [{ emit: 'event', level: 'query' }] });
    const events = [];
    logged.$on('query', (e) => events.push(e));
    const found = await logged.user.findUnique({ where: { email: 'ada@x.io' }, select: { email: true } });
    await logged.$disconnect();
    return {
      found,
      queries: events.map((e) => ({
        reads: /^SELECT .* FROM "public"\."users" /.test(e.query),
        params: e.params,
        timed: typeof e.duration === 'number' && e.duration >= 0,
      })),
    };
  }],
];

(async () => {
  const out = {};
  for (const [name, run] of scenarios) {
    try {
      out[name] = plain(await run());
    } catch (e) {
      out[name] = { error: { name: e.constructor.name, code: e.code ?? null, message: String(e.message).slice(-400) } };
    }
  }
  process.stdout.write(JSON.stringify(out));
  await prisma.$disconnect();
})();

// What the generator knows of ../schema.prisma: each model's scalar fields (with the native-type
// facts that decide which values are valid), relations (and their back fields), ids and uniques.
// Kept by hand next to the schema; test_fuzz_schema.py checks the two agree.

const f = (type, opts = {}) => ({ type, list: false, req: false, ...opts });

// `volatile`: filled in by a default the two engines compute each on their own (now(), uuid(),
// @updatedAt): selected and normalised, never filtered, ordered or grouped on.
export const MODELS = {
  User: {
    table: "users",
    id: ["id"],
    uniques: [["email"], ["name", "age"]],
    fields: {
      id: f("Int", { req: true, auto: true }),
      email: f("String", { req: true }),
      name: f("String", { column: "display_name" }),
      role: f("Role", { req: true, enum: true, def: true }),
      roles: f("Role", { enum: true, list: true }),
      age: f("Int"),
      karma: f("BigInt", { req: true, def: true }),
      score: f("Float"),
      balance: f("Decimal", { native: "Dec12_4" }),
      active: f("Boolean", { req: true, def: true }),
      birthday: f("DateTime", { native: "Date" }),
      joinedAt: f("DateTime", { req: true, column: "joined_at" }),
      createdAt: f("DateTime", { req: true, def: true, volatile: true, column: "created_at" }),
      settings: f("Json"),
      avatar: f("Bytes"),
      tags: f("String", { list: true }),
      managerId: f("Int", { column: "manager_id", fk: true }),
    },
    relations: {
      manager: { model: "User", from: ["managerId"], to: ["id"], back: "reports" },
      reports: { model: "User", list: true, back: "manager" },
      followers: { model: "User", list: true, m2m: true, back: "following" },
      following: { model: "User", list: true, m2m: true, back: "followers" },
      profile: { model: "Profile", back: "user" },
      posts: { model: "Post", list: true, back: "author" },
      edited: { model: "Post", list: true, back: "editor" },
      comments: { model: "Comment", list: true, back: "author" },
      memberships: { model: "Membership", list: true, back: "user" },
    },
  },
  Profile: {
    table: "profiles",
    id: ["id"],
    uniques: [["handle"], ["userId"]],
    fields: {
      id: f("Int", { req: true, auto: true }),
      bio: f("String", { req: true }),
      handle: f("String", { req: true, native: "VarChar40" }),
      prefs: f("Json", { req: true, def: true }),
      userId: f("Int", { req: true, column: "user_id", fk: true }),
    },
    relations: {
      user: { model: "User", from: ["userId"], to: ["id"], req: true, back: "profile" },
    },
  },
  Post: {
    table: "Post",
    id: ["id"],
    uniques: [["authorId", "title"]],
    fields: {
      id: f("Int", { req: true, auto: true }),
      title: f("String", { req: true, native: "VarChar200", search: true }),
      body: f("String", { search: true }),
      published: f("Boolean", { req: true, def: true }),
      color: f("Color", { enum: true }),
      views: f("BigInt", { req: true, def: true }),
      rating: f("Float"),
      price: f("Decimal", { native: "Dec10_2" }),
      meta: f("Json"),
      blob: f("Bytes"),
      tags: f("String", { list: true }),
      scores: f("Int", { list: true }),
      publishedAt: f("DateTime", { native: "Tz3", column: "published_at" }),
      updatedAt: f("DateTime", { req: true, def: true, volatile: true, column: "updated_at" }),
      authorId: f("Int", { req: true, column: "author_id", fk: true }),
      editorId: f("Int", { column: "editor_id", fk: true }),
    },
    relations: {
      author: { model: "User", from: ["authorId"], to: ["id"], req: true, back: "posts" },
      editor: { model: "User", from: ["editorId"], to: ["id"], back: "edited" },
      categories: { model: "Category", list: true, m2m: true, back: "posts" },
      comments: { model: "Comment", list: true, back: "post" },
    },
  },
  Category: {
    table: "categories",
    id: ["id"],
    uniques: [["name"]],
    fields: {
      id: f("Int", { req: true, auto: true }),
      name: f("String", { req: true }),
      parentId: f("Int", { column: "parent_id", fk: true }),
    },
    relations: {
      parent: { model: "Category", from: ["parentId"], to: ["id"], back: "children" },
      children: { model: "Category", list: true, back: "parent" },
      posts: { model: "Post", list: true, m2m: true, back: "categories" },
    },
  },
  Comment: {
    table: "Comment",
    id: ["id"],
    uniques: [],
    fields: {
      id: f("Int", { req: true, auto: true }),
      body: f("String", { req: true }),
      likes: f("Int", { req: true, def: true }),
      ref: f("String", { req: true, def: true, volatile: true }),
      postId: f("Int", { req: true, column: "post_id", fk: true }),
      authorId: f("Int", { column: "author_id", fk: true }),
      parentId: f("Int", { column: "parent_id", fk: true }),
    },
    relations: {
      post: { model: "Post", from: ["postId"], to: ["id"], req: true, back: "comments" },
      author: { model: "User", from: ["authorId"], to: ["id"], back: "comments" },
      parent: { model: "Comment", from: ["parentId"], to: ["id"], back: "replies" },
      replies: { model: "Comment", list: true, back: "parent" },
    },
  },
  Group: {
    table: "groups",
    id: ["id"],
    uniques: [["name"]],
    fields: {
      id: f("Int", { req: true, auto: true }),
      name: f("String", { req: true }),
    },
    relations: {
      members: { model: "Membership", list: true, back: "group" },
      labels: { model: "Label", list: true, m2m: true, back: "groups" },
    },
  },
  Membership: {
    table: "memberships",
    id: ["userId", "groupId"],
    uniques: [],
    fields: {
      userId: f("Int", { req: true, column: "user_id", fk: true }),
      groupId: f("Int", { req: true, column: "group_id", fk: true }),
      rank: f("Int", { req: true, def: true }),
      note: f("String"),
      since: f("DateTime", { req: true, native: "Tz3" }),
    },
    relations: {
      user: { model: "User", from: ["userId"], to: ["id"], req: true, back: "memberships" },
      group: { model: "Group", from: ["groupId"], to: ["id"], req: true, back: "members" },
    },
  },
  Label: {
    table: "Label",
    id: ["name"],
    uniques: [],
    fields: {
      name: f("String", { req: true }),
      weight: f("Int", { req: true, def: true }),
    },
    relations: {
      groups: { model: "Group", list: true, m2m: true, back: "labels" },
    },
  },
  Sku: {
    table: "Sku",
    id: ["vendor", "code"],
    uniques: [["label", "qty"]],
    uniqueNames: { "label,qty": "labelQty" },
    fields: {
      vendor: f("String", { req: true }),
      code: f("Int", { req: true }),
      label: f("String", { req: true }),
      qty: f("Int", { req: true, def: true }),
      weight: f("Decimal", { native: "Dec65_30" }),
    },
    relations: {
      lines: { model: "OrderLine", list: true, back: "sku" },
    },
  },
  OrderLine: {
    table: "order_lines",
    id: ["id"],
    uniques: [],
    fields: {
      id: f("Int", { req: true, auto: true }),
      vendor: f("String", { req: true, fk: true }),
      code: f("Int", { req: true, fk: true }),
      amount: f("Int", { req: true }),
    },
    relations: {
      sku: { model: "Sku", from: ["vendor", "code"], to: ["vendor", "code"], req: true, back: "lines" },
    },
  },
  Kitchen: {
    table: "kitchen",
    id: ["id"],
    uniques: [],
    fields: {
      id: f("Int", { req: true, auto: true }),
      i: f("Int"),
      si: f("Int", { native: "SmallInt" }),
      b: f("BigInt"),
      f: f("Float"),
      r: f("Float", { native: "Real" }),
      d: f("Decimal", { native: "Dec20_6" }),
      s: f("String"),
      c: f("String", { native: "Char3" }),
      v: f("String", { native: "VarChar10" }),
      u: f("String", { native: "Uuid" }),
      bo: f("Boolean"),
      dt: f("DateTime"),
      dd: f("DateTime", { native: "Date" }),
      tm: f("DateTime", { native: "Time3" }),
      tz: f("DateTime", { native: "Tz6" }),
      j: f("Json"),
      jj: f("Json", { native: "JsonText" }),
      by: f("Bytes"),
      e: f("Color", { enum: true }),
      ints: f("Int", { list: true }),
      bigs: f("BigInt", { list: true }),
      floats: f("Float", { list: true }),
      decs: f("Decimal", { list: true, native: "Dec65_30" }),
      strs: f("String", { list: true }),
      bools: f("Boolean", { list: true }),
      dates: f("DateTime", { list: true }),
      jsons: f("Json", { list: true }),
      blobs: f("Bytes", { list: true }),
      colors: f("Color", { enum: true, list: true }),
    },
    relations: {},
  },
};

export const ENUMS = {
  Role: ["ADMIN", "MEMBER", "GUEST"],
  Color: ["RED", "GREEN", "BLUE"],
};

// Implicit m-n join tables: relation field → [table, this side's column].
export const JOIN_TABLES = {
  "User.followers": ["_Follows", "A"],
  "User.following": ["_Follows", "B"],
  "Category.posts": ["_CategoryToPost", "A"],
  "Post.categories": ["_CategoryToPost", "B"],
  "Group.labels": ["_GroupToLabel", "A"],
  "Label.groups": ["_GroupToLabel", "B"],
};

export function scalarNames(model) {
  return Object.keys(MODELS[model].fields);
}

export function uniqueSelectors(model) {
  // [selector key, fields]: a single field by its name, a compound by `a_b` or its given name
  const m = MODELS[model];
  const sets = [m.id, ...m.uniques];
  return sets.map((set) => [set.length === 1 ? set[0] : (m.uniqueNames?.[set.join(",")] ?? set.join("_")), set]);
}

export function isNumeric(field) {
  return ["Int", "BigInt", "Float", "Decimal"].includes(field.type);
}

-- The tables of schema.prisma, as `prisma migrate` would create them (types, defaults, constraint
-- and index names), for the reference database and Breakwater's alike.
CREATE TYPE "role" AS ENUM ('ADMIN', 'member', 'GUEST');
CREATE TYPE "Color" AS ENUM ('RED', 'GREEN', 'BLUE');

CREATE TABLE "users" (
    "id" SERIAL NOT NULL,
    "email" TEXT NOT NULL,
    "display_name" TEXT,
    "role" "role" NOT NULL DEFAULT 'member',
    "roles" "role"[],
    "age" INTEGER,
    "karma" BIGINT NOT NULL DEFAULT 0,
    "score" DOUBLE PRECISION,
    "balance" DECIMAL(12,4),
    "active" BOOLEAN NOT NULL DEFAULT true,
    "birthday" DATE,
    "joined_at" TIMESTAMP(3) NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "settings" JSONB,
    "avatar" BYTEA,
    "tags" TEXT[],
    "manager_id" INTEGER,
    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "profiles" (
    "id" SERIAL NOT NULL,
    "bio" TEXT NOT NULL,
    "handle" VARCHAR(40) NOT NULL,
    "prefs" JSONB NOT NULL DEFAULT '{}',
    "user_id" INTEGER NOT NULL,
    CONSTRAINT "profiles_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "Post" (
    "id" SERIAL NOT NULL,
    "title" VARCHAR(200) NOT NULL,
    "body" TEXT,
    "published" BOOLEAN NOT NULL DEFAULT false,
    "color" "Color",
    "views" BIGINT NOT NULL DEFAULT 0,
    "rating" DOUBLE PRECISION,
    "price" DECIMAL(10,2),
    "meta" JSONB,
    "blob" BYTEA,
    "tags" TEXT[],
    "scores" INTEGER[],
    "published_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMP(3) NOT NULL,
    "author_id" INTEGER NOT NULL,
    "editor_id" INTEGER,
    CONSTRAINT "Post_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "categories" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "parent_id" INTEGER,
    CONSTRAINT "categories_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "Comment" (
    "id" SERIAL NOT NULL,
    "body" TEXT NOT NULL,
    "likes" INTEGER NOT NULL DEFAULT 0,
    "ref" TEXT NOT NULL,
    "post_id" INTEGER NOT NULL,
    "author_id" INTEGER,
    "parent_id" INTEGER,
    CONSTRAINT "Comment_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "groups" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    CONSTRAINT "groups_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "memberships" (
    "user_id" INTEGER NOT NULL,
    "group_id" INTEGER NOT NULL,
    "rank" INTEGER NOT NULL DEFAULT 0,
    "note" TEXT,
    "since" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "memberships_pkey" PRIMARY KEY ("user_id","group_id")
);

CREATE TABLE "Label" (
    "name" TEXT NOT NULL,
    "weight" INTEGER NOT NULL DEFAULT 1,
    CONSTRAINT "Label_pkey" PRIMARY KEY ("name")
);

CREATE TABLE "Sku" (
    "vendor" TEXT NOT NULL,
    "code" INTEGER NOT NULL,
    "label" TEXT NOT NULL,
    "qty" INTEGER NOT NULL DEFAULT 0,
    "weight" DECIMAL(65,30),
    CONSTRAINT "Sku_pkey" PRIMARY KEY ("vendor","code")
);

CREATE TABLE "order_lines" (
    "id" SERIAL NOT NULL,
    "vendor" TEXT NOT NULL,
    "code" INTEGER NOT NULL,
    "amount" INTEGER NOT NULL,
    CONSTRAINT "order_lines_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "kitchen" (
    "id" SERIAL NOT NULL,
    "i" INTEGER,
    "si" SMALLINT,
    "b" BIGINT,
    "f" DOUBLE PRECISION,
    "r" REAL,
    "d" DECIMAL(20,6),
    "s" TEXT,
    "c" CHAR(3),
    "v" VARCHAR(10),
    "u" UUID,
    "bo" BOOLEAN,
    "dt" TIMESTAMP(3),
    "dd" DATE,
    "tm" TIME(3),
    "tz" TIMESTAMPTZ(6),
    "j" JSONB,
    "jj" JSON,
    "by" BYTEA,
    "e" "Color",
    "ints" INTEGER[],
    "bigs" BIGINT[],
    "floats" DOUBLE PRECISION[],
    "decs" DECIMAL(65,30)[],
    "strs" TEXT[],
    "bools" BOOLEAN[],
    "dates" TIMESTAMP(3)[],
    "jsons" JSONB[],
    "blobs" BYTEA[],
    "colors" "Color"[],
    CONSTRAINT "kitchen_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "_Follows" (
    "A" INTEGER NOT NULL,
    "B" INTEGER NOT NULL,
    CONSTRAINT "_Follows_AB_pkey" PRIMARY KEY ("A","B")
);

CREATE TABLE "_CategoryToPost" (
    "A" INTEGER NOT NULL,
    "B" INTEGER NOT NULL,
    CONSTRAINT "_CategoryToPost_AB_pkey" PRIMARY KEY ("A","B")
);

CREATE TABLE "_GroupToLabel" (
    "A" INTEGER NOT NULL,
    "B" TEXT NOT NULL,
    CONSTRAINT "_GroupToLabel_AB_pkey" PRIMARY KEY ("A","B")
);

CREATE UNIQUE INDEX "users_email_key" ON "users"("email");
CREATE UNIQUE INDEX "users_display_name_age_key" ON "users"("display_name", "age");
CREATE UNIQUE INDEX "profiles_handle_key" ON "profiles"("handle");
CREATE UNIQUE INDEX "profiles_user_id_key" ON "profiles"("user_id");
CREATE UNIQUE INDEX "Post_author_id_title_key" ON "Post"("author_id", "title");
CREATE UNIQUE INDEX "categories_name_key" ON "categories"("name");
CREATE UNIQUE INDEX "groups_name_key" ON "groups"("name");
CREATE UNIQUE INDEX "Sku_label_qty_key" ON "Sku"("label", "qty");
CREATE INDEX "_Follows_B_index" ON "_Follows"("B");
CREATE INDEX "_CategoryToPost_B_index" ON "_CategoryToPost"("B");
CREATE INDEX "_GroupToLabel_B_index" ON "_GroupToLabel"("B");

ALTER TABLE "users" ADD CONSTRAINT "users_manager_id_fkey" FOREIGN KEY ("manager_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "profiles" ADD CONSTRAINT "profiles_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Post" ADD CONSTRAINT "Post_author_id_fkey" FOREIGN KEY ("author_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Post" ADD CONSTRAINT "Post_editor_id_fkey" FOREIGN KEY ("editor_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "categories" ADD CONSTRAINT "categories_parent_id_fkey" FOREIGN KEY ("parent_id") REFERENCES "categories"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "Comment" ADD CONSTRAINT "Comment_post_id_fkey" FOREIGN KEY ("post_id") REFERENCES "Post"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Comment" ADD CONSTRAINT "Comment_author_id_fkey" FOREIGN KEY ("author_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "Comment" ADD CONSTRAINT "Comment_parent_id_fkey" FOREIGN KEY ("parent_id") REFERENCES "Comment"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "memberships" ADD CONSTRAINT "memberships_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "memberships" ADD CONSTRAINT "memberships_group_id_fkey" FOREIGN KEY ("group_id") REFERENCES "groups"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "order_lines" ADD CONSTRAINT "order_lines_vendor_code_fkey" FOREIGN KEY ("vendor", "code") REFERENCES "Sku"("vendor", "code") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_Follows" ADD CONSTRAINT "_Follows_A_fkey" FOREIGN KEY ("A") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_Follows" ADD CONSTRAINT "_Follows_B_fkey" FOREIGN KEY ("B") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_CategoryToPost" ADD CONSTRAINT "_CategoryToPost_A_fkey" FOREIGN KEY ("A") REFERENCES "categories"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_CategoryToPost" ADD CONSTRAINT "_CategoryToPost_B_fkey" FOREIGN KEY ("B") REFERENCES "Post"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_GroupToLabel" ADD CONSTRAINT "_GroupToLabel_A_fkey" FOREIGN KEY ("A") REFERENCES "groups"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "_GroupToLabel" ADD CONSTRAINT "_GroupToLabel_B_fkey" FOREIGN KEY ("B") REFERENCES "Label"("name") ON DELETE CASCADE ON UPDATE CASCADE;

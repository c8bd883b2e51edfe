-- The tables of schema.prisma, as `prisma migrate` would create them (it needs a binary we do not have).
CREATE TYPE "role" AS ENUM ('ADMIN', 'user');

CREATE TABLE "users" (
    "id" SERIAL PRIMARY KEY,
    "email" TEXT NOT NULL,
    "name" TEXT,
    "role" "role" NOT NULL DEFAULT 'user',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,
    "manager_id" INTEGER REFERENCES "users" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "users_email_key" ON "users" ("email");

CREATE TABLE "Profile" (
    "id" TEXT PRIMARY KEY,
    "bio" TEXT NOT NULL,
    "userId" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "Profile_userId_key" ON "Profile" ("userId");

CREATE TABLE "Post" (
    "id" SERIAL PRIMARY KEY,
    "title" VARCHAR(200) NOT NULL,
    "published" BOOLEAN NOT NULL DEFAULT false,
    "views" BIGINT NOT NULL DEFAULT 0,
    "rating" DOUBLE PRECISION,
    "price" DECIMAL(10,2),
    "meta" JSONB,
    "blob" BYTEA,
    "tags" TEXT[],
    "authorId" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

CREATE TABLE "Category" (
    "id" SERIAL PRIMARY KEY,
    "name" TEXT NOT NULL
);
CREATE UNIQUE INDEX "Category_name_key" ON "Category" ("name");

CREATE TABLE "Comment" (
    "id" TEXT PRIMARY KEY,
    "body" TEXT NOT NULL,
    "postId" INTEGER NOT NULL REFERENCES "Post" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE "Membership" (
    "userId" INTEGER NOT NULL,
    "groupId" INTEGER NOT NULL,
    "role" TEXT NOT NULL,
    "joinedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY ("userId", "groupId")
);

CREATE TABLE "_CategoryToPost" (
    "A" INTEGER NOT NULL REFERENCES "Category" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    "B" INTEGER NOT NULL REFERENCES "Post" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    PRIMARY KEY ("A", "B")
);
CREATE INDEX "_CategoryToPost_B_index" ON "_CategoryToPost" ("B");

CREATE TABLE "_Follows" (
    "A" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    "B" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    PRIMARY KEY ("A", "B")
);
CREATE INDEX "_Follows_B_index" ON "_Follows" ("B");

-- The tables of prisma/schema.prisma, as `prisma migrate` would create them (it needs the
-- schema-engine binary, which cannot be downloaded here).
CREATE TYPE "role_kind" AS ENUM ('ADMIN', 'USER', 'guest');

CREATE TABLE "users" (
    "id" SERIAL PRIMARY KEY,
    "email" TEXT NOT NULL,
    "display_name" TEXT,
    "role" "role_kind" NOT NULL DEFAULT 'USER',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,
    "manager_id" INTEGER REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "users_email_key" ON "users"("email");

CREATE TABLE "Profile" (
    "id" TEXT PRIMARY KEY,
    "bio" TEXT NOT NULL,
    "user_id" INTEGER NOT NULL REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "Profile_user_id_key" ON "Profile"("user_id");

CREATE TABLE "Post" (
    "id" SERIAL PRIMARY KEY,
    "title" TEXT NOT NULL,
    "body" TEXT,
    "published" BOOLEAN NOT NULL DEFAULT false,
    "views" BIGINT NOT NULL DEFAULT 0,
    "rating" DOUBLE PRECISION,
    "price" DECIMAL(10,2),
    "meta" JSONB,
    "cover" BYTEA,
    "tags" TEXT[],
    "scores" INTEGER[],
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "author_id" INTEGER NOT NULL,
    CONSTRAINT "Post_author_id_fkey" FOREIGN KEY ("author_id") REFERENCES "users"("id")
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE "Category" (
    "id" TEXT PRIMARY KEY,
    "name" TEXT NOT NULL
);
CREATE UNIQUE INDEX "Category_name_key" ON "Category"("name");

CREATE TABLE "Like" (
    "userId" INTEGER NOT NULL REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    "postId" INTEGER NOT NULL REFERENCES "Post"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Like_pkey" PRIMARY KEY ("userId", "postId")
);

CREATE TABLE "Reaction" (
    "id" SERIAL PRIMARY KEY,
    "emoji" TEXT NOT NULL,
    "userId" INTEGER NOT NULL,
    "postId" INTEGER NOT NULL,
    CONSTRAINT "Reaction_userId_postId_fkey" FOREIGN KEY ("userId", "postId")
        REFERENCES "Like"("userId", "postId") ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE "Comment" (
    "id" SERIAL PRIMARY KEY,
    "postId" INTEGER NOT NULL REFERENCES "Post"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    "seq" INTEGER NOT NULL,
    "text" TEXT NOT NULL
);
CREATE UNIQUE INDEX "Comment_postId_seq_key" ON "Comment"("postId", "seq");

CREATE TABLE "Sample" (
    "id" BIGSERIAL PRIMARY KEY,
    "uid" UUID NOT NULL,
    "day" DATE,
    "clock" TIME(3),
    "at" TIMESTAMPTZ(3),
    "small" SMALLINT,
    "real" REAL,
    "code" CHAR(3),
    "doc" JSON,
    "flags" BOOLEAN[],
    "dates" TIMESTAMP(3)[],
    "amounts" DECIMAL(65,30)[],
    "big" BIGINT[],
    "roles" "role_kind"[],
    "blobs" BYTEA[]
);

CREATE TABLE "_CategoryToPost" (
    "A" TEXT NOT NULL REFERENCES "Category"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    "B" INTEGER NOT NULL REFERENCES "Post"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "_CategoryToPost_AB_pkey" PRIMARY KEY ("A", "B")
);
CREATE INDEX "_CategoryToPost_B_index" ON "_CategoryToPost"("B");

CREATE TABLE "_follows" (
    "A" INTEGER NOT NULL REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    "B" INTEGER NOT NULL REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "_follows_AB_pkey" PRIMARY KEY ("A", "B")
);
CREATE INDEX "_follows_B_index" ON "_follows"("B");

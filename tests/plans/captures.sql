-- The tables of shared/protocol/schemas/capture-blog.prisma and capture-types.prisma, as
-- `prisma migrate` creates them, for replaying the recorded Prisma 7 captures.
CREATE TABLE "User" (
    "id" SERIAL PRIMARY KEY,
    "email" TEXT NOT NULL,
    "name" TEXT
);
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");

CREATE TABLE "Post" (
    "id" SERIAL PRIMARY KEY,
    "title" TEXT NOT NULL,
    "published" BOOLEAN NOT NULL DEFAULT false,
    "authorId" INTEGER NOT NULL,
    CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id")
        ON DELETE RESTRICT ON UPDATE CASCADE
);

CREATE TYPE "Role" AS ENUM ('ADMIN', 'USER');

CREATE TABLE "Thing" (
    "id" BIGSERIAL PRIMARY KEY,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "price" DECIMAL(10,2) NOT NULL,
    "ratio" DOUBLE PRECISION NOT NULL,
    "meta" JSONB NOT NULL,
    "blob" BYTEA NOT NULL,
    "role" "Role" NOT NULL DEFAULT 'USER',
    "tags" TEXT[]
);

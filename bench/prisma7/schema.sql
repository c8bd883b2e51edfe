CREATE TABLE "User" ("id" SERIAL PRIMARY KEY, "email" TEXT NOT NULL, "name" TEXT);
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE TABLE "Post" (
    "id" SERIAL PRIMARY KEY,
    "title" TEXT NOT NULL,
    "published" BOOLEAN NOT NULL DEFAULT false,
    "views" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "authorId" INTEGER NOT NULL REFERENCES "User"("id")
);
CREATE INDEX "Post_authorId_idx" ON "Post"("authorId");
INSERT INTO "User" ("email", "name") SELECT 'user' || g || '@bench.io', 'User ' || g FROM generate_series(1, 1000) g;
INSERT INTO "Post" ("title", "published", "authorId")
    SELECT 'Post ' || g, g % 2 = 0, 1 + (g % 1000) FROM generate_series(1, 5000) g;

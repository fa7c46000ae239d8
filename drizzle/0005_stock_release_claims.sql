DROP INDEX "stock_releases_due_idx";--> statement-breakpoint
ALTER TABLE "stock_releases" ADD COLUMN "claimed_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "stock_releases_claimed_idx" ON "stock_releases" USING btree ("claimed_at") WHERE "stock_releases"."released_at" IS NULL AND "stock_releases"."claimed_at" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "stock_releases_due_idx" ON "stock_releases" USING btree ("next_attempt_at") WHERE "stock_releases"."released_at" IS NULL AND "stock_releases"."claimed_at" IS NULL;
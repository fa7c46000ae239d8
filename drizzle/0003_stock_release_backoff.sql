DROP INDEX "stock_releases_pending_idx";--> statement-breakpoint
ALTER TABLE "stock_releases" ADD COLUMN "attempts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "stock_releases" ADD COLUMN "next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
CREATE INDEX "stock_releases_due_idx" ON "stock_releases" USING btree ("next_attempt_at") WHERE "stock_releases"."released_at" IS NULL;
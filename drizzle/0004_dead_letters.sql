CREATE TABLE "dead_letters" (
	"id" text PRIMARY KEY NOT NULL,
	"event_type" text,
	"order_id" text,
	"user_id" bigint,
	"body" jsonb,
	"attempts" integer NOT NULL,
	"last_error" text NOT NULL,
	"failed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"replayed_at" timestamp with time zone,
	"replays" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX "dead_letters_failed_idx" ON "dead_letters" USING btree ("failed_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "outbox_published_idx" ON "outbox" USING btree ("published_at") WHERE "outbox"."published_at" IS NOT NULL;
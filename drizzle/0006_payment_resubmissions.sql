ALTER TABLE "payments" ADD COLUMN "resubmissions" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "resubmitted_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "payments_pending_idx" ON "payments" USING btree ("created_at") WHERE "payments"."status" = 'pending' AND "payments"."method" <> 'cash_on_delivery';
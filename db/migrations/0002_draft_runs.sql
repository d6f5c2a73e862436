ALTER TABLE "pipelines" ADD COLUMN "scratch" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "document" jsonb;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "sample_rows" integer;--> statement-breakpoint
ALTER TABLE "task_runs" ADD COLUMN "fingerprint" text;
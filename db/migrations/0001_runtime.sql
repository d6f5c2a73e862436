CREATE TABLE "pools" (
	"name" text PRIMARY KEY NOT NULL,
	"slots" integer NOT NULL,
	"description" text DEFAULT '' NOT NULL
);
--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "schema_name" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "files_dir" text;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "draft" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "task_runs" ADD COLUMN "output_table" text;--> statement-breakpoint
ALTER TABLE "task_runs" ADD COLUMN "item" jsonb;--> statement-breakpoint
ALTER TABLE "task_runs" ADD COLUMN "result" jsonb;--> statement-breakpoint
ALTER TABLE "task_runs" ADD COLUMN "lease_losses" integer DEFAULT 0 NOT NULL;
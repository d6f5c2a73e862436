DROP INDEX "task_runs_claim_idx";--> statement-breakpoint
CREATE INDEX "task_runs_ready_idx" ON "task_runs" USING btree ("priority" DESC NULLS LAST,"created_at","id") WHERE state in ('queued', 'up_for_retry');--> statement-breakpoint
CREATE INDEX "task_runs_running_idx" ON "task_runs" USING btree ("lease_until") WHERE state = 'running';--> statement-breakpoint
CREATE INDEX "task_runs_open_idx" ON "task_runs" USING btree ("run_id") WHERE state in ('pending', 'queued', 'running', 'up_for_retry');
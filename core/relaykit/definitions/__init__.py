"""What a user declares: jobs, triggers, filters, flow control, retry policies, events, cron."""

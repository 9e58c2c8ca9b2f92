"""The unified inbox (S1–S3): conversation lists, timelines, assignment, statuses, notes, replies, SLA, metrics."""

"""Review: the queue of detections and risky accounts, claims and decisions, and cases."""

"""The pure parts of the monitoring service: the audit chain, error fingerprints, trace timelines,
retention rules. No I/O here: the files are persistence/'s, the actor is actors/monitor.py."""

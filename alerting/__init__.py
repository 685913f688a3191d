"""The alerting service's pure core: dedup, grouping, rate limits, rules, routing, silences, and each
service's message limits and reply classification. No I/O, no clocks: time comes in as `now`."""

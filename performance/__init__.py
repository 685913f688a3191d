"""Pure performance logic: measurement buffers and rolling histograms, SLOs with error budgets and
burn rates, trends, the grade and the bottleneck rules. No actors, no I/O: the sampler actor
(actors/sampler.py) feeds these and publishes what they compute."""

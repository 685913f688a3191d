"""Probes of the running process, read by the /sampler actor: psutil's system figures with per-thread
CPU mapped to actor paths, GC pauses from gc.callbacks, the shared io loop's timer drift, the on-demand
stack-sampling profiler, and the Prometheus collector of the sampler's figures. Each reads the process
and hands plain values to the pure performance/ package; none decides anything."""

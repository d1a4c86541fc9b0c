"""Benchmarks (run as modules: ``.venv/bin/python -m bench.registry``); figures in
docs/PERFORMANCE.md, raw results in bench/results/ (git-ignored)."""

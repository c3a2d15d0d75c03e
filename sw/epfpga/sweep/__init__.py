"""``epfpga sweep``: many training runs, cycle counts and board builds over a grid, a
random sample or an Optuna search, run on Dask distributed (a LocalCluster by default,
any cluster with ``--scheduler``), into a result store that makes every sweep resumable.

spec: the spec file and its expansion into jobs; jobs: what a worker runs; store: the
JSON-lines result store; runner: the Dask side; summary: tables and plots.
"""

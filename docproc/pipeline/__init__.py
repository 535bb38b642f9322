"""Framework-free document pipeline: no Django import below this package.

Stages are functions of frozen dataclasses (``types.py``) and an engine behind a small Protocol.
The Django side (``docproc.services``) loads, calls a stage, stores its result and audits it.
"""

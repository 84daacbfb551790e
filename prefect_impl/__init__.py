"""The ML pipeline as a Prefect 3 flow.

`flow.py` is the wiring (read it beside `mock_impl/weather.py`), `cache.py` the cache policy and
its checked record store, `runner.py` runs the flow and reads its task runs back, and
`ml_training_flow.py` is the seed tutorial's small example. See README.md.
"""

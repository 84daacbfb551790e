"""The second pipeline: a daily recommender retrain on interaction events.

Orchestrator-free, like the weather pipeline: `generator` makes a landing zone of daily Parquet
partitions, `extract` reads and checks one day, `profiles` merges it into a user-profile state
database; the model half (features, ranking, A/B test, gate) builds on their outputs.
"""

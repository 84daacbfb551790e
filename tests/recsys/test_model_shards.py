"""User shards change how much is held at once, never a result: a 7-user shard size (and
co-occurrence ranked 50 pairs at a time) gives the frames, the training rows and the A/B table
of the single pass, to the bit."""

from __future__ import annotations

import pandas as pd

from mlpipeline import artifacts
from mlpipeline.recsys import abtest, features, ranking
from tests.recsys.test_model_features import BUILD, DAY, events

AB = dict(k=10, n_items=150, n_bootstrap=200, n_permutations=200, seed=3)


def sharded(tmp_path, shard_users: int) -> tuple[dict, dict]:
    """Both frames written shard by shard as `build_features` writes them, and the info."""
    info: dict = {}
    paths = {n: tmp_path / f"{n}-{shard_users}.parquet" for n in ("train", "evaluation")}
    with (
        artifacts.frame_writer(paths["train"]) as train,
        artifacts.frame_writer(paths["evaluation"]) as evaluation,
    ):
        append = {"train": train, "evaluation": evaluation}
        for name, shard in features.build_frames(
            events(), DAY, info, **BUILD, shard_users=shard_users
        ):
            append[name](shard)
    return paths, info


def scored(frame: pd.DataFrame) -> pd.DataFrame:
    # Few distinct scores: ties, broken by item id, are part of what must not move.
    # A score of the row alone, so any piece of the frame scores a row alike.
    pair = frame["user_id"].to_numpy() * 7919 + frame["item_id"].to_numpy() * 104729
    return frame.assign(candidate=(pair % 5) / 4, production=frame["i_weight"])


def test_seven_user_shards_give_the_single_pass_frames_training_rows_and_ab_table(
    tmp_path, monkeypatch
):
    one, one_info = sharded(tmp_path, features.SHARD_USERS)
    monkeypatch.setattr(features, "NEIGHBOUR_ROWS", 50)  # neighbour lists in slices too
    many, many_info = sharded(tmp_path, 7)
    assert one_info == many_info
    assert len(list(features.read_shards(many["evaluation"]))) > 10  # many shards indeed
    for name in ("train", "evaluation"):
        whole = artifacts.read_frame(one[name])
        pd.testing.assert_frame_equal(artifacts.read_frame(many[name]), whole, check_exact=True)
    train = artifacts.read_frame(one["train"])
    pieces = [ranking.with_positives(p) for p in features.read_shards(many["train"])]
    pd.testing.assert_frame_equal(
        pd.concat(pieces, ignore_index=True), ranking.with_positives(train), check_exact=True
    )
    whole = scored(artifacts.read_frame(one["evaluation"]))
    table = abtest.compare(whole, candidate="candidate", production="production", **AB)
    by_shard = map(scored, features.read_shards(many["evaluation"]))
    assert abtest.compare(by_shard, candidate="candidate", production="production", **AB) == table
    assert table["users_evaluated"] > 50


def test_read_shards_never_splits_a_user_whatever_the_row_groups(tmp_path):
    frame = features.build(events(), DAY, **BUILD)[1]
    path = tmp_path / "evaluation.parquet"
    frame.to_parquet(path, index=False, row_group_size=37)  # boundaries inside users
    pieces = list(features.read_shards(path, ["user_id", "item_id", "label"]))
    assert len(pieces) > 10
    users = [set(p["user_id"]) for p in pieces]
    assert sum(len(u) for u in users) == len(set().union(*users))  # no user in two pieces
    pd.testing.assert_frame_equal(
        pd.concat(pieces, ignore_index=True), frame[["user_id", "item_id", "label"]]
    )

"""The labels a strategy saved against its baseline, and the run's last sentence."""

import pytest

from skfisher.experiments import format_table, labels_saved, saving_sentence

BUDGETS = [50, 100, 150, 200, 250, 300, 350]
RANDOM = [0.60, 0.70, 0.78, 0.84, 0.88, 0.91, 0.93]


def test_reached_early_gives_the_labels_and_the_share_saved():
    fisher = [0.60, 0.80, 0.90, 0.935, 0.95, 0.96, 0.97]
    saving = labels_saved(BUDGETS, fisher, RANDOM)
    assert saving == {
        "target": 0.93,
        "baseline_labels": 350,
        "labels": 200,
        "fraction_saved": pytest.approx(1 - 200 / 350),
        "best": 0.97,
        "best_labels": 350,
    }
    assert saving_sentence(BUDGETS, fisher, RANDOM) == (
        "FisherMask reached random's final accuracy (0.930) with 200 labels; "
        "random needed 350 (43 % fewer labels)."
    )


def test_equal_accuracy_counts_as_reached():
    fisher = [0.60, 0.70, 0.78, 0.84, 0.93, 0.92, 0.93]
    assert labels_saved(BUDGETS, fisher, RANDOM)["labels"] == 250
    assert "with 250 labels; random needed 350 (29 % fewer labels)" in saving_sentence(
        BUDGETS, fisher, RANDOM
    )


def test_not_reached_is_said_plainly_with_the_best_accuracy():
    fisher = [0.60, 0.72, 0.80, 0.86, 0.92, 0.90, 0.91]
    saving = labels_saved(BUDGETS, fisher, RANDOM)
    assert saving["labels"] is None and saving["fraction_saved"] is None
    assert saving_sentence(BUDGETS, fisher, RANDOM, name="BAIT") == (
        "BAIT did not reach random's final accuracy (0.930) within 350 labels; "
        "its best was 0.920, at 250 labels."
    )


def test_a_baseline_that_peaks_early_needs_fewer_labels_than_its_last_budget():
    # random reaches its final 0.90 already at 150 labels; the strategy at 200
    random = [0.6, 0.8, 0.9, 0.85, 0.9]
    fisher = [0.6, 0.7, 0.8, 0.95, 0.96]
    assert saving_sentence(BUDGETS[:5], fisher, random) == (
        "FisherMask reached random's final accuracy (0.900) with 200 labels; "
        "random needed 150 (33 % more labels)."
    )
    assert saving_sentence(BUDGETS[:3], [0.6, 0.8, 0.9], [0.6, 0.8, 0.9]) == (
        "FisherMask reached random's final accuracy (0.900) with 150 labels; "
        "random needed as many (150): no labels saved."
    )


def test_curves_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="same non-zero length"):
        labels_saved([1, 2], [0.5, 0.6], [0.5])


def test_the_table_has_the_baseline_column():
    row = dict(query_seconds=0.0, fit_seconds=1.0)
    rounds = [
        dict(round=0, n_labels=10, accuracy=0.5, **row),
        dict(round=1, n_labels=20, accuracy=0.75, **row),
    ]
    table = format_table(rounds, baseline=rounds[:1]).splitlines()
    assert table[0].split() == [
        "round",
        "labels",
        "test",
        "acc",
        "random",
        "acc",
        "query",
        "s",
        "fit",
        "s",
    ]
    assert table[1].split()[:4] == ["0", "10", "0.5000", "0.5000"]
    assert table[2].split()[:4] == ["1", "20", "0.7500", "-"]

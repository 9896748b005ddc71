"""Experiments: labeling-efficiency comparisons over settings, strategies and
seeds, their records, and the files of a run."""

from ._compare import load_rounds, run_comparison, summarize
from ._output import format_table, labels_saved, save_results, saving_sentence
from ._settings import SETTINGS, load_setting, own_setting

__all__ = [
    "SETTINGS",
    "format_table",
    "labels_saved",
    "load_rounds",
    "load_setting",
    "own_setting",
    "run_comparison",
    "save_results",
    "saving_sentence",
    "summarize",
]

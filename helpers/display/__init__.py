"""helpers.display: what the lessons show, apart from the engine.

    style.py    the course style (colour-blind-safe palette, sizes), one-pass PNG rendering,
                setup() for every lesson's first cell
    figures.py  figures shared by several lessons (loss, accuracy, activation histograms over
                training, percentile bands, the per-layer activation grid)
    panels.py   slider panels: every position pre-drawn from real runs (cached_panel), and
                the batch-size x momentum activation panel of every lesson
    export.py   a displayed panel's pictures for the course website, under the id its lesson
                gives it (build/panels/<panel id>/)
    predict.py  predict(question, choices, answer): a prediction question whose wrong
                choices name the misconception (a widget in a kernel, text elsewhere)
"""
from .predict import predict
from .style import setup

__all__ = ["predict", "setup"]

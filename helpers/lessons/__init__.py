"""helpers.lessons: each lesson's own experiments (compute) and figures, named after it.

    lesson1_descent.py     gradient descent on a 2-parameter bowl, gradient noise vs batch size
    lesson1_stability.py   when a step diverges: mean squared growth, the heavy-ball edge,
                           conditioning, the loss floor (Going deeper 1a)
    lesson1_figures.py     loss surfaces and paths, the path explorer, the noise law, the
                           MNIST panel's accuracy map
    lesson2_shift.py       internal covariate shift measured: the W1 distance on histograms
    lesson2_sources.py     parameter snapshots: the shift split into the layers below and the
                           layer's own parameters (both orders averaged), for Going deeper 2a
    lesson2_figures.py     run states, the step scrubber, the shift panel and its overview,
                           the percentile bands, the split's chart
    lesson3_training.py    the plain / batch-norm pair behind the panel; for the deeper
                           notebooks: undoing batch norm, the noise of mu_B, input
                           standardisation in a linear model
    lesson3_figures.py     seed sweeps and the sweep table, the panel's position, its task
                           lines and accuracy map, ratio study, mu_B spread
    lesson4_running.py     the momentum conventions: updates as each library writes them,
                           the effective window of an EMA
    lesson4_tracking.py    running estimates against the population statistics during training
                           (the course's base network)
    lesson4_trap.py        the momentum-convention trap: a settling run scored at every step;
                           eval mode's scale with a biased or unbiased running variance
    lesson4_trap_figures.py  the trap's strip figure (seeds side by side, one accuracy axis)
    lesson4_figures.py     tracking panel, activation-panel inputs, estimator figure
    lesson5_why.py         noisy batch norm and its matched-scale control, Santurkar et al.'s
                           measures (at matched steps and at matched loss), drift
    lesson5_figures.py     Figure 1 of the paper, the measures, the noise and grid panels
    lesson6_small_batches.py  every normalization at every normalization batch (ghost batches
                           inside SGD batches of 60), both modes measured
    lesson6_figures.py     the statistics cube, accuracy by normalization batch, r and d, the panel

The line between the engine and this package. The engine (`helpers/*.py`) holds what batch
norm and its training *are*, the same for every lesson: layers and their backward passes,
batch norm's whole lifecycle (Algorithm 1, the running-statistics update, eval mode,
Algorithm 2, folding, setting and restoring running statistics), the training loop, the
finite-difference check, the one integer check. This package holds a lesson's *plumbing*:
the sweeps and grids of runs it shows, what it measures on them, and its figures and
panels. A computation that is the point of a lesson (Algorithm 2, folding, a measure of
Santurkar et al.) belongs in a notebook cell, checked equal to the engine's by an assert.

Arrows run one way: engine <- display <- lessons <- notebooks. Lesson code imports the engine
(`helpers`) and `helpers.display`, and only its own lesson's modules (lesson4_*.py imports
lesson4_*.py), never a private name; a piece two lessons share moves down to the display or
the engine. The checkers (`helpers.check`) import the engine only. tests/test_architecture.py
checks this.

Checked outputs hold on any CPU (the rule; README "For teachers"). numpy's BLAS kernel depends
on the CPU (OpenBLAS's Sandybridge, Haswell, SkylakeX, ...; Accelerate; MKL) and each rounds
sums differently, so a training run's numbers differ by a point or more between machines. A
lesson cell marked `# NBVAL_CHECK_OUTPUT` prints only what every machine computes the same
(hand-sized examples, shapes, closed-form numbers, exact checks such as a gradient check
passing), or a conclusion whose margin is several times the spread across seeds and BLAS
kernels. A claim about training runs is tested in `tests/test_lessonN.py` over at least 3
seeds (or, where the point is one run, that run under 3 kernels) with its margin stated, and
the cell shows the numbers unchecked. `make test-cpus` runs the lessons and those tests under
every OpenBLAS kernel the CPU can run.
"""

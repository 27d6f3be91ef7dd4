"""helpers.lessons: each lesson's own experiments (compute) and figures, named after it.

    lesson1_descent.py     gradient descent on a 2-parameter bowl, gradient noise vs batch size
    lesson1_figures.py     loss surfaces and paths, the path explorer, the noise law
    lesson2_shift.py       internal covariate shift measured (W1 distance), layer-wise training
    lesson2_figures.py     the step scrubber and the shift panel
    lesson3_training.py    plain vs batch norm, sensitivity sweeps, the noise of mu_B
    lesson3_figures.py     sweep, mu_B spread, learned gamma/beta
    lesson4_inference.py   running estimates, momentum conventions, population stats, folding
    lesson4_figures.py     tracking panel, estimator and gap figures
    lesson5_why.py         noisy batch norm, Santurkar et al.'s measures, drift, lr sweep
    lesson5_figures.py     Figure 1 of the paper, the sweep, the measures, the noise panel

Lesson code imports the engine (`helpers`) and `helpers.display`; the engine imports none of it.
"""

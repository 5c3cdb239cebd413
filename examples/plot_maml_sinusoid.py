"""
====================================================
MAML on sine waves: the fit after 0, 1 and 10 steps
====================================================

The regression problem of Finn et al. (2017, section 5.1): every task is a
sine wave :math:`a \\sin(x - \\varphi)` with amplitude :math:`a` in [0.1, 5]
and phase :math:`\\varphi` in [0, :math:`\\pi`], and a model must fit a new
wave from ten points. :class:`~sklearn_meta.MAMLRegressor` meta-learns an
initialisation of a small network from which a few gradient steps on those
ten points give a good fit.

The tasks are named by ``groups``, as in any scikit-learn estimator that
takes groups; ``adapt`` returns a new regressor fitted to the ten points,
and ``n_adapt_steps`` says how many gradient steps it takes.
"""

# sphinx_gallery_thumbnail_number = 2

# %%
# Meta-training
# -------------
# 2,000 meta-updates of 25 tasks each take 15-20 seconds on one CPU core;
# the paper trains for 70,000 (``benchmarks/maml_sinusoid.py`` does, and
# reaches its mean squared errors: 0.355 after one step, 0.116 after ten).
import matplotlib.pyplot as plt
import numpy as np

from sklearn_meta import MAMLRegressor
from sklearn_meta.datasets import make_sinusoids
from sklearn_meta.plotting import TrainingCurveDisplay

X, y, groups = make_sinusoids(n_tasks=5000, n_samples=20, random_state=0)
reg = MAMLRegressor(n_shot=10, max_iter=2000, random_state=0).fit(X, y, groups=groups)

TrainingCurveDisplay.from_estimator(reg, metric="loss")
plt.title("Query loss after one inner step, per 100 meta-updates")
plt.show()

# %%
# Fitting new waves from ten points
# ---------------------------------
# Three waves the model never saw, each with ten points to learn from. The
# curves show the network before any step (the meta-learned initialisation:
# no fit of any one wave, but a start a step or two away from all of them),
# after one step and after ten.
X_new, y_new, task, amplitude, phase = make_sinusoids(
    n_tasks=3, n_samples=10, return_params=True, random_state=7
)
grid = np.linspace(-5, 5, 200).reshape(-1, 1)

fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True, layout="constrained")
for k, ax in enumerate(axes):
    rows = task == k
    ax.plot(
        grid,
        amplitude[k] * np.sin(grid - phase[k]),
        color="0.7",
        lw=4,
        label="true wave",
    )
    for steps, style in ((0, ":"), (1, "--"), (10, "-")):
        fitted = reg.set_params(n_adapt_steps=steps).adapt(X_new[rows], y_new[rows])
        ax.plot(grid, fitted.predict(grid), style, label=f"after {steps} step(s)")
    ax.scatter(X_new[rows], y_new[rows], color="k", zorder=3, label="the 10 points")
    ax.set_title(f"new wave {k + 1}")
    ax.set_xlabel("x")
axes[0].set_ylabel("y")
axes[0].legend(loc="lower left", fontsize="small")
plt.show()

# %%
# How much one step and ten steps buy, over 100 new waves
# --------------------------------------------------------
# Each wave is fitted from 10 points and scored on 50 others.
X_test, y_test, task = make_sinusoids(n_tasks=100, n_samples=60, random_state=1)
steps_list = [0, 1, 2, 5, 10]
mse = []
for steps in steps_list:
    reg.set_params(n_adapt_steps=steps)
    errors = []
    for k in range(100):
        rows = np.flatnonzero(task == k)
        fitted = reg.adapt(X_test[rows[:10]], y_test[rows[:10]])
        errors.append(
            np.mean((fitted.predict(X_test[rows[10:]]) - y_test[rows[10:]]) ** 2)
        )
    mse.append((np.mean(errors), 1.96 * np.std(errors) / np.sqrt(len(errors))))
mean, ci = np.array(mse).T

fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
ax.errorbar(steps_list, mean, yerr=ci, marker="o", capsize=3)
ax.set_xlabel("gradient steps on the 10 points (n_adapt_steps)")
ax.set_ylabel("mean squared error (95 % CI)")
ax.set_title("New waves after 2,000 meta-updates")
plt.show()
for steps, m, c in zip(steps_list, mean, ci):
    print(f"{steps:>2} steps: MSE {m:.3f} ± {c:.3f}")

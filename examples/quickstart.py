"""The README's quick start: explain a small CNN on random sequences with an AP-1 site."""
import matplotlib

matplotlib.use("Agg")

from seqlift import deep_lift_shap, plot_logo, random_one_hot, substitute  # noqa: E402
from seqlift.zoo import SmallCNN  # noqa: E402

model = SmallCNN(seed=0)                                   # any (batch, 4, L) -> (batch, n) model
X = random_one_hot((8, 4, 101), random_state=0).float()    # 8 random sequences, 101 bp
X = substitute(X, "GTGACTCATC")                            # plant an AP-1 site in the middle
attributions = deep_lift_shap(model, X, target=0, n_shuffles=20, random_state=0)
ax = plot_logo(attributions[0], start=30, end=70)          # (4, 101) -> a sequence logo
ax.figure.savefig("quickstart_logo.png", dpi=100)
print(attributions.shape)                                  # torch.Size([8, 4, 101])

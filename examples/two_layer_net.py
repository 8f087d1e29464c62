"""The notes' two-layer network, written as PyTorch code.

N=64 samples of D_in=1000 random features, a hidden layer of H=100 ReLU units, D_out=10
outputs, squared-error loss, plain SGD on the weights: the loop from the notes, with the
gradients computed by backward() instead of by hand.

    EXAMPLE_LIB=gpugrad python examples/two_layer_net.py [--steps 500] [--device cpu]
    EXAMPLE_LIB=torch python examples/two_layer_net.py
"""

import argparse

import common

torch = common.library()  # the one line that differs from PyTorch: EXAMPLE_LIB=torch|gpugrad


def initial(seed=0, device=None, dtype=None):
    """The random data and weights: x, y, w1, w2."""
    torch.manual_seed(seed)
    N, D_in, H, D_out = 64, 1000, 100, 10
    sizes = {"x": (N, D_in), "y": (N, D_out), "w1": (D_in, H), "w2": (H, D_out)}
    return {k: torch.randn(*size, device=device, dtype=dtype) for k, size in sizes.items()}


def train(steps=500, lr=1e-6, device=None, seed=0, log_every=100, init=None, dtype=None):
    """The loss after each step (floats); ``init`` (name -> array) replaces the random start."""
    if init is None:
        start = initial(seed, device, dtype)
    else:
        start = {k: torch.tensor(v, device=device, dtype=dtype) for k, v in init.items()}
    x, y = start["x"], start["y"]
    w1, w2 = start["w1"].requires_grad_(), start["w2"].requires_grad_()
    losses = []
    for t in range(steps):
        y_pred = x.mm(w1).clamp(min=0).mm(w2)  # f = W2 max(0, W1 x)
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            w1 -= lr * w1.grad
            w2 -= lr * w2.grad
            w1.grad.zero_()
            w2.grad.zero_()
        losses.append(loss.item())
        if log_every and t % log_every == 0:
            print(f"step {t:4d}  loss {losses[-1]:.2f}")
    return losses


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--device", default=None)
    args = p.parse_args()
    final = train(args.steps, device=args.device)[-1]
    print(f"final loss {final:.4f}")

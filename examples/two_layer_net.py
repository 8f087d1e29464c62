"""The notes' two-layer network, written with gpugrad.

N=64 samples of D_in=1000 random features, a hidden layer of H=100 ReLU units, D_out=10
outputs, squared-error loss, plain SGD on the weights — the loop from the notes, with
the gradients computed by backward() instead of by hand.

    python examples/two_layer_net.py [--steps 500] [--device cpu]
"""

import argparse

import gpugrad as gg


def train(steps: int = 500, lr: float = 1e-6, device=None, seed: int = 0, log_every: int = 100):
    """Returns the loss after each step (floats)."""
    gg.manual_seed(seed)
    N, D_in, H, D_out = 64, 1000, 100, 10
    x = gg.randn(N, D_in, device=device)
    y = gg.randn(N, D_out, device=device)
    w1 = gg.randn(D_in, H, device=device, requires_grad=True)
    w2 = gg.randn(H, D_out, device=device, requires_grad=True)
    losses = []
    for t in range(steps):
        y_pred = (x @ w1).relu() @ w2  # f = W2 max(0, W1 x)
        loss = ((y_pred - y) ** 2).sum()
        w1.grad = w2.grad = None
        loss.backward()
        with gg.no_grad():
            w1 -= lr * w1.grad
            w2 -= lr * w2.grad
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

"""A small CNN on the shipped 8x8 digits, written as PyTorch code.

    EXAMPLE_LIB=gpugrad python examples/digits_cnn.py --epochs 5
    EXAMPLE_LIB=torch python examples/digits_cnn.py --epochs 5

Two 3x3 convolutions (8 and 16 channels, 'same' padding), each followed by ReLU and a 2x2
max pool (8x8 -> 4x4 -> 2x2), then a linear layer to the 10 classes.
"""

import common

torch = common.library()  # the one line that differs from PyTorch: EXAMPLE_LIB=torch|gpugrad
nn = torch.nn
F = torch.nn.functional


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.fc = nn.Linear(16 * 2 * 2, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


def run(**kwargs):
    return common.run(torch, Net, **kwargs)


if __name__ == "__main__":
    common.main(torch, Net, __doc__)

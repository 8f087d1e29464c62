"""gpugrad's CUDA kernels, launched with CuPy: one launcher module per ``kernels/*.cu``
file, and ``_build`` for what they share (sources, compile cache, launch configuration,
argument checks, the checks deferred to the next host read).

    activation             activations and bias + activation, forward and backward
    dropout                inverted dropout on Philox4x32-10, forward and backward
    softmax_cross_entropy  the fused softmax cross-entropy, forward and backward
    optimizer              SGD and Adam/AdamW steps, in place
    zero_grad              zero_grad(set_to_none=False): the gradients zeroed in one launch

Every launcher takes and returns CuPy arrays and never synchronizes.  Importing this
package works without CUDA; cupy is imported at the first launch.
"""

from . import activation, dropout, optimizer, softmax_cross_entropy, zero_grad
from ._build import (
    COMPILE_OPTIONS,
    KERNELS,
    SUFFIX,
    check_deferred_flags,
    defer_flag,
    defer_flags,
    header_sources,
    kernel_sources,
    module_source,
    pending_flags,
    source_dir,
)

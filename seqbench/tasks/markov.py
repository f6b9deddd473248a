"""A synthetic language with a long lag: next-token prediction where the only useful context
is the token ``L`` steps back, and the best achievable loss is known exactly.

The process. Tokens ``s_0, s_1, …`` over a vocabulary of ``V``: the first ``L`` are drawn
uniformly and independently; after that ``s_t`` is drawn from row ``s_{t-L}`` of the
transition matrix

    P = (1 - ε) Π + ε U,      U = 1/V everywhere,

where ``Π`` is a permutation matrix drawn once from ``transition_seed`` and ``ε`` the
``noise``: with probability ``1 - ε`` the token is ``π(s_{t-L})``, otherwise a uniform draw.
``P`` is doubly stochastic, so the uniform distribution is stationary and every ``s_t`` is
uniform on its own. The sequence is ``L`` interleaved, mutually independent Markov chains
(one per residue of ``t`` mod ``L``): tokens whose distance is not a multiple of ``L`` are
independent, and ``s_t`` given the whole past depends on ``s_{t-L}`` alone.

The task. The model sees ``x = s_0 … s_{T-1}`` and predicts ``y = s_1 … s_T``; the loss is
the mean cross-entropy over all ``T`` steps. At step ``i`` the target ``s_{i+1}`` has its
lag-``L`` predecessor ``s_{i+1-L}`` in view iff ``i ≥ L - 1``; the first ``L - 1`` targets
are independent of everything seen and cost ``ln V`` at best.

The numbers (natural logs; ``a = 1 - ε + ε/V`` is the probability of ``π(s_{t-L})``,
``b = ε/V`` that of each other token):

- entropy rate (the expected loss of a step whose predecessor is in view)
  ``H = -Σ_j P_ij ln P_ij = -(a ln a + (V - 1) b ln b)`` (every row has the same entropy);
- optimum ``((L - 1) ln V + (T - L + 1) H) / T``, reached by predicting ``P[s_{i+1-L}]``;
- baseline ``ln V``: the unigram (uniform, as the stationary distribution is uniform) model;
- best accuracy ``((L - 1)/V + (T - L + 1) a) / T``.

Solved: loss within 5 % of the baseline–optimum gap of the optimum.
Sampling is vectorized over time too: along each chain, ``s_t = π^j(u)`` where ``u`` is the
uniform draw at the chain's latest reset (a noise draw or one of the first ``L`` steps) and
``j`` the number of lag steps since it.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from seqbench.hookspecs import hookimpl
from seqbench.tasks.base import TokenTask, int_param

SOLVED_GAP_FRACTION = 0.05


class MarkovTask(TokenTask):
    any_length = True  # defined at every T: a model trained at one T can be evaluated at another
    solved_metric = "loss"
    solved_higher_is_better = False
    baseline_description = "unigram model: uniform over the vocabulary (ln V)"

    def __init__(self, length: int, lag: int = 16, vocab: int = 16, noise: float = 0.1,
                 transition_seed: int = 0) -> None:
        import torch

        super().__init__(length)
        self.lag = int_param("markov", "lag", lag, 1)
        self.vocab = int_param("markov", "vocab", vocab, 2)
        self.transition_seed = int_param("markov", "transition_seed", transition_seed, 0)
        if lag >= length:
            raise ValueError(f"markov: lag ({lag}) must be smaller than the length T = {length}, "
                             "or no target has its lag-L predecessor in view")
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0.0 <= noise <= 1.0:
            raise ValueError(f"markov: noise must be a number in [0, 1], got {noise!r}")
        self.noise = float(noise)
        self.input_size = vocab
        self.output_size = vocab

        perm = torch.randperm(vocab, generator=torch.Generator().manual_seed(transition_seed))
        self.permutation = perm  # π: token a is followed (at lag L) by perm[a] unless noise strikes
        # powers[j, a] = π^j(a) for every j a sequence of length T + 1 can need (by doubling)
        steps = -(-(length + 1) // lag)
        powers = torch.arange(vocab).unsqueeze(0)
        while powers.shape[0] < steps:
            last = perm[powers[-1]]  # π^n with n = powers.shape[0]
            powers = torch.cat((powers, powers[:, last]))
        self._powers = powers[:steps].contiguous()
        self._on_device: dict[str, Any] = {}

        self.solved_threshold = self.optimum + SOLVED_GAP_FRACTION * (self.baseline - self.optimum)

    # -- the process --------------------------------------------------------------------

    @property
    def transition(self) -> Any:
        """``P`` as a (V, V) float64 tensor: ``P[a, b]`` = Pr(s_t = b | s_{t-L} = a)."""
        import torch

        V = self.vocab
        P = torch.full((V, V), self.noise / V, dtype=torch.float64)
        P[torch.arange(V), self.permutation] += 1.0 - self.noise
        return P

    @property
    def entropy_rate(self) -> float:
        """Entropy (nats) of a token given its lag-L predecessor: the per-step optimum."""
        V, eps = self.vocab, self.noise
        a, b = 1.0 - eps + eps / V, eps / V
        return -(_xlogx(a) + (V - 1) * _xlogx(b))

    @property
    def informative_steps(self) -> int:
        """Scored steps whose target's lag-L predecessor is in view (``T - L + 1``)."""
        return self.length - self.lag + 1

    @property
    def optimal_accuracy(self) -> float:
        V, T = self.vocab, self.length
        top = 1.0 - self.noise + self.noise / V
        return ((self.lag - 1) / V + self.informative_steps * top) / T

    # -- data ---------------------------------------------------------------------------

    def sample(self, batch_size: int, generator: Any, device: Any) -> tuple[Any, Any]:
        import torch

        B, L, V, T = batch_size, self.lag, self.vocab, self.length
        M = self._powers.shape[0]  # rows of the (M, L) grid: position = m * L + r
        powers = self._powers_on(device)
        draws = torch.randint(0, V, (B, M, L), generator=generator, device=device)
        reset = torch.rand(B, M, L, generator=generator, device=device) < self.noise
        reset[:, 0] = True  # the first L tokens are uniform draws
        rows = torch.arange(M, device=device).view(1, M, 1).expand(B, M, L)
        last = torch.where(reset, rows, torch.zeros_like(rows)).cummax(dim=1).values
        start = draws.gather(1, last)
        s = powers.view(-1)[(rows - last) * V + start].reshape(B, M * L)[:, : T + 1]
        return s[:, :T], s[:, 1:]

    def _powers_on(self, device: Any) -> Any:
        import torch

        key = str(torch.device(device))
        if key not in self._on_device:
            self._on_device[key] = self._powers.to(device)
        return self._on_device[key]

    # -- reference points ---------------------------------------------------------------

    @property
    def baseline(self) -> float:
        return math.log(self.vocab)

    def baseline_output(self, x: Any) -> Any:
        import torch

        return torch.zeros(x.shape[0], self.length, self.output_size)

    @property
    def optimum(self) -> Optional[float]:
        T = self.length
        return ((self.lag - 1) * math.log(self.vocab) + self.informative_steps * self.entropy_rate) / T

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "entropy_rate": self.entropy_rate,
                "optimal_accuracy": self.optimal_accuracy}


def _xlogx(p: float) -> float:
    return p * math.log(p) if p > 0 else 0.0


@hookimpl
def seqbench_register_tasks(register):
    register("markov", MarkovTask,
             description="lag-16 Markov language over 16 tokens (noisy permutation): next-token "
                         "cross-entropy, exact optimum known")

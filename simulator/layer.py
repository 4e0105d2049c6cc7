r"""The first layer as a Brian2 network of rate neurons, built once and re-run.

Groups and pathways (``T`` is one presentation, ``dt`` the time step):

- ``inputs`` (N neurons, clock ``T``): pixel intensities :math:`v_i` of the image
  presented now, read from two TimedArrays (the images, fixed at build time, and
  the presentation order, passed anew each epoch). A custom event ``present``
  fires once per presentation for each pixel with :math:`v_i > 0`.
- ``synapses`` (N x K, all to all): weight ``w`` = :math:`W_{\mu i}` and the
  effective weight ``w_eff`` = :math:`\mathrm{sign}(W)|W|^{p-1}`. The pre pathway
  adds ``w_eff * v_pre`` into the drive :math:`I_\mu`; only active pixels cost
  anything. The post pathway applies plasticity at the end of a presentation.
- ``hidden`` (K neurons, clock ``dt``):
  :math:`\tau\, dh_\mu/dt = I_\mu - w_{inh} \sum_{\nu \ne \mu} r(h_\nu) - h_\mu`,
  integrated with forward Euler; ``h`` and ``I`` are reset to zero at the start of
  each presentation.
- ``pool`` (one neuron): a summed variable collects :math:`\sum_\nu r(h_\nu)` and a
  linked variable brings it back to every hidden unit: global inhibition in O(K)
  per step.

At the last step of a presentation each hidden unit with :math:`g(h) \ne 0` emits
the custom event ``learn``; its post pathway applies, to that unit's row only,

.. math:: W_{\mu i} \leftarrow W_{\mu i} + \eta_t\, g(h_\mu)\,
          (R^p v_i - I_\mu W_{\mu i}),

the end-of-presentation limit of
:math:`\tau_L\, dW/dt = g(h)(R^p v - I W)` with :math:`\eta = T / \tau_L`.

Timing within a presentation of ``n`` steps: at its first step ``h`` and ``I`` are
zeroed (slot ``start``), the state update then leaves ``h = 0``, and the drive
arrives in slot ``synapses``; the next ``n - 1`` steps integrate ``h``; at the
last step the ``learn`` event sees the settled ``h`` and the same image ``v``
(thresholds and synapses come after the state update within a step).
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..models.params import LayerParams
from . import devices

logger = logging.getLogger(__name__)

# Brian2's standalone device is one per process: building a layer resets it, and
# an older layer can no longer run or read its results. Each build takes a number.
_builds = {"latest": 0}


@dataclass
class PresentationLog:
    """What the network reports for one run over a sequence of presentations.

    Every array has one entry per ``learn`` event, i.e. per unit with
    :math:`g(h) \\ne 0` at the end of a presentation.

    Attributes
    ----------
    presentation : ndarray of int, shape (E,)
        Index of the presentation within the run.
    unit : ndarray of int, shape (E,)
        Hidden unit.
    h : ndarray of float, shape (E,)
        Steady-state :math:`h` at the end of the presentation.
    residual : ndarray of float, shape (E,)
        :math:`\\tau |dh/dt|` at the end of the presentation (same unit as h).
    n_presentations : int
        Presentations in the run.
    wall_time_s : float
        Wall-clock time of the run, in seconds.
    """

    presentation: np.ndarray
    unit: np.ndarray
    h: np.ndarray
    residual: np.ndarray
    n_presentations: int
    wall_time_s: float

    def active_counts(self) -> np.ndarray:
        """Number of units with :math:`h > 0` per presentation, shape (P,)."""
        return np.bincount(self.presentation, minlength=self.n_presentations)

    def max_residual(self) -> np.ndarray:
        """Largest residual among the active units per presentation, shape (P,)."""
        out = np.zeros(self.n_presentations)
        np.maximum.at(out, self.presentation, self.residual)
        return out


def _effective_weight_expr(p: float) -> str:
    # Integer exponents avoid pow(), which dominates the plasticity cost otherwise.
    if p == 2:
        return "w"
    if p == 3:
        return "w * abs(w)"
    return "sign(w) * abs(w)**(p - 1)"


def effective_weights(W: np.ndarray, p: float) -> np.ndarray:
    """Return :math:`\\mathrm{sign}(W)|W|^{p-1}`, the weights the drive uses."""
    if p == 2:
        return W.copy()
    if p == 3:
        return W * np.abs(W)
    return np.sign(W) * np.abs(W) ** (p - 1)


def _rank_function(k: int, n_steps: int):
    """A Brian2 function returning the largest (0) or k-th largest (1) hidden h.

    Brian2's abstract code has no population sort, so this C++ implementation
    reads the hidden group's state array directly (C++ standalone names it
    ``brian::_array_hidden_h``). It ranks once, at a presentation's last step,
    keeping the k largest values in insertion order; other steps return 0.
    """
    import brian2 as b2

    code = f"""
    static double hebbsim_rank_value(const int which, const int64_t step)
    {{
        static int64_t cached = -1;
        static double top = 0.0, kth = 0.0;
        if (step % {n_steps} != {n_steps - 1})
            return 0.0;
        if (step != cached)
        {{
            double best[{k}];
            int filled = 0;
            const double* h = brian::_array_hidden_h;
            const int n = brian::_num__array_hidden_h;
            for (int j = 0; j < n; j++)
            {{
                const double x = h[j];
                int pos;
                if (filled < {k})
                    pos = filled++;
                else if (x > best[{k - 1}])
                    pos = {k - 1};
                else
                    continue;
                while (pos > 0 && best[pos - 1] < x)
                {{
                    best[pos] = best[pos - 1];
                    pos--;
                }}
                best[pos] = x;
            }}
            top = best[0];
            kth = best[{k - 1}];
            cached = step;
        }}
        return which == 0 ? top : kth;
    }}
    """

    @b2.implementation("cpp", code)
    @b2.check_units(which=1, step=1, result=1)
    def hebbsim_rank_value(which, step):
        raise NotImplementedError("hebbsim_rank_value exists in C++ only")

    return hebbsim_rank_value


def _rate_sum_function(n: float):
    """``hebbsim_rate_sum()``: the sum of r(h) over the hidden array, in C++."""
    import brian2 as b2

    term = "(x > 0.0 ? x : 0.0)" if n == 1 else f"(x > 0.0 ? pow(x, {n!r}) : 0.0)"
    code = f"""
    static inline double hebbsim_rate_sum()
    {{
        const double* h = brian::_array_hidden_h;
        const int n = brian::_num__array_hidden_h;
        double total = 0.0;
        for (int j = 0; j < n; j++)
        {{
            const double x = h[j];
            total += {term};
        }}
        return total;
    }}
    """

    @b2.implementation("cpp", code)
    @b2.check_units(result=1)
    def hebbsim_rate_sum():
        raise NotImplementedError("hebbsim_rate_sum exists in C++ only")

    return hebbsim_rate_sum


def _ranked_value_functions() -> dict:
    """``ranked_top()`` and ``ranked_kth()``: the ranker's values, read in C++.

    Linked variables of a postsynaptic group cannot be reached from a synaptic
    pathway, so g reads the ranker's state through these global-array readers.
    """
    import brian2 as b2

    def reader(name: str, var: str):
        code = f"""
        static inline double {name}()
        {{
            return brian::_array_ranker_{var}[0];
        }}
        """

        @b2.implementation("cpp", code)
        @b2.check_units(result=1)
        def func():
            raise NotImplementedError(f"{name} exists in C++ only")

        func.__name__ = name
        return func

    return {
        "ranked_top": reader("ranked_top", "top_h"),
        "ranked_kth": reader("ranked_kth", "kth_h"),
    }


class BrianLayer:
    """The first layer as a Brian2 network, built once for a set of images.

    Parameters
    ----------
    params : LayerParams
        Model parameters (``tau_ms``, ``settle_tau`` and ``dt_tau`` set the
        clock: :math:`T = \\mathrm{settle\\_tau}\\,\\tau`,
        :math:`dt = \\mathrm{dt\\_tau}\\,\\tau`).
    images : ndarray, shape (M, N)
        Every image that may be presented, pixel values in [0, 1].
    n_presentations : int
        Presentations per run (one epoch is one run).
    device : {"cpu", "cuda", "runtime"}
        Brian2 target (see :func:`hebbsim.simulator.devices.activate`).
    directory : path, optional
        Standalone project directory; a temporary one by default.
    threads : int, optional
        OpenMP threads for ``device="cpu"``.
    compile : bool
        Compile the standalone project (``False`` only generates the code).
    compute_capability : float, optional
        For ``device="cuda"`` on a machine without a GPU.
    record_units : sequence of int, optional
        Hidden units whose ``h``, ``r`` and ``I`` are recorded at every step of
        every presentation of the run (traces).
    profile : bool
        Collect Brian2's per-code-object timings (``brian2.profiling_summary``).
    reference : bool
        Build the plain Brian2 formulation instead of the C++ shortcuts of
        ``device="cpu"`` (a summed variable for the pool, a learn condition that
        evaluates g): the same model, kept as the benchmark baseline and as the
        formulation the CUDA and runtime targets use.

    Notes
    -----
    Brian2 has one standalone device per process: building a layer makes the
    previously built one unusable (``present`` then raises ``RuntimeError``).

    The ranking form of g needs the k-th largest steady state, a population sort
    that Brian2's abstract code cannot express; it runs through a C++ function
    that reads the hidden state array, so on ``device="cpu"`` only. TODO: CUDA
    and Cython versions of that function.
    """

    def __init__(
        self,
        params: LayerParams,
        images: np.ndarray,
        *,
        n_presentations: int,
        device: str = "cpu",
        directory: str | Path | None = None,
        threads: int | None = None,
        compile: bool = True,
        compute_capability: float | None = None,
        record_units: list[int] | None = None,
        profile: bool = False,
        reference: bool = False,
    ) -> None:
        images = np.asarray(images, dtype=np.float64)
        if images.ndim != 2 or images.shape[0] < 1 or images.shape[1] < 1:
            raise ValueError(
                f"images must have shape (M, N) with M, N >= 1, got {images.shape}"
            )
        if not np.all(np.isfinite(images)):
            raise ValueError("images contain NaN or infinite values")
        if n_presentations < 1:
            raise ValueError(f"n_presentations must be >= 1, got {n_presentations}")
        if params.g_form == "ranking" and device != "cpu":
            raise NotImplementedError(
                f"the ranking form of g runs on device='cpu' only (a C++ "
                f"function ranks the steady states), got device={device!r}; use "
                f"g_form='threshold' or the fast engine"
            )
        params.validate(n_inputs=images.shape[1])
        if params.w_inh >= 1:
            logger.warning(
                "w_inh = %g >= 1: the steady state is no longer unique (winner-take-"
                "all states coexist) and depends on the path the dynamics take; "
                "use w_inh < 1 for results the exact solver can check",
                params.w_inh,
            )
        self.params = params
        self.device = device
        self.n_images, self.N = images.shape
        self.K = params.K
        self.n_presentations = n_presentations
        self.record_units = list(record_units or [])
        self.reference = reference or device != "cpu"
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hebbsim-brian2-")
            directory = Path(self._tmp.name) / "project"
        self.directory = Path(directory)
        devices.activate(
            device,
            directory=self.directory,
            threads=threads,
            compute_capability=compute_capability,
        )
        self._images_array = images
        _builds["latest"] += 1
        self._build_id = _builds["latest"]
        t0 = time.perf_counter()
        self._build_network(images, np.zeros(n_presentations))
        self._compiled = False
        if device != "runtime":
            import brian2

            self.net.run(self._duration, namespace=self._namespace, profile=profile)
            brian2.device.build(
                directory=str(self.directory), compile=compile, run=False
            )
            self._compiled = compile
        self.build_time_s = time.perf_counter() - t0
        logger.info(
            "built Brian2 layer K=%d N=%d on %s in %.1f s (%d steps per presentation)",
            self.K,
            self.N,
            device,
            self.build_time_s,
            params.steps_per_presentation,
        )

    def _build_network(self, images: np.ndarray, order: np.ndarray) -> None:
        import brian2 as b2
        from brian2 import ms

        prm = self.params
        K, N = self.K, self.N
        n_steps = prm.steps_per_presentation
        tau = prm.tau_ms * ms
        dt = prm.dt_tau * tau
        T = n_steps * dt
        self._T = T
        self._duration = self.n_presentations * T
        b2.defaultclock.dt = dt

        # Images and the order they are shown in. The order is a TimedArray of
        # image indices so that an epoch passes P numbers, not P x N pixels.
        self._images = b2.TimedArray(images, dt=T, name="images")
        self._order = b2.TimedArray(
            np.asarray(order, dtype=np.float64), dt=T, name="order"
        )
        ns = {
            "images": self._images,
            "order": self._order,
            "T_pres": T,
            "tau": tau,
            "w_inh": prm.w_inh,
            "h_star": prm.h_star,
            "delta": prm.delta,
            "Rp": prm.R**prm.p,
            "p": prm.p,
            "n_rate": prm.n,
            "n_steps": n_steps,
            "t_run": self._duration,
        }
        self._namespace = ns

        # From here on: inputs hold image order[k] during presentation k. v is
        # a state variable set once per presentation on the slow clock, not a
        # subexpression of t: in a synaptic pathway a presynaptic expression sees
        # the presynaptic clock's t, which on the slow clock has already moved
        # on to the next presentation when the end-of-presentation plasticity
        # runs. Lookups at (k + 1/4) T stay inside sample k whichever clock's
        # rounding applies.
        inputs = b2.NeuronGroup(
            N,
            "v : 1",
            events={"present": "v > 0"},
            dt=T,
            namespace=ns,
            name="inputs",
        )
        inputs.run_regularly(
            "v = images(T_pres * (order(t + 0.25 * T_pres) + 0.25), i)",
            when="start",
            name="show_image",
        )

        rate = "clip(h, 0, inf)" if prm.n == 1 else "clip(h, 0, inf)**n_rate"
        if prm.g_form == "threshold":
            g_eqs = "g = int(h >= h_star) - delta * int(h > 0) * int(h < h_star) : 1"
        else:
            # Ranking form: the top steady state gets +1, the k-th -delta. The
            # order of h at steady state is the order of I (global inhibition).
            g_eqs = (
                "g = int(h >= ranked_top()) - delta * int(h == ranked_kth())"
                " * int(h < ranked_top()) : 1"
            )
            ns.update(_ranked_value_functions())
        # The learn condition is evaluated on every unit at every step. Written
        # as one comparison of h with a gate that is scalar per step (hoisted
        # out of the loop by Brian2), it costs a compare per unit; the plain
        # "last step and g != 0" evaluated g everywhere and took 27% of the run
        # (K = 2000, profile in results/benchmarks.md). Units between the top
        # and the k-th of the ranking form pass the gate with g = 0: a no-op.
        gate = "1e300 * int(timestep(t, dt) % n_steps != n_steps - 1)"
        if self.reference and prm.g_form == "threshold":
            learn_condition = "(timestep(t, dt) % n_steps == n_steps - 1) and g != 0"
        elif prm.g_form == "threshold":
            learn_condition = f"h > {gate}"  # g != 0 exactly when h > 0
        else:
            learn_condition = f"h >= ranked_kth() + {gate}"
        hidden_eqs = f"""
        dh/dt = (I - w_inh * (inh - r) - h) / tau : 1
        r = {rate} : 1
        {g_eqs}
        dhdt_tau = abs(I - w_inh * (inh - r) - h) : 1
        I : 1
        inh : 1 (linked)
        """
        hidden = b2.NeuronGroup(
            K,
            hidden_eqs,
            method="euler",
            events={"learn": learn_condition},
            namespace=ns,
            name="hidden",
        )
        # Slow clock: zeroing h and I costs K operations once per presentation.
        hidden.run_regularly("h = 0\nI = 0", dt=T, when="start", name="reset")

        objects = []
        if prm.g_form == "ranking":
            # After the state update of a presentation's last step, and before
            # the learn event is evaluated, a C++ function finds the largest and
            # the k-th largest h: O(K k) once per presentation.
            ns["hebbsim_rank_value"] = _rank_function(prm.k, n_steps)
            ranker = b2.NeuronGroup(
                1, "top_h : 1\nkth_h : 1", namespace=ns, name="ranker"
            )
            ranker.run_regularly(
                "top_h = hebbsim_rank_value(0, timestep(t, dt))\n"
                "kth_h = hebbsim_rank_value(1, timestep(t, dt))",
                when="before_thresholds",
                name="rank",
            )
            objects.append(ranker)

        # Global inhibition through a one-neuron pool: total = sum_nu r(h_nu),
        # brought back to every unit by a linked variable.
        pool = b2.NeuronGroup(1, "total : 1", namespace=ns, name="pool")
        if not self.reference:
            # Brian2's summed-variable template accumulates through the target
            # array, a store per synapse that cannot stay in a register; it took
            # 31% of a K = 2000 run. On C++ a vectorisable loop over the state
            # array computes the same sum before the state update.
            ns["hebbsim_rate_sum"] = _rate_sum_function(prm.n)
            pool.run_regularly(
                "total = hebbsim_rate_sum()", when="before_groups", name="pool_sum"
            )
            objects.append(pool)
        else:
            to_pool = b2.Synapses(
                hidden, pool, "total_post = r_pre : 1 (summed)", name="to_pool"
            )
            to_pool.connect(i=np.arange(K), j=np.zeros(K, dtype=int))
            objects += [pool, to_pool]
        hidden.inh = b2.linked_var(pool, "total", index=np.zeros(K, dtype=int))

        # Input weights, ordered input-major (index i * K + mu) so that the drive
        # pathway, the hot path, walks memory contiguously.
        w_eff = _effective_weight_expr(prm.p)
        syn = b2.Synapses(
            inputs,
            hidden,
            """
            w : 1
            w_eff : 1
            eta_start : 1 (shared)
            eta_end : 1 (shared)
            """,
            on_pre={"pre": "I_post += w_eff * v_pre"},
            on_post={
                "post": f"""
                eta_t = eta_start + (eta_end - eta_start) * t / t_run
                w += eta_t * g_post * (Rp * v_pre - I_post * w)
                w_eff = {w_eff}
                """
            },
            on_event={"pre": "present", "post": "learn"},
            namespace=ns,
            name="synapses",
        )
        syn.connect(i=np.repeat(np.arange(N), K), j=np.tile(np.arange(K), N))

        # Per-presentation record: one entry per learning unit.
        learn_mon = b2.EventMonitor(
            hidden, "learn", variables=["h", "dhdt_tau", "g"], name="learn_mon"
        )
        objects += [inputs, hidden, syn, learn_mon]
        self._trace_mon = None
        if self.record_units:
            self._trace_mon = b2.StateMonitor(
                hidden, ["h", "r", "I"], record=self.record_units, name="traces"
            )
            objects.append(self._trace_mon)
        self.net = b2.Network(*objects)
        self._syn, self._hidden, self._learn_mon = syn, hidden, learn_mon

    def present(
        self,
        W: np.ndarray,
        order: np.ndarray,
        *,
        eta_start: float,
        eta_end: float,
    ) -> tuple[np.ndarray, PresentationLog]:
        """Run one sequence of presentations and return the new weights.

        Parameters
        ----------
        W : ndarray, shape (K, N)
            Weights at the start of the run.
        order : ndarray of int, shape (P,)
            Indices into ``images`` of the images to present, in order.
        eta_start, eta_end : float
            Learning rate at the start and at the end of the run; it changes
            linearly in between.

        Returns
        -------
        W : ndarray, shape (K, N)
            Weights after the run.
        log : PresentationLog
            Steady states and residuals of the learning units.
        """
        if self._build_id != _builds["latest"] and self.device != "runtime":
            raise RuntimeError(
                "a later BrianLayer was built in this process, which reset Brian2's "
                "standalone device; build this layer again to run it"
            )
        W = np.asarray(W, dtype=np.float64)
        if W.shape != (self.K, self.N):
            raise ValueError(
                f"W must have shape (K, N) = ({self.K}, {self.N}), got {W.shape}"
            )
        if not np.all(np.isfinite(W)):
            raise ValueError("W contains NaN or infinite values")
        order = np.asarray(order)
        if order.shape != (self.n_presentations,):
            raise ValueError(
                f"order must have shape ({self.n_presentations},), got {order.shape}"
            )
        if order.size and (order.min() < 0 or order.max() >= self.n_images):
            raise ValueError(
                f"order indexes images 0..{self.n_images - 1}, got values "
                f"{order.min()}..{order.max()}"
            )
        w = np.ascontiguousarray(W.T).ravel()  # (N * K,) input-major
        w_eff = effective_weights(w, self.params.p)
        t0 = time.perf_counter()
        if self.device == "runtime":
            self._run_runtime(w, w_eff, order, eta_start, eta_end)
        else:
            import brian2

            if not self._compiled:
                raise RuntimeError(
                    "this layer was built with compile=False; it cannot run"
                )
            brian2.device.run(
                run_args={
                    self._syn.w: w,
                    self._syn.w_eff: w_eff,
                    self._syn.eta_start: float(eta_start),
                    self._syn.eta_end: float(eta_end),
                    self._order: order.astype(np.float64),
                },
                with_output=False,
            )
            self._forget_run_args()
        wall = time.perf_counter() - t0
        W_new = np.asarray(self._syn.w[:]).reshape(self.N, self.K).T.copy()
        mon = self._learn_mon
        step = np.asarray(mon.t_[:]) / float(self._T)
        # Units that passed the learn gate with g = 0 (between the top and the
        # k-th unit of the ranking form) did not learn; leave them out.
        keep = np.asarray(mon.g[:]) != 0
        log = PresentationLog(
            presentation=np.floor(step[keep] + 1e-9).astype(np.int64),
            unit=np.asarray(mon.i[:])[keep].astype(np.int64),
            h=np.asarray(mon.h[:], dtype=np.float64)[keep],
            residual=np.asarray(mon.dhdt_tau[:], dtype=np.float64)[keep],
            n_presentations=self.n_presentations,
            wall_time_s=wall,
        )
        return W_new, log

    def traces(self) -> dict[str, np.ndarray]:
        """Recorded ``t`` (s), ``h``, ``r`` and ``I`` of ``record_units``, last run.

        Returns
        -------
        dict
            ``t`` shape (S,) in seconds; ``h``, ``r``, ``I`` shape (U, S),
            dimensionless. A monitor records at the start of each step, before the
            state update.
        """
        if self._trace_mon is None:
            raise ValueError("no units were recorded: pass record_units=[...]")
        mon = self._trace_mon
        return {
            "t": np.asarray(mon.t_[:]),
            "h": np.asarray(mon.h[:]),
            "r": np.asarray(mon.r[:]),
            "I": np.asarray(mon.I[:]),
        }

    def _run_runtime(self, w, w_eff, order, eta_start, eta_end) -> None:
        # Runtime mode has no run_args: a fresh network (Cython code is cached
        # on disk, so this costs milliseconds after the first time) gets the
        # values, then runs in this process from t = 0.
        self._build_network(self._images_array, order)
        self._syn.w = w
        self._syn.w_eff = w_eff
        self._syn.eta_start = float(eta_start)
        self._syn.eta_end = float(eta_end)
        self.net.run(self._duration, namespace=self._namespace)

    def _forget_run_args(self) -> None:
        # Each run writes its arrays into static_arrays/ under a content hash;
        # removing them keeps a long training run from filling the disk.
        import brian2

        static = self.directory / "static_arrays"
        for name in list(getattr(brian2.device, "run_args_arrays", [])):
            for path in static.glob(name + "*"):
                path.unlink(missing_ok=True)

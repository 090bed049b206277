"""This repository's studies: the reproduction of the paper and the comparisons the book reports.

:mod:`.harness` is shared by all of them (the committed networks, their training data,
calibrated machines, summaries); then one module per study (:mod:`.reproduce`,
:mod:`.standing`, :mod:`.mechanisms`, :mod:`.handling`, :mod:`.dictionary_size`,
:mod:`.recipes`, :mod:`.colour`, :mod:`.bench`), the sizes (:mod:`.presets`), the paper's
numbers (:mod:`.paper`) and where the committed artifacts live (:mod:`.artifacts`). The
studies import the library and the book's helpers; the command line (:mod:`els.cli`) runs them.
"""

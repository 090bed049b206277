"""The book's helper code: figures (:mod:`.plotting`, one palette) and sliders (:mod:`.widgets`).

It imports the library only; the studies and the chapters import it."""

"""The engine under every machine (book appendix, §A.3): patches and dictionaries of training
windows (:mod:`.patches`), the chunked online softmax average of window centres
(:mod:`.softmax`) and its same-location special case (:mod:`.same_location`)."""
from .patches import Dictionary, window_view
from .same_location import Box, same_location_average
from .softmax import DEFAULT_CHUNK_BYTES, OnlineSoftmax, chunk_length, softmax_average

__all__ = ["Dictionary", "window_view", "Box", "same_location_average", "DEFAULT_CHUNK_BYTES", "OnlineSoftmax",
           "chunk_length", "softmax_average"]

"""The one error type that the data-set readers raise for bad files or arguments."""


class DatasetError(ValueError):
    """A data file or data-set argument is missing, malformed or inconsistent.

    A subclass of :class:`ValueError`, so callers that already catch bad input as
    ``ValueError`` (the command line does) need nothing new. The message names the file
    or argument, the value found and what was expected.
    """

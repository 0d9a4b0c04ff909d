"""Keyword arguments renamed in the public API: the old name keeps working for one release,
with a DeprecationWarning naming the new one."""
from __future__ import annotations

import warnings


def renamed_keyword(new_value, old_value, *, new: str, old: str, function: str, default=None):
    """The value of the keyword ``new``, also given as the deprecated ``old`` (``old_value``
    None when it was not). Both given (``new_value`` not its default) is a TypeError.

    >>> renamed_keyword(50, None, new="n_reps", old="n_boot", function="f")
    50
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     renamed_keyword(0, 20, new="n_reps", old="n_boot", function="f", default=0)
    ...     print(caught[0].category.__name__, caught[0].message)
    20
    DeprecationWarning f: n_boot= is deprecated; use n_reps= (the same number of replicates)
    """
    if old_value is None:
        return new_value
    if new_value is not None and new_value != default:
        raise TypeError(f"{function}: give {new}= only ({old} is its deprecated name), not "
                        f"both {new}= and {old}=")
    warnings.warn(f"{function}: {old}= is deprecated; use {new}= (the same number of "
                  "replicates)", DeprecationWarning, stacklevel=3)
    return old_value

"""Report section kinds: each module registers one kind in :mod:`reports.sections.registry`.

Importing this package registers them all, in the display order of the docs.
"""
from reports.sections import overview as _overview  # noqa: F401
from reports.sections import projection as _projection  # noqa: F401
from reports.sections import saliency as _saliency  # noqa: F401
from reports.sections import faithfulness as _faithfulness  # noqa: F401
from reports.sections import instance as _instance  # noqa: F401
from reports.sections import layers as _layers  # noqa: F401
from reports.sections import heads as _heads  # noqa: F401
from reports.sections import attention as _attention  # noqa: F401
from reports.sections import topics as _topics  # noqa: F401
from reports.sections import comparison as _comparison  # noqa: F401
from reports.sections import adversarial as _adversarial  # noqa: F401
from reports.sections import multitask as _multitask  # noqa: F401
from reports.sections import corpus as _corpus  # noqa: F401
from reports.sections.registry import SECTIONS, Param, ParamError, SectionKind, figure, get_section, register, section_kinds

__all__ = ["SECTIONS", "Param", "ParamError", "SectionKind", "figure", "get_section", "register", "section_kinds"]

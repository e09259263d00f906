"""The site's date and time formats for English, defined once (issue 29, item 18).

Templates name them instead of spelling a format: ``{{ when|date:"SHORT_DATETIME_FORMAT" }}``,
``{{ when|time:"TIME_FORMAT" }}``; Python uses ``django.utils.formats.date_format(value,
"SHORT_DATETIME_FORMAT")``. The ``date`` and ``time`` filters convert an aware datetime to
the current time zone, which the accounts middleware sets to the viewer's own zone, so a
value is shown in the viewer's zone and locale. Another language gets its own
``virtualiop/formats/<lang>/formats.py``.
"""

from __future__ import annotations

DATE_FORMAT = "M j, Y"  # Jun 3, 2026
DATETIME_FORMAT = "M j, Y, g:i A"  # Jun 3, 2026, 6:00 PM
TIME_FORMAT = "g:i A"  # 6:00 PM
SHORT_DATE_FORMAT = "D M j"  # Wed Jun 3 (this year's dates in lists)
SHORT_DATETIME_FORMAT = "D M j, g:i A"  # Wed Jun 3, 6:00 PM
MONTH_DAY_FORMAT = "M j"  # Jun 3
YEAR_MONTH_FORMAT = "F Y"  # June 2026

"""Result panels of the pages: how one analysis result is shown (metrics, charts, tables, the reading under them).

A page picks widgets, makes one cached call and hands the result to its view here."""

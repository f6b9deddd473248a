"""Everything a person reads: tables, formats of values and intervals, figures, HTML."""

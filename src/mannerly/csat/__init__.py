"""Customer satisfaction (S5): the question after resolution, parsing the answer, storing the score."""

from mannerly.csat.parse import parse_score

__all__ = ["parse_score"]

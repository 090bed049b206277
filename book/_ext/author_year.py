"""Sphinx extension: bibliography entries labelled "Author, year" ("Author and Other, year",
"Author et al., year"), so the list at the back reads like the author-year citations in the
text (sphinxcontrib-bibtex numbers them otherwise). Used as ``bibtex_default_style``."""
from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle

NAME = "author_year_plain"


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        labels = list(self._plain_labels(sorted_entries))
        used: dict[str, int] = {}
        for label in labels:  # "Song et al., 2021a" and "..., 2021b" when two entries share one
            if labels.count(label) == 1:
                yield label
            else:
                used[label] = used.get(label, 0) + 1
                yield label + "abcdefghijklmnopqrstuvwxyz"[used[label] - 1]

    def _plain_labels(self, sorted_entries):
        for entry in sorted_entries:
            surnames = [" ".join(p.last_names) for p in entry.persons.get("author", [])]
            surnames = [s.replace("{", "").replace("}", "") for s in surnames]
            if not surnames:
                who = entry.key
            elif len(surnames) == 1:
                who = surnames[0]
            elif len(surnames) == 2 and surnames[1] != "others":
                who = f"{surnames[0]} and {surnames[1]}"
            else:
                who = f"{surnames[0]} et al."
            yield f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearStyle(PlainStyle):
    default_label_style = AuthorYearLabels
    default_sorting_style = "author_year_title"


def setup(app):
    register_plugin("pybtex.style.formatting", NAME, AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""One-line rules of the recipes: Moses scripts, grep/sed extraction and clean-corpus-n."""

from __future__ import annotations

import pytest

from knee_nlp.data.clean import clean_pairs
from knee_nlp.data.extract import sgml_segments, ted_train_text
from knee_nlp.data.moses import (
    PerlMosesTokenizer, lowercase, normalize_punctuation, remove_non_printing, tokenize,
)
from knee_nlp.data.parallel import map_lines, read_lines


def test_german_normalization_sees_the_line_end_as_the_perl_script_does():
    """normalize-punctuation.perl -l de moves a closing quote before the final period only
    because Perl's line keeps its newline; the WMT'14 and Multi30k recipes must do the same."""
    from knee_nlp.data.wmt14 import _train_line

    assert normalize_punctuation('Er sagte: "Ja."', "de") == 'Er sagte: "Ja".'
    assert normalize_punctuation('He said: "Yes."', "en") == 'He said: "Yes."'
    assert _train_line('Er sagte: "Ja."', "de") == "Er sagte : &quot; Ja &quot; ."


class TestTokenize:
    def test_last_word_period_always_split(self):
        assert tokenize("All the roads in the U.S.", "en") == "All the roads in the U.S ."
        assert tokenize("Das ist die Marke X.", "de") == "Das ist die Marke X ."
        assert tokenize("Die Zahl ist 70.", "de") == "Die Zahl ist 70 ."

    def test_nonbreaking_prefixes_inside_a_line_stay(self):
        assert tokenize("Mr. Smith went to the U.S. yesterday.", "en") == \
            "Mr. Smith went to the U.S. yesterday ."
        assert tokenize("Am 3. Mai kam er.", "de") == "Am 3. Mai kam er ."

    def test_numeric_only_prefix_needs_a_number_after_it(self):
        assert tokenize("See No. 5 here.", "en") == "See No. 5 here ."
        assert tokenize("He said No. Then left.", "en") == "He said No . Then left ."

    def test_escaping_and_contractions(self):
        assert tokenize('I\'m "sure" [a] <b> & c|d', "en") == \
            "I &apos;m &quot; sure &quot; &#91; a &#93; &lt; b &gt; &amp; c &#124; d"
        assert tokenize("Das ist's.", "de") == "Das ist &apos; s ."

    def test_blank_lines_pass_through_unchanged(self):
        assert tokenize("", "en") == ""
        assert tokenize("   ", "de") == "   "

    def test_aggressive_hyphen_splitting(self):
        assert tokenize("a well-known B-33 road", "en") == "a well-known B-33 road"
        assert tokenize("a well-known B-33 road", "en", aggressive_dash_splits=True) == \
            "a well @-@ known B @-@ 33 road"

    def test_is_a_sacremoses_tokenizer(self):
        assert PerlMosesTokenizer("en").tokenize("Hello world!", return_str=True) == "Hello world !"


def test_lowercase_is_perl_lc():
    assert lowercase("ÄRGER Über THE U.S") == "ärger über the u.s"
    assert lowercase("ΟΔΥΣΣΕΥΣ") == "οδυσσευσ"  # Perl's lc has no final-sigma rule
    assert "ΟΔΥΣΣΕΥΣ".lower() != lowercase("ΟΔΥΣΣΕΥΣ")


def test_normalize_punctuation_and_non_printing():
    assert normalize_punctuation("„Hallo“ ,sagte er…", "de") == '"Hallo" ,sagte er...'
    assert remove_non_printing("a\u200bb\x07c\u00add") == "a b c d"


class TestExtraction:
    def test_seg_lines_only_with_tags_and_spaces_removed(self):
        lines = ['<doc docid="1">', '<seg id="1"> It’s here.  </seg>', "<title>T</title>",
                 '<seg id="2">Two</seg> trailing', 'x <seg id="3">inline</seg>']
        # sed's \s*<\/seg>\s* also eats the space after the closing tag
        assert list(sgml_segments(lines)) == ["It's here.", "Twotrailing", "x inline"]

    def test_newstest2014_has_3003_segments_per_file(self, wmt_reference):
        for path in sorted(wmt_reference.glob("*.sgm")):
            segments = list(sgml_segments(read_lines(path)))
            assert len(segments) == 3003, path.name
            assert not any("<seg" in s or "</seg>" in s for s in segments)
        src = list(sgml_segments(read_lines(wmt_reference / "newstest2014-deen-src.en.sgm")))
        assert src[0] == "Gutach: Increased safety for pedestrians"

    def test_iwslt_xml_segment_counts(self, iwslt_reference):
        counts = {path.name: len(list(sgml_segments(read_lines(path))))
                  for path in (iwslt_reference / "orig-xml").glob("*.xml")}
        assert counts["IWSLT14.TED.dev2010.de-en.de.xml"] == counts["IWSLT14.TED.dev2010.de-en.en.xml"] == 887
        assert sum(counts.values()) == 2 * 6750

    def test_train_tags_rules(self):
        lines = ["<url>http://www.ted.com/talks/x.html</url>", "<keywords>talks, art</keywords>",
                 "<talkid>1</talkid>", "<title>Wade Davis: Cultures</title>",
                 "<description>A talk.</description>", "Hello there.", "see <url> inline"]
        assert list(ted_train_text(lines)) == ["Wade Davis: Cultures", "A talk.", "Hello there."]


class TestClean:
    RECIPE = {"ratio": 1.5, "min_length": 1, "max_length": 175}

    def test_length_bounds_are_inclusive(self):
        words = lambda n: " ".join(["w"] * n)  # noqa: E731
        pairs = [(words(175), words(175)), (words(176), words(176)), (words(1), words(1))]
        kept = list(clean_pairs(*zip(*pairs), **self.RECIPE))
        assert [len(s.split()) for s, _ in kept] == [175, 1]

    def test_ratio_boundary(self):
        kept = list(clean_pairs(["a b", "a b"], ["x y z", "x y z w"], **self.RECIPE))
        assert kept == [("a b", "x y z")]  # 3/2 = 1.5 kept, 4/2 = 2 dropped, both directions
        assert list(clean_pairs(["x y z w"], ["a b"], **self.RECIPE)) == []

    def test_whitespace_normalized_and_empty_dropped(self):
        kept = list(clean_pairs(["  a \t b  ", " ", "c"], ["x  y", "z", "\u3000"], **self.RECIPE))
        assert kept == [("a b", "x y")]

    def test_pipes_deleted_unless_first_line_is_factored(self):
        assert list(clean_pairs(["a b", "c|d e"], ["x y", "z w"])) == [("a b", "x y"), ("cd e", "z w")]
        assert list(clean_pairs(["a|A b|B"], ["x|X y|Y"])) == [("a|A b|B", "x|X y|Y")]
        with pytest.raises(ValueError, match="blank factor"):
            list(clean_pairs(["a|A b|B", "c||C"], ["x|X", "z|Z"]))

    def test_long_words_dropped(self):
        assert list(clean_pairs(["a" * 1001, "a" * 1000], ["x", "y"])) == [("a" * 1000, "y")]

    def test_unequal_sides_rejected(self):
        with pytest.raises(ValueError, match="target side is shorter"):
            list(clean_pairs(["a", "b"], ["x"]))
        with pytest.raises(ValueError, match="source side is shorter"):
            list(clean_pairs(["a"], ["x", "y"]))

    @pytest.mark.parametrize("bad", [{"ratio": 0}, {"min_length": -1}, {"max_length": 0, "min_length": 1}])
    def test_bad_options(self, bad):
        with pytest.raises(ValueError):
            list(clean_pairs(["a"], ["b"], **bad))


@pytest.mark.parametrize("workers", [1, 2])
def test_map_lines_keeps_order_across_many_chunks(workers):
    lines = [f"line {number}" for number in range(50_000)]  # 25 chunks, more than in flight
    assert list(map_lines(str.upper, iter(lines), workers=workers)) == [line.upper() for line in lines]
